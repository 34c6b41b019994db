// Log streams (migrations/current.sql: audit.log_streams, claim_log_streams,
// advance_log_stream; src/streams/stream-worker.ts), `--only stream`, on a
// copy of the read data set (10M entries in full mode, the quick one of
// 10,000 in quick mode). The worker runs in this process, unchanged, as the
// server runs it: the owner's URL, an audit_authenticator pool, allowPrivate
// for a receiver on 127.0.0.1. The receiver is a node:http server in a child
// process of its own (this file, forked with BENCH_STREAM_RECEIVER=1), so
// that its CPU is counted apart from the worker's: it checks each batch's
// signature, parses every JSON line, checks the batch's (transactionId, id)
// order and the tenant, counts distinct entry ids and, in the live phase,
// each entry's lag.
//   catch-up  a stream of the data set's largest tenant (kind https, inserted
//             as the owner), its position just before the tenant's last
//             `backlog` entries (1,000,000 in full mode): the time until the
//             receiver holds every one of them, per batch size tried (the
//             stream's batch_size; the default is 2,000). Read, advance and
//             claim are timed on the worker's connections (delivery is the
//             rest), the CPU of the worker's process, the receiver's and
//             PostgreSQL's counted, and the read explained.
//   live      the business fixture of the write sections loaded beside the
//             history, a stream of one of its tenants created at the horizon
//             (as createLogStream without startFrom), and pgbench writing
//             audited single-row transactions across the fixture's tenants
//             at a fixed rate (load-writer.ts) while the worker polls with its
//             defaults (STREAM_POLL_MS 1000): per entry the receiver's time
//             minus occurred_at (the transaction's start, so an upper bound
//             of the lag behind the commit).
// Results go to their own files (results-stream.md / .json in full mode).
import { fork, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import http from "node:http";
import { Session } from "node:inspector/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import type { Logger } from "../src/log.ts";
import type { LogStreamWorker } from "../src/streams/stream-worker.ts";
import { STREAM_ID_HEADER } from "../src/streams/destinations/https.ts";
import { verifyWebhookSignature, SIGNATURE_HEADER } from "../src/server/webhooks/signature.ts";
import { extractSectionArgs, requiredValue, SectionUsageError, wholeNumber } from "./section-args.ts";
import { connect, copyDataset, moveXidsPastDataset } from "./dataset-copy.ts";
import { countCpu, type CpuShares } from "./load-cpu.ts";
import { clusterCpuSeconds, statFields } from "./server-cpu.ts";
import { runWriter, type WriterFigures } from "./load-writer.ts";
import type { MachineInfo } from "./machine.ts";
import type { ReadDataset } from "./read-dataset.ts";
import { benchDir, dropDatabase, workDir, type BenchServer } from "./server.ts";
import { median, percentile, round, sleep } from "./stats.ts";
import { fixtureSize, loadFixture, resetWorkload } from "./write-database.ts";
import type { FixtureSize } from "./workload.ts";

/** The issue's targets; renderStream judges them (full mode only). */
export const STREAM_TARGETS = {
  /** One stream catches up a backlog of this many entries of one tenant… */
  backlogEntries: 1_000_000,
  /** …at this rate at least… */
  entriesPerSecond: 20_000,
  /** …and keeps its lag under this while the application writes writerRate audited transactions/s. */
  lagSeconds: 5,
  writerRate: 1_000,
};

const DATABASE = "audit_bench_stream";
/** audit.log_streams.batch_size's default (and createLogStream's). */
export const DEFAULT_BATCH_SIZE = 2000;
/** The writer's connections, as load.ts and seal.ts. */
const WRITER_CLIENTS = 16;
/** Of the live phase: how long the receiver may take, after the writer stopped, to hold every entry. */
const DRAIN_TIMEOUT_MS = 30_000;
const SECRET = `whsec_bench_${randomBytes(12).toString("hex")}`;
/** After a catch-up completed: how long the caught-up worker is watched, and how many reads it may send meanwhile (a poll a second sends one or two). */
const IDLE_WATCH_MS = 3_000;
const IDLE_READS_MAX = 12;

// ---------------------------------------------------------------------------
// Options (`--stream-*`): taken out of the command line before bench/options.ts
// parses the rest, so that its sections stay as they are.

export interface StreamCli {
  /** The section runs: `--only` names it, or no `--only` is given (every section). */
  selected: boolean;
  /** `--only stream` and nothing else. */
  alone: boolean;
  rows: number | null;
  backlog: number | null;
  batchSizes: number[] | null;
  liveRate: number | null;
  liveSeconds: number | null;
  timeoutSeconds: number | null;
  profile: boolean;
  results: string | null;
}

export const STREAM_USAGE = `Log streams (--only stream; in every run unless --only leaves it out; results of their own):
  --stream-rows N       entries of the read data set it runs on (default: the first of --rows,
                        10000000 in full mode, 10000 in quick mode)
  --stream-backlog N    catch-up: the largest tenant's newest N entries (full: 1000000, quick: 0 =
                        all of the tenant's)
  --stream-batches LIST catch-up: batch sizes tried, in order (full: 2000,1000,5000; quick: 2000,250;
                        2000 is the default of a stream)
  --stream-timeout N    catch-up: seconds one run may take before it is cut (full: 300, quick: 60)
  --stream-profile      catch-up: one more run of the default batch size under a CPU profile of
                        this process (the worker), summarized in the results
  --stream-rate N       live: the writer's audited transactions/s (full: 1000, quick: 100)
  --stream-seconds N    live: seconds of writing (full: 60, quick: 5)
  --stream-results P    write P.json and P.md (full default: bench/results-stream, quick:
                        bench/.work/quick-results-stream; with --only stream alone, --results too)`;

/** Takes the stream section's options and its name in `--only` out of argv; the rest is bench/options.ts's. */
export function extractStreamArgs(argv: readonly string[]): { rest: string[]; cli: StreamCli } {
  const cli: StreamCli = {
    selected: true, alone: false, rows: null, backlog: null, batchSizes: null, liveRate: null, liveSeconds: null,
    timeoutSeconds: null, profile: false, results: null,
  };
  const { rest, selected, alone } = extractSectionArgs(argv, "stream", {
    "--stream-rows": (next, name) => { cli.rows = wholeNumber(String(Number(next())), name); },
    "--stream-backlog": (next, name) => { cli.backlog = wholeNumber(String(Number(next())), name, true); },
    "--stream-batches": (next, name) => {
      cli.batchSizes = (next() ?? "").split(",").map((s) => wholeNumber(s.trim(), name));
      if (cli.batchSizes.some((b) => b > 10_000)) throw new SectionUsageError(`${name}: a stream's batch_size is at most 10000`);
    },
    "--stream-timeout": (next, name) => { cli.timeoutSeconds = wholeNumber(next(), name); },
    "--stream-profile": () => { cli.profile = true; },
    "--stream-rate": (next, name) => { cli.liveRate = wholeNumber(next(), name); },
    "--stream-seconds": (next, name) => { cli.liveSeconds = wholeNumber(next(), name); },
    "--stream-results": (next, name) => { cli.results = requiredValue(next(), name); },
  });
  return { rest, cli: { ...cli, selected, alone } };
}

export interface StreamOptions {
  quick: boolean;
  rows: number;
  /** 0: every entry of the tenant. */
  backlog: number;
  batchSizes: number[];
  timeoutSeconds: number;
  profile: boolean;
  liveRate: number;
  liveSeconds: number;
  /** pgbench is installed (the live phase's writer needs its --rate). */
  pgbench: boolean;
  resultsPrefix: string;
}

/** The section's options, from its own and the suite's (quick, rows, results). */
export function streamOptions(cli: StreamCli, suite: { quick: boolean; rows: number[]; resultsPrefix: string }, resultsGiven: boolean, pgbench: boolean): StreamOptions {
  const quick = suite.quick;
  return {
    quick,
    rows: cli.rows ?? suite.rows[0]!,
    backlog: cli.backlog ?? (quick ? 0 : STREAM_TARGETS.backlogEntries),
    batchSizes: cli.batchSizes ?? (quick ? [DEFAULT_BATCH_SIZE, 250] : [DEFAULT_BATCH_SIZE, 1000, 5000]),
    timeoutSeconds: cli.timeoutSeconds ?? (quick ? 60 : 300),
    profile: cli.profile,
    liveRate: cli.liveRate ?? (quick ? 100 : STREAM_TARGETS.writerRate),
    liveSeconds: cli.liveSeconds ?? (quick ? 5 : 60),
    pgbench,
    resultsPrefix: cli.results ?? (cli.alone && resultsGiven ? suite.resultsPrefix : quick ? `${workDir}quick-results-stream` : `${benchDir}results-stream`),
  };
}

// ---------------------------------------------------------------------------
// The receiver (a child process: this file with BENCH_STREAM_RECEIVER=1)

interface Summary {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface ReceiverStats {
  phase: string;
  batches: number;
  entries: number;
  distinct: number;
  /** Entries received again (a redelivered batch). */
  duplicates: number;
  bytes: number;
  /** Entries of another tenant than the stream's (not counted as received). */
  foreignTenant: number;
  /** Batches of another stream (one of an earlier phase), taken and not counted. */
  otherStreamBatches: number;
  /** Entries out of (transactionId, id) order inside a batch. */
  orderViolations: number;
  /** Batches starting at or before the previous batch's last entry (a redelivery). */
  backwards: number;
  badSignatures: number;
  /** Lines that are not a JSON object with id, transactionId, occurredAt and tenantId. */
  badLines: number;
  /** Entries per batch. */
  batchEntries: { min: number; median: number; max: number } | null;
  /** The receiver's own time per request: the body received, verified, parsed and answered. */
  handleMs: Summary | null;
  handleMsTotal: number;
  /** Epoch ms of the first and last batch, and when `expect` distinct entries were held. */
  firstAt: number | null;
  lastAt: number | null;
  completeAt: number | null;
  /** The lowest and highest (transactionId, id) received. */
  first: [number, number] | null;
  last: [number, number] | null;
  /** Live phase: receive time − occurred_at per entry (first receipt), ms. */
  lagMs: Summary | null;
  lagOver5s: number;
  /** Live phase: the worst lag of the entries received in each 5 s (from the first receipt). */
  lagSeries: { atSeconds: number; entries: number; maxMs: number }[];
}

type ToReceiver =
  | { type: "reset"; id: number; phase: string; streamId: string; tenantId: string; expect: number | null; secret: string; trackLag: boolean }
  | { type: "stats"; id: number }
  | { type: "expect"; id: number; expect: number };
type FromReceiver =
  | { type: "ready"; port: number }
  | { type: "reply"; id: number; stats: ReceiverStats }
  | { type: "complete"; phase: string; at: number };

function summarize(values: number[]): Summary | null {
  if (!values.length) return null;
  return {
    count: values.length,
    p50: round(percentile(values, 50), 1),
    p95: round(percentile(values, 95), 1),
    p99: round(percentile(values, 99), 1),
    max: round(values.reduce((a, b) => Math.max(a, b), 0), 1),
  };
}

/** occurred_at as the stream writes it ("2026-11-30T15:02:27.123456Z") in epoch ms with its microseconds. */
function epochMs(text: string): number {
  const m = /^(.{19})(?:\.(\d{1,6}))?Z$/.exec(text);
  if (!m) return Number.NaN;
  return Date.parse(`${m[1]}Z`) + Number(`0.${m[2] ?? "0"}`) * 1000;
}

function runReceiver(): void {
  const send = (m: FromReceiver) => process.send?.(m);
  let phase = "";
  let streamId = "";
  let tenantId = "";
  let secret = "";
  let expect: number | null = null;
  let trackLag = false;
  let seen = new Set<number>();
  let s: Omit<ReceiverStats, "batchEntries" | "handleMs" | "lagMs" | "lagSeries" | "distinct"> = blank();
  let batchCounts: number[] = [];
  let handleTimes: number[] = [];
  let lags: number[] = [];
  let lagBuckets = new Map<number, { entries: number; maxMs: number }>();
  let lastOfPrevious: [number, number] | null = null;
  function blank() {
    return {
      phase, batches: 0, entries: 0, duplicates: 0, bytes: 0, foreignTenant: 0, otherStreamBatches: 0, orderViolations: 0, backwards: 0, badSignatures: 0, badLines: 0,
      handleMsTotal: 0, firstAt: null, lastAt: null, completeAt: null, first: null, last: null, lagOver5s: 0,
    } as Omit<ReceiverStats, "batchEntries" | "handleMs" | "lagMs" | "lagSeries" | "distinct">;
  }
  const before = (a: [number, number], b: [number, number]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  const stats = (): ReceiverStats => ({
    ...s,
    phase,
    distinct: seen.size,
    batchEntries: batchCounts.length ? { min: Math.min(...batchCounts), median: median(batchCounts), max: Math.max(...batchCounts) } : null,
    handleMs: summarize(handleTimes),
    handleMsTotal: round(s.handleMsTotal, 1),
    lagMs: trackLag ? summarize(lags) : null,
    lagSeries: [...lagBuckets.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => ({ atSeconds: k * 5, entries: v.entries, maxMs: round(v.maxMs, 0) })),
  });

  const server = http.createServer((req, res) => {
    const t0 = performance.now();
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const receivedAt = Date.now();
      const body = Buffer.concat(chunks);
      s.bytes += body.length;
      if (req.method !== "POST" || !verifyWebhookSignature(req.headers[SIGNATURE_HEADER.toLowerCase()], body, secret).ok) {
        s.badSignatures++;
        res.writeHead(401).end("bad signature");
        return;
      }
      // Another stream's batch (a stream of an earlier phase still delivering): taken, counted apart.
      if (req.headers[STREAM_ID_HEADER.toLowerCase()] !== streamId) {
        s.otherStreamBatches++;
        res.writeHead(200, { "content-type": "text/plain" }).end("ok");
        return;
      }
      const lines = body.toString("utf8").split("\n");
      let n = 0;
      let prev: [number, number] | null = null;
      let firstOfBatch: [number, number] | null = null;
      let batchMaxLag = 0;
      for (const line of lines) {
        if (line === "") continue;
        let doc: { id?: unknown; transactionId?: unknown; occurredAt?: unknown; tenantId?: unknown };
        try {
          doc = JSON.parse(line) as typeof doc;
        } catch {
          s.badLines++;
          continue;
        }
        const id = Number(doc.id);
        const xid = Number(doc.transactionId);
        if (!Number.isSafeInteger(id) || !Number.isSafeInteger(xid) || typeof doc.occurredAt !== "string" || typeof doc.tenantId !== "string") {
          s.badLines++;
          continue;
        }
        n++;
        const key: [number, number] = [xid, id];
        if (doc.tenantId !== tenantId) {
          s.foreignTenant++;
          continue;
        }
        if (prev && !before(prev, key)) s.orderViolations++;
        prev = key;
        firstOfBatch ??= key;
        if (!s.first || before(key, s.first)) s.first = key;
        if (!s.last || before(s.last, key)) s.last = key;
        if (seen.has(id)) {
          s.duplicates++;
          continue;
        }
        seen.add(id);
        if (trackLag) {
          const lag = receivedAt - epochMs(doc.occurredAt);
          lags.push(lag);
          batchMaxLag = Math.max(batchMaxLag, lag);
          if (lag > 5000) s.lagOver5s++;
        }
      }
      if (firstOfBatch && lastOfPrevious && !before(lastOfPrevious, firstOfBatch)) s.backwards++;
      if (prev) lastOfPrevious = prev;
      s.batches++;
      s.entries += n;
      batchCounts.push(n);
      s.firstAt ??= receivedAt;
      s.lastAt = receivedAt;
      if (trackLag && n > 0) {
        const bucket = Math.floor((receivedAt - s.firstAt) / 5000);
        const b = lagBuckets.get(bucket) ?? { entries: 0, maxMs: 0 };
        b.entries += n;
        b.maxMs = Math.max(b.maxMs, batchMaxLag);
        lagBuckets.set(bucket, b);
      }
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
      const ms = performance.now() - t0;
      s.handleMsTotal += ms;
      handleTimes.push(ms);
      if (expect !== null && s.completeAt === null && seen.size >= expect) {
        s.completeAt = receivedAt;
        send({ type: "complete", phase, at: receivedAt });
      }
    });
  });
  server.keepAliveTimeout = 5_000;
  process.on("message", (m: ToReceiver) => {
    if (m.type === "reset") {
      phase = m.phase;
      streamId = m.streamId;
      tenantId = m.tenantId;
      secret = m.secret;
      expect = m.expect;
      trackLag = m.trackLag;
      seen = new Set();
      s = blank();
      batchCounts = [];
      handleTimes = [];
      lags = [];
      lagBuckets = new Map();
      lastOfPrevious = null;
    } else if (m.type === "expect") {
      expect = m.expect;
      if (s.completeAt === null && seen.size >= expect) {
        s.completeAt = Date.now();
        send({ type: "complete", phase, at: s.completeAt });
      }
    }
    send({ type: "reply", id: m.id, stats: stats() });
  });
  process.on("disconnect", () => process.exit(0));
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    send({ type: "ready", port: typeof address === "object" && address ? address.port : 0 });
  });
}

