// The log stream worker: delivers every stream's entries, at least once, in
// (transaction_id, id) order.
//
// A round claims up to `concurrency` due streams (audit_private.
// claim_log_streams: a lease, so one worker per stream across servers) and
// delivers each for at most sliceMs before giving the others a turn:
//   read the next batch after the stream's position, below the xmin horizon
//   (stream-reader.ts, under the tenant's row-level security) ->
//   hand it to the stream's destination (destinations/) ->
//   only when the receiver took it, move the position past it
//   (audit_private.advance_log_stream, through the log consumers' end_round).
// A worker that dies between the delivery and the advance sends the batch
// again later; receivers de-duplicate by entry id. A failure leaves the
// position where it is and backs off (audit_private.fail_log_stream); a 413
// halves the batch until the receiver takes one.
//
// The read is bounded by a window of transaction ids as well as by the
// batch size, so that a backlog of millions is read in slices the index on
// transaction_id finds directly, not re-scanned for every batch. The
// windows adapt toward three quarters of a batch each, and two of them are
// read at once, ahead of the delivery.
//
// Database errors are recorded on the stream (or logged when the database
// is unreachable) and retried; nothing here throws into the process. Secrets
// and bodies are never logged.
import pg from "pg";
import { checkOption, errorFields, PollLoop } from "../db/poll-loop.ts";
import type { Logger } from "../log.ts";
import { openDestination } from "./destinations/index.ts";
import { readStreamBatch, type StreamFilter, type StreamPosition } from "./stream-reader.ts";
import type { Destination, StreamEntry, StreamFormat, StreamKind, StreamTarget } from "./stream-types.ts";

export interface StreamWorkerOptions {
  /** The owner's connection string: the claim, advance and fail functions are the owner's. */
  ownerUrl: string;
  /** audit_authenticator's pool (the API's): batches are read through it, under row-level security. */
  readerPool: pg.Pool;
  logger: Logger;
  /** Private, loopback and link-local addresses and http allowed (WEBHOOK_ALLOW_PRIVATE). Default false. */
  allowPrivate?: boolean;
  /** Deadline of one delivery, in milliseconds (STREAM_TIMEOUT_MS). Default 10000. */
  timeoutMs?: number;
  /** Pause between polls when every stream is caught up, in milliseconds (STREAM_POLL_MS). Default 1000. */
  pollMs?: number;
  /** First retry delay after a failure, doubling per consecutive failure (STREAM_RETRY_BASE_MS). Default 1000. */
  retryBaseMs?: number;
  /** Longest retry delay. Default 3600000 (an hour). */
  retryMaxMs?: number;
  /** Streams delivered at once. Default 4. */
  concurrency?: number;
  /** The file streams' root folder (STREAM_FILE_ROOT); null: file streams fail with a clear error. */
  fileRoot?: string | null;
  /** How long one claim of a stream keeps delivering before the others get a turn, in milliseconds. Default 30000. */
  sliceMs?: number;
}

/** A stream as audit_private.claim_log_streams hands it out. */
interface ClaimedStream {
  tenant_id: string;
  stream_id: string;
  lease_token: string;
  kind: StreamKind;
  settings: Record<string, unknown>;
  secret: string | null;
  format: StreamFormat;
  resource_types: string[] | null;
  actions: string[] | null;
  account_ids: string[] | null;
  batch_size: number;
  failures: number;
  watermark: string;
  after_id: string | null;
  horizon: string;
}

export interface StreamRoundResult {
  /** Streams claimed in the round. */
  streams: number;
  /** Entries receivers took. */
  delivered: number;
  /** Deliveries that failed (retried later). */
  failed: number;
  /** Streams released with more to deliver (due again at once). */
  unfinished: number;
}

interface SliceResult {
  delivered: number;
  failed: boolean;
  unfinished: boolean;
}

const MIN_WINDOW = 1_024n;
const MAX_WINDOW = 1n << 40n;
const FIRST_WINDOW = 65_536n;
/** Reads in flight ahead of the delivery (each on a connection of the reader's pool). */
const READS_AHEAD = 2;

const clampWindow = (w: bigint) => (w < MIN_WINDOW ? MIN_WINDOW : w > MAX_WINDOW ? MAX_WINDOW : w);

