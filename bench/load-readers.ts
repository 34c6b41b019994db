// The admins of the load section: the page's mix (load-mix.ts) sent to the
// API at a fixed rate by loadtest (npm), whose requestsPerSecond mode is
// open-loop: a timer starts every request on schedule, on a new connection
// when every open one is busy, so a slow server meets a growing queue
// instead of a slower client (a closed loop of N connections, autocannon's
// model, hides that queueing delay). A phase sends rate × seconds requests,
// then waits for the last answers, which count: they are the slowest. The
// latency is loadtest's, per request, from its start on schedule to the end
// of the answer, in whole milliseconds. Exports run beside it on their own
// schedule, one a minute, timed to the last byte of the file as it streams
// (loadtest buffers every answer whole).
import type { ClientRequest, IncomingMessage, RequestOptions } from "node:http";
import type { ExportRequest, PageRequest, RequestGroup } from "./load-mix.ts";
import { percentile, round, sleep } from "./stats.ts";
import { uniformFloat64 } from "pure-rand/distribution/uniformFloat64";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";

/** The part of loadtest's API used here (its bundled typings predate the promise API). */
interface LoadTestOptions {
  url: string;
  requestsPerSecond: number;
  maxRequests: number;
  maxSeconds: number;
  agentKeepAlive: boolean;
  quiet: boolean;
  timeout: number;
  requestGenerator(params: unknown, options: RequestOptions, client: (o: RequestOptions, cb: (res: IncomingMessage) => void) => ClientRequest, callback: (res: IncomingMessage) => void): ClientRequest;
  contentInspector(result: LoadTestRequestResult): void;
  statusCallback(error: unknown, result: LoadTestRequestResult | undefined): void;
}
interface LoadTestRequestResult {
  statusCode: number;
  body: string;
  labels?: unknown;
  requestElapsed?: number;
  customError?: string;
  customErrorCode?: string;
}
interface LoadTestSummary {
  totalRequests: number;
  totalErrors: number;
  errorCodes: Record<string, number>;
}
type LoadTest = (options: LoadTestOptions) => Promise<LoadTestSummary>;

/** Imported when a phase runs, not with the bench: loadtest's keep-alive agent (agentkeepalive 2) warns of a deprecated Node API as it loads. */
async function importLoadTest(): Promise<LoadTest> {
  return ((await import("loadtest")) as unknown as { loadTest: LoadTest }).loadTest;
}