/** The receiver's process, driven over IPC. */
class Receiver {
  private nextId = 1;
  private readonly waiting = new Map<number, (s: ReceiverStats) => void>();
  private completion: { phase: string; resolve: (at: number) => void } | null = null;
  private exited: Error | null = null;
  readonly child: ChildProcess;
  readonly port: number;
  private constructor(child: ChildProcess, port: number) {
    this.child = child;
    this.port = port;
    child.on("message", (m: FromReceiver) => {
      if (m.type === "reply") {
        this.waiting.get(m.id)?.(m.stats);
        this.waiting.delete(m.id);
      } else if (m.type === "complete" && this.completion?.phase === m.phase) {
        this.completion.resolve(m.at);
      }
    });
    child.on("exit", (code, signal) => {
      this.exited = new Error(`the stream receiver exited (${signal ?? code})`);
    });
  }

  static async start(): Promise<Receiver> {
    const child = fork(fileURLToPath(import.meta.url), [], { env: { ...process.env, BENCH_STREAM_RECEIVER: "1" }, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the stream receiver did not start within 30 s")), 30_000);
      child.once("message", (m: FromReceiver) => {
        clearTimeout(timer);
        if (m.type === "ready" && m.port > 0) resolve(m.port);
        else reject(new Error(`the stream receiver did not start: ${JSON.stringify(m)}`));
      });
      child.once("exit", (code) => reject(new Error(`the stream receiver exited (${code}) before listening`)));
    });
    return new Receiver(child, port);
  }

