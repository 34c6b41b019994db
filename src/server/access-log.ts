// The audit log's own access log: exports (audit_log.exported when one
// starts, audit_log.export_finished when it ends) and, with ACCESS_LOG=all,
// reads (audit_log.viewed), written through audit.record_access in short
// transactions of their own, in the admin's scope (the request's role and
// jwt.claims settings), on a pool of their own so that they never take a
// connection from the reads they describe.
//
// An export's entries are written while it runs (its start is committed
// before anything is sent). A read's entry is queued and written after the
// response: it never slows or fails the read; a failure is counted and
// logged, never shown to the client. close() waits for what is queued.
import { createHash } from "node:crypto";
import pg from "pg";
import type { Logger } from "../log.ts";
import type { AccessLogMode } from "./access-log-mode.ts";
import type { AuditClaims } from "./auth.ts";
import { withScopedTransaction } from "./scoped-query.ts";

export type { AccessLogMode } from "./access-log-mode.ts";

export type AccessEvent = "audit_log.exported" | "audit_log.export_finished" | "audit_log.viewed";

export interface AccessEntry {
  event: AccessEvent;
  /** The export's id; for a read, the scope whose log was read. */
  entityId: string;
  context: Record<string, unknown>;
  label?: string | null;
  /** A key under which at most one entry per admin and minute is written (audit.record_access). */
  oncePerMinute?: string | null;
}

/** A read of the log as the API answered it: its filter and page, as the request gave them (variables resolved). */
export interface LogRead {
  filter: unknown;
  condition: unknown;
  first: unknown;
  after: unknown;
  orderBy: unknown;
}

export interface AccessLogStats {
  /** Entries written. */
  written: number;
  /** Reads not written because one with the same admin, filter and minute was (in memory or by the SQL). */
  skipped: number;
  /** Writes that failed (and reads dropped because the queue was full). */
  failed: number;
  /** Read entries waiting to be written. */
  queued: number;
}

export interface AccessLogOptions {
  mode: AccessLogMode;
  /** audit_authenticator's connection string (the API's login). */
  connectionString: string;
  logger: Logger;
  statementTimeoutMs?: number;
  /** Read entries waiting at most; more are dropped and counted as failures (default 1000). */
  maxQueue?: number;
}

const MINUTE_MS = 60_000;
/** Longest filter kept whole in a read's context; audit.record_access takes at most 8 kB of context. */
const MAX_FILTER_BYTES = 4_000;
/** At most one warning per this interval while writes keep failing. */
const WARN_INTERVAL_MS = 10_000;

/** JSON with object keys sorted at every depth: equal filters, equal text. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/**
 * The once-per-minute key of a read: a hash of its filter, within the
 * admin's scope (the SQL keys on tenant and subject; a user who is both a
 * tenant and an account admin reads different logs under the same filter).
 */
export function readKey(claims: Pick<AuditClaims, "role" | "accountId">, read: Pick<LogRead, "filter" | "condition">): string {
  const what = { scope: [claims.role, claims.accountId], filter: read.filter ?? null, condition: read.condition ?? null };
  return createHash("sha256").update(stableJson(what)).digest("base64url").slice(0, 22);
}

export class AccessLog {
  readonly mode: AccessLogMode;
  /** Its own pool (null when off): at most two connections, never the API's. */
  readonly pool: pg.Pool | null;
  private readonly log: Logger;
  private readonly statementTimeoutMs: number;
  private readonly maxQueue: number;
  private readonly queue: { claims: AuditClaims; entry: AccessEntry; memoKey: string }[] = [];
  private worker: Promise<void> | null = null;
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly counts = { written: 0, skipped: 0, failed: 0 };
  /** Reads already queued or written this minute (saves the round trip; the SQL is the guarantee). */
  private seen = { minute: -1, keys: new Set<string>() };
  private lastWarnAt = 0;
  private failedSinceWarn = 0;
  private closed: Promise<void> | null = null;

  constructor(options: AccessLogOptions) {
    this.mode = options.mode;
    this.log = options.logger.child({ component: "access-log" });
    this.statementTimeoutMs = options.statementTimeoutMs ?? 10_000;
    this.maxQueue = options.maxQueue ?? 1_000;
    this.pool =
      options.mode === "off"
        ? null
        : new pg.Pool({
            connectionString: options.connectionString,
            max: 2,
            idleTimeoutMillis: 30_000,
            // an unreachable database fails a write instead of holding it (and shutdown) up
            connectionTimeoutMillis: 5_000,
            application_name: "audit-trail-access-log",
          });
    // (Logged without the error object: pg attaches the whole client to it.)
    this.pool?.on("error", (err: Error & { code?: string }) =>
      this.log.warn({ error: err.message, code: err.code }, "idle access-log connection failed"),
    );
  }

  get recordsExports(): boolean {
    return this.mode !== "off";
  }

  get recordsReads(): boolean {
    return this.mode === "all";
  }