export interface LatencyRow {
  kind: string;
  group: RequestGroup | "all";
  requests: number;
  errors: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface ExportFigures {
  scope: string;
  /** Seconds into the phase when it started. */
  startedAtSeconds: number;
  ms: number;
  bytes: number;
  /** CSV lines less the header. */
  rows: number;
  error: string | null;
}

export interface ReaderFigures {
  offeredRate: number;
  /** Seconds from the first request to the last answer. */
  seconds: number;
  /** Requests started on schedule, and those finished (answered or failed; the rest were cut off after DRAIN_SECONDS). */
  sent: number;
  finished: number;
  /** Finished per second. */
  achievedRate: number;
  errors: number;
  /** loadtest's error codes: HTTP status, "200:<GraphQL error code>", -1 for a failed connection. */
  errorCodes: Record<string, number>;
  /** A few error answers, to say what failed. */
  errorSamples: string[];
  kinds: LatencyRow[];
  groups: LatencyRow[];
  exports: ExportFigures[];
}

/** A seeded generator (pure-rand): every phase draws the same sequence of the mix. */
function random(seed: number): () => number {
  const rng = xoroshiro128plus(seed);
  return () => uniformFloat64(rng);
}

function picker(requests: PageRequest[], seed: number): () => PageRequest {
  const cumulative: number[] = [];
  let sum = 0;
  for (const r of requests) cumulative.push((sum += r.weight));
  const next = random(seed);
  return () => {
    const x = next() * sum;
    let lo = 0;
    let hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return requests[lo]!;
  };
}

function row(kind: string, group: LatencyRow["group"], times: number[], errors: number): LatencyRow {
  return {
    kind, group, requests: times.length, errors,
    p50Ms: round(percentile(times, 50), 1), p95Ms: round(percentile(times, 95), 1), p99Ms: round(percentile(times, 99), 1),
    maxMs: times.length ? Math.max(...times) : Number.NaN,
  };
}

/** One export as the page runs it: the whole file read as it streams. */
async function runExport(apiUrl: string, e: ExportRequest, startedAtSeconds: number): Promise<ExportFigures> {
  const t0 = performance.now();
  let bytes = 0;
  let lines = 0;
  let inQuotes = false;
  try {
    const res = await fetch(apiUrl + e.path, { headers: e.headers });
    if (!res.ok || !res.body) throw new Error(`status ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const reader = res.body.getReader();
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) {
      bytes += chunk.value.byteLength;
      // as the page counts: a line end inside a quoted cell is part of the cell
      for (const b of chunk.value) {
        if (b === 34) inQuotes = !inQuotes;
        else if (b === 10 && !inQuotes) lines++;
      }
    }
    return { scope: e.scope, startedAtSeconds, ms: round(performance.now() - t0, 0), bytes, rows: Math.max(0, lines - 1), error: null };
  } catch (err) {
    return { scope: e.scope, startedAtSeconds, ms: round(performance.now() - t0, 0), bytes, rows: Math.max(0, lines - 1), error: err instanceof Error ? err.message : String(err) };
  }
}

/** How long a phase waits for its last answers after its last request was sent. */
const DRAIN_SECONDS = 60;

export interface ReaderRunOptions {
  rate: number;
  seconds: number;
  seed: number;
  /** Seconds between exports (the first at half of that, or half the phase when shorter). */
  exportEverySeconds: number;
}

/** One phase of admins: the mix at `rate` requests/s for `seconds`, exports beside it. */
export async function runReaders(apiUrl: string, mix: { requests: PageRequest[]; exports: ExportRequest[] }, opts: ReaderRunOptions): Promise<ReaderFigures> {
  const loadTest = await importLoadTest();
  const pick = picker(mix.requests, opts.seed);
  const times = new Map<string, number[]>();
  const errorsByKind = new Map<string, number>();
  const groupOf = new Map(mix.requests.map((r) => [r.kind, r.group]));
  const errorSamples: string[] = [];
  let sent = 0;
  let recorded = 0;
  let inFlight = 0;

  const started = performance.now();
  const exports: Promise<ExportFigures>[] = [];
  const exportTimers: NodeJS.Timeout[] = [];
  for (let at = Math.min(opts.exportEverySeconds, opts.seconds) / 2, i = 0; at < opts.seconds && mix.exports.length; at += opts.exportEverySeconds, i++) {
    const e = mix.exports[i % mix.exports.length]!;
    const startAt = at;
    exportTimers.push(setTimeout(() => exports.push(runExport(apiUrl, e, round(startAt, 1))), at * 1000));
  }

  const summary = await loadTest({
    url: apiUrl,
    requestsPerSecond: opts.rate,
    // The schedule's requests, then their last answers: the slowest, which
    // a cut at the end would leave out (loadtest ends once all have finished,
    // and at maxSeconds at the latest).
    maxRequests: Math.max(1, Math.round(opts.rate * opts.seconds)),
    maxSeconds: opts.seconds + DRAIN_SECONDS,
    // The page's browser keeps its connections open.
    agentKeepAlive: true,
    quiet: true,
    // A request still unanswered after this counts as an error (the API's statement timeout is 10 s).
    timeout: 30_000,
    requestGenerator(_params, options, client, callback) {
      const r = pick();
      options.method = r.method;
      options.path = r.path;
      options.headers = { ...(options.headers as Record<string, string>), ...r.headers };
      if (r.body !== null) options.headers["content-length"] = String(Buffer.byteLength(r.body));
      const request = client(options, callback) as ClientRequest & { labels?: unknown };
      request.labels = r.kind;
      sent++;
      inFlight++;
      request.once("close", () => inFlight--);
      if (r.body !== null) request.write(r.body);
      return request;
    },
    contentInspector(result) {
      if (result.statusCode !== 200) return;
      try {
        const body = JSON.parse(result.body) as { errors?: { message?: string; extensions?: { code?: string } }[] };
        if (body.errors?.length) {
          result.customError = body.errors[0]?.message ?? "GraphQL error";
          result.customErrorCode = body.errors[0]?.extensions?.code ?? "GRAPHQL";
        }
      } catch {
        result.customError = "the answer is not JSON";
        result.customErrorCode = "NOT_JSON";
      }
    },
    statusCallback(error, result) {
      recorded++;
      if (!result) return; // a failed connection: counted in loadtest's error codes
      const kind = String(result.labels);
      if (error) {
        errorsByKind.set(kind, (errorsByKind.get(kind) ?? 0) + 1);
        if (errorSamples.length < 5) errorSamples.push(`${kind}: ${result.statusCode} ${result.customError ?? result.body.slice(0, 200)}`);
      }
      if (result.requestElapsed !== undefined) {
        let list = times.get(kind);
        if (!list) times.set(kind, (list = []));
        list.push(result.requestElapsed);
      }
    },
  });
  const elapsed = (performance.now() - started) / 1000;
  for (const t of exportTimers) clearTimeout(t);
  // Requests cut off at maxSeconds are not counted by loadtest (they are
  // sent − finished): let them end so that they do not load the next phase.
  for (const deadline = performance.now() + 60_000; inFlight > 0 && performance.now() < deadline; ) await sleep(50);
  const exportFigures = await Promise.all(exports);

  const kinds = [...times.entries()].map(([kind, t]) => row(kind, groupOf.get(kind) ?? "other", t, errorsByKind.get(kind) ?? 0)).sort((a, b) => a.kind.localeCompare(b.kind));
  const groups = (["list", "count", "aggregates", "other"] as const).map((g) => {
    const members = kinds.filter((k) => k.group === g).map((k) => k.kind);
    return row(g, g, members.flatMap((k) => times.get(k)!), members.reduce((a, k) => a + (errorsByKind.get(k) ?? 0), 0));
  });
  const all = row("all", "all", [...times.values()].flat(), summary.totalErrors);
  return {
    offeredRate: opts.rate,
    seconds: round(elapsed, 1),
    sent,
    finished: recorded,
    achievedRate: round(recorded / elapsed, 1),
    errors: summary.totalErrors + exportFigures.filter((e) => e.error).length,
    errorCodes: summary.errorCodes,
    errorSamples,
    kinds,
    groups: [...groups, all],
    exports: exportFigures,
  };
}