  get pid(): number {
    return this.child.pid!;
  }

  private call(m: Omit<ToReceiver, "id"> & { type: ToReceiver["type"] }): Promise<ReceiverStats> {
    if (this.exited) return Promise.reject(this.exited);
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ ...m, id });
    });
  }

  /** A new phase: counts start over; the promise `complete` settles when `expect` distinct entries are held. */
  async reset(phase: string, streamId: string, tenantId: string, expect: number | null, trackLag: boolean): Promise<{ complete: Promise<number> }> {
    let resolve!: (at: number) => void;
    const complete = new Promise<number>((r) => (resolve = r));
    this.completion = { phase, resolve };
    await this.call({ type: "reset", phase, streamId, tenantId, expect, secret: SECRET, trackLag } as Omit<ToReceiver, "id">);
    return { complete };
  }

  expect(n: number): Promise<ReceiverStats> {
    return this.call({ type: "expect", expect: n } as Omit<ToReceiver, "id">);
  }

  stats(): Promise<ReceiverStats> {
    return this.call({ type: "stats" } as Omit<ToReceiver, "id">);
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.disconnect();
    await Promise.race([gone, sleep(5_000).then(() => void this.child.kill())]);
  }
}

// ---------------------------------------------------------------------------
// Timing the worker's statements (its code runs unchanged)

export interface PhaseTimes {
  /** audit.log_stream_entries on the reader's connection: rows, time. */
  reads: number;
  readMs: number;
  readRows: number;
  /** begin, the scope's set_config and commit around each read. */
  txnMs: number;
  /** claim_log_streams and advance_log_stream on the worker's own (owner's) connections. */
  claims: number;
  claimMs: number;
  advances: number;
  advanceMs: number;
  fails: number;
  /** The read's time per call. */
  readMsEach: Summary | null;
  advanceMsEach: Summary | null;
}

class StatementTimer {
  reads: number[] = [];
  readRows = 0;
  txnMs = 0;
  claims = 0;
  claimMs = 0;
  advances: number[] = [];
  fails = 0;

  /** Wraps a client's or pool's query() to time the statements it sends. */
  wrap(target: { query: unknown }): void {
    const original = (target.query as (...args: unknown[]) => unknown).bind(target);
    (target as { query: unknown }).query = (...args: unknown[]) => {
      const a = args[0];
      const text = typeof a === "string" ? a : typeof a === "object" && a !== null && "text" in a ? String((a as { text: unknown }).text) : "";
      const t0 = performance.now();
      const result = original(...args);
      if (result && typeof (result as Promise<unknown>).then === "function") {
        void (result as Promise<pg.QueryResult>).then(
          (r) => this.record(text, performance.now() - t0, r?.rowCount ?? 0),
          () => this.record(text, performance.now() - t0, 0),
        );
      }
      return result;
    };
  }

  private record(text: string, ms: number, rows: number): void {
    if (text.includes("log_stream_entries")) {
      this.reads.push(ms);
      this.readRows += rows;
    } else if (text.includes("claim_log_streams")) {
      this.claims++;
      this.claimMs += ms;
    } else if (text.includes("advance_log_stream")) this.advances.push(ms);
    else if (text.includes("fail_log_stream")) this.fails++;
    else this.txnMs += ms;
  }

  times(): PhaseTimes {
    const sum = (v: number[]) => v.reduce((a, b) => a + b, 0);
    return {
      reads: this.reads.length,
      readMs: round(sum(this.reads), 0),
      readRows: this.readRows,
      txnMs: round(this.txnMs, 0),
      claims: this.claims,
      claimMs: round(this.claimMs, 0),
      advances: this.advances.length,
      advanceMs: round(sum(this.advances), 0),
      fails: this.fails,
      readMsEach: summarize(this.reads),
      advanceMsEach: summarize(this.advances),
    };
  }
}

// ---------------------------------------------------------------------------
// A CPU profile of this process (the worker), summarized

export interface ProfileSummary {
  file: string;
  sampledMs: number;
  /** Self time by kind of code, % of the sampled (non-idle) time. */
  categories: { category: string; percent: number }[];
  /** The functions with the most self time. */
  top: { fn: string; where: string; percent: number }[];
}

interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

const SOCKET_NATIVES = new Set(["writev", "writeBuffer", "writeString", "writeUtf8String", "writeLatin1String", "writeAsciiString", "connect", "shutdown", "readStart", "readStop", "getaddrinfo", "onStreamRead"]);
const FS_NATIVES = new Set(["read", "open", "openFileHandle", "fstat", "close", "readdir", "readFileUtf8", "readFileHandle"]);

function categoryOf(fn: string, url: string): string {
  if (fn === "(garbage collector)") return "garbage collection";
  if (fn === "(program)") return "V8 / native (program)";
  if (url.includes("/node_modules/pg-protocol/") || url.includes("/node_modules/pg/") || url.includes("/node_modules/pg-types/") || url.includes("postgres-")) return "pg (protocol, rows)";
  if (url.includes("/node_modules/pino") || url.includes("sonic-boom")) return "logging";
  if (url.includes("export-file.ts") || url.includes("/streams/destinations/index.ts") || fn === "stringify" || fn === "parse") return "JSON documents (jsonLine)";
  if (url.includes("/webhooks/signature.ts") || fn.includes("Hmac") || fn === "digest" || fn === "update") return "HMAC signature";
  if (url.includes("/webhooks/") || url.startsWith("node:_http") || url.startsWith("node:http") || url.startsWith("node:net") || url.startsWith("node:dns")) return "HTTP (safePost, node:http, sockets)";
  if (url.includes("/src/streams/")) return "stream worker";
  if (url.startsWith("node:internal/fs") || url.startsWith("node:fs") || url.includes("/bench/server-cpu.ts") || url.includes("/bench/load-cpu.ts")) return "file system (the bench's own /proc counters)";
  if (url.startsWith("node:")) return "node internals (other)";
  if (url === "") {
    if (SOCKET_NATIVES.has(fn)) return "HTTP (safePost, node:http, sockets)";
    if (FS_NATIVES.has(fn)) return "file system (the bench's own /proc counters)";
    return "native (other)";
  }
  return "other";
}

async function startProfile(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 500 });
  await session.post("Profiler.start");
  return session;
}