export class LogStreamWorker {
  /** Its own small pool of the owner's, never the API's. */
  readonly pool: pg.Pool;
  private readonly readerPool: pg.Pool;
  private readonly log: Logger;
  private readonly allowPrivate: boolean;
  private readonly timeoutMs: number;
  private readonly pollMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly concurrency: number;
  private readonly fileRoot: string | null;
  private readonly sliceMs: number;
  private readonly leaseSeconds: number;
  /** Per stream: the open destination (a file stays open between batches) and the configuration it was opened with. */
  private readonly destinations = new Map<string, { key: string; destination: Destination }>();
  /** Per stream: the read window, in transaction ids. */
  private readonly windows = new Map<string, bigint>();
  /** Per stream: a batch size lowered by 413 answers. */
  private readonly batchCaps = new Map<string, number>();
  private readonly loop: PollLoop<StreamRoundResult>;
  private stopped: Promise<void> | null = null;

  constructor(options: StreamWorkerOptions) {
    this.log = options.logger.child({ component: "streams" });
    this.readerPool = options.readerPool;
    this.allowPrivate = options.allowPrivate ?? false;
    this.timeoutMs = checkOption("LogStreamWorker", "timeoutMs", options.timeoutMs ?? 10_000, 100, 120_000);
    this.pollMs = checkOption("LogStreamWorker", "pollMs", options.pollMs ?? 1_000, 10, 600_000);
    this.retryBaseMs = checkOption("LogStreamWorker", "retryBaseMs", options.retryBaseMs ?? 1_000, 1, 3_600_000);
    this.retryMaxMs = checkOption("LogStreamWorker", "retryMaxMs", options.retryMaxMs ?? 3_600_000, this.retryBaseMs, 86_400_000);
    this.concurrency = checkOption("LogStreamWorker", "concurrency", options.concurrency ?? 4, 1, 100);
    this.sliceMs = checkOption("LogStreamWorker", "sliceMs", options.sliceMs ?? 30_000, 1, 600_000);
    this.fileRoot = options.fileRoot ?? null;
    // A claim outlives a slice plus one delivery and its read, so a live worker never loses it mid-batch.
    this.leaseSeconds = Math.ceil((this.sliceMs + 2 * this.timeoutMs) / 1000) + 60;
    this.pool = new pg.Pool({
      connectionString: options.ownerUrl,
      max: Math.min(this.concurrency + 1, 8),
      idleTimeoutMillis: 30_000,
      connectionTimeoutMillis: 5_000,
      statement_timeout: 60_000,
      application_name: "audit-trail-streams",
    });
    this.pool.on("error", (err: Error & { code?: string }) => this.log.warn({ error: err.message, code: err.code }, "idle stream connection failed"));
    // Streams left with more to deliver, or a full round: go on at once.
    this.loop = new PollLoop({
      log: this.log, pollMs: this.pollMs, round: () => this.round(),
      again: (r) => r.unfinished > 0 || r.streams >= this.concurrency, worker: "stream worker", claims: "streams",
    });
  }

  /** Polls now and then every pollMs (at once again while streams have more to deliver). */
  start(): void {
    if (this.stopped || !this.loop.start()) return;
    this.log.info(
      { allowPrivate: this.allowPrivate, timeoutMs: this.timeoutMs, pollMs: this.pollMs, concurrency: this.concurrency, fileRoot: this.fileRoot },
      "log stream worker started",
    );
  }

  /** One round: claims due streams and delivers each for up to sliceMs. Rejects only when the claim fails. */
  runOnce(): Promise<StreamRoundResult> {
    return this.loop.runOnce();
  }

