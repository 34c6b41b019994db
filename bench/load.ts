// Section 6: load. The API under admins working in the page at a fixed,
// open-loop rate of requests (load-readers.ts, the page's mix of
// load-mix.ts), while the application writes audited single-row
// transactions at a fixed rate (load-writer.ts), on a copy of the read data
// set (the writer's entries must not stay in it). First the writer alone
// (its reader-free baseline), then writer and readers at the target rate,
// then the read rate raised step by step until the list's p95 passes its
// target: the last rate that passed is the machine's capacity (lowered step
// by step instead when the target rate did not pass). The API server runs in
// a process of its own (load-api.ts); every run records where the CPU went
// (load-cpu.ts).
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import pg from "pg";
import type { Logger } from "../src/log.ts";
import { startApiProcess, type ApiProcess } from "./api-process.ts";
import { mintAdminScopes } from "./http.ts";
import { countCpu, type CpuShares } from "./load-cpu.ts";
import { buildMix, type PageRequest, type RequestGroup } from "./load-mix.ts";
import { runReaders, type ReaderFigures } from "./load-readers.ts";
import { runWriter, type WriterFigures } from "./load-writer.ts";
import type { ReadDataset } from "./read-dataset.ts";
import { benchDir, dropDatabase, workDir, type BenchServer } from "./server.ts";
import { round } from "./stats.ts";
import { fixtureSize, jobsConsumed, loadFixture, resetWorkload, walBytesSince, walLsn } from "./write-database.ts";
import { transactionTypes, type FixtureSize } from "./workload.ts";
import { copyDataset } from "./dataset-copy.ts";

/** The targets; report.ts judges them. */
export const LOAD_TARGETS = {
  listP95Ms: 50,
  countP95Ms: 50,
  aggregatesP95Ms: 150,
  /** The writer's achieved rate as a share of its fixed rate. */
  writerOfTarget: 0.99,
  /** The writer's p95 beside the readers, as a multiple of its reader-free p95. */
  writerP95OfBaseline: 2,
};

const DATABASE = "audit_bench_load";
/** An application's pool: the rate never waits for a free connection at normal latency. */
const WRITER_CLIENTS = 16;
const EXPORT_EVERY_SECONDS = 60;
/** Capacity steps and the reader-free baseline last at most this long (the target run lasts --load-seconds). */
const STEP_SECONDS = 60;

export interface LoadOptions {
  quick: boolean;
  /** Read requests per second of the target run; the capacity search steps by the same amount. */
  rate: number;
  /** Seconds of the target run. */
  seconds: number;
  /** Highest read rate the capacity search tries. */
  maxRate: number;
  /** The writer's fixed rate, audited transactions per second. */
  writerRate: number;
}

export interface LoadStep {
  rate: number;
  readers: ReaderFigures;
  writer: WriterFigures;
  cpu: CpuShares;
  /** p95 of every list request (first pages, filters, next pages). */
  listP95Ms: number;
  /** The list's p95 within its target. */
  passes: boolean;
}

export interface LoadResult {
  rows: number;
  variant: string;
  spanEnd: string;
  /** The load generator, e.g. "loadtest 8.2.1". */
  tool: string;
  /** The admins: a tenant admin and an account admin of tenants of these ranks by size. */
  scopes: { tenantAdmins: number; accountAdmins: number; tenantRanks: number[] };
  /** Share of each kind of request in the mix, percent. */
  mix: { kind: string; group: RequestGroup; share: number }[];
  exportEverySeconds: number;
  writer: { rate: number; clients: number; transactions: string[] };
  baseline: WriterFigures;
  baselineCpu: CpuShares;
  target: LoadStep;
  /**
   * The capacity search after the target run, each step with the writer
   * beside it: up by the target rate while the list passes, down by a fifth
   * of it when the target run did not.
   */
  steps: LoadStep[];
  /** The highest read rate tried whose list p95 stayed within target (null: none). */
  capacity: { rate: number | null; note: string };
}

async function loadtestVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(new URL("package.json", import.meta.resolve("loadtest")), "utf8")) as { version: string };
  return `loadtest ${pkg.version}`;
}