  stats(): AccessLogStats {
    return { ...this.counts, queued: this.queue.length };
  }

  /**
   * Writes one entry now, in a transaction of its own; resolves with its id
   * (null when once-per-minute skipped it). Rejects when it cannot be
   * written (counted and logged): an export does not start unrecorded.
   */
  write(claims: AuditClaims, entry: AccessEntry): Promise<string | null> {
    const pending = this.insert(claims, entry).catch((err: unknown) => {
      this.recordFailure(err, entry.event);
      throw err;
    });
    this.inFlight.add(pending);
    const forget = () => this.inFlight.delete(pending);
    pending.then(forget, forget);
    return pending;
  }

  /** Queues the entry of a read, written after the response; never throws. */
  recordRead(claims: AuditClaims, read: LogRead): void {
    if (!this.recordsReads || this.closed) return;
    try {
      const key = readKey(claims, read);
      const memoKey = `${claims.tenantId}:${claims.userId}:${key}`;
      const minute = Math.floor(Date.now() / MINUTE_MS);
      if (this.seen.minute !== minute) this.seen = { minute, keys: new Set() };
      if (this.seen.keys.has(memoKey)) {
        this.counts.skipped++;
        return;
      }
      if (this.queue.length >= this.maxQueue) {
        this.recordFailure(new Error(`the access-log queue is full (${this.maxQueue} entries)`), "audit_log.viewed");
        return;
      }
      this.seen.keys.add(memoKey);
      this.queue.push({ claims, entry: viewEntry(claims, read, key), memoKey });
      this.worker ??= this.drainQueue();
    } catch (err) {
      this.recordFailure(err, "audit_log.viewed");
    }
  }

  /** Waits until every queued and running write has settled. */
  async flush(): Promise<void> {
    while (this.worker || this.inFlight.size > 0) {
      await Promise.allSettled([this.worker, ...this.inFlight]);
    }
  }

  /** Stops taking reads, waits for pending writes, ends the pool. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      await this.flush();
      if (this.pool && !this.pool.ending) await this.pool.end();
    })();
    return this.closed;
  }

  private async drainQueue(): Promise<void> {
    try {
      for (let job = this.queue.shift(); job; job = this.queue.shift()) {
        try {
          const id = await this.insert(job.claims, job.entry);
          if (id === null) this.counts.skipped++;
        } catch (err) {
          // Not written: a later identical read may try again.
          if (this.seen.minute === Math.floor(Date.now() / MINUTE_MS)) this.seen.keys.delete(job.memoKey);
          this.recordFailure(err, job.entry.event);
        }
      }
    } finally {
      this.worker = null;
    }
  }

  private async insert(claims: AuditClaims, entry: AccessEntry): Promise<string | null> {
    if (!this.pool) throw new Error("the access log is off");
    // The request's scope (with the token's email and name: scopePgSettings).
    const id = await withScopedTransaction(
      this.pool,
      claims,
      async (client) => {
        const { rows } = await client.query<{ id: string | null }>(
          "select audit.record_access($1, $2, $3::jsonb, $4, $5)::text as id",
          [entry.event, entry.entityId, JSON.stringify(entry.context), entry.label ?? null, entry.oncePerMinute ?? null],
        );
        return rows[0]?.id ?? null;
      },
      { statementTimeoutMs: this.statementTimeoutMs, readOnly: false },
    );
    if (id !== null) this.counts.written++;
    return id;
  }

  /** Counts and logs (at most one warning per interval, with the count) a write that failed. */
  recordFailure(err: unknown, event: AccessEvent = "audit_log.viewed"): void {
    this.counts.failed++;
    this.failedSinceWarn++;
    const now = Date.now();
    if (now - this.lastWarnAt < WARN_INTERVAL_MS) return;
    const e = err as Error & { code?: string };
    this.log.warn(
      { event, failures: this.counts.failed, failuresSinceLastWarning: this.failedSinceWarn, error: e?.message ?? String(err), code: e?.code },
      "access-log entry not written",
    );
    this.lastWarnAt = now;
    this.failedSinceWarn = 0;
  }
}

function viewEntry(claims: AuditClaims, read: LogRead, key: string): AccessEntry {
  const what = { filter: read.filter ?? null, ...(read.condition == null ? {} : { condition: read.condition }) };
  const bytes = Buffer.byteLength(stableJson(what));
  return {
    event: "audit_log.viewed",
    // The log that was read: the account's for an account admin, else the tenant's.
    entityId: claims.accountId ?? claims.tenantId,
    label: "Audit log",
    context: {
      // (a filter too long for the entry is named by its size; the key still tells filters apart)
      ...(bytes <= MAX_FILTER_BYTES ? what : { filter: { truncated: true, bytes } }),
      first: read.first ?? null,
      after: read.after ?? null,
      orderBy: read.orderBy ?? null,
    },
    oncePerMinute: key,
  };
}
