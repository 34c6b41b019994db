// Section 8: tamper evidence (migrations/current.sql, sections 4 and 5;
// src/sealing/). The sealer is a consumer of audit.log in commit order
// (rounds of transactions below the xmin horizon, its watermark in
// audit_private.log_consumers, consumer 'seals'); `npm run verify` and
// audit.verify() check the log against its seals. On a copy of the read data
// set (10M entries in full mode, the quick one of 10,000 in quick mode):
//   history   the 'seals' consumer reset to the log's oldest transaction id
//             (prior seals deleted in a maintenance transaction), then
//             sealDueRounds() times the sealing of the whole history, as the
//             server's first run or `npm run seal` would: entries/s, seals,
//             rounds, and the size of audit.seals per million entries.
//   verify    the tenant with the most entries: verifyLog() (Node, with the
//             public key: what `npm run verify --tenant` does) and
//             `select … from audit.verify(tenant)` (SQL), timed separately;
//             the issue's target: ≤ 15 s for a tenant of 1,000,000 entries.
//   stalls    pgbench writing audited single-row transactions at a fixed rate
//             (load-writer.ts's workload, every transaction logged, latency
//             from its scheduled start), for a period without the sealer and
//             an equal period with a sealing loop (sealDueRounds every 5 s on
//             its own connection, like the server's): the longest write and
//             the p99 with and without, and the sealing runs' durations.
import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import pg from "pg";
import type { Logger } from "../src/log.ts";
import { keyIdOf } from "../src/sealing/keys.ts";
import { SEAL_ROUND_XIDS, sealDueRounds, type SealingResult, type SigningKey } from "../src/sealing/sealer.ts";
import { verifyLog } from "../src/sealing/verifier.ts";
import type { ReadDataset } from "./read-dataset.ts";
import { benchDir, dropDatabase, workDir, type BenchServer } from "./server.ts";
import { median, percentile, round, sleep } from "./stats.ts";
import { fixtureSize, jobsConsumed, loadFixture, resetWorkload } from "./write-database.ts";
import { runPgbench, transactionTypes, type FixtureSize } from "./workload.ts";
import { connect, copyDataset, moveXidsPastDataset } from "./dataset-copy.ts";
import { readTransactionLog, type LoggedTransaction } from "./load-writer.ts";

/** The issue's target; renderSeal judges it (full mode only). */
export const SEAL_TARGETS = {
  /** Verifying one tenant of this many entries… */
  verifyEntries: 1_000_000,
  /** …takes at most this long. */
  verifySeconds: 15,
};

const DATABASE = "audit_bench_seal";
/** The sealing loop of the stall measurement: a run every 5 s (the server's SEAL_INTERVAL_MS defaults to 60 s). */
const SEAL_INTERVAL_MS = 5_000;
/** The server's sealing connection runs with this statement_timeout (src/sealing/sealer.ts, startSealing). */
const SEALER_STATEMENT_TIMEOUT_MS = 600_000;
/** The writer's connections, as load.ts: the rate never waits for a free one at normal latency. */
const WRITER_CLIENTS = 16;
/** What `npm run verify` passes: twice the server's default sealing interval. */
const UNSEALED_AFTER_MS = 120_000;

export interface SealOptions {
  quick: boolean;
  /** The writer's fixed rate of the stall measurement, audited transactions/s. */
  rate: number;
  /** Seconds of each period of the stall measurement (without, then with the sealer). */
  seconds: number;
  /** Runs of each verification (Node, SQL), alternating (the runner asks for one: at 10M one of the SQL verification's runs takes minutes). */
  verifyRuns: number;
  /** pgbench is available (the stall measurement needs its --rate). */
  pgbench: boolean;
}

/** One transaction of a sealDueRounds() call (begin … commit), timed at the client. */
export interface SealRoundTiming {
  ms: number;
  /** The stage_seals statement alone (the database's share: leaf hashes, Merkle roots, the chain); null if not seen. */
  stageMs: number | null;
  seals: number | null;
  entries: number | null;
}

export interface VerifyRun {
  kind: "node" | "sql";
  seconds: number;
  /** Entries checked: verifyLog's count of the tenant's entries; for SQL, the entries of the tenant's seals. */
  entries: number;
  entriesPerSecond: number;
  secondsPerMillion: number;
  /** Rows per status (Node: findings per status, ok included). */
  statuses: Record<string, number>;
}

export interface SealingRun {
  /** Seconds from the period's start. */
  atSeconds: number;
  ms: number;
  rounds: number;
  seals: number;
  entries: number;
  busy: boolean;
}