/** One request, checked: the mix is validated (and warmed) request by request before any load. */
async function sendChecked(apiUrl: string, r: PageRequest): Promise<unknown> {
  const res = await fetch(apiUrl + r.path, { method: r.method, headers: r.headers, body: r.body ?? undefined });
  const text = await res.text();
  let body: { data?: unknown; errors?: unknown[] } | null = null;
  try {
    body = JSON.parse(text) as { data?: unknown; errors?: unknown[] };
  } catch {
    body = null;
  }
  if (res.status !== 200 || !body || body.errors?.length || !body.data) {
    throw new Error(`load: the page's request "${r.kind}" failed (${res.status}): ${(body ? JSON.stringify(body.errors ?? body) : text).slice(0, 500)}\n${r.body ?? r.path}`);
  }
  return body.data;
}

/** Enough jobs for the longest writer run (a quarter of the transactions completes one), in whole tenant × account rows. */
function loadFixtureSize(opts: LoadOptions): FixtureSize {
  const base = fixtureSize(opts.quick);
  const longest = Math.max(opts.seconds, STEP_SECONDS);
  const per = base.tenants * base.accounts;
  const needed = Math.ceil((opts.writerRate * longest * 1.5) / 4 / per) * per;
  return { ...base, jobs: Math.max(base.jobs, needed) };
}