  /** Stops polling, waits for the slices in flight, closes destinations and the pool. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      const running = await this.loop.stop(this.sliceMs + this.timeoutMs + 10_000);
      if (running > 0) this.log.warn({ rounds: running }, "stopped with stream rounds still running");
      for (const { destination } of this.destinations.values()) await destination.close().catch(() => undefined);
      this.destinations.clear();
      if (!this.pool.ending) await this.pool.end();
      this.log.info("log stream worker stopped");
    })();
    return this.stopped;
  }

  private async round(): Promise<StreamRoundResult> {
    const { rows } = await this.pool.query<ClaimedStream>(
      `select tenant_id, stream_id, lease_token, kind, settings, secret, format, resource_types, actions, account_ids::text[] as account_ids,
              batch_size, failures, watermark::text, after_id::text, horizon::text
         from audit_private.claim_log_streams($1, $2)`,
      [this.concurrency, this.leaseSeconds],
    );
    const slices = await Promise.all(rows.map((stream) => this.deliverSlice(stream)));
    return {
      streams: rows.length,
      delivered: slices.reduce((n, s) => n + s.delivered, 0),
      failed: slices.filter((s) => s.failed).length,
      unfinished: slices.filter((s) => s.unfinished).length,
    };
  }

  /** Delivers one claimed stream until it is caught up, fails, loses its lease or has used its slice. */
  private async deliverSlice(stream: ClaimedStream): Promise<SliceResult> {
    const log = this.log.child({ tenantId: stream.tenant_id, streamId: stream.stream_id });
    const started = performance.now();
    const filter: StreamFilter = { resourceTypes: stream.resource_types, actions: stream.actions, accountIds: stream.account_ids };
    let position: StreamPosition = { xid: BigInt(stream.watermark), id: stream.after_id === null ? null : BigInt(stream.after_id) };
    let horizon = BigInt(stream.horizon);
    let delivered = 0;
    let destination: Destination;
    try {
      destination = await this.destinationOf(stream);
    } catch (err) {
      await this.fail(stream, null, `the destination cannot be opened: ${errorFields(err).error}`, log);
      return { delivered, failed: true, unfinished: false };
    }
    // Reads run ahead of the delivery, two at a time, over consecutive
    // windows of transaction ids: a read that returns fewer entries than its
    // limit holds every entry of its window, so the next window starts at
    // its bound whatever the receiver answers. A read that fills its limit
    // stops inside its window: the reads after it are dropped and reading
    // goes on from its last entry. Windows are sized to hold about three
    // quarters of a batch, so that most reads are complete. (Reads in flight
    // are dropped on any failure.)
    // `below`: the horizon a read was bounded by. Whether more can be read
    // is judged against it, not against a newer horizon: every advance is a
    // transaction of its own and moves the horizon, which a caught-up stream
    // would otherwise chase forever.
    type Read = { after: StreamPosition; below: bigint; bound: bigint; window: bigint; limit: number; rows: Promise<StreamEntry[]> };
    const startRead = (after: StreamPosition, below: bigint): Read => {
      const window = this.windows.get(stream.stream_id) ?? FIRST_WINDOW;
      const bound = after.xid + window < below ? after.xid + window : below;
      const limit = Math.min(stream.batch_size, this.batchCaps.get(stream.stream_id) ?? Number.MAX_SAFE_INTEGER);
      const rows = readStreamBatch(this.readerPool, {
        tenantId: stream.tenant_id, streamId: stream.stream_id, after, before: bound, filter, limit, statementTimeoutMs: 60_000,
      });
      // (a dropped read's failure is nobody's news; an awaited one is handled below)
      rows.catch(() => undefined);
      return { after, below, bound, window, limit, rows };
    };
    const reads: Read[] = [];
    /** Keeps READS_AHEAD reads in flight from `from` on, below the horizon known now. */
    const readAhead = (from: StreamPosition) => {
      while (reads.length < READS_AHEAD) {
        const previous = reads.at(-1);
        const after = previous ? { xid: previous.bound, id: null } : from;
        if (after.xid >= (previous?.below ?? horizon)) return;
        reads.push(startRead(after, previous?.below ?? horizon));
      }
    };
    for (;;) {
      if (reads.length === 0 && position.xid >= horizon) {
        // Nothing can be read yet: every transaction from the position on may still be running.
        await this.advance(stream, position, 0, null, false, this.pollMs);
        return { delivered, failed: false, unfinished: false };
      }
      readAhead(position);
      const read = reads.shift()!;
      const { below, bound, window, limit } = read;
      let entries: StreamEntry[];
      try {
        entries = await read.rows;
      } catch (err) {
        reads.length = 0;
        await this.fail(stream, null, `reading the log failed: ${errorFields(err).error}`, log);
        return { delivered, failed: true, unfinished: false };
      }
      const full = entries.length === limit;
      let next: StreamPosition;
      if (full) {
        const last = entries[entries.length - 1]!;
        next = { xid: BigInt(last.transactionId), id: BigInt(last.id) };
        // the reads after this one assumed it complete
        reads.length = 0;
        // three quarters of what a full batch spans
        this.windows.set(stream.stream_id, clampWindow(((next.xid - position.xid + 1n) * 3n) / 4n));
      } else {
        // every entry below the bound is in this batch
        next = { xid: bound, id: null };
        if (bound < below) {
          // toward three quarters of a batch per window
          const wanted = entries.length === 0 ? window * 4n : (window * BigInt(Math.ceil(limit * 0.75))) / BigInt(entries.length);
          this.windows.set(stream.stream_id, clampWindow(wanted > window * 4n ? window * 4n : wanted));
        }
      }
      const more = full || bound < below;
      if (more) readAhead(next);
      if (entries.length > 0) {
        const outcome = await destination.deliver(entries);
        if (!outcome.ok) {
          reads.length = 0;
          if (outcome.tooLarge && limit > 1) {
            // smaller batches until one is taken (kept for this stream while the worker runs)
            this.batchCaps.set(stream.stream_id, Math.max(1, Math.floor(limit / 2)));
            log.warn({ statusCode: outcome.statusCode, batch: limit }, "the receiver refused a batch as too large; halving the batch");
            continue;
          }
          await this.fail(stream, outcome.statusCode, outcome.error, log);
          return { delivered, failed: true, unfinished: false };
        }
        delivered += entries.length;
      }
      const sliceOver = performance.now() - started > this.sliceMs;
      const last = entries.at(-1) ?? null;
      const result = await this.advance(stream, next, entries.length, last, more && !sliceOver, more ? 0 : this.pollMs);
      if (result === null) {
        log.info("the stream changed while a batch was delivered (paused, replayed, reconfigured or deleted); its new state decides");
        return { delivered, failed: false, unfinished: false };
      }
      if (entries.length > 0) log.debug({ entries: entries.length, to: `${next.xid}:${next.id ?? ""}` }, "batch delivered");
      position = next;
      if (!more) {
        // caught up to the horizon of the read; a newer one is the next poll's
        return { delivered, failed: false, unfinished: false };
      }
      if (sliceOver) return { delivered, failed: false, unfinished: true };
      horizon = result;
    }
  }