async function stopProfile(session: Session, file: string): Promise<ProfileSummary> {
  const { profile } = (await session.post("Profiler.stop")) as { profile: { nodes: CpuProfileNode[]; startTime: number; endTime: number; samples: number[] } };
  session.disconnect();
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(profile));
  const interval = (profile.endTime - profile.startTime) / 1000 / Math.max(1, profile.samples.length);
  const byCategory = new Map<string, number>();
  const byFn = new Map<string, { fn: string; where: string; hits: number }>();
  let busy = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    const { functionName: fn, url, lineNumber } = node.callFrame;
    if (!hits || fn === "(idle)" || fn === "(root)") continue;
    busy += hits;
    const cat = categoryOf(fn, url);
    byCategory.set(cat, (byCategory.get(cat) ?? 0) + hits);
    const where = url ? `${url.replace(/^.*\/(node_modules|src|bench)\//, "$1/")}:${lineNumber + 1}` : "";
    const key = `${fn}@${where}`;
    const e = byFn.get(key) ?? { fn: fn || "(anonymous)", where, hits: 0 };
    e.hits += hits;
    byFn.set(key, e);
  }
  const pct = (h: number) => round((100 * h) / Math.max(1, busy), 1);
  return {
    file: path.relative(`${benchDir}..`, file),
    sampledMs: round(busy * interval, 0),
    categories: [...byCategory.entries()].sort((a, b) => b[1] - a[1]).map(([category, h]) => ({ category, percent: pct(h) })),
    top: [...byFn.values()].sort((a, b) => b.hits - a.hits).slice(0, 15).map((e) => ({ fn: e.fn, where: e.where, percent: pct(e.hits) })),
  };
}

// ---------------------------------------------------------------------------
// CPU at a moment (no waiting for backends to exit, unlike load-cpu.ts: the
// catch-up's count ends when the receiver holds the backlog, while the
// worker's connections are still open and counted live)

interface CpuSample {
  at: number;
  machine: number | null;
  postgres: number | null;
  receiver: number | null;
  self: number;
}

async function cpuSample(receiverPid: number, embedded: boolean): Promise<CpuSample> {
  let machine: number | null = null;
  try {
    const f = (await readFile("/proc/stat", "utf8")).split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
    machine = (f.reduce((a, b) => a + b, 0) - f[3]! - (f[4] ?? 0)) / 100;
  } catch {
    // not Linux
  }
  const r = await statFields(receiverPid);
  const cpu = process.cpuUsage();
  return {
    at: performance.now(),
    machine,
    postgres: embedded ? await clusterCpuSeconds() : null,
    receiver: r ? (Number(r[11]) + Number(r[12])) / 100 : null,
    self: (cpu.user + cpu.system) / 1e6,
  };
}

function cpuShares(a: CpuSample, b: CpuSample): CpuShares {
  const seconds = (b.at - a.at) / 1000;
  const share = (x: number | null, y: number | null) => (x === null || y === null ? null : round((y - x) / seconds, 2));
  return {
    seconds: round(seconds, 1),
    machine: share(a.machine, b.machine) ?? Number.NaN,
    postgres: share(a.postgres, b.postgres),
    api: share(a.receiver, b.receiver),
    pgbench: null,
    loadGenerator: round((b.self - a.self) / seconds, 2),
  };
}

// ---------------------------------------------------------------------------
// The section

export interface CatchUpRun {
  batchSize: number;
  /** Run under the CPU profiler (--stream-profile): slower, not judged. */
  profiled: boolean;
  /** The receiver held every entry of the backlog (false: cut at the timeout). */
  complete: boolean;
  seconds: number;
  /** Distinct entries received / seconds. */
  entriesPerSecond: number;
  received: ReceiverStats;
  /** audit.log_streams after the run. */
  stream: { deliveredEntries: number; failures: number; lastError: string | null; watermark: string; afterId: string | null };
  times: PhaseTimes;
  /** What is left of the wall time: the delivery (the documents, the signature, the POST, the receiver) and the worker's own work. */
  deliverMs: number;
  cpu: CpuShares;
  /** The database's blocks for the run (pg_stat_database of the copy). */
  blocks: { hit: number; read: number };
  profile: ProfileSummary | null;
  /** After completion: the caught-up worker watched for a few seconds (null: not complete). */
  idle?: { ms: number; reads: number; advances: number } | null;
}

export interface LivePhase {
  rate: number;
  seconds: number;
  clients: number;
  tenantId: string;
  writer: WriterFigures;
  /** The streamed tenant's entries the writer committed. */
  expected: number;
  complete: boolean;
  /** From the writer's end until the receiver held them all. */
  drainSeconds: number | null;
  received: ReceiverStats;
  stream: { deliveredEntries: number; failures: number; lastError: string | null };
  cpu: CpuShares;
  times: PhaseTimes;
}

export interface StreamResult {
  rows: number;
  tenants: number;
  variant: string;
  spanEnd: string;
  database: string;
  currentSql: { sha1: string; modifiedAt: string };
  workerSource: { sha1: string; modifiedAt: string };
  loadAverage: { start: number[]; end: number[] };
  setup: { copySeconds: number; xidsAdvanced: number };
  catchUp: {
    tenantId: string;
    rank: number | null;
    tenantEntries: number;
    backlog: number;
    /** (transaction_id, id) of the backlog's first and last entry. */
    from: [string, string];
    to: [string, string];
    /** The backlog spans this many transaction ids, and the log holds this many entries of every tenant in it. */
    xidSpan: number;
    entriesInSpan: number;
    runs: CatchUpRun[];
    /** EXPLAIN (ANALYZE, BUFFERS) of one read in the middle of the backlog, as the worker sends it with the default batch size. */
    explain: { window: number; batch: number; plan: string[] } | null;
    verdict: boolean | null;
  };
  live: LivePhase | { skipped: string };
  liveVerdict: { lag: boolean; rate: boolean } | null;
  problems: string[];
}

const num = (v: unknown) => Number(v);

async function sourceStamp(file: string): Promise<{ sha1: string; modifiedAt: string }> {
  return {
    sha1: createHash("sha1").update(await readFile(file)).digest("hex"),
    modifiedAt: (await stat(file)).mtime.toISOString(),
  };
}

async function blocks(c: pg.Client): Promise<{ hit: number; read: number }> {
  const { rows } = await c.query<{ hit: string; read: string }>("select blks_hit::text as hit, blks_read::text as read from pg_stat_database where datname = current_database()");
  return { hit: num(rows[0]!.hit), read: num(rows[0]!.read) };
}

async function streamRow(c: pg.Client, streamId: string) {
  const { rows } = await c.query<{ delivered: string; failures: number; last_error: string | null; watermark: string; after_id: string | null }>(
    `select s.delivered_entries::text as delivered, s.failures, s.last_error, c.watermark::text, c.after_id::text
       from audit.log_streams s join audit_private.log_consumers c on c.consumer = audit_private.log_stream_consumer(s.id)
      where s.id = $1`,
    [streamId],
  );
  const r = rows[0]!;
  return { deliveredEntries: num(r.delivered), failures: r.failures, lastError: r.last_error, watermark: r.watermark, afterId: r.after_id };
}

/** A stream as the owner: the tenant's row (the read data set has none), the stream, its secret and its position. */
async function insertStream(
  c: pg.Client, tenantId: string, name: string, url: string, batchSize: number, position: { xid: string; afterId: string | null },
): Promise<string> {
  await c.query("set session_replication_role = replica");
  try {
    await c.query("insert into app.tenants (id, name) values ($1, $2) on conflict (id) do nothing", [tenantId, `Streamed tenant ${tenantId.slice(0, 8)}`]);
  } finally {
    await c.query("reset session_replication_role");
  }
  const { rows } = await c.query<{ id: string }>(
    `insert into audit.log_streams (tenant_id, name, kind, settings, batch_size, created_by)
     values ($1, $2, 'https', jsonb_build_object('url', $3::text), $4, 'bench/stream.ts') returning id`,
    [tenantId, name, url, batchSize],
  );
  const id = rows[0]!.id;
  await c.query("insert into audit_private.log_stream_secrets (tenant_id, stream_id, secret) values ($1, $2, $3)", [tenantId, id, SECRET]);
  await c.query("insert into audit_private.log_consumers (consumer, watermark, after_id) values (audit_private.log_stream_consumer($1), $2, $3)", [
    id, position.xid, position.afterId,
  ]);
  return id;
}

/**
 * Watches a stream's failures while a run waits for its receiver: a failing
 * delivery is retried with a backoff of seconds to an hour, so a broken path
 * would otherwise only show as a timeout. `failed` resolves (to null) at the first failure.
 */
function failureWatch(c: pg.Client, streamId: string): { failed: Promise<null>; stop: () => void; readonly error: string | null } {
  let stopped = false;
  const state = { error: null as string | null };
  const failed = new Promise<null>((resolve) => {
    const poll = async () => {
      if (stopped) return;
      const { rows } = await c.query<{ failures: number; last_error: string | null }>("select failures, last_error from audit.log_streams where id = $1", [streamId]);
      if (rows[0] && rows[0].failures > 0) {
        state.error = rows[0].last_error ?? "no error recorded";
        resolve(null);
        return;
      }
      setTimeout(() => void poll().catch(() => undefined), 250);
    };
    void poll().catch(() => undefined);
  });
  return {
    failed,
    stop: () => {
      stopped = true;
    },
    get error() {
      return state.error;
    },
  };
}