export async function measureLoad(server: BenchServer, ds: ReadDataset, opts: LoadOptions, logger: Logger): Promise<LoadResult> {
  const stepSeconds = Math.min(STEP_SECONDS, opts.seconds);
  const fixture = loadFixtureSize(opts);
  logger.info({ template: ds.database, database: DATABASE }, "load: copying the read data set");
  await copyDataset(server, ds.database, DATABASE);
  const owner = new pg.Client({ connectionString: server.url(DATABASE) });
  await owner.connect();
  let api: ApiProcess | null = null;
  try {
    await loadFixture(owner, fixture);
    const secret = randomBytes(32).toString("base64url");
    api = await startApiProcess(server.url(DATABASE, "auth"), secret);
    logger.info({ url: api.url }, "load: the API server listens");
    const apiUrl = api.url;
    const apiPid = api.pid;
    // Tokens outlive the longest capacity search. Quick mode: both kinds of
    // admin of the largest and the smallest tenant only (fewer requests to check).
    const minted = await mintAdminScopes(owner, secret, 6 * 3600);
    const smallestRank = Math.max(...minted.map((s) => s.rank));
    const scopes = opts.quick ? minted.filter((s, i) => (s.rank === 1 && i < 2) || s.rank === smallestRank) : minted;
    logger.info({ scopes: scopes.length }, "load: recording, checking and warming the page's requests");
    const checking = performance.now();
    const built = await buildMix(scopes, ds.spanEnd, (r) => sendChecked(apiUrl, r));
    logger.info({ requests: built.requests.length, seconds: round((performance.now() - checking) / 1000, 1) }, "load: the page's requests answer");
    // Exports: the tenant admins of the largest tenants first (each phase
    // starts from the top), then the account admins; one per scope.
    const byScope = new Map(built.exports.map((e) => [e.scope, e]));
    const exports = [...byScope.values()].sort((a, b) => Number(b.scope.startsWith("tenant")) - Number(a.scope.startsWith("tenant")));
    const smallest = exports.filter((e) => e.scope.startsWith("tenant")).at(-1)!;
    const check = await fetch(apiUrl + smallest.path, { headers: smallest.headers });
    if (check.status !== 200) throw new Error(`load: the export failed (${check.status}): ${(await check.text()).slice(0, 300)}`);
    await check.arrayBuffer();
    const mix = { requests: built.requests, exports };

    const writerOptions = { rate: opts.writerRate, clients: WRITER_CLIENTS, logDir: `${workDir}load-writer/` };
    const phase = async (rate: number | null, seconds: number): Promise<{ writer: WriterFigures; readers: ReaderFigures | null; cpu: CpuShares }> => {
      await resetWorkload(owner);
      const endCount = await countCpu(apiPid, server.embedded);
      const lsn = await walLsn(owner);
      const [writerRun, readers] = await Promise.all([
        runWriter(server, DATABASE, fixture, { ...writerOptions, seconds }),
        // The same seed in every phase: every rate draws the same sequence of the mix.
        rate === null ? Promise.resolve(null) : runReaders(apiUrl, mix, { rate, seconds, seed: 1, exportEverySeconds: EXPORT_EVERY_SECONDS }),
      ]);
      const cpu = await endCount();
      // (the readers write next to nothing: the run's WAL is the writer's)
      const writer = { ...writerRun, walBytesPerTxn: Math.round((await walBytesSince(owner, lsn)) / writerRun.transactions) };
      if (cpu.postgres !== null) writer.postgresCpuMicrosPerTxn = Math.round((cpu.postgres * cpu.seconds * 1e6) / writerRun.transactions);
      if ((await jobsConsumed(owner)) > fixture.jobs) throw new Error(`load: the job pool (${fixture.jobs}) ran out`);
      return { writer, readers, cpu };
    };
    const step = async (rate: number, seconds: number): Promise<LoadStep> => {
      const { writer, readers, cpu } = await phase(rate, seconds);
      const list = readers!.groups.find((g) => g.kind === "list")!;
      const s: LoadStep = { rate, readers: readers!, writer, cpu, listP95Ms: list.p95Ms, passes: list.p95Ms <= LOAD_TARGETS.listP95Ms };
      const p95 = (g: string) => readers!.groups.find((x) => x.kind === g)?.p95Ms;
      logger.info(
        { rate, achieved: readers!.achievedRate, errors: readers!.errors, listP95Ms: list.p95Ms, countP95Ms: p95("count"), aggregatesP95Ms: p95("aggregates"), writerTps: writer.tps, writerP95Ms: writer.p95Ms, cpu },
        "load: readers beside the writer",
      );
      return s;
    };

    const alone = await phase(null, stepSeconds);
    const baseline = alone.writer;
    logger.info({ tps: baseline.tps, p95Ms: baseline.p95Ms, p99Ms: baseline.p99Ms, cpu: alone.cpu }, "load: the writer alone");
    const target = await step(opts.rate, opts.seconds);
    const steps: LoadStep[] = [];
    // Quick mode: one step, to run the code, not to find anything.
    const maxSteps = opts.quick ? 1 : Number.POSITIVE_INFINITY;
    const limit = LOAD_TARGETS.listP95Ms;
    let capacity: LoadResult["capacity"];
    if (target.passes) {
      capacity = { rate: opts.rate, note: `every rate up to ${opts.maxRate} requests/s passed (--load-max-rate)` };
      for (let rate = 2 * opts.rate; rate <= opts.maxRate && steps.length < maxSteps; rate += opts.rate) {
        const s = await step(rate, stepSeconds);
        steps.push(s);
        if (!s.passes) {
          capacity.note = `the list's p95 was ${s.listP95Ms} ms at ${rate} requests/s`;
          break;
        }
        capacity.rate = rate;
        if (steps.length >= maxSteps) capacity.note = "quick mode stops after one step";
      }
    } else {
      // Below the target: down by a fifth of it until a rate passes.
      const down = Math.max(1, Math.round(opts.rate / 5));
      capacity = { rate: null, note: `the list's p95 passed ${limit} ms at every rate tried` };
      for (let rate = opts.rate - down; rate >= down && steps.length < maxSteps; rate -= down) {
        const s = await step(rate, stepSeconds);
        steps.push(s);
        if (s.passes) {
          capacity = { rate, note: `the list's p95 was ${s.listP95Ms} ms at ${rate} requests/s, above ${limit} ms at ${rate + down}` };
          break;
        }
      }
    }

    const shares = new Map<string, { group: RequestGroup; share: number }>();
    for (const r of built.requests) {
      const k = shares.get(r.kind) ?? { group: r.group, share: 0 };
      k.share += r.weight;
      shares.set(r.kind, k);
    }
    return {
      rows: ds.rows,
      variant: ds.variant,
      spanEnd: ds.spanEnd.toISOString(),
      tool: await loadtestVersion(),
      scopes: {
        tenantAdmins: scopes.filter((s) => s.role === "tenant_admin").length,
        accountAdmins: scopes.filter((s) => s.role === "account_admin").length,
        tenantRanks: scopes.filter((s) => s.role === "tenant_admin").map((s) => s.rank),
      },
      mix: [...shares.entries()].map(([kind, v]) => ({ kind, group: v.group, share: round(v.share, 1) })).sort((a, b) => b.share - a.share),
      exportEverySeconds: EXPORT_EVERY_SECONDS,
      writer: { rate: opts.writerRate, clients: WRITER_CLIENTS, transactions: transactionTypes(fixture).map((t) => t.description) },
      baseline,
      baselineCpu: alone.cpu,
      target,
      steps,
      capacity,
    };
  } finally {
    await api?.stop();
    await owner.end();
    await dropDatabase(server.rootUrl, DATABASE);
  }
}