export interface LatencySummary {
  transactions: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface StallPeriod {
  sealing: boolean;
  /** Sealing what was due before the period (nothing is due at its start). */
  catchUp: { ms: number; seals: number; entries: number };
  transactions: number;
  tps: number;
  ofTarget: number;
  failed: number;
  latency: LatencySummary;
  /** Longest wait between a transaction's scheduled and actual start. */
  maxLagMs: number;
  /** When the slowest transaction ended, seconds from the period's start. */
  slowestAtSeconds: number | null;
  sealingRuns: SealingRun[];
  /** Transactions whose [scheduled start, end] overlapped a sealing run, and the others (sealing periods only). */
  duringSealing: LatencySummary | null;
  outsideSealing: LatencySummary | null;
}

export interface SealResult {
  rows: number;
  tenants: number;
  variant: string;
  spanEnd: string;
  database: string;
  /** Which migrations/current.sql ran (the sealing functions are in it). */
  currentSql: { sha1: string; modifiedAt: string };
  keyId: string;
  loadAverage: { start: number[]; end: number[] };
  setup: { copySeconds: number; xidsAdvanced: number; priorSealsDeleted: number; fromXid: string; logEntries: number };
  history: {
    /** sealDueRounds' figures. */
    entries: number;
    seals: number;
    reseals: number;
    rounds: number;
    roundXids: number;
    seconds: number;
    entriesPerSecond: number;
    /** Rounds that sealed something, in order; empty rounds (ranges of transaction ids without entries) summed apart. */
    roundTimings: SealRoundTiming[];
    emptyRounds: { count: number; ms: number };
    longestStageMs: number | null;
    sealsBytes: number;
    sealsBytesPerMillion: number;
    /** audit.log (every partition, indexes and TOAST included), for comparison. */
    logBytes: number;
  };
  verification: {
    tenantId: string;
    /** The tenant's rank by size in the data set (bench.r_tenants), if known. */
    rank: number | null;
    entries: number;
    seals: number;
    /** The tenant holds fewer than SEAL_TARGETS.verifyEntries: the time is scaled per million. */
    belowTarget: boolean;
    runs: VerifyRun[];
    /** The slowest run of each kind (what the verdict judges). */
    node: { seconds: number; secondsPerMillion: number };
    sql: { seconds: number; secondsPerMillion: number };
    /** null in quick mode (no verdict). */
    verdict: { node: boolean; sql: boolean } | null;
  };
  stalls:
    | { skipped: string }
    | {
        rate: number;
        seconds: number;
        clients: number;
        intervalMs: number;
        transactions: string[];
        without: StallPeriod;
        with: StallPeriod;
      };
  /** Something broken (not a figure): the runner fails the bench after writing the results. */
  problems: string[];
}

// ---------------------------------------------------------------------------



/**
 * The client sealDueRounds() gets, timing each of its rounds: a round is one
 * transaction (begin … commit); its stage_seals statement is timed apart and
 * its staged seals counted. The sealer's code runs unchanged.
 */
function timingRounds(client: pg.Client): { client: pg.Client; rounds: SealRoundTiming[] } {
  const rounds: SealRoundTiming[] = [];
  let begun = 0;
  let current: Omit<SealRoundTiming, "ms"> = { stageMs: null, seals: null, entries: null };
  const query = client.query.bind(client) as (...args: unknown[]) => Promise<pg.QueryResult>;
  const proxy = new Proxy(client, {
    get(target, prop) {
      if (prop === "query") {
        return (...args: unknown[]) => {
          const a = args[0];
          const text = typeof a === "string" ? a : typeof a === "object" && a !== null && "text" in a ? String((a as { text: unknown }).text) : "";
          if (text === "begin") {
            begun = performance.now();
            current = { stageMs: null, seals: null, entries: null };
          }
          const t0 = performance.now();
          const p = query(...args);
          if (/audit_private\.stage_seals\(/.test(text)) {
            return p.then((r) => {
              const staged = r.rows as { supersedes: string | null; entry_count: number }[];
              current = {
                stageMs: round(performance.now() - t0, 1),
                seals: staged.length,
                entries: staged.filter((s) => s.supersedes === null).reduce((n, s) => n + Number(s.entry_count), 0),
              };
              return r;
            });
          }
          if (text === "commit") {
            return p.then((r) => {
              rounds.push({ ms: round(performance.now() - begun, 1), ...current });
              return r;
            });
          }
          return p;
        };
      }
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { client: proxy, rounds };
}

function summarizeLatency(latencies: number[]): LatencySummary {
  return {
    transactions: latencies.length,
    p50Ms: round(percentile(latencies, 50), 2),
    p95Ms: round(percentile(latencies, 95), 2),
    p99Ms: round(percentile(latencies, 99), 2),
    maxMs: round(latencies.reduce((a, b) => Math.max(a, b), 0), 1),
  };
}


/** Enough jobs for one period (a quarter of the transactions completes one; the pool is reset between periods), in whole tenant × account rows. */
function stallFixtureSize(opts: SealOptions): FixtureSize {
  const base = fixtureSize(opts.quick);
  const per = base.tenants * base.accounts;
  const needed = Math.ceil((opts.rate * opts.seconds * 1.5) / 4 / per) * per;
  return { ...base, jobs: Math.max(base.jobs, needed) };
}

const num = (v: unknown) => Number(v);

export async function measureSeal(server: BenchServer, ds: ReadDataset, opts: SealOptions, logger: Logger): Promise<SealResult> {
  const loadStart = os.loadavg().map((l) => round(l, 2));
  const currentSqlPath = `${benchDir}../migrations/current.sql`;
  const currentSql = {
    sha1: createHash("sha1").update(await readFile(currentSqlPath)).digest("hex"),
    modifiedAt: (await stat(currentSqlPath)).mtime.toISOString(),
  };
  const problems: string[] = [];
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  const signing: SigningKey = { key: privateKey, keyId: keyIdOf(publicKey) };
  const publicKeys = new Map<string, KeyObject>([[signing.keyId, publicKey]]);

  let started = performance.now();
  logger.info({ template: ds.database, database: DATABASE, rows: ds.rows }, "seal: copying the read data set");
  await copyDataset(server, ds.database, DATABASE);
  const copySeconds = round((performance.now() - started) / 1000, 1);

  const url = server.url(DATABASE);
  const ctl = await connect(url, "audit-trail-bench");
  const clients: pg.Client[] = [];
  try {
    // History below the horizon, as real history is (dataset-copy.ts).
    const xidsAdvanced = await moveXidsPastDataset(ctl, (xids) =>
      logger.info({ xids }, "seal: moving the cluster's transaction ids past the data set's"));

    // --- 1. Sealing the whole history
    // Prior seals go (maintenance, as the owner), and the consumer starts at the oldest transaction.
    await ctl.query("begin");
    let priorSealsDeleted: number;
    try {
      await ctl.query("set local audit.maintenance = 'on'");
      await ctl.query("set local audit.maintenance_reason = 'bench: sealing the history again'");
      priorSealsDeleted = (await ctl.query("delete from audit.seals")).rowCount ?? 0;
      await ctl.query("commit");
    } catch (err) {
      await ctl.query("rollback").catch(() => undefined);
      throw err;
    }
    await ctl.query("select audit_private.register_consumer('seals')");
    await ctl.query("update audit_private.log_consumers set watermark = (select min(transaction_id) from audit.log) where consumer = 'seals'");
    const fromXid = (await ctl.query<{ w: string }>("select watermark::text as w from audit_private.log_consumers where consumer = 'seals'")).rows[0]!.w;
    const logEntries = num((await ctl.query<{ n: string }>("select count(*)::text as n from audit.log")).rows[0]!.n);
    await ctl.query("checkpoint");

    // Like the server's first run (startSealing), on a connection of its own;
    // without its statement_timeout, so that a long round is measured, not cut (see longestStageMs).
    const sealerConnection = await connect(url, "audit-trail-sealing");
    clients.push(sealerConnection);
    const timed = timingRounds(sealerConnection);
    logger.info({ entries: logEntries, fromXid, roundXids: SEAL_ROUND_XIDS }, "seal: sealing the whole history (sealDueRounds)");
    started = performance.now();
    const history: SealingResult = await sealDueRounds(timed.client, signing);
    const historySeconds = (performance.now() - started) / 1000;
    if (history.busy) problems.push("sealing the history: another sealer held the round's lock");
    if (history.entries !== logEntries) problems.push(`sealing the history sealed ${history.entries} entries; the log holds ${logEntries}`);
    if (history.reseals !== 0) problems.push(`sealing the history re-sealed ${history.reseals} rounds (no maintenance was journaled)`);
    await ctl.query("analyze audit.seals");
    const { rows: sizeRows } = await ctl.query<{ seals: string; log: string }>(
      `select pg_total_relation_size('audit.seals')::text as seals,
              (select coalesce(sum(pg_total_relation_size(i.inhrelid)), 0) from pg_inherits i where i.inhparent = 'audit.log'::regclass)::text as log`,
    );
    const sealsBytes = num(sizeRows[0]!.seals);
    const sealed = timed.rounds.filter((r) => (r.seals ?? 1) > 0);
    const empty = timed.rounds.filter((r) => r.seals === 0);
    const stageTimes = timed.rounds.map((r) => r.stageMs).filter((x): x is number => x !== null);
    const historyResult: SealResult["history"] = {
      entries: history.entries,
      seals: history.seals,
      reseals: history.reseals,
      rounds: history.rounds,
      roundXids: SEAL_ROUND_XIDS,
      seconds: round(historySeconds, 2),
      entriesPerSecond: round(history.entries / historySeconds, 0),
      roundTimings: sealed,
      emptyRounds: { count: empty.length, ms: round(empty.reduce((a, r) => a + r.ms, 0), 1) },
      longestStageMs: stageTimes.length ? Math.max(...stageTimes) : null,
      sealsBytes,
      sealsBytesPerMillion: history.entries > 0 ? Math.round((sealsBytes * 1e6) / history.entries) : 0,
      logBytes: num(sizeRows[0]!.log),
    };
    logger.info(
      { entries: history.entries, seals: history.seals, rounds: history.rounds, seconds: historyResult.seconds, entriesPerSecond: historyResult.entriesPerSecond, sealsMB: round(sealsBytes / 1024 ** 2, 1) },
      "seal: the history is sealed",
    );

    // --- 2. Verifying the largest tenant
    const { rows: largest } = await ctl.query<{ tenant_id: string; entries: string; seals: string }>(
      `select tenant_id::text, sum(entry_count)::text as entries, count(*)::text as seals
         from audit.seals where supersedes is null group by tenant_id order by sum(entry_count) desc, tenant_id limit 1`,
    );
    if (!largest[0]) throw new Error("seal: no seal was made: the data set's log is empty?");
    const tenantId = largest[0].tenant_id;
    const tenantEntries = num(largest[0].entries);
    let rank: number | null = null;
    if ((await ctl.query("select 1 from pg_class where oid = to_regclass('bench.r_tenants')")).rowCount) {
      rank = (await ctl.query<{ rank: number }>("select rank from bench.r_tenants where id = $1", [tenantId])).rows[0]?.rank ?? null;
    }
    logger.info({ tenantId, rank, entries: tenantEntries, runs: opts.verifyRuns }, "seal: verifying the largest tenant (Node, SQL)");
    const verifier = await connect(url, "audit-trail-verify");
    clients.push(verifier);
    const runs: VerifyRun[] = [];
    const perMillion = (seconds: number, entries: number) => (entries > 0 ? round((seconds * 1e6) / entries, 2) : Number.NaN);
    for (let i = 0; i < opts.verifyRuns; i++) {
      // Node: npm run verify --tenant (signatures checked with the public key)
      let t0 = performance.now();
      const r = await verifyLog(verifier, { tenantId, publicKeys, unsealedAfterMs: UNSEALED_AFTER_MS, connectionString: url });
      let seconds = (performance.now() - t0) / 1000;
      const statuses: Record<string, number> = {};
      for (const f of r.rounds) statuses[f.status] = (statuses[f.status] ?? 0) + 1;
      const nodeEntries = r.tenants[0]?.entries ?? 0;
      runs.push({ kind: "node", seconds: round(seconds, 2), entries: nodeEntries, entriesPerSecond: Math.round(nodeEntries / seconds), secondsPerMillion: perMillion(seconds, nodeEntries), statuses });
      if (nodeEntries !== tenantEntries) problems.push(`verifyLog read ${nodeEntries} entries of tenant ${tenantId}; its seals hold ${tenantEntries}`);
      const nodeFindings = Object.entries(statuses).filter(([s]) => s !== "ok");
      if (nodeFindings.length) problems.push(`verifyLog found ${nodeFindings.map(([s, c]) => `${c} × ${s}`).join(", ")} on an untouched log (tenant ${tenantId})`);
      logger.info({ run: i + 1, seconds: round(seconds, 2), entries: nodeEntries, statuses }, "seal: verifyLog (Node)");

      // SQL: audit.verify(tenant), as a DBA runs it
      t0 = performance.now();
      const { rows: sqlRows } = await verifier.query<{ status: string; n: number }>(
        "select status, count(*)::int as n from audit.verify($1::uuid) group by status order by status",
        [tenantId],
      );
      seconds = (performance.now() - t0) / 1000;
      const sqlStatuses = Object.fromEntries(sqlRows.map((x) => [x.status, x.n]));
      runs.push({ kind: "sql", seconds: round(seconds, 2), entries: tenantEntries, entriesPerSecond: Math.round(tenantEntries / seconds), secondsPerMillion: perMillion(seconds, tenantEntries), statuses: sqlStatuses });
      const sqlFindings = sqlRows.filter((x) => x.status !== "ok");
      if (sqlFindings.length) problems.push(`audit.verify() found ${sqlFindings.map((x) => `${x.n} × ${x.status}`).join(", ")} on an untouched log (tenant ${tenantId})`);
      logger.info({ run: i + 1, seconds: round(seconds, 2), statuses: sqlStatuses }, "seal: audit.verify() (SQL)");
    }
    const slowest = (kind: VerifyRun["kind"]) => {
      const k = runs.filter((x) => x.kind === kind).sort((a, b) => b.seconds - a.seconds)[0]!;
      return { seconds: k.seconds, secondsPerMillion: k.secondsPerMillion };
    };
    const node = slowest("node");
    const sql = slowest("sql");
    const verification: SealResult["verification"] = {
      tenantId,
      rank,
      entries: tenantEntries,
      seals: num(largest[0].seals),
      belowTarget: tenantEntries < SEAL_TARGETS.verifyEntries,
      runs,
      node,
      sql,
      verdict: opts.quick ? null : { node: node.secondsPerMillion <= SEAL_TARGETS.verifySeconds, sql: sql.secondsPerMillion <= SEAL_TARGETS.verifySeconds },
    };

    // --- 3. Writes while sealing
    let stalls: SealResult["stalls"];
    if (!opts.pgbench) {
      stalls = { skipped: "the writer is pgbench at a fixed rate (--rate): install it (Debian: postgresql-client) and leave --driver at pgbench or auto" };
    } else {
      const fixture = stallFixtureSize(opts);
      logger.info({ jobs: fixture.jobs }, "seal: loading the writer's fixture");
      await loadFixture(ctl, fixture);
      // The server's sealing connection (startSealing): its statement_timeout.
      const loop = await connect(url, "audit-trail-sealing", `-c statement_timeout=${SEALER_STATEMENT_TIMEOUT_MS}`);
      clients.push(loop);
      const logDir = `${workDir}seal-writer/`;

      const period = async (sealing: boolean): Promise<StallPeriod> => {
        // Nothing due at the start: the previous period's entries sealed now, then the usual reset (vacuum, analyze, checkpoint).
        const t0 = performance.now();
        const due = await sealDueRounds(loop, signing);
        const catchUp = { ms: round(performance.now() - t0, 1), seals: due.seals, entries: due.entries };
        await resetWorkload(ctl);
        await rm(logDir, { recursive: true, force: true });
        await mkdir(logDir, { recursive: true });

        const startedAt = Date.now();
        let writing = true;
        const writer = runPgbench({
          server, database: DATABASE, clients: WRITER_CLIENTS, seconds: opts.seconds, synchronousCommit: "on", fixture,
          rate: opts.rate, logPrefix: `${logDir}tx`,
        }).finally(() => {
          writing = false;
        });
        const sealingRuns: { startMs: number; endMs: number; run: SealingRun }[] = [];
        const sealingLoop = async () => {
          // every SEAL_INTERVAL_MS from the period's start, one run at a time (a late run starts the next at once)
          for (let next = startedAt + SEAL_INTERVAL_MS; ; next += SEAL_INTERVAL_MS) {
            while (writing && Date.now() < next) await sleep(Math.min(50, next - Date.now()));
            if (!writing) return;
            const startMs = Date.now();
            const t1 = performance.now();
            const r = await sealDueRounds(loop, signing);
            const ms = performance.now() - t1;
            sealingRuns.push({
              startMs, endMs: Date.now(),
              run: { atSeconds: round((startMs - startedAt) / 1000, 2), ms: round(ms, 1), rounds: r.rounds, seals: r.seals, entries: r.entries, busy: r.busy },
            });
            if (r.busy) problems.push("the sealing loop found the round's lock held by another sealer");
            logger.debug({ ms: round(ms, 1), seals: r.seals, entries: r.entries }, "seal: sealing run beside the writer");
          }
        };
        const [w] = await Promise.all([writer, sealing ? sealingLoop() : Promise.resolve()]);
        if ((await jobsConsumed(ctl)) > fixture.jobs) throw new Error(`seal: the job pool (${fixture.jobs}) ran out`);

        const log = await readTransactionLog(logDir);
        const failed = Math.max(w.failed, log.failed);
        if (failed > 0) problems.push(`the writer had ${failed} failed transactions (${sealing ? "with" : "without"} the sealer)`);
        const latencies = log.transactions.map((x) => x.latencyMs);
        const slowestTx = log.transactions.reduce<LoggedTransaction | null>((a, x) => (a === null || x.latencyMs > a.latencyMs ? x : a), null);
        // A transaction overlaps a sealing run when [scheduled start, end] meets [run start, run end].
        const overlaps = (x: LoggedTransaction) => sealingRuns.some((s) => x.endMs - x.latencyMs <= s.endMs && x.endMs >= s.startMs);
        const during = sealing ? log.transactions.filter(overlaps).map((x) => x.latencyMs) : [];
        const outside = sealing ? log.transactions.filter((x) => !overlaps(x)).map((x) => x.latencyMs) : [];
        const p: StallPeriod = {
          sealing,
          catchUp,
          transactions: w.transactions,
          tps: round(w.tps, 1),
          ofTarget: round(w.tps / opts.rate, 3),
          failed,
          latency: summarizeLatency(latencies),
          maxLagMs: round(log.maxLagUs / 1000, 1),
          slowestAtSeconds: slowestTx ? round((slowestTx.endMs - startedAt) / 1000, 2) : null,
          sealingRuns: sealingRuns.map((s) => s.run),
          duringSealing: sealing ? summarizeLatency(during) : null,
          outsideSealing: sealing ? summarizeLatency(outside) : null,
        };
        logger.info(
          {
            sealing, transactions: p.transactions, tps: p.tps, p50Ms: p.latency.p50Ms, p99Ms: p.latency.p99Ms, maxMs: p.latency.maxMs,
            sealingRuns: p.sealingRuns.length, sealingMsMax: p.sealingRuns.length ? Math.max(...p.sealingRuns.map((s) => s.ms)) : null,
          },
          `seal: the writer ${sealing ? "with" : "without"} the sealing loop`,
        );
        return p;
      };

      logger.info({ rate: opts.rate, seconds: opts.seconds, intervalMs: SEAL_INTERVAL_MS }, "seal: the writer without, then with the sealing loop");
      const without = await period(false);
      const withSealing = await period(true);
      if (withSealing.sealingRuns.length === 0) problems.push("the sealing loop never ran beside the writer");
      else if (withSealing.sealingRuns.every((s) => s.entries === 0)) problems.push("the sealing loop sealed nothing beside the writer");
      stalls = {
        rate: opts.rate,
        seconds: opts.seconds,
        clients: WRITER_CLIENTS,
        intervalMs: SEAL_INTERVAL_MS,
        transactions: transactionTypes(fixture).map((t) => t.description),
        without,
        with: withSealing,
      };
    }

    return {
      rows: ds.rows,
      tenants: ds.tenants,
      variant: ds.variant,
      spanEnd: ds.spanEnd.toISOString(),
      database: DATABASE,
      currentSql,
      keyId: signing.keyId,
      loadAverage: { start: loadStart, end: os.loadavg().map((l) => round(l, 2)) },
      setup: { copySeconds, xidsAdvanced, priorSealsDeleted, fromXid, logEntries },
      history: historyResult,
      verification,
      stalls,
      problems,
    };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await ctl.end();
    // BENCH_SEAL_KEEP=1 leaves the copy for a look at its seals (dropped by the next run).
    if (process.env.BENCH_SEAL_KEEP === "1") logger.info({ database: DATABASE }, "seal: keeping the database (BENCH_SEAL_KEEP)");
    else await dropDatabase(server.rootUrl, DATABASE);
  }
}

// ---------------------------------------------------------------------------
// The report (called by report.ts)

const ok = (pass: boolean) => (pass ? "yes" : "**no**");
const n = (v: number | null | undefined, digits = 0) =>
  v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
const mb = (bytes: number) => `${n(bytes / 1024 ** 2, bytes < 10 * 1024 ** 2 ? 1 : 0)} MB`;
function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}
const statusText = (s: Record<string, number>) => Object.entries(s).map(([k, v]) => `${k} ${n(v)}`).join(", ") || "none";

export function renderSeal(out: string[], s: SealResult): void {
  const h = s.history;
  const v = s.verification;
  out.push("", "## 8. Tamper evidence: sealing and verification", "");
  out.push(
    `${n(s.rows)} entries (${s.variant === "migrated" ? "schema as migrated" : `bench/variants/${s.variant}.sql`}), on a copy of the read data set (copied in ${n(s.setup.copySeconds, 1)} s)` +
      `${s.setup.xidsAdvanced ? `; the cluster's transaction ids were moved ${n(s.setup.xidsAdvanced)} past the data set's made-up ones first (history lies below the horizon)` : ""}. ` +
      `Prior seals deleted (${n(s.setup.priorSealsDeleted)}, in a maintenance transaction) and the \`seals\` consumer reset to the log's oldest transaction id (${s.setup.fromXid}); ` +
      `then \`sealDueRounds()\` (src/sealing/sealer.ts) sealed the whole history on a connection of its own, rounds of ${n(h.roundXids)} transaction ids as the server and \`npm run seal\` do, ` +
      `with a generated Ed25519 key (key id ${s.keyId}). The data set's transactions hold 3 entries each (\`transaction_id = n / 3\`) spread over its ${n(s.tenants)} tenants. ` +
      `Load average at the section's start ${s.loadAverage.start.join(" / ")}, at its end ${s.loadAverage.end.join(" / ")}. ` +
      `\`migrations/current.sql\` as of ${s.currentSql.modifiedAt.slice(0, 19).replace("T", " ")} UTC (sha1 ${s.currentSql.sha1.slice(0, 12)}).`,
    "",
  );

  const perMillionText = (x: { seconds: number; secondsPerMillion: number }) =>
    v.belowTarget || v.entries > SEAL_TARGETS.verifyEntries
      ? `${n(x.seconds, 1)} s for ${n(v.entries)} entries: **${n(x.secondsPerMillion, 1)} s per million**`
      : `**${n(x.seconds, 1)} s**`;
  const st = s.stalls;
  const stallText =
    "skipped" in st
      ? `skipped: ${st.skipped}`
      : `max **${n(st.with.latency.maxMs, 1)} ms with** sealing vs ${n(st.without.latency.maxMs, 1)} ms without (${st.with.latency.maxMs >= st.without.latency.maxMs ? "+" : "−"}${n(Math.abs(st.with.latency.maxMs - st.without.latency.maxMs), 1)} ms); ` +
        `p99 **${n(st.with.latency.p99Ms, 1)} ms with** vs ${n(st.without.latency.p99Ms, 1)} ms without; ` +
        `transactions overlapping a sealing run: p99 ${n(st.with.duringSealing?.p99Ms, 1)} ms, max ${n(st.with.duringSealing?.maxMs, 1)} ms (${n(st.with.duringSealing?.transactions)} of ${n(st.with.latency.transactions)})`;
  out.push(table(["measurement", "measured", "target met"], [
    [
      `sealing the history (${n(h.entries)} entries)`,
      `${n(h.entriesPerSecond)} entries/s: ${n(h.seconds, 1)} s, ${n(h.seals)} seals in ${n(h.rounds)} rounds; audit.seals ${mb(h.sealsBytes)} (${mb(h.sealsBytesPerMillion)} per million entries)`,
      "– (no target)",
    ],
    [
      `verifying one tenant of ${n(SEAL_TARGETS.verifyEntries)} entries ≤ ${SEAL_TARGETS.verifySeconds} s: \`npm run verify\` (verifyLog, Node)`,
      perMillionText(v.node),
      v.verdict ? ok(v.verdict.node) : "– (quick mode: no verdict)",
    ],
    [
      `… \`audit.verify(tenant)\` (SQL)`,
      perMillionText(v.sql),
      v.verdict ? ok(v.verdict.sql) : "– (quick mode: no verdict)",
    ],
    [
      "longest write stall while sealing: the writer's latency with the sealing loop vs without",
      stallText,
      "– (no target)",
    ],
  ]));
  if (s.problems.length) out.push("", `**Broken:** ${s.problems.join("; ")}.`);

  out.push("", "### Sealing the history", "");
  out.push(
    `Each round is one transaction (begin … commit at the client): \`audit_private.stage_seals()\` hashes the round's entries and builds a seal per tenant ` +
      "(the database's share), this process recomputes every seal's hash, signs it and commits the seals with the watermark. " +
      `${h.emptyRounds.count ? `${n(h.emptyRounds.count)} more rounds covered transaction ids without entries (${n(h.emptyRounds.ms, 0)} ms in all). ` : ""}` +
      `The longest \`stage_seals\` statement took ${n((h.longestStageMs ?? Number.NaN) / 1000, 1)} s; the server's sealing connection has a statement_timeout of ${n(SEALER_STATEMENT_TIMEOUT_MS / 1000)} s` +
      `${h.longestStageMs !== null && h.longestStageMs > SEALER_STATEMENT_TIMEOUT_MS ? " (**the server's first run would be cancelled on this history**)" : ""}.`,
    "",
  );
  const shown = h.roundTimings.slice(0, 20);
  out.push(table(["round", "entries", "seals", "round s", "of which stage_seals s", "entries/s"], [
    ...shown.map((r, i) => [i + 1, n(r.entries), n(r.seals), n(r.ms / 1000, 2), n((r.stageMs ?? Number.NaN) / 1000, 2), r.entries ? n((r.entries * 1000) / r.ms) : "–"]),
    ...(h.roundTimings.length > shown.length ? [[`… ${h.roundTimings.length - shown.length} more`, "", "", "", "", ""]] : []),
    ["**all**", n(h.entries), n(h.seals), n(h.seconds, 2), n(h.roundTimings.reduce((a, r) => a + (r.stageMs ?? 0), 0) / 1000, 2), n(h.entriesPerSecond)],
  ]));
  out.push(
    "",
    `audit.seals (\`pg_total_relation_size\`: heap, TOAST, indexes; each seal stores its entries' ids and leaf hashes) ${mb(h.sealsBytes)}: ` +
      `${mb(h.sealsBytesPerMillion)} per million entries, ${n(h.entries ? h.sealsBytes / h.entries : Number.NaN, 1)} B per entry; ` +
      `audit.log itself ${mb(h.logBytes)} (${n(h.entries ? h.logBytes / h.entries : Number.NaN, 0)} B per entry).`,
  );

  out.push("", `### Verifying the largest tenant`, "");
  out.push(
    `Tenant ${v.tenantId}${v.rank !== null ? ` (rank ${v.rank} by size)` : ""}: ${n(v.entries)} entries in ${n(v.seals)} seal${v.seals === 1 ? "" : "s"}. ` +
      (v.belowTarget
        ? `No tenant of the data set holds ${n(SEAL_TARGETS.verifyEntries)} entries: the largest is verified and its time scaled per million entries (verification reads every entry of the tenant once: linear). `
        : v.entries > SEAL_TARGETS.verifyEntries
          ? `It holds more than ${n(SEAL_TARGETS.verifyEntries)} entries: the target is judged on its time per million entries (verification reads every entry of the tenant once: linear). `
          : "") +
      "`verifyLog()` is `npm run verify --tenant` without recording: one repeatable-read snapshot shared by two connections, the tenant's seals and their stored leaves, every entry hashed by the verifier's own query " +
      "over PostgreSQL's built-ins, Merkle roots, the chain and the Ed25519 signatures checked with the public key. `audit.verify(tenant)` does the same in SQL without signatures. " +
      `${v.runs.length === 2 ? "One run of each, Node first" : `${v.runs.length / 2} runs of each, alternating`}${v.verdict ? (v.runs.length > 2 ? "; the verdict takes the slower" : "") : " (quick mode: no verdict; a small tenant's time per million is mostly fixed costs)"}.`,
    "",
  );
  out.push(table(["run", "verifier", "seconds", "entries", "entries/s", "s per million", "result rows by status"], v.runs.map((r, i) => [
    Math.floor(i / 2) + 1, r.kind === "node" ? "verifyLog (Node)" : "audit.verify() (SQL)", n(r.seconds, 2), n(r.entries), n(r.entriesPerSecond), n(r.secondsPerMillion, 2), statusText(r.statuses),
  ])));

  out.push("", "### Writes while sealing", "");
  if ("skipped" in st) {
    out.push(`Skipped: ${st.skipped}.`);
    return;
  }
  out.push(
    `pgbench writes audited single-row transactions as \`app_user\` at a fixed ${n(st.rate)}/s over ${st.clients} connections (load-writer.ts's workload: ${st.transactions.join("; ")}; ` +
      "`begin; audit.set_context(…); one write; commit`, synchronous commit on), every transaction logged; latency runs from its scheduled start to its end. " +
      `${n(st.seconds)} s without the sealer, then ${n(st.seconds)} s with a sealing loop on its own owner connection (\`sealDueRounds()\` every ${n(st.intervalMs / 1000)} s, ` +
      `statement_timeout as the server's). Before each period everything due is sealed and the workload reset (vacuum, analyze, \`CHECKPOINT\`).`,
    "",
  );
  const row = (label: string, p: StallPeriod) => [
    label, n(p.transactions), `${n(p.tps, 1)} (${n(p.ofTarget, 3)})`, n(p.latency.p50Ms, 2), n(p.latency.p95Ms, 2), n(p.latency.p99Ms, 2), n(p.latency.maxMs, 1),
    p.slowestAtSeconds === null ? "–" : `${n(p.slowestAtSeconds, 1)} s`, n(p.maxLagMs, 1), n(p.failed),
  ];
  const during = st.with.duringSealing;
  const outside = st.with.outsideSealing;
  const partRow = (label: string, l: LatencySummary | null) =>
    l ? [label, n(l.transactions), "", n(l.p50Ms, 2), n(l.p95Ms, 2), n(l.p99Ms, 2), n(l.maxMs, 1), "", "", ""] : [label, "–", "", "", "", "", "", "", "", ""];
  out.push(table(["period", "transactions", "tps (of rate)", "p50 ms", "p95 ms", "p99 ms", "max ms", "slowest at", "max lag ms", "failed"], [
    row("without the sealer", st.without),
    row("with the sealing loop", st.with),
    partRow("… overlapping a sealing run", during),
    partRow("… the others", outside),
  ]));
  const runs = st.with.sealingRuns;
  const ms = runs.map((r) => r.ms);
  out.push(
    "",
    `Sealing runs beside the writer: ${runs.length}, each ${runs.length ? `${n(Math.min(...ms), 0)}–${n(Math.max(...ms), 0)} ms (median ${n(median(ms), 0)})` : "–"}, ` +
      `${n(runs.reduce((a, r) => a + r.rounds, 0))} rounds, ${n(runs.reduce((a, r) => a + r.seals, 0))} seals of ${n(runs.reduce((a, r) => a + r.entries, 0))} entries ` +
      `(the writer committed ${n(st.with.transactions)}; the entries of its last seconds wait for the next run). ` +
      `Sealing what the period without the sealer had written, in one run before the second period: ${n(st.with.catchUp.entries)} entries in ${n(st.with.catchUp.ms, 0)} ms.`,
    "",
  );
  if (runs.length) {
    out.push(table(["run at s", "ms", "rounds", "seals", "entries"], runs.map((r) => [n(r.atSeconds, 1), n(r.ms, 0), n(r.rounds), n(r.seals), n(r.entries)])));
  }
}