export async function measureStream(server: BenchServer, ds: ReadDataset, opts: StreamOptions, logger: Logger): Promise<StreamResult> {
  // Imported here: the other sections run without the streams' modules.
  const { LogStreamWorker } = await import("../src/streams/stream-worker.ts");
  const loadStart = os.loadavg().map((l) => round(l, 2));
  const currentSql = await sourceStamp(`${benchDir}../migrations/current.sql`);
  const workerSource = await sourceStamp(`${benchDir}../src/streams/stream-worker.ts`);
  const problems: string[] = [];

  let started = performance.now();
  logger.info({ template: ds.database, database: DATABASE, rows: ds.rows }, "stream: copying the read data set");
  await copyDataset(server, ds.database, DATABASE);
  const copySeconds = round((performance.now() - started) / 1000, 1);

  const ownerUrl = server.url(DATABASE);
  const readerUrl = server.url(DATABASE, "auth");
  const ctl = await connect(ownerUrl, "audit-trail-bench");
  const receiver = await Receiver.start();
  const receiverUrl = `http://127.0.0.1:${receiver.port}/ingest`;
  const workers: LogStreamWorker[] = [];
  const pools: pg.Pool[] = [];
  /** A worker as the server makes it (src/cli/start.ts): the owner's URL, an audit_authenticator pool; its statements timed. */
  const newWorker = (timer: StatementTimer) => {
    const readerPool = new pg.Pool({ connectionString: readerUrl, max: 4, application_name: "audit-trail-streams-reader" });
    readerPool.on("connect", (client) => timer.wrap(client));
    pools.push(readerPool);
    const worker = new LogStreamWorker({ ownerUrl, readerPool, logger, allowPrivate: true });
    timer.wrap(worker.pool);
    workers.push(worker);
    return worker;
  };
  const stopWorker = async (w: LogStreamWorker) => {
    await w.stop();
    const i = pools.length - 1;
    await pools[i]?.end();
    pools.splice(i, 1);
    workers.splice(workers.indexOf(w), 1);
  };

  try {
    // History below the horizon, as real history is (dataset-copy.ts).
    const xidsAdvanced = await moveXidsPastDataset(ctl, (xids) =>
      logger.info({ xids }, "stream: moving the cluster's transaction ids past the data set's"));

    // --- 1. Catch-up: the largest tenant's newest `backlog` entries
    const { rows: largest } = await ctl.query<{ id: string; rank: number }>("select id::text, rank from bench.r_tenants order by rank limit 1");
    if (!largest[0]) throw new Error("stream: the data set has no bench.r_tenants");
    const tenantId = largest[0].id;
    const tenantEntries = num((await ctl.query<{ n: string }>("select count(*)::text as n from audit.log where tenant_id = $1", [tenantId])).rows[0]!.n);
    const backlog = opts.backlog === 0 ? tenantEntries : Math.min(opts.backlog, tenantEntries);
    if (backlog < opts.backlog) problems.push(`the largest tenant holds ${tenantEntries} entries, fewer than the backlog asked for (${opts.backlog})`);
    // The backlog's first and last entry in the stream's order; the position just before the first.
    const { rows: edge } = await ctl.query<{ xid: string; id: string }>(
      // (ordered by the columns, not by the text the query outputs under the same names)
      `(select l.transaction_id::text as xid, l.id::text as id from audit.log l where l.tenant_id = $1 order by l.transaction_id desc, l.id desc offset $2 - 1 limit 1)
       union all
       (select l.transaction_id::text, l.id::text from audit.log l where l.tenant_id = $1 order by l.transaction_id desc, l.id desc limit 1)`,
      [tenantId, backlog],
    );
    const from: [string, string] = [edge[0]!.xid, edge[0]!.id];
    const to: [string, string] = [edge[1]!.xid, edge[1]!.id];
    const startPosition = { xid: from[0], afterId: (BigInt(from[1]) - 1n).toString() };
    const { rows: spanRows } = await ctl.query<{ n: string }>(
      "select count(*)::text as n from audit.log where transaction_id between $1 and $2",
      [from[0], to[0]],
    );
    const xidSpan = Number(BigInt(to[0]) - BigInt(from[0])) + 1;
    const entriesInSpan = num(spanRows[0]!.n);
    const check = num((await ctl.query<{ n: string }>(
      "select count(*)::text as n from audit.log where tenant_id = $1 and (transaction_id, id) >= ($2::bigint, $3::bigint)", [tenantId, from[0], from[1]],
    )).rows[0]!.n);
    if (check !== backlog) throw new Error(`stream: the backlog holds ${check} entries from its first, expected ${backlog}`);
    const catchUpStream = await insertStream(ctl, tenantId, "bench catch-up", receiverUrl, opts.batchSizes[0]!, startPosition);
    await ctl.query("vacuum analyze audit.log_streams, audit_private.log_consumers");
    await ctl.query("checkpoint");
    logger.info({ tenantId, tenantEntries, backlog, xidSpan, entriesInSpan, batchSizes: opts.batchSizes }, "stream: catch-up of the largest tenant's backlog");

    const runs: CatchUpRun[] = [];
    // The batch sizes in order; with --stream-profile one more run of the default size under the profiler (not judged).
    const plan = [...opts.batchSizes.map((b) => ({ batchSize: b, profiled: false })), ...(opts.profile ? [{ batchSize: DEFAULT_BATCH_SIZE, profiled: true }] : [])];
    for (const [i, { batchSize, profiled }] of plan.entries()) {
      // The stream back at the backlog's start, with this batch size.
      await ctl.query(
        `update audit.log_streams set batch_size = $2, delivered_entries = 0, failures = 0, last_error = null, next_attempt_at = now(),
                lease_token = null, lease_until = null where id = $1`,
        [catchUpStream, batchSize],
      );
      await ctl.query("update audit_private.log_consumers set watermark = $2, after_id = $3 where consumer = audit_private.log_stream_consumer($1)", [
        catchUpStream, startPosition.xid, startPosition.afterId,
      ]);
      const { complete } = await receiver.reset(`catch-up ${i + 1}`, catchUpStream, tenantId, backlog, false);
      const timer = new StatementTimer();
      const worker = newWorker(timer);
      const blocksBefore = await blocks(ctl);
      const profiling = profiled ? await startProfile() : null;
      const cpuStart = await cpuSample(receiver.pid, server.embedded);
      const t0 = Date.now();
      worker.start();
      const timeout = sleep(opts.timeoutSeconds * 1000).then(() => null);
      const watch = failureWatch(ctl, catchUpStream);
      const doneAt = await Promise.race([complete, timeout, watch.failed]);
      const shares = cpuShares(cpuStart, await cpuSample(receiver.pid, server.embedded));
      const times = timer.times();
      const seconds = ((doneAt ?? Date.now()) - t0) / 1000;
      const profile = profiling ? await stopProfile(profiling, `${workDir}stream-worker-${new Date().toISOString().replace(/[:.]/g, "-")}.cpuprofile`) : null;
      // Caught up, on a cluster where nothing else runs: the worker should
      // now poll, not read on (each advance is a transaction: it moves the horizon itself).
      let idle: CatchUpRun["idle"] = null;
      if (doneAt !== null && watch.error === null) {
        await sleep(IDLE_WATCH_MS);
        const after = timer.times();
        idle = { ms: IDLE_WATCH_MS, reads: after.reads - times.reads, advances: after.advances - times.advances };
      }
      watch.stop();
      await stopWorker(worker);
      const blocksAfter = await blocks(ctl);
      const received = await receiver.stats();
      const st = await streamRow(ctl, catchUpStream);
      const run: CatchUpRun = {
        batchSize,
        profiled,
        complete: doneAt !== null,
        seconds: round(seconds, 2),
        entriesPerSecond: Math.round((doneAt !== null ? backlog : received.distinct) / seconds),
        received,
        stream: st,
        times,
        deliverMs: Math.max(0, Math.round(seconds * 1000 - times.readMs - times.txnMs - times.advanceMs - times.claimMs)),
        cpu: shares,
        blocks: { hit: blocksAfter.hit - blocksBefore.hit, read: blocksAfter.read - blocksBefore.read },
        profile,
        idle,
      };
      runs.push(run);
      const where = `catch-up with batches of ${batchSize}${profiled ? " (profiled)" : ""}`;
      if (watch.error !== null) {
        problems.push(`${where}: the stream failed: ${watch.error}`);
        // A broken path: the next runs would fail the same way.
        break;
      }
      if (idle && idle.reads > IDLE_READS_MAX) {
        problems.push(
          `${where}: caught up on an otherwise idle cluster, the worker went on reading: ${idle.reads} reads and ${idle.advances} advances in ${idle.ms / 1000} s ` +
            "(each advance commits a transaction, which moves the xmin horizon the next read chases)",
        );
      }
      if (!run.complete) {
        const text = `${where}: the receiver held ${received.distinct} of ${backlog} entries after ${opts.timeoutSeconds} s`;
        if (opts.quick) problems.push(text);
        else logger.warn(text);
      } else {
        if (received.distinct !== backlog) problems.push(`${where}: ${received.distinct} distinct entries received, expected ${backlog}`);
        if (received.first?.join(":") !== from.join(":") || received.last?.join(":") !== to.join(":")) {
          problems.push(`${where}: received (transactionId, id) from ${received.first?.join(":")} to ${received.last?.join(":")}, expected ${from.join(":")} to ${to.join(":")}`);
        }
      }
      if (received.foreignTenant) problems.push(`${where}: ${received.foreignTenant} entries of another tenant`);
      if (received.orderViolations) problems.push(`${where}: ${received.orderViolations} entries out of (transactionId, id) order inside a batch`);
      if (received.badSignatures || received.badLines) problems.push(`${where}: ${received.badSignatures} batches with a bad signature, ${received.badLines} unreadable lines`);
      if (st.failures || times.fails) problems.push(`${where}: the stream failed (${st.lastError ?? "no error recorded"})`);
      logger.info(
        {
          batchSize, complete: run.complete, seconds: run.seconds, entriesPerSecond: run.entriesPerSecond, batches: received.batches,
          readMs: times.readMs, advanceMs: times.advanceMs, deliverMs: run.deliverMs, cpu: shares,
        },
        "stream: catch-up run",
      );
    }

    // One read in the middle of the backlog, explained: as the worker sends it
    // with the default batch size, the window about twice what a full batch spans.
    let explain: StreamResult["catchUp"]["explain"] = null;
    {
      const { rows: mid } = await ctl.query<{ xid: string; id: string }>(
        "select l.transaction_id::text as xid, l.id::text as id from audit.log l where l.tenant_id = $1 and (l.transaction_id, l.id) >= ($2::bigint, $3::bigint) order by l.transaction_id, l.id offset $4 limit 1",
        [tenantId, from[0], from[1], Math.floor(backlog / 2)],
      );
      const { rows: ahead } = await ctl.query<{ xid: string }>(
        "select l.transaction_id::text as xid from audit.log l where l.tenant_id = $1 and (l.transaction_id, l.id) > ($2::bigint, $3::bigint) order by l.transaction_id, l.id offset $4 - 1 limit 1",
        [tenantId, mid[0]?.xid ?? from[0], mid[0]?.id ?? from[1], DEFAULT_BATCH_SIZE],
      );
      if (mid[0] && ahead[0]) {
        const window = Math.max(1024, 2 * (Number(BigInt(ahead[0].xid) - BigInt(mid[0].xid)) + 1));
        const reader = new pg.Client({ connectionString: readerUrl });
        await reader.connect();
        try {
          const { withScopedTransaction } = await import("../src/server/scoped-query.ts");
          const { STREAM_BATCH_SQL } = await import("../src/streams/stream-reader.ts");
          const pool = { connect: async () => Object.assign(reader, { release: () => undefined }) } as unknown as pg.Pool;
          const claims = { userId: catchUpStream, tenantId, role: "tenant_admin" as const, accountId: null, email: `log-stream:${catchUpStream}`, expiresAt: new Date(8.64e15) };
          const plan = await withScopedTransaction(pool, claims, async (client) =>
            (await client.query<{ "QUERY PLAN": string }>(
              `explain (analyze, buffers) ${STREAM_BATCH_SQL}`,
              [tenantId, mid[0]!.xid, mid[0]!.id, (BigInt(mid[0]!.xid) + BigInt(window)).toString(), null, null, null, DEFAULT_BATCH_SIZE],
            )).rows.map((r) => r["QUERY PLAN"]), { statementTimeoutMs: 60_000 });
          explain = { window, batch: DEFAULT_BATCH_SIZE, plan };
        } catch (err) {
          problems.push(`explaining the read as the tenant's admin failed: ${err instanceof Error ? err.message : String(err)}`);
        } finally {
          await reader.end();
        }
      }
    }
    const defaultRun = runs.find((r) => r.batchSize === DEFAULT_BATCH_SIZE && !r.profiled) ?? null;
    const fullSize = !opts.quick && backlog >= STREAM_TARGETS.backlogEntries;

    // --- 2. Live: a stream of a fixture tenant while pgbench writes at a fixed rate
    let live: StreamResult["live"];
    if (!opts.pgbench) {
      live = { skipped: "the writer is pgbench at a fixed rate (--rate): install it (Debian: postgresql-client)" };
    } else if (problems.some((p) => p.includes("the stream failed"))) {
      live = { skipped: "the catch-up's stream failed (see above): the path is broken" };
    } else {
      const base = fixtureSize(opts.quick);
      const per = base.tenants * base.accounts;
      const fixture: FixtureSize = { ...base, jobs: Math.max(base.jobs, Math.ceil((opts.liveRate * opts.liveSeconds * 1.5) / 4 / per) * per) };
      logger.info({ jobs: fixture.jobs }, "stream: loading the writer's fixture");
      await loadFixture(ctl, fixture);
      const liveTenant = (await ctl.query<{ id: string }>("select md5('tenant:0')::uuid::text as id")).rows[0]!.id;
      // The catch-up stream stays, caught up (a cut run left part of its backlog): its polls find nothing.
      await ctl.query(
        `update audit_private.log_consumers set watermark = audit_private.current_horizon(), after_id = null
          where consumer = audit_private.log_stream_consumer($1)`,
        [catchUpStream],
      );
      await resetWorkload(ctl);
      // From now on, as createLogStream without startFrom: the position is the horizon.
      const horizon = (await ctl.query<{ h: string }>("select audit_private.current_horizon()::text as h")).rows[0]!.h;
      const liveStream = await insertStream(ctl, liveTenant, "bench live", receiverUrl, DEFAULT_BATCH_SIZE, { xid: horizon, afterId: null });
      await receiver.reset("live", liveStream, liveTenant, null, true);
      const timer = new StatementTimer();
      const worker = newWorker(timer);
      const cpu = await countCpu(receiver.pid, server.embedded);
      worker.start();
      logger.info({ rate: opts.liveRate, seconds: opts.liveSeconds, tenantId: liveTenant }, "stream: live, the writer at a fixed rate");
      const writer = await runWriter(server, DATABASE, fixture, { rate: opts.liveRate, seconds: opts.liveSeconds, clients: WRITER_CLIENTS, logDir: `${workDir}stream-writer/` });
      const writerDone = Date.now();
      const expected = num((await ctl.query<{ n: string }>("select count(*)::text as n from audit.log where tenant_id = $1 and transaction_id >= $2", [liveTenant, horizon])).rows[0]!.n);
      let draining = true;
      const complete = new Promise<number>((resolve) => {
        const poll = async () => {
          if (!draining) return;
          const s = await receiver.expect(expected);
          if (s.completeAt !== null) resolve(s.completeAt);
          else setTimeout(() => void poll().catch(() => undefined), 100);
        };
        void poll().catch(() => undefined);
      });
      const watch = failureWatch(ctl, liveStream);
      const doneAt = await Promise.race([complete, sleep(DRAIN_TIMEOUT_MS).then(() => null), watch.failed]);
      draining = false;
      watch.stop();
      await stopWorker(worker);
      const shares = await cpu();
      const received = await receiver.stats();
      const st = await streamRow(ctl, liveStream);
      live = {
        rate: opts.liveRate,
        seconds: opts.liveSeconds,
        clients: WRITER_CLIENTS,
        tenantId: liveTenant,
        writer,
        expected,
        complete: doneAt !== null,
        drainSeconds: doneAt === null ? null : round(Math.max(0, doneAt - writerDone) / 1000, 2),
        received,
        stream: { deliveredEntries: st.deliveredEntries, failures: st.failures, lastError: st.lastError },
        cpu: shares,
        times: timer.times(),
      };
      if (expected === 0) problems.push("live: the writer wrote no entry of the streamed tenant");
      if (doneAt === null) problems.push(`live: the receiver held ${received.distinct} of the ${expected} entries ${DRAIN_TIMEOUT_MS / 1000} s after the writer stopped`);
      if (received.foreignTenant) problems.push(`live: ${received.foreignTenant} entries of another tenant`);
      if (received.orderViolations) problems.push(`live: ${received.orderViolations} entries out of (transactionId, id) order inside a batch`);
      if (received.badSignatures || received.badLines) problems.push(`live: ${received.badSignatures} batches with a bad signature, ${received.badLines} unreadable lines`);
      if (watch.error !== null || st.failures || live.times.fails) problems.push(`live: the stream failed: ${watch.error ?? st.lastError ?? "no error recorded"}`);
      if (writer.failed) problems.push(`live: the writer had ${writer.failed} failed transactions`);
      logger.info(
        { expected, received: received.distinct, drainSeconds: live.drainSeconds, lagMs: received.lagMs, writerTps: writer.tps, cpu: shares },
        "stream: live phase",
      );
    }

    const liveRun = "skipped" in live ? null : live;
    return {
      rows: ds.rows,
      tenants: ds.tenants,
      variant: ds.variant,
      spanEnd: ds.spanEnd.toISOString(),
      database: DATABASE,
      currentSql,
      workerSource,
      loadAverage: { start: loadStart, end: os.loadavg().map((l) => round(l, 2)) },
      setup: { copySeconds, xidsAdvanced },
      catchUp: {
        tenantId, rank: largest[0].rank, tenantEntries, backlog, from, to, xidSpan, entriesInSpan, runs, explain,
        verdict: fullSize && defaultRun ? defaultRun.complete && defaultRun.entriesPerSecond >= STREAM_TARGETS.entriesPerSecond : null,
      },
      live,
      liveVerdict:
        opts.quick || !liveRun || liveRun.rate < STREAM_TARGETS.writerRate
          ? null
          : { lag: liveRun.complete && (liveRun.received.lagMs?.max ?? Infinity) < STREAM_TARGETS.lagSeconds * 1000, rate: liveRun.writer.ofTarget >= 0.98 },
      problems,
    };
  } finally {
    for (const w of [...workers]) await stopWorker(w).catch(() => undefined);
    await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
    await receiver.stop();
    await ctl.end();
    // BENCH_STREAM_KEEP=1 leaves the copy for a look (dropped by the next run).
    if (process.env.BENCH_STREAM_KEEP === "1") logger.info({ database: DATABASE }, "stream: keeping the database (BENCH_STREAM_KEEP)");
    else await dropDatabase(server.rootUrl, DATABASE);
  }
}