  /**
   * Moves the position (and releases the lease unless keepLease, until
   * nextPollMs from now): null when
   * the lease is no longer ours; else the horizon now. Rejects when the
   * database is unreachable: the slice ends, the lease runs out, the batch
   * is delivered again.
   */
  private async advance(
    stream: ClaimedStream, to: StreamPosition, delivered: number, last: StreamEntry | null, keepLease: boolean, nextPollMs: number,
  ): Promise<bigint | null> {
    const { rows } = await this.pool.query<{ applied: boolean; horizon: string }>(
      "select applied, horizon::text from audit_private.advance_log_stream($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
      [
        stream.tenant_id, stream.stream_id, stream.lease_token, to.xid.toString(), to.id === null ? null : to.id.toString(),
        delivered, last?.id ?? null, last?.occurredAt ?? null, keepLease ? this.leaseSeconds : 0, nextPollMs,
      ],
    );
    const row = rows[0];
    return row?.applied ? BigInt(row.horizon) : null;
  }

  private async fail(stream: ClaimedStream, statusCode: number | null, error: string, log: Logger): Promise<void> {
    const failures = stream.failures + 1;
    const fields = { statusCode, error, failures };
    if (failures === 1) log.error(fields, "log stream delivery failed; retrying with backoff");
    else log.warn(fields, "log stream delivery still failing");
    await this.pool
      .query("select audit_private.fail_log_stream($1, $2, $3, $4, $5, $6, $7)", [
        stream.tenant_id, stream.stream_id, stream.lease_token, statusCode, error, this.retryBaseMs, this.retryMaxMs,
      ])
      .catch((err: unknown) => log.warn(errorFields(err), "the failure could not be recorded; the lease runs out and the stream is retried"));
  }

  /** The stream's destination, reopened when its configuration changed. */
  private async destinationOf(stream: ClaimedStream): Promise<Destination> {
    const key = JSON.stringify([stream.kind, stream.settings, stream.secret, stream.format]);
    const open = this.destinations.get(stream.stream_id);
    if (open?.key === key) return open.destination;
    if (open) await open.destination.close().catch(() => undefined);
    const target: StreamTarget = {
      tenantId: stream.tenant_id, streamId: stream.stream_id, kind: stream.kind, settings: stream.settings, secret: stream.secret, format: stream.format,
    };
    const destination = openDestination(target, { allowPrivate: this.allowPrivate, timeoutMs: this.timeoutMs, fileRoot: this.fileRoot });
    this.destinations.set(stream.stream_id, { key, destination });
    return destination;
  }
}