// ---------------------------------------------------------------------------
// The report: results-stream.md / .json

export interface StreamResults {
  mode: "quick" | "full";
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  options: Omit<StreamOptions, "resultsPrefix">;
  stream: StreamResult;
}

const ok = (pass: boolean) => (pass ? "yes" : "**no**");
const n = (v: number | null | undefined, digits = 0) =>
  v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}
const pct = (part: number, whole: number) => (whole > 0 ? `${n((100 * part) / whole, 0)} %` : "–");

export function renderStreamMarkdown(r: StreamResults): string {
  const out: string[] = [];
  const m = r.machine;
  const s = r.stream;
  const c = s.catchUp;
  out.push(`# Audit Trail benchmark results: log streams (${r.mode} mode)`, "");
  out.push(`Run ${r.startedAt} – ${r.finishedAt} (${Math.round(r.durationSeconds / 60)} min) by \`npm run bench -- --only stream${r.mode === "quick" ? " --quick" : ""}\`.`, "");
  out.push(table(["machine", ""], [
    ["CPU", `${m.cores} cores, ${m.cpuModel}`],
    ["memory", `${m.memoryGiB} GiB`],
    ["OS / Node", `${m.os} / ${m.node}`],
    ["PostgreSQL", m.postgres.split(" on ")[0] ?? m.postgres],
    ["server settings", Object.entries(m.postgresSettings).map(([k, v]) => `${k}=${v}`).join(", ")],
    ["writer", m.pgbench ?? "–"],
    ["load average at start", m.loadAverageAtStart.join(" / ")],
  ]));
  out.push(
    "",
    `${n(s.rows)} entries (${s.variant === "migrated" ? "schema as migrated" : `bench/variants/${s.variant}.sql`}) of ${n(s.tenants)} tenants, on a copy of the read data set (copied in ${n(s.setup.copySeconds, 1)} s)` +
      `${s.setup.xidsAdvanced ? `; the cluster's transaction ids were moved ${n(s.setup.xidsAdvanced)} past the data set's made-up ones first` : ""}. ` +
      "The worker is `LogStreamWorker` (src/streams/stream-worker.ts) in the bench's process with the server's defaults (concurrency 4, slices of 30 s, STREAM_POLL_MS 1000) and `allowPrivate`; " +
      "it reads through an `audit_authenticator` pool as the tenant's admin (row-level security) and delivers kind `https` (JSON Lines, signed) to a node:http receiver on 127.0.0.1 in a child process, " +
      "which checks each batch's signature, parses every line, checks the tenant and the (transactionId, id) order inside the batch and counts distinct entry ids. " +
      `Load average at the section's start ${s.loadAverage.start.join(" / ")}, at its end ${s.loadAverage.end.join(" / ")}. ` +
      `\`migrations/current.sql\` as of ${s.currentSql.modifiedAt.slice(0, 19).replace("T", " ")} UTC (sha1 ${s.currentSql.sha1.slice(0, 12)}), ` +
      `\`src/streams/stream-worker.ts\` as of ${s.workerSource.modifiedAt.slice(0, 19).replace("T", " ")} UTC (sha1 ${s.workerSource.sha1.slice(0, 12)}).`,
    "",
  );

  const def = c.runs.find((x) => x.batchSize === DEFAULT_BATCH_SIZE && !x.profiled) ?? null;
  const best = [...c.runs].filter((x) => !x.profiled).sort((a, b) => b.entriesPerSecond - a.entriesPerSecond)[0] ?? null;
  const live = "skipped" in s.live ? null : s.live;
  const lag = live?.received.lagMs ?? null;
  out.push(table(["target", "measured", "met"], [
    [
      `catch-up: one stream delivers a tenant's backlog of ${n(STREAM_TARGETS.backlogEntries)} entries at ≥ ${n(STREAM_TARGETS.entriesPerSecond)} entries/s`,
      def
        ? `**${n(def.entriesPerSecond)} entries/s** with the default batch of ${n(DEFAULT_BATCH_SIZE)} (${def.complete ? `${n(c.backlog)} entries in ${n(def.seconds, 1)} s` : `${n(def.received.distinct)} of ${n(c.backlog)} entries in ${n(def.seconds, 1)} s, **cut at the timeout**`})` +
          (best && best !== def ? `; best ${n(best.entriesPerSecond)} entries/s with batches of ${n(best.batchSize)}` : "")
        : "– (the default batch size was not tried)",
      c.verdict === null ? `– (${r.mode === "quick" ? "quick mode" : "backlog below the target's"}: no verdict)` : ok(c.verdict),
    ],
    [
      `live: lag < ${STREAM_TARGETS.lagSeconds} s while the application writes ${n(STREAM_TARGETS.writerRate)} audited transactions/s`,
      live && lag
        ? `receive time − occurred_at: p50 ${n(lag.p50 / 1000, 2)} s, p95 ${n(lag.p95 / 1000, 2)} s, p99 ${n(lag.p99 / 1000, 2)} s, **max ${n(lag.max / 1000, 2)} s** (${n(lag.count)} entries); ` +
          `the writer at ${n(live.writer.tps, 1)}/s (${n(live.writer.ofTarget, 3)} of ${n(live.rate)})`
        : live
          ? "no entry received"
          : `skipped: ${(s.live as { skipped: string }).skipped}`,
      s.liveVerdict === null ? `– (${r.mode === "quick" ? "quick mode" : "writer rate below the target's"}: no verdict)` : `${ok(s.liveVerdict.lag)} (writer rate reached: ${ok(s.liveVerdict.rate)})`,
    ],
    ["the capture's write figures unchanged", "streams add nothing to the write path (no trigger, index or column of audit.log; current.sql section 1)", "– (by construction)"],
  ]));
  if (s.problems.length) out.push("", `**Broken:** ${s.problems.join("; ")}.`);

  out.push("", "## Catch-up", "");
  out.push(
    `Tenant ${c.tenantId}${c.rank !== null ? ` (rank ${c.rank} by size)` : ""} holds ${n(c.tenantEntries)} entries; its stream (inserted as the owner, kind https) starts just before its newest ${n(c.backlog)}: ` +
      `(transaction_id, id) from ${c.from.join(", ")} to ${c.to.join(", ")}, ${n(c.xidSpan)} transaction ids holding ${n(c.entriesInSpan)} entries of every tenant ` +
      `(${pct(c.backlog, c.entriesInSpan)} of them the stream's). Each run puts the stream back there with another batch_size and starts a new worker; ` +
      "the time runs from `worker.start()` until the receiver holds every entry of the backlog. Read: `audit.log_stream_entries` on the reader's connection " +
      "(with its transaction's begin, scope and commit apart); advance and claim: `advance_log_stream` and `claim_log_streams` on the worker's; " +
      "deliver: the rest of the wall time (the documents, the signature, the POST and the receiver's answer; the worker's own work); " +
      "when the worker reads the next batch while it delivers one, the shares overlap and add up to more than 100 %, and the rest is a lower bound. " +
      "CPU in cores (CPU seconds per second of the run, until the receiver held the backlog): the worker's process (the bench's), the receiver's, PostgreSQL's (the whole cluster) and the machine's.",
    "",
  );
  out.push(table(
    ["batch", "complete", "seconds", "entries/s", "batches", "entries per batch", "read ms (p50 / p95)", "read", "txn", "advance", "claim", "deliver", "receiver busy", "CPU worker", "receiver", "PostgreSQL", "machine", "blocks read / hit"],
    c.runs.map((x) => {
      const wall = x.seconds * 1000;
      return [
        `${n(x.batchSize)}${x.batchSize === DEFAULT_BATCH_SIZE ? " (default)" : ""}${x.profiled ? ", profiled" : ""}`, x.complete ? "yes" : "**no**", n(x.seconds, 1), `**${n(x.entriesPerSecond)}**`, n(x.received.batches),
        x.received.batchEntries ? `${n(x.received.batchEntries.median)} (${n(x.received.batchEntries.min)}–${n(x.received.batchEntries.max)})` : "–",
        x.times.readMsEach ? `${n(x.times.readMsEach.p50, 1)} / ${n(x.times.readMsEach.p95, 1)}` : "–",
        pct(x.times.readMs, wall), pct(x.times.txnMs, wall), pct(x.times.advanceMs, wall), pct(x.times.claimMs, wall), pct(x.deliverMs, wall), pct(x.received.handleMsTotal, wall),
        n(x.cpu.loadGenerator, 2), n(x.cpu.api, 2), n(x.cpu.postgres, 2), n(x.cpu.machine, 2), `${n(x.blocks.read)} / ${n(x.blocks.hit)}`,
      ];
    }),
  ));
  out.push(
    "",
    c.runs.map((x) =>
      `Batches of ${n(x.batchSize)}${x.profiled ? " (profiled)" : ""}: ${n(x.times.reads)} reads returned ${n(x.times.readRows)} rows (${n(x.times.readMs / 1000, 1)} s), ${n(x.times.advances)} advances (${n(x.times.advanceMs / 1000, 1)} s), ` +
      `${n(x.received.batches)} batches of ${n(x.received.bytes / 1024 ** 2, 1)} MB (${n(x.received.bytes / Math.max(1, x.received.entries), 0)} B per entry), ` +
      `${n(x.received.duplicates)} entries received twice, ${n(x.received.backwards)} batches starting behind the previous one; the stream counted ${n(x.stream.deliveredEntries)} delivered` +
      `${x.idle ? `; caught up, the worker sent ${n(x.idle.reads)} reads and ${n(x.idle.advances)} advances in the next ${n(x.idle.ms / 1000)} s` : ""}.`,
    ).join(" "),
  );
  for (const x of c.runs) {
    if (!x.profile) continue;
    out.push("", `### Where the worker's CPU went (batches of ${n(x.batchSize)})`, "");
    out.push(`A CPU profile of the bench's process during an extra run (\`${x.profile.file}\`; ${n(x.profile.sampledMs / 1000, 1)} s of samples, idle excluded; the profiler itself slows the run). Self time:`, "");
    out.push(table(["kind of code", "% of busy"], x.profile.categories.map((k) => [k.category, n(k.percent, 1)])));
    out.push("", table(["function", "where", "% of busy"], x.profile.top.map((t) => [`\`${t.fn}\``, t.where, n(t.percent, 1)])));
  }
  if (c.explain) {
    out.push("", "### The read", "");
    out.push(`EXPLAIN (ANALYZE, BUFFERS) of one read in the middle of the backlog as the worker sends it (as the tenant's admin, batch ${n(c.explain.batch)}, a window of ${n(c.explain.window)} transaction ids: about twice what a full batch spans):`, "");
    out.push("```", ...c.explain.plan, "```");
  }

  out.push("", "## Live", "");
  if (!live) {
    out.push(`Skipped: ${(s.live as { skipped: string }).skipped}.`);
  } else {
    out.push(
      `The business fixture of the write sections loaded beside the history; a stream of its tenant ${live.tenantId} (\`md5('tenant:0')\`, one of the writer's tenants) created at the xmin horizon, batch ${n(DEFAULT_BATCH_SIZE)}; ` +
        `the catch-up stream stays enabled (caught up). pgbench writes audited single-row transactions as \`app_user\` across the fixture's tenants at a fixed ${n(live.rate)}/s ` +
        `for ${n(live.seconds)} s over ${live.clients} connections (load-writer.ts's workload, synchronous commit on) while a new worker polls with its defaults. ` +
        "Lag per entry: the receiver's time when it first got the entry minus the entry's occurred_at (its transaction's start: the commit time is not stored, so this is an upper bound of the lag behind the commit). " +
        "It includes the xmin horizon (an entry is read only once every older transaction has ended) and the poll interval.",
      "",
    );
    const l = live.received.lagMs;
    out.push(table(["measured", ""], [
      ["writer", `${n(live.writer.tps, 1)} transactions/s of ${n(live.rate)} (${n(live.writer.ofTarget, 3)}), p50 ${n(live.writer.p50Ms, 2)} ms, p95 ${n(live.writer.p95Ms, 2)} ms, p99 ${n(live.writer.p99Ms, 2)} ms, max ${n(live.writer.maxMs, 1)} ms, ${n(live.writer.failed)} failed`],
      ["the streamed tenant's entries", `${n(live.expected)} written, ${n(live.received.distinct)} received (${n(live.received.duplicates)} twice) in ${n(live.received.batches)} batches (${live.received.batchEntries ? `median ${n(live.received.batchEntries.median)}, max ${n(live.received.batchEntries.max)}` : "–"}); ${n(live.received.otherStreamBatches)} batches of the catch-up stream`],
      ["lag (receive − occurred_at)", l ? `p50 ${n(l.p50, 0)} ms, p95 ${n(l.p95, 0)} ms, p99 ${n(l.p99, 0)} ms, max ${n(l.max, 0)} ms; over ${STREAM_TARGETS.lagSeconds} s: ${n(live.received.lagOver5s)}` : "–"],
      ["after the writer stopped", live.complete ? `every entry received ${n(live.drainSeconds, 2)} s later` : `**not every entry received within ${DRAIN_TIMEOUT_MS / 1000} s**`],
      ["worker's statements", `${n(live.times.claims)} claims, ${n(live.times.reads)} reads (p50 ${n(live.times.readMsEach?.p50, 1)} ms, p95 ${n(live.times.readMsEach?.p95, 1)} ms), ${n(live.times.advances)} advances`],
      ["CPU (cores)", `worker's process ${n(live.cpu.loadGenerator, 2)}, receiver ${n(live.cpu.api, 2)}, PostgreSQL ${n(live.cpu.postgres, 2)}, pgbench ${n(live.cpu.pgbench, 2)}, machine ${n(live.cpu.machine, 2)}`],
    ]));
    if (live.received.lagSeries.length) {
      out.push("", "Worst lag of the entries received in each 5 s:", "");
      out.push(table(["from s", "entries", "max lag ms"], live.received.lagSeries.map((b) => [n(b.atSeconds), n(b.entries), n(b.maxMs)])));
    }
  }
  out.push("");
  return out.join("\n");
}

export async function writeStreamResults(prefix: string, r: StreamResults): Promise<{ json: string; md: string }> {
  await mkdir(path.dirname(prefix), { recursive: true });
  const json = `${prefix}.json`;
  const md = `${prefix}.md`;
  await writeFile(json, JSON.stringify(r, null, 2) + "\n");
  await writeFile(md, renderStreamMarkdown(r));
  return { json, md };
}

if (process.env.BENCH_STREAM_RECEIVER === "1" && process.send) runReceiver();
