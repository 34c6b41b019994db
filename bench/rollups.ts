// Rollups (migrations/current.sql: audit.tenant_rollups, audit.account_rollups,
// audit.refresh_rollups, audit.rebuild_rollups, audit.activity_counts;
// src/db/rollups.ts), `--only rollups`, on fresh copies of the read data sets
// (1M and 10M entries in full mode, the quick one of 10,000 in quick mode).
//   fresh log  the read data sets are VACUUM FREEZEd: every page all-visible,
//              which the recent month of a real log never is (autovacuum
//              comes by a tenth of growth later, and new entries keep coming).
//              In the copy, the entries of the 31 days before the data set's
//              end are moved out and back in as the owner (audit.maintenance
//              with audit.moving_partitions: nothing journaled), with a VACUUM
//              in between so that the old versions leave no dead tuples behind
//              in the heap or the indexes, and only ANALYZE after: their pages
//              are new and not all-visible. Autovacuum is off on the
//              partitions for the copy's lifetime; relallvisible and the
//              visibility map of the recent pages are reported.
//   rollups    `audit.rebuild_rollups()` (timed; the tables' sizes and rows),
//              then a tail the rollups have not counted: ~2,000 entries across
//              tenants (the newest entries' tenants, the largest among them) in
//              the last second of the data set, above the rollups' watermark:
//              what one ROLLUP_INTERVAL_MS of writes at 1,000 tx/s leaves.
//   100M       the largest size's copy again, its largest tenant given 10×
//              its entries of the last 31 days (9 more copies of each, new ids,
//              occurred_at jittered by seconds within the same hour, the other
//              columns kept), `audit.rebuild_rollups(tenant)`: the tenant's
//              density in a 100M-entry log, which does not fit on the disk.
//   SQL        as the largest tenant's admin in the API's settings (reads.ts):
//              each sample its own transaction, a different `now` per sample
//              (the data set's end minus 0–60 min at random, so that the
//              range's edges fall anywhere in an hour, as a page load does).
//   GraphQL    the project's server over the copy, in a process of its own
//              (api-process.ts), timed to the response's last byte
//              (graphql-client.ts): the page's ActivityChart document with its
//              variables (src/browser/queries.ts), and the API's grouped
//              aggregates by day from the rollups and from the log.
//   lag        the write sections' fixture beside the history, pgbench writing
//              audited transactions at a fixed rate (load-writer.ts) while
//              startRollups (src/db/rollups.ts) runs in this process every
//              1,000 ms; every 100 ms the rollups' lag (now − the oldest
//              occurred_at at or above the watermark) is sampled; afterwards
//              audit.activity_counts over the fixture's tenants is checked
//              against a count of the log.
// Results go to their own files (results-rollups.md / .json in full mode).
import { createHash, randomBytes } from "node:crypto";
import { mkdir, readFile, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import pg from "pg";
import { pino } from "pino";
import type { Logger } from "../src/log.ts";
import { SCOPE_ROLES } from "../src/server/auth.ts";
import { setTransactionScope } from "../src/server/scoped-query.ts";
import { extractSectionArgs, requiredValue, wholeNumber } from "./section-args.ts";
import { connect, copyDataset, moveXidsPastDataset } from "./dataset-copy.ts";
import { startApiProcess, type ApiProcess } from "./api-process.ts";
import { postGraphQL } from "./graphql-client.ts";
import { mintAdminScopes } from "./http.ts";
import { runWriter, type WriterFigures } from "./load-writer.ts";
import type { MachineInfo } from "./machine.ts";
import type { ReadDataset } from "./read-dataset.ts";
import { benchDir, dropDatabase, workDir, type BenchServer } from "./server.ts";
import { percentile, round, sleep } from "./stats.ts";
import { fixtureSize, loadFixture } from "./write-database.ts";
import type { FixtureSize } from "./workload.ts";

/** The issue's targets; the report judges them in full mode. */
export const ROLLUP_TARGETS = {
  /** The page's 30-day chart of the largest tenant at this size… */
  rows: 10_000_000,
  /** …p95 in SQL and through GraphQL over HTTP. */
  sqlP95Ms: 20,
  httpP95Ms: 50,
  /** p95 at 100M (simulated) ≤ this × p95 at 1M. */
  flatRatio: 1.25,
  /** The consumer keeps the rollups within one interval of the log… */
  intervalMs: 1000,
  /** …while the application writes this many audited transactions/s. */
  writerRate: 1000,
};

/** The recent month rewritten into new pages, and the range the 100M simulation multiplies. */
const RECENT_DAYS = 31;
const DAY = 86_400_000;
const HOUR = 3_600_000;
/** The tail above the watermark. */
const TAIL_ENTRIES = 2000;
/** The lag is judged only when the writer kept at least this share of its rate (a saturated machine writes less). */
const WRITER_RATE_KEPT = 0.95;
const WRITER_CLIENTS = 16;
const SAMPLE_EVERY_MS = 100;
/** After the writer stopped: how long the rollups may take to reach the log. */
const CATCH_UP_TIMEOUT_MS = 30_000;
/** Generous: the bench measures slow plans rather than cutting them off. */
const STATEMENT_TIMEOUT_MS = 120_000;

// The page's document, copied from src/browser/queries.ts (activityCounts("ActivityChart")).
const ACTIVITY_CHART = `query ActivityChart($fromTime: Datetime!, $toTime: Datetime, $bucket: String, $resourceTypes: [String],
    $actions: [String], $events: [String], $actorIds: [UUID], $byKind: Boolean) {
  activityCounts(fromTime: $fromTime, toTime: $toTime, bucket: $bucket, resourceTypes: $resourceTypes, actions: $actions,
                 events: $events, actorIds: $actorIds, byKind: $byKind) { periodStart resourceType entries }
}`;

// ---------------------------------------------------------------------------
// Options (`--rollups-*`): taken out of the command line before bench/options.ts
// parses the rest (as the stream section's).

export interface RollupsCli {
  selected: boolean;
  alone: boolean;
  rows: number[] | null;
  samples: number | null;
  scale: number | null;
  rate: number | null;
  seconds: number | null;
  results: string | null;
}

export const ROLLUPS_USAGE = `Rollups (--only rollups; in every run unless --only leaves it out; results of their own):
  --rollups-rows LIST   read data sets it copies, fresh, in order (full: 1000000,10000000; quick: 10000)
  --rollups-scale N     the 100M simulation: the largest size's largest tenant with N× its recent
                        entries (default 10; 1: none)
  --rollups-samples N   samples per query and data set, SQL and GraphQL (full: 200, quick: 20)
  --rollups-rate N      lag: the writer's audited transactions/s (full: 1000, quick: 100)
  --rollups-seconds N   lag: seconds of writing (full: 60, quick: 5)
  --rollups-results P   write P.json and P.md (full default: bench/results-rollups, quick:
                        bench/.work/quick-results-rollups; with --only rollups alone, --results too)`;

/** Takes the section's options and its name in `--only` out of argv; the rest is for the others. */
export function extractRollupsArgs(argv: readonly string[]): { rest: string[]; cli: RollupsCli } {
  const cli: RollupsCli = { selected: true, alone: false, rows: null, samples: null, scale: null, rate: null, seconds: null, results: null };
  const { rest, selected, alone } = extractSectionArgs(argv, "rollups", {
    "--rollups-rows": (next, name) => {
      cli.rows = (next() ?? "").split(",").map((s) => wholeNumber(String(Number(s.trim())), name));
    },
    "--rollups-scale": (next, name) => { cli.scale = wholeNumber(next(), name); },
    "--rollups-samples": (next, name) => { cli.samples = wholeNumber(next(), name); },
    "--rollups-rate": (next, name) => { cli.rate = wholeNumber(next(), name); },
    "--rollups-seconds": (next, name) => { cli.seconds = wholeNumber(next(), name); },
    "--rollups-results": (next, name) => { cli.results = requiredValue(next(), name); },
  });
  return { rest, cli: { ...cli, selected, alone } };
}

export interface RollupsOptions {
  quick: boolean;
  /** Ascending; the largest is the one scaled. */
  rows: number[];
  scale: number;
  samples: number;
  rate: number;
  seconds: number;
  pgbench: boolean;
  resultsPrefix: string;
}

export function rollupsOptions(cli: RollupsCli, suite: { quick: boolean; resultsPrefix: string }, useSuiteResults: boolean, pgbench: boolean): RollupsOptions {
  const quick = suite.quick;
  return {
    quick,
    rows: [...new Set(cli.rows ?? (quick ? [10_000] : [1_000_000, 10_000_000]))].sort((a, b) => a - b),
    scale: cli.scale ?? 10,
    samples: cli.samples ?? (quick ? 20 : 200),
    rate: cli.rate ?? (quick ? 100 : ROLLUP_TARGETS.writerRate),
    seconds: cli.seconds ?? (quick ? 5 : 60),
    pgbench,
    resultsPrefix: cli.results ?? (useSuiteResults ? suite.resultsPrefix : quick ? `${workDir}quick-results-rollups` : `${benchDir}results-rollups`),
  };
}

// ---------------------------------------------------------------------------
// Results

export interface Latency {
  samples: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  /** Rows the answer had (median). */
  rows: number;
}

export interface QueryTiming extends Latency {
  name: string;
  description: string;
  role: "tenant_admin" | "account_admin";
}

export interface Exactness {
  name: string;
  /** Keys (period, resource type) compared, and how many differ. */
  keys: number;
  differing: number;
  entries: number;
  example: string | null;
}

export interface DataSetResult {
  label: string;
  /** Entries of the whole log, and the size it stands for (the 100M simulation: rows × scale by the largest tenant's share). */
  rows: number;
  standsFor: number;
  database: string;
  spanEnd: string;
  tenantId: string;
  accountId: string;
  /** The largest tenant's entries: all, and in the 30 days before the data set's end. */
  tenantEntries: number;
  tenantEntries30d: number;
  setup: {
    copySeconds: number;
    /** Moving the recent month into new pages (delete, vacuum, insert, analyze). */
    rewriteSeconds: number;
    rewrittenEntries: number;
    xidsAdvanced: number;
    /** The 100M simulation: entries added and the tenant's rebuild. */
    scaledEntries?: number;
    scaleSeconds?: number;
    rebuildSeconds: number;
    rebuildEntries: number;
    tailEntries: number;
    tailOfLargestTenant: number;
  };
  /** Of the partition holding the recent month, after ANALYZE, before the measurements. */
  visibility: { partition: string; relpages: number; relallvisible: number; recentPages: number | null; recentAllVisible: number | null; autovacuumEnabled: boolean };
  /** The same partition after the measurements (autovacuum must not have run). */
  autovacuumsDuringRun: number;
  rollups: { table: string; rows: number; bytes: number; dayRows?: number; hourRows?: number }[];
  watermark: string;
  sql: QueryTiming[];
  http: (QueryTiming & { operation: string })[] | { skipped: string };
  exactness: Exactness[];
  /** auto_explain of the 30-day chart's statements as the tenant's admin (the function's dynamic SQL included). */
  plan: string[] | null;
}

export interface LagPhase {
  rate: number;
  seconds: number;
  clients: number;
  writer: WriterFigures;
  intervalMs: number;
  /** The rollups' lag sampled every 100 ms while the writer ran. */
  lagSamples: number;
  /**
   * What the lag is counted from: "commit" (an entry joins the log when its
   * transaction commits: pg_xact_commit_timestamp, with track_commit_timestamp
   * on) or "start" (its occurred_at, the transaction's start: an upper bound,
   * when the server does not track commit timestamps).
   */
  lagBasis: "commit" | "start";
  /** The judged lag, from `lagBasis`. */
  lagSeconds: { p50: number; p95: number; max: number };
  /** The lag counted from each writing transaction's start, for comparison. */
  lagFromStartSeconds: { p50: number; p95: number; max: number };
  /** audit.refresh_rollups() rounds (log_consumers.last_round_ms) and the loop's passes (refreshRollups, with their second statement). */
  rounds: number;
  roundsSeen: number;
  roundMs: { p50: number; p95: number; max: number } | null;
  roundEntries: { p50: number; max: number } | null;
  passes: number;
  passMs: { p50: number; p95: number; max: number } | null;
  /** After the writer stopped: until no entry of the log was above the watermark. */
  caughtUpSeconds: number | null;
  entriesWritten: number;
  exactness: Exactness[];
  series: { atSeconds: number; maxLagSeconds: number }[];
}

export interface RollupsResult {
  datasets: DataSetResult[];
  lag: LagPhase | { skipped: string };
  flat: { sqlRatio: number | null; httpRatio: number | null; from: string; to: string } | null;
  verdicts: {
    sql: boolean | null;
    http: boolean | null;
    flat: boolean | null;
    lag: boolean | null;
  };
  currentSql: { sha1: string; modifiedAt: string };
  loadAverage: { start: number[]; end: number[] };
  problems: string[];
}

export interface RollupsResults {
  mode: "quick" | "full";
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  machine: MachineInfo;
  options: Omit<RollupsOptions, "resultsPrefix">;
  rollups: RollupsResult;
}

// ---------------------------------------------------------------------------
// Helpers

const num = (v: unknown) => Number(v);

/** A seeded generator (mulberry32): the same offsets from run to run. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function summary(values: number[], digits = 2): { p50: number; p95: number; max: number } | null {
  if (!values.length) return null;
  return { p50: round(percentile(values, 50), digits), p95: round(percentile(values, 95), digits), max: round(values.reduce((a, b) => Math.max(a, b), -Infinity), digits) };
}

async function sourceStamp(file: string): Promise<{ sha1: string; modifiedAt: string }> {
  return { sha1: createHash("sha1").update(await readFile(file)).digest("hex"), modifiedAt: (await stat(file)).mtime.toISOString() };
}

interface Admin {
  role: "tenant_admin" | "account_admin";
  tenantId: string;
  userId: string;
  accountId: string | null;
}

async function enterScope(c: pg.ClientBase, a: Admin): Promise<void> {
  await c.query("begin");
  await setTransactionScope(c, { userId: a.userId, tenantId: a.tenantId, role: a.role, accountId: a.accountId }, { statementTimeoutMs: STATEMENT_TIMEOUT_MS });
}

/** The partitions of audit.log. */
async function partitions(c: pg.ClientBase): Promise<string[]> {
  const { rows } = await c.query<{ name: string }>(
    "select c.oid::regclass::text as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'audit.log'::regclass order by 1",
  );
  return rows.map((r) => r.name);
}

/** Columns of audit.log an insert may name (no identity, no generated column). */
async function insertableColumns(c: pg.ClientBase): Promise<string[]> {
  const { rows } = await c.query<{ name: string }>(
    `select column_name as name from information_schema.columns
      where table_schema = 'audit' and table_name = 'log' and is_generated = 'NEVER' and is_identity = 'NO' order by ordinal_position`,
  );
  return rows.map((r) => r.name);
}

const countOf = async (c: pg.ClientBase, sql: string, params: unknown[] = []) => num((await c.query<{ n: string }>(sql, params)).rows[0]!.n);

// ---------------------------------------------------------------------------
// The fresh copy

/**
 * The recent month in new, not all-visible pages: moved out of audit.log
 * into a temporary table and back (as the owner, in maintenance, moving
 * partitions: nothing journaled), with a VACUUM of the emptied partitions
 * in between (no dead tuple left in the heap or the indexes, the emptied
 * end of the heap truncated), then only ANALYZE. Autovacuum is turned off on
 * every partition first.
 */
async function rewriteRecent(ctl: pg.Client, since: Date): Promise<number> {
  for (const p of await partitions(ctl)) await ctl.query(`alter table ${p} set (autovacuum_enabled = off)`);
  const { rows: touched } = await ctl.query<{ name: string }>(
    "select distinct tableoid::regclass::text as name from audit.log where occurred_at >= $1", [since],
  );
  await ctl.query("drop table if exists pg_temp.bench_recent");
  await ctl.query("create temporary table bench_recent as select * from audit.log where occurred_at >= $1", [since]);
  await ctl.query("begin");
  try {
    await ctl.query("set local audit.maintenance = 'on'");
    await ctl.query("set local audit.moving_partitions = 'on'");
    await ctl.query("delete from audit.log where occurred_at >= $1", [since]);
    await ctl.query("commit");
  } catch (err) {
    await ctl.query("rollback");
    throw err;
  }
  if (touched.length) await ctl.query(`vacuum (index_cleanup on, truncate on) ${touched.map((t) => t.name).join(", ")}`);
  // In id order, as they were written (ids grow with time).
  const { rowCount } = await ctl.query("insert into audit.log overriding system value select * from pg_temp.bench_recent order by id");
  await ctl.query("drop table pg_temp.bench_recent");
  await ctl.query("analyze audit.log");
  return rowCount ?? 0;
}

async function visibility(ctl: pg.Client, since: Date): Promise<DataSetResult["visibility"]> {
  const { rows } = await ctl.query<{ name: string; relpages: number; relallvisible: number; options: string[] | null }>(
    `select c.oid::regclass::text as name, c.relpages, c.relallvisible, c.reloptions as options
       from pg_class c where c.oid = (select tableoid from audit.log where occurred_at >= $1 order by occurred_at desc limit 1)`,
    [since],
  );
  const r = rows[0];
  if (!r) return { partition: "–", relpages: 0, relallvisible: 0, recentPages: null, recentAllVisible: null, autovacuumEnabled: true };
  let recentPages: number | null = null;
  let recentAllVisible: number | null = null;
  try {
    await ctl.query("create extension if not exists pg_visibility");
    // The pages holding entries of the recent month, and how many of them the visibility map calls all-visible.
    const { rows: v } = await ctl.query<{ pages: string; visible: string }>(
      `with b as (select distinct (ctid::text::point)[0]::bigint as blkno from ${r.name} where occurred_at >= $1)
       select count(*)::text as pages, count(*) filter (where m.all_visible)::text as visible
         from b join pg_visibility_map('${r.name}'::regclass) m on m.blkno = b.blkno`,
      [since],
    );
    recentPages = num(v[0]!.pages);
    recentAllVisible = num(v[0]!.visible);
  } catch {
    // pg_visibility is not installed on this server: relallvisible only
  }
  return {
    partition: r.name, relpages: r.relpages, relallvisible: r.relallvisible, recentPages, recentAllVisible,
    autovacuumEnabled: !(r.options ?? []).includes("autovacuum_enabled=false"),
  };
}

async function autovacuumCount(ctl: pg.Client, partition: string): Promise<number> {
  const { rows } = await ctl.query<{ n: string | null }>(
    "select (autovacuum_count + autoanalyze_count)::text as n from pg_stat_user_tables where relid = to_regclass($1)", [partition],
  );
  return num(rows[0]?.n ?? 0);
}

async function rollupSizes(ctl: pg.Client): Promise<DataSetResult["rollups"]> {
  const out: DataSetResult["rollups"] = [];
  const t = (await ctl.query<{ rows: string; bytes: string; day: string; hour: string }>(
    `select count(*)::text as rows, pg_total_relation_size('audit.tenant_rollups')::text as bytes,
            count(*) filter (where period = 'day')::text as day, count(*) filter (where period = 'hour')::text as hour from audit.tenant_rollups`,
  )).rows[0]!;
  out.push({ table: "audit.tenant_rollups", rows: num(t.rows), bytes: num(t.bytes), dayRows: num(t.day), hourRows: num(t.hour) });
  const a = (await ctl.query<{ rows: string; bytes: string }>(
    "select count(*)::text as rows, pg_total_relation_size('audit.account_rollups')::text as bytes from audit.account_rollups",
  )).rows[0]!;
  out.push({ table: "audit.account_rollups", rows: num(a.rows), bytes: num(a.bytes) });
  return out;
}

const watermarkOf = async (c: pg.ClientBase) =>
  (await c.query<{ w: string }>("select watermark::text as w from audit_private.log_consumers where consumer = 'rollups'")).rows[0]!.w;

/**
 * The tail: copies of the newest TAIL_ENTRIES entries (their tenants, the
 * largest among them) in the data set's last second, in one transaction of
 * its own above the rollups' watermark (transaction_id: its own, the default).
 * The same number at every size (one interval's writes do not depend on the
 * log's size): taken from the last 30 days, as the 1M set's last day holds
 * fewer (1,370).
 */
async function writeTail(ctl: pg.Client, spanEnd: Date, tenantId: string): Promise<{ entries: number; ofLargest: number }> {
  const cols = (await insertableColumns(ctl)).filter((c) => c !== "occurred_at" && c !== "transaction_id");
  const list = cols.map((c) => ctl.escapeIdentifier(c)).join(", ");
  const src = cols.map((c) => `s.${ctl.escapeIdentifier(c)}`).join(", ");
  const { rowCount } = await ctl.query(
    `insert into audit.log (occurred_at, ${list})
     select $1::timestamptz - (random() * 999 + 1) * interval '1 millisecond', ${src}
       from (select * from audit.log where occurred_at >= $1::timestamptz - interval '30 days' and occurred_at < $1 order by occurred_at desc, id desc limit $2) s`,
    [spanEnd, TAIL_ENTRIES],
  );
  const wm = await watermarkOf(ctl);
  const ofLargest = await countOf(ctl, "select count(*)::text as n from audit.log where tenant_id = $1 and transaction_id >= $2 and occurred_at >= $3", [
    tenantId, wm, new Date(spanEnd.getTime() - 1000),
  ]);
  return { entries: rowCount ?? 0, ofLargest };
}

/**
 * The 100M simulation: `scale − 1` more copies of each of the tenant's
 * entries of the recent month (below the watermark: not the tail), new ids,
 * occurred_at moved by up to ±5 s within its hour (and before the data set's
 * end), the rest as it was; inserted in time order.
 */
async function scaleTenant(ctl: pg.Client, tenantId: string, since: Date, spanEnd: Date, scale: number): Promise<number> {
  const cols = (await insertableColumns(ctl)).filter((c) => c !== "occurred_at");
  const list = cols.map((c) => ctl.escapeIdentifier(c)).join(", ");
  const src = cols.map((c) => `l.${ctl.escapeIdentifier(c)}`).join(", ");
  const wm = await watermarkOf(ctl);
  const { rowCount } = await ctl.query(
    `insert into audit.log (occurred_at, ${list})
     select x.at, ${list} from (
       select least(greatest(l.occurred_at + (random() * 10 - 5) * interval '1 second', date_trunc('hour', l.occurred_at, 'UTC')),
                    date_trunc('hour', l.occurred_at, 'UTC') + interval '1 hour' - interval '1 microsecond',
                    $3::timestamptz - interval '1 millisecond') as at, ${src}
         from audit.log l cross join generate_series(2, $4::int) k
        where l.tenant_id = $1 and l.occurred_at >= $2 and l.transaction_id < $5) x
     order by x.at`,
    [tenantId, since, spanEnd, scale, wm],
  );
  await ctl.query("analyze audit.log");
  return rowCount ?? 0;
}

// ---------------------------------------------------------------------------
// Measuring one data set

interface QueryDef {
  name: string;
  description: string;
  role: "tenant_admin" | "account_admin";
  /** Samples: all, or at most this many (the old way). */
  maxSamples?: number;
  /** Stop sampling after this long (at least 10 samples). */
  budgetMs: number;
  sql: string;
  range(now: Date): [Date, Date];
}

const range30 = (now: Date): [Date, Date] => [new Date(now.getTime() - 30 * DAY), new Date(now.getTime() + 1)];
const range24h = (now: Date): [Date, Date] => [new Date(now.getTime() - DAY), new Date(now.getTime() + 1)];

const QUERIES: QueryDef[] = [
  {
    name: "chart_30d", description: "the page's 30-day chart: `activity_counts(now − 30 days, now + 1 ms, 'day')` (by kind)", role: "tenant_admin", budgetMs: 120_000,
    sql: "select * from audit.activity_counts($1, $2, 'day')", range: range30,
  },
  {
    name: "total_30d", description: "30-day total: `activity_counts(…, 'total', by_kind => false)`", role: "tenant_admin", budgetMs: 60_000,
    sql: "select * from audit.activity_counts($1, $2, 'total', by_kind => false)", range: range30,
  },
  {
    name: "chart_24h", description: "24-hour chart: `activity_counts(now − 24 h, now + 1 ms, 'hour')`", role: "tenant_admin", budgetMs: 60_000,
    sql: "select * from audit.activity_counts($1, $2, 'hour')", range: range24h,
  },
  {
    name: "account_chart_30d", description: "the account admin's 30-day chart (the tenant's largest account)", role: "account_admin", budgetMs: 60_000,
    sql: "select * from audit.activity_counts($1, $2, 'day')", range: range30,
  },
  {
    name: "old_way_30d", description: "the old way: `count(*)` of the log per UTC day and resource type over 30 days", role: "tenant_admin", maxSamples: 40, budgetMs: 30_000,
    sql: "select date_trunc('day', occurred_at, 'UTC'), resource_type, count(*) from audit.log where occurred_at >= $1 and occurred_at < $2 group by 1, 2", range: range30,
  },
];

/** Compares activity_counts with a count of the log, in one transaction of the admin's scope. */
async function checkExact(c: pg.ClientBase, name: string, admin: Admin | null, rollupSql: string, logSql: string, params: unknown[]): Promise<Exactness> {
  if (admin) await enterScope(c, admin);
  else await c.query("begin");
  try {
    const a = new Map((await c.query<{ k: string; n: string }>(rollupSql, params)).rows.map((r) => [r.k, num(r.n)]));
    const b = new Map((await c.query<{ k: string; n: string }>(logSql, params)).rows.map((r) => [r.k, num(r.n)]));
    const keys = new Set([...a.keys(), ...b.keys()]);
    let differing = 0;
    let example: string | null = null;
    for (const k of keys) {
      if ((a.get(k) ?? 0) !== (b.get(k) ?? 0)) {
        differing++;
        example ??= `${k}: activity_counts ${a.get(k) ?? 0}, log ${b.get(k) ?? 0}`;
      }
    }
    return { name, keys: keys.size, differing, entries: [...b.values()].reduce((x, y) => x + y, 0), example };
  } finally {
    await c.query("commit");
  }
}

const BY_DAY_ROLLUP = "select coalesce(period_start::text, '') || ' ' || coalesce(resource_type, '') as k, sum(entries)::text as n from audit.activity_counts($1, $2, $3) group by 1";
const BY_DAY_LOG = "select date_trunc($3, occurred_at, 'UTC')::text || ' ' || resource_type as k, count(*)::text as n from audit.log where occurred_at >= $1 and occurred_at < $2 group by 1";

async function exactnessChecks(viewer: pg.Client, tenant: Admin, account: Admin, now: Date): Promise<Exactness[]> {
  const [f30, t30] = range30(now);
  const [f24, t24] = range24h(now);
  return [
    await checkExact(viewer, "30-day chart (tenant admin)", tenant, BY_DAY_ROLLUP, BY_DAY_LOG, [f30, t30, "day"]),
    await checkExact(viewer, "30-day total (tenant admin)", tenant,
      "select 'total' as k, coalesce(sum(entries), 0)::text as n from audit.activity_counts($1, $2, 'total', by_kind => false)",
      "select 'total' as k, count(*)::text as n from audit.log where occurred_at >= $1 and occurred_at < $2", [f30, t30]),
    await checkExact(viewer, "24-hour chart (tenant admin)", tenant, BY_DAY_ROLLUP, BY_DAY_LOG, [f24, t24, "hour"]),
    await checkExact(viewer, "30-day chart (account admin)", account, BY_DAY_ROLLUP, BY_DAY_LOG, [f30, t30, "day"]),
  ];
}

/** auto_explain (as NOTICE) of the chart's statements, the function's dynamic SQL included, as the tenant's admin. */
async function explainChart(ownerUrl: string, tenant: Admin, now: Date): Promise<string[] | null> {
  const c = await connect(ownerUrl, "audit-trail-bench");
  const notices: string[] = [];
  c.on("notice", (n) => notices.push(n.message ?? ""));
  try {
    await c.query("load 'auto_explain'");
    await c.query(
      "set auto_explain.log_min_duration = 0; set auto_explain.log_analyze = on; set auto_explain.log_buffers = on; set auto_explain.log_timing = on; " +
        "set auto_explain.log_nested_statements = on; set auto_explain.log_level = notice; set auto_explain.log_format = text",
    );
    const [from, to] = range30(now);
    // once to warm, once explained
    for (let i = 0; i < 2; i++) {
      notices.length = 0;
      await enterScope(c, tenant);
      await c.query("select * from audit.activity_counts($1, $2, 'day')", [from, to]);
      await c.query("commit");
    }
    return notices.flatMap((n) => n.split("\n")).filter((l) => !/^\s*$/.test(l));
  } catch {
    return null;
  } finally {
    await c.end();
  }
}

async function timeQueries(viewer: pg.Client, admins: Record<Admin["role"], Admin>, spanEnd: Date, samples: number, seed: number): Promise<QueryTiming[]> {
  const out: QueryTiming[] = [];
  for (const [qi, q] of QUERIES.entries()) {
    const rnd = random(seed * 31 + qi);
    const nowAt = () => new Date(spanEnd.getTime() - Math.floor(rnd() * HOUR));
    const admin = admins[q.role];
    const run = async () => {
      const [from, to] = q.range(nowAt());
      await enterScope(viewer, admin);
      const t0 = performance.now();
      const r = await viewer.query(q.sql, [from, to]);
      const ms = performance.now() - t0;
      await viewer.query("commit");
      return { ms, rows: r.rowCount ?? 0 };
    };
    // warm-up: plans, pages, hint bits
    for (let i = 0; i < Math.min(5, q.maxSamples ?? 5); i++) await run();
    const times: number[] = [];
    const rows: number[] = [];
    const started = performance.now();
    const wanted = Math.min(samples, q.maxSamples ?? samples);
    for (let i = 0; i < wanted; i++) {
      const r = await run();
      times.push(r.ms);
      rows.push(r.rows);
      if (i + 1 >= 10 && performance.now() - started > q.budgetMs) break;
    }
    const s = summary(times)!;
    out.push({ name: q.name, description: q.description, role: q.role, samples: times.length, p50Ms: s.p50, p95Ms: s.p95, maxMs: s.max, rows: percentile(rows, 50) });
  }
  return out;
}

/** Posts a document, timed to its response's last byte; its rows: activityCounts, auditLogs' groupedAggregates, or its cappedCount (one row). */
async function post(url: string, token: string, query: string, variables: Record<string, unknown>): Promise<{ ms: number; rows: unknown[] }> {
  const { ms, data } = await postGraphQL<{ activityCounts?: unknown[]; auditLogs?: { groupedAggregates?: unknown[]; cappedCount?: unknown } }>(url, token, { query, variables });
  const rows = data.activityCounts ?? data.auditLogs?.groupedAggregates ?? (data.auditLogs && "cappedCount" in data.auditLogs ? [data.auditLogs.cappedCount] : undefined);
  if (!rows) throw new Error(`GraphQL request answered no rows: ${JSON.stringify(data).slice(0, 300)}`);
  return { ms, rows };
}

/** The API's own grouped aggregates of the log, by UTC day and resource type (src/browser/queries.ts's AuditLogActivity). */
/** The `auditLogs` filter of a time range [from, to). */
const rangeFilter = (from: Date, to: Date) => ({ occurredAt: { greaterThanOrEqualTo: from.toISOString(), lessThan: to.toISOString() } });

const GROUPED_ACTIVITY = `query AuditLogActivity($filter: AuditLogFilter) {
  auditLogs(filter: $filter) { groupedAggregates(groupBy: [OCCURRED_AT_TRUNCATED_TO_DAY, RESOURCE_TYPE]) { keys count } }
}`;

/** The page's capped count (src/browser/queries.ts's AuditLogCount). */
const CAPPED_COUNT = `query AuditLogCount($filter: AuditLogFilter) { auditLogs(filter: $filter, first: 0) { cappedCount { count isCapped } } }`;

/** The GraphQL cases: the page's chart, and the API's grouped aggregates from the rollups and (a one-part `or`) from the log. */
const HTTP_CASES = [
  {
    name: "chart_30d", operation: "ActivityChart", role: "tenant_admin" as const, document: ACTIVITY_CHART, maxSamples: null,
    description: "the page's ActivityChart document, 30 days, bucket day, byKind (the largest tenant's admin)",
    variables: (from: Date, to: Date) => ({ fromTime: from.toISOString(), toTime: to.toISOString(), resourceTypes: null, actions: null, events: null, actorIds: null, bucket: "day", byKind: true }),
  },
  {
    name: "account_chart_30d", operation: "ActivityChart", role: "account_admin" as const, document: ACTIVITY_CHART, maxSamples: null,
    description: "the same document as an account admin of the largest tenant",
    variables: (from: Date, to: Date) => ({ fromTime: from.toISOString(), toTime: to.toISOString(), resourceTypes: null, actions: null, events: null, actorIds: null, bucket: "day", byKind: true }),
  },
  {
    name: "grouped_30d", operation: "AuditLogActivity", role: "tenant_admin" as const, document: GROUPED_ACTIVITY, maxSamples: null,
    description: "auditLogs' groupedAggregates by UTC day and resource type over the same 30 days (from the rollups)",
    variables: (from: Date, to: Date) => ({ filter: rangeFilter(from, to) }),
  },
  {
    name: "grouped_30d_log", operation: "AuditLogActivity", role: "tenant_admin" as const, document: GROUPED_ACTIVITY, maxSamples: 30,
    description: "the same, its filter as a one-part `or` (the rollups do not answer it): the log's entries grouped",
    variables: (from: Date, to: Date) => ({ filter: { or: [rangeFilter(from, to)] } }),
  },
  ...[
    ["capped", "no filter", null],
    ["capped_type", "a resource type (`resourceType: { equalTo: \"api_key\" }`)", { resourceType: { equalTo: "api_key" } }],
    ["capped_30d", "the last 30 days", "range"],
    ["capped_event", "an event of 1 % of the entries (`api_key.created`)", { event: { equalTo: "api_key.created" } }],
    ["capped_event_rare", "an event of 0.2 % of the entries, fewer than the cap (`process.restored`)", { event: { equalTo: "process.restored" } }],
  ].flatMap(([name, what, filter]) => [
    {
      name: name as string, operation: "AuditLogCount", role: "tenant_admin" as const, document: CAPPED_COUNT, maxSamples: null,
      description: `the page's capped count (max 10,000), ${what as string}`,
      variables: (from: Date, to: Date) => ({ filter: filter === "range" ? rangeFilter(from, to) : filter }),
    },
    {
      // (an event's scan of the log walks most of the tenant's entries: seconds each)
      name: `${name as string}_log`, operation: "AuditLogCount", role: "tenant_admin" as const, document: CAPPED_COUNT,
      maxSamples: (name as string).startsWith("capped_event") ? 10 : null,
      description: `the same as a one-part \`or\` (its bounded scan of the log)`,
      variables: (from: Date, to: Date) => ({
        filter: { or: [filter === "range" ? rangeFilter(from, to) : (filter ?? { occurredAt: { greaterThan: "1900-01-01T00:00:00Z" } })] },
      }),
    },
  ]),
];

async function timeHttp(server: BenchServer, database: string, spanEnd: Date, samples: number, seed: number): Promise<DataSetResult["http"]> {
  const secret = randomBytes(32).toString("base64url");
  let api: ApiProcess | null = null;
  const owner = await connect(server.url(database), "audit-trail-bench");
  try {
    try {
      api = await startApiProcess(server.url(database, "auth"), secret);
    } catch (err) {
      return { skipped: `the API server did not start (${err instanceof Error ? err.message.split("\n")[0] : String(err)})` };
    }
    const scopes = await mintAdminScopes(owner, secret);
    const out: (QueryTiming & { operation: string })[] = [];
    for (const [ci, cs] of HTTP_CASES.entries()) {
      const scope = scopes.find((s) => s.rank === 1 && s.role === cs.role);
      if (!scope) continue;
      const rnd = random(seed * 57 + ci);
      const ask = async () => {
        const now = new Date(spanEnd.getTime() - Math.floor(rnd() * HOUR));
        const [from, to] = range30(now);
        const { ms, rows } = await post(api!.url, scope.token, cs.document, cs.variables(from, to));
        return { ms, rows: rows.length };
      };
      const wanted = Math.min(samples, cs.maxSamples ?? samples);
      for (let i = 0; i < Math.min(10, wanted); i++) await ask();
      const times: number[] = [];
      const rows: number[] = [];
      const started = performance.now();
      for (let i = 0; i < wanted; i++) {
        const r = await ask();
        times.push(r.ms);
        rows.push(r.rows);
        if (i + 1 >= 10 && performance.now() - started > 120_000) break;
      }
      const s = summary(times)!;
      out.push({ name: cs.name, operation: cs.operation, description: cs.description, role: cs.role, samples: times.length, p50Ms: s.p50, p95Ms: s.p95, maxMs: s.max, rows: percentile(rows, 50) });
    }
    return out;
  } finally {
    await owner.end();
    await api?.stop();
  }
}

async function admins(ctl: pg.Client): Promise<{ tenant: Admin; account: Admin }> {
  const { rows } = await ctl.query<{ id: string; user_id: string; account_id: string }>(
    "select id::text as id, md5('ru:1:0')::uuid::text as user_id, md5('ra:1:0')::uuid::text as account_id from bench.r_tenants where rank = 1",
  );
  if (!rows[0]) throw new Error("rollups: the data set has no bench.r_tenants");
  const r = rows[0];
  return {
    tenant: { role: "tenant_admin", tenantId: r.id, userId: r.user_id, accountId: null },
    account: { role: "account_admin", tenantId: r.id, userId: r.user_id, accountId: r.account_id },
  };
}

async function measureDataSet(
  server: BenchServer, database: string, label: string, rows: number, standsFor: number, spanEnd: Date, setup: DataSetResult["setup"],
  opts: RollupsOptions, seed: number, problems: string[], logger: Logger,
): Promise<DataSetResult> {
  const ownerUrl = server.url(database);
  const ctl = await connect(ownerUrl, "audit-trail-bench");
  const viewer = await connect(server.url(database, "auth"), "audit-trail-bench");
  try {
    const since = new Date(spanEnd.getTime() - RECENT_DAYS * DAY);
    const { tenant, account } = await admins(ctl);
    const vis = await visibility(ctl, since);
    const avBefore = await autovacuumCount(ctl, vis.partition);
    const tenantEntries = await countOf(ctl, "select count(*)::text as n from audit.log where tenant_id = $1", [tenant.tenantId]);
    const tenantEntries30d = await countOf(ctl, "select count(*)::text as n from audit.log where tenant_id = $1 and occurred_at >= $2 and occurred_at <= $3", [
      tenant.tenantId, new Date(spanEnd.getTime() - 30 * DAY), spanEnd,
    ]);
    // The scope must switch the role (audit_authenticator alone reads nothing).
    await enterScope(viewer, tenant);
    const who = (await viewer.query<{ role: string }>("select current_user as role")).rows[0]?.role;
    await viewer.query("commit");
    if (who !== SCOPE_ROLES.tenant_admin) throw new Error(`rollups: expected to run as ${SCOPE_ROLES.tenant_admin}, running as ${who}`);

    const rnd = random(seed);
    const exactness = await exactnessChecks(viewer, tenant, account, new Date(spanEnd.getTime() - Math.floor(rnd() * HOUR)));
    for (const e of exactness) if (e.differing) problems.push(`${label}: ${e.name}: activity_counts differs from a count of the log in ${e.differing} of ${e.keys} keys (${e.example})`);

    logger.info({ label, database, tenantEntries, tenantEntries30d, visibility: vis }, "rollups: timing the queries in SQL");
    const sql = await timeQueries(viewer, { tenant_admin: tenant, account_admin: account }, spanEnd, opts.samples, seed);
    for (const q of sql) logger.info({ label, query: q.name, p50Ms: q.p50Ms, p95Ms: q.p95Ms, maxMs: q.maxMs, samples: q.samples, rows: q.rows }, "rollups: SQL");
    const plan = await explainChart(ownerUrl, tenant, new Date(spanEnd.getTime() - 17 * 60_000 - 23_456));
    logger.info({ label }, "rollups: GraphQL over HTTP");
    const http = await timeHttp(server, database, spanEnd, opts.samples, seed);
    if (!("skipped" in http)) for (const q of http) logger.info({ label, query: q.name, p50Ms: q.p50Ms, p95Ms: q.p95Ms, maxMs: q.maxMs }, "rollups: GraphQL");
    const avAfter = await autovacuumCount(ctl, vis.partition);
    if (avAfter > avBefore) problems.push(`${label}: autovacuum or autoanalyze ran on ${vis.partition} during the measurements`);
    return {
      label, rows, standsFor, database, spanEnd: spanEnd.toISOString(), tenantId: tenant.tenantId, accountId: account.accountId!,
      tenantEntries, tenantEntries30d, setup, visibility: vis, autovacuumsDuringRun: avAfter - avBefore,
      rollups: await rollupSizes(ctl), watermark: await watermarkOf(ctl), sql, http, exactness, plan,
    };
  } finally {
    await Promise.all([ctl.end(), viewer.end()]);
  }
}

// ---------------------------------------------------------------------------
// The consumer's lag beside a writer

/** A logger for startRollups whose debug lines (each pass) are kept; warnings and errors go on to the bench's. */
function passLogger(logger: Logger): { log: Logger; passes: { ms: number; rounds: number; entries: number }[] } {
  const passes: { ms: number; rounds: number; entries: number }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (!line) continue;
        try {
          const o = JSON.parse(line) as { level: number; msg?: string; ms?: number; rounds?: number; entries?: number };
          if ((o.msg === "rollup round" || o.msg === "rollups caught up") && typeof o.ms === "number") passes.push({ ms: o.ms, rounds: o.rounds ?? 0, entries: o.entries ?? 0 });
          else if (o.level >= 40) logger.warn(o, `rollups: ${o.msg ?? "warning"}`);
        } catch {
          // not JSON
        }
      }
      cb();
    },
  });
  return { log: pino({ level: "debug", base: { service: "audit-trail-bench" } }, sink) as unknown as Logger, passes };
}

async function measureLag(server: BenchServer, database: string, opts: RollupsOptions, problems: string[], logger: Logger): Promise<LagPhase> {
  const ownerUrl = server.url(database);
  const ctl = await connect(ownerUrl, "audit-trail-bench");
  const sampler = await connect(ownerUrl, "audit-trail-bench-lag");
  const { startRollups } = await import("../src/db/rollups.ts");
  try {
    const base = fixtureSize(opts.quick);
    const per = base.tenants * base.accounts;
    const fixture: FixtureSize = { ...base, jobs: Math.max(base.jobs, Math.ceil((opts.rate * opts.seconds * 1.5) / 4 / per) * per) };
    logger.info({ jobs: fixture.jobs }, "rollups: loading the writer's fixture");
    await loadFixture(ctl, fixture);
    // (no vacuum of audit.log: the recent month stays as a live log has it)
    await ctl.query("checkpoint");
    const tenants = (await ctl.query<{ id: string }>("select id::text from app.tenants")).rows.map((r) => r.id);
    const { log, passes } = passLogger(logger);
    const loop = startRollups({ connectionString: ownerUrl, intervalMs: ROLLUP_TARGETS.intervalMs, logger: log });
    try {
      await loop.firstRun; // the tail and anything else above the watermark
      passes.length = 0;
      const roundsAtStart = num((await ctl.query<{ r: string }>("select rounds::text as r from audit_private.log_consumers where consumer = 'rollups'")).rows[0]!.r);
      const phaseStart = new Date();
      const pruneFrom = new Date(phaseStart.getTime() - HOUR);
      // An entry joins the log when its transaction commits; with commit
      // timestamps tracked (the embedded bench cluster), the lag counts from
      // there. occurred_at, the transaction's start, also counts the writing
      // transaction's own time (hundreds of ms on saturated cores).
      const commitTs = (await ctl.query<{ on: boolean }>("select current_setting('track_commit_timestamp')::bool as on")).rows[0]!.on;
      const lagBasis: LagPhase["lagBasis"] = commitTs ? "commit" : "start";
      const lagSql = `select extract(epoch from clock_timestamp() - min(l.occurred_at))::float8 as from_start,
                             ${commitTs ? "extract(epoch from clock_timestamp() - min(pg_xact_commit_timestamp(l.xmin)))::float8" : "null::float8"} as from_commit,
                             c.rounds::text as rounds, c.last_round_ms::float8 as ms, c.last_round_entries as entries
                        from audit_private.log_consumers c left join audit.log l on l.transaction_id >= c.watermark and l.occurred_at >= $1
                       where c.consumer = 'rollups' group by c.rounds, c.last_round_ms, c.last_round_entries`;
      const lags: { at: number; lag: number; fromStart: number }[] = [];
      const roundMs = new Map<string, { ms: number; entries: number }>();
      let sampling = true;
      const sampling$ = (async () => {
        while (sampling) {
          const t = performance.now();
          const r = (await sampler.query<{ from_start: number | null; from_commit: number | null; rounds: string; ms: number | null; entries: number | null }>(lagSql, [pruneFrom])).rows[0]!;
          lags.push({ at: Date.now(), lag: (commitTs ? r.from_commit : r.from_start) ?? 0, fromStart: r.from_start ?? 0 });
          if (num(r.rounds) > roundsAtStart && r.ms !== null) roundMs.set(r.rounds, { ms: r.ms, entries: r.entries ?? 0 });
          await sleep(Math.max(0, SAMPLE_EVERY_MS - (performance.now() - t)));
        }
      })();
      logger.info({ rate: opts.rate, seconds: opts.seconds }, "rollups: the writer at a fixed rate, the rollup loop every 1,000 ms");
      let writer: WriterFigures;
      try {
        writer = await runWriter(server, database, fixture, { rate: opts.rate, seconds: opts.seconds, clients: WRITER_CLIENTS, logDir: `${workDir}rollups-writer/` });
      } finally {
        sampling = false;
        await sampling$;
      }
      const writerDone = performance.now();
      const roundsAtEnd = num((await ctl.query<{ r: string }>("select rounds::text as r from audit_private.log_consumers where consumer = 'rollups'")).rows[0]!.r);
      // Exact while part of it is counted live (the last interval), and again once caught up.
      const phaseRange = [new Date(phaseStart.getTime() - 37 * 60_000 - 1234), null] as const;
      const check = async (when: string) => {
        const to = new Date(Date.now() + 1);
        return [
          await checkExact(ctl, `fixture tenants per day, ${when}`, null,
            "select coalesce(period_start::text, '') || ' ' || resource_type || ' ' || action || ' ' || event as k, sum(entries)::text as n from audit.activity_counts($1, $2, 'day', tenant_ids => $3) group by 1",
            "select date_trunc('day', occurred_at, 'UTC')::text || ' ' || resource_type || ' ' || action || ' ' || event as k, count(*)::text as n from audit.log where occurred_at >= $1 and occurred_at < $2 and tenant_id = any($3) group by 1",
            [phaseRange[0], to, tenants]),
          await checkExact(ctl, `fixture tenants per hour, ${when}`, null,
            "select coalesce(period_start::text, '') || ' ' || resource_type as k, sum(entries)::text as n from audit.activity_counts($1, $2, 'hour', tenant_ids => $3) group by 1",
            "select date_trunc('hour', occurred_at, 'UTC')::text || ' ' || resource_type as k, count(*)::text as n from audit.log where occurred_at >= $1 and occurred_at < $2 and tenant_id = any($3) group by 1",
            [phaseRange[0], to, tenants]),
        ];
      };
      const exactness = await check("right after the writer stopped");
      let caughtUpSeconds: number | null = null;
      while (performance.now() - writerDone < CATCH_UP_TIMEOUT_MS) {
        const r = (await sampler.query<{ from_start: number | null }>(lagSql, [pruneFrom])).rows[0]!;
        if (r.from_start === null) {
          caughtUpSeconds = round((performance.now() - writerDone) / 1000, 2);
          break;
        }
        await sleep(SAMPLE_EVERY_MS);
      }
      exactness.push(...(await check("caught up")));
      for (const e of exactness) if (e.differing) problems.push(`lag: ${e.name}: activity_counts differs from a count of the log in ${e.differing} of ${e.keys} keys (${e.example})`);
      if (caughtUpSeconds === null) problems.push(`lag: the rollups had not reached the log ${CATCH_UP_TIMEOUT_MS / 1000} s after the writer stopped`);
      if (writer.failed) problems.push(`lag: the writer had ${writer.failed} failed transactions`);
      const entriesWritten = await countOf(ctl, "select count(*)::text as n from audit.log where tenant_id = any($1) and occurred_at >= $2", [tenants, phaseStart]);
      const lagValues = lags.map((l) => l.lag);
      const t0 = lags[0]?.at ?? 0;
      const buckets = new Map<number, number>();
      for (const l of lags) {
        const b = Math.floor((l.at - t0) / 5000);
        buckets.set(b, Math.max(buckets.get(b) ?? 0, l.lag));
      }
      const rounds = [...roundMs.values()];
      const result: LagPhase = {
        rate: opts.rate, seconds: opts.seconds, clients: WRITER_CLIENTS, writer, intervalMs: ROLLUP_TARGETS.intervalMs,
        lagSamples: lagValues.length,
        lagBasis,
        lagSeconds: summary(lagValues, 3) ?? { p50: Number.NaN, p95: Number.NaN, max: Number.NaN },
        lagFromStartSeconds: summary(lags.map((l) => l.fromStart), 3) ?? { p50: Number.NaN, p95: Number.NaN, max: Number.NaN },
        rounds: roundsAtEnd - roundsAtStart, roundsSeen: rounds.length,
        roundMs: summary(rounds.map((r) => r.ms), 1),
        roundEntries: rounds.length ? { p50: percentile(rounds.map((r) => r.entries), 50), max: Math.max(...rounds.map((r) => r.entries)) } : null,
        passes: passes.length,
        passMs: summary(passes.map((p) => p.ms), 0),
        caughtUpSeconds, entriesWritten, exactness,
        series: [...buckets.entries()].sort((a, b) => a[0] - b[0]).map(([k, v]) => ({ atSeconds: k * 5, maxLagSeconds: round(v, 2) })),
      };
      logger.info({ writerTps: writer.tps, lag: result.lagSeconds, roundMs: result.roundMs, passMs: result.passMs, caughtUpSeconds }, "rollups: lag");
      return result;
    } finally {
      await loop.stop();
    }
  } finally {
    await Promise.all([ctl.end(), sampler.end()]);
  }
}

// ---------------------------------------------------------------------------
// The section

export async function measureRollups(server: BenchServer, dataset: (rows: number) => Promise<ReadDataset>, opts: RollupsOptions, logger: Logger): Promise<RollupsResult> {
  const loadStart = os.loadavg().map((l) => round(l, 2));
  const currentSql = await sourceStamp(`${benchDir}../migrations/current.sql`);
  const problems: string[] = [];
  const datasets: DataSetResult[] = [];
  let lag: RollupsResult["lag"] = { skipped: "not run" };
  const largestRows = opts.rows[opts.rows.length - 1]!;

  for (const [si, rows] of opts.rows.entries()) {
    const ds = await dataset(rows);
    const database = `audit_bench_rollups_${rows}`;
    const keep = process.env.BENCH_ROLLUPS_KEEP === "1";
    try {
      let t = performance.now();
      logger.info({ template: ds.database, database }, "rollups: copying the read data set");
      await copyDataset(server, ds.database, database);
      const copySeconds = round((performance.now() - t) / 1000, 1);
      const ctl = await connect(server.url(database), "audit-trail-bench");
      let setup: DataSetResult["setup"];
      let tenantId: string;
      const since = new Date(ds.spanEnd.getTime() - RECENT_DAYS * DAY);
      try {
        t = performance.now();
        logger.info({ database, since }, "rollups: rewriting the recent month into new pages");
        const rewritten = await rewriteRecent(ctl, since);
        const rewriteSeconds = round((performance.now() - t) / 1000, 1);
        const xidsAdvanced = await moveXidsPastDataset(ctl, (xids) => logger.info({ xids }, "rollups: moving the cluster's transaction ids past the data set's"));
        t = performance.now();
        const rebuilt = await countOf(ctl, "select audit.rebuild_rollups()::text as n");
        const rebuildSeconds = round((performance.now() - t) / 1000, 2);
        // As autovacuum leaves them: the rows of days gone by are no longer
        // updated, and their pages are all-visible (the charts read the
        // rollups' keys and counts from the index alone).
        await ctl.query("vacuum (analyze) audit.tenant_rollups, audit.account_rollups");
        tenantId = (await admins(ctl)).tenant.tenantId;
        const tail = await writeTail(ctl, ds.spanEnd, tenantId);
        setup = { copySeconds, rewriteSeconds, rewrittenEntries: rewritten, xidsAdvanced, rebuildSeconds, rebuildEntries: rebuilt, tailEntries: tail.entries, tailOfLargestTenant: tail.ofLargest };
        logger.info({ database, ...setup }, "rollups: fresh copy ready");
      } finally {
        await ctl.end();
      }
      datasets.push(await measureDataSet(server, database, `${rows.toLocaleString("en-US")}`, rows, rows, ds.spanEnd, setup, opts, 1000 + si, problems, logger));

      if (rows === largestRows && opts.scale > 1) {
        // The 100M simulation, on the same copy (its recent month is already fresh; the tail stays above the watermark).
        const c2 = await connect(server.url(database), "audit-trail-bench");
        let setup2: DataSetResult["setup"];
        let added: number;
        try {
          t = performance.now();
          logger.info({ database, scale: opts.scale }, "rollups: the largest tenant's recent month ×scale (the 100M simulation)");
          added = await scaleTenant(c2, tenantId, since, ds.spanEnd, opts.scale);
          const scaleSeconds = round((performance.now() - t) / 1000, 1);
          t = performance.now();
          const rebuilt = await countOf(c2, "select audit.rebuild_rollups($1)::text as n", [tenantId]);
          const rebuildSeconds = round((performance.now() - t) / 1000, 2);
          await c2.query("vacuum (analyze) audit.tenant_rollups, audit.account_rollups");
          setup2 = { ...setup, scaledEntries: added, scaleSeconds, rebuildSeconds, rebuildEntries: rebuilt };
        } finally {
          await c2.end();
        }
        const standsFor = rows * opts.scale;
        datasets.push(await measureDataSet(server, database, `${standsFor.toLocaleString("en-US")} (simulated)`, rows + added, standsFor, ds.spanEnd, setup2, opts, 2000 + si, problems, logger));
      }

      if (rows === largestRows) {
        if (!opts.pgbench) lag = { skipped: "the writer is pgbench at a fixed rate (--rate): install it (Debian: postgresql-client)" };
        else lag = await measureLag(server, database, opts, problems, logger);
      }
    } finally {
      if (keep) logger.info({ database }, "rollups: keeping the database (BENCH_ROLLUPS_KEEP)");
      else await dropDatabase(server.rootUrl, database);
    }
  }

  // Verdicts (full mode): the 10M data set, the 100M simulation against the smallest size.
  const sqlOf = (d: DataSetResult | undefined) => d?.sql.find((q) => q.name === "chart_30d")?.p95Ms ?? null;
  const httpOf = (d: DataSetResult | undefined) => (d && !("skipped" in d.http) ? (d.http.find((q) => q.name === "chart_30d")?.p95Ms ?? null) : null);
  const smallest = datasets.find((d) => d.rows === d.standsFor && d.rows === opts.rows[0]);
  const simulated = datasets.find((d) => d.standsFor !== d.rows);
  const atTarget = datasets.find((d) => d.rows === ROLLUP_TARGETS.rows && d.standsFor === d.rows);
  const ratio = (a: number | null, b: number | null) => (a !== null && b !== null && b > 0 ? round(a / b, 2) : null);
  const flat = smallest && simulated ? { sqlRatio: ratio(sqlOf(simulated), sqlOf(smallest)), httpRatio: ratio(httpOf(simulated), httpOf(smallest)), from: smallest.label, to: simulated.label } : null;
  const judged = !opts.quick;
  const lagRun = "skipped" in lag ? null : lag;
  const verdicts = {
    sql: judged && atTarget ? (sqlOf(atTarget) ?? Infinity) <= ROLLUP_TARGETS.sqlP95Ms : null,
    http: judged && atTarget && httpOf(atTarget) !== null ? httpOf(atTarget)! <= ROLLUP_TARGETS.httpP95Ms : null,
    flat: judged && flat && flat.sqlRatio !== null && smallest!.rows <= 1_000_000 && simulated!.standsFor >= 100_000_000 ? flat.sqlRatio <= ROLLUP_TARGETS.flatRatio : null,
    lag: judged && lagRun && lagRun.rate >= ROLLUP_TARGETS.writerRate && lagRun.writer.ofTarget >= WRITER_RATE_KEPT ? lagRun.lagSeconds.p95 <= ROLLUP_TARGETS.intervalMs / 1000 : null,
  };
  return { datasets, lag, flat, verdicts, currentSql, loadAverage: { start: loadStart, end: os.loadavg().map((l) => round(l, 2)) }, problems };
}

// ---------------------------------------------------------------------------
// The report: results-rollups.md / .json

const ok = (pass: boolean | null, why = "") => (pass === null ? `–${why ? ` (${why})` : ""}` : pass ? "yes" : "**no**");
const n = (v: number | null | undefined, digits = 0) =>
  v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

export function renderRollupsMarkdown(r: RollupsResults): string {
  const out: string[] = [];
  const m = r.machine;
  const s = r.rollups;
  const quick = r.mode === "quick";
  const noVerdict = quick ? "quick mode: no verdict" : "not measured";
  out.push(`# Audit Trail benchmark results: rollups (${r.mode} mode)`, "");
  out.push(`Run ${r.startedAt} – ${r.finishedAt} (${Math.round(r.durationSeconds / 60)} min) by \`npm run bench -- --only rollups${quick ? " --quick" : ""}\`.`, "");
  out.push(table(["machine", ""], [
    ["CPU", `${m.cores} cores, ${m.cpuModel}`],
    ["memory", `${m.memoryGiB} GiB`],
    ["OS / Node", `${m.os} / ${m.node}`],
    ["PostgreSQL", m.postgres.split(" on ")[0] ?? m.postgres],
    ["server settings", Object.entries(m.postgresSettings).map(([k, v]) => `${k}=${v}`).join(", ")],
    ["writer", m.pgbench ?? "–"],
    ["load average at start / end", `${s.loadAverage.start.join(" / ")}; ${s.loadAverage.end.join(" / ")}`],
  ]));
  out.push("", `\`migrations/current.sql\` as of ${s.currentSql.modifiedAt.slice(0, 19).replace("T", " ")} UTC (sha1 ${s.currentSql.sha1.slice(0, 12)}).`, "");

  const chart = (d: DataSetResult) => d.sql.find((q) => q.name === "chart_30d");
  const chartHttp = (d: DataSetResult) => ("skipped" in d.http ? undefined : d.http.find((q) => q.name === "chart_30d"));
  const at10 = s.datasets.find((d) => d.rows === ROLLUP_TARGETS.rows && d.standsFor === d.rows) ?? s.datasets.find((d) => d.rows === d.standsFor && d.rows === Math.max(...s.datasets.filter((x) => x.rows === x.standsFor).map((x) => x.rows)));
  const lag = "skipped" in s.lag ? null : s.lag;
  out.push(table(["target", "measured", "met"], [
    [
      `the page's 30-day chart of the largest tenant at ${n(ROLLUP_TARGETS.rows)} entries, fresh log: p95 ≤ ${ROLLUP_TARGETS.sqlP95Ms} ms in SQL`,
      at10 && chart(at10) ? `p95 **${n(chart(at10)!.p95Ms, 2)} ms** (p50 ${n(chart(at10)!.p50Ms, 2)}, max ${n(chart(at10)!.maxMs, 1)}; ${n(chart(at10)!.samples)} samples at ${at10.label})` : "–",
      ok(s.verdicts.sql, noVerdict),
    ],
    [
      `… ≤ ${ROLLUP_TARGETS.httpP95Ms} ms through GraphQL (the page's ActivityChart)`,
      at10 && chartHttp(at10) ? `p95 **${n(chartHttp(at10)!.p95Ms, 2)} ms** (p50 ${n(chartHttp(at10)!.p50Ms, 2)}, max ${n(chartHttp(at10)!.maxMs, 1)})` : "–",
      ok(s.verdicts.http, noVerdict),
    ],
    [
      `flat from 1M to 100M: p95 at 100M ≤ ${ROLLUP_TARGETS.flatRatio} × p95 at 1M (100M simulated by the largest tenant's density)`,
      s.flat ? `SQL **${n(s.flat.sqlRatio, 2)}**, GraphQL ${n(s.flat.httpRatio, 2)} (${s.flat.to} / ${s.flat.from})` : "–",
      ok(s.verdicts.flat, noVerdict),
    ],
    [
      `the consumer keeps the rollups within one interval (${n(ROLLUP_TARGETS.intervalMs)} ms) of the log while the application writes ${n(ROLLUP_TARGETS.writerRate)} audited transactions/s`,
      lag ? `lag from ${lag.lagBasis === "commit" ? "the commit" : "the transaction's start"} p50 ${n(lag.lagSeconds.p50, 2)} s, **p95 ${n(lag.lagSeconds.p95, 3)} s**, max ${n(lag.lagSeconds.max, 2)} s${lag.lagBasis === "commit" ? ` (from the transaction's start: p95 ${n(lag.lagFromStartSeconds.p95, 3)} s)` : ""}; the writer at ${n(lag.writer.tps, 1)}/s (${n(lag.writer.ofTarget, 3)} of ${n(lag.rate)})` : `skipped: ${(s.lag as { skipped: string }).skipped}`,
      ok(s.verdicts.lag, quick ? noVerdict : "writer rate below the target's"),
    ],
    ["the capture's write figures unchanged", "rollups add nothing to the write path (a consumer of the log in commit order; the maintenance journal gains two columns, filled only in maintenance); the btree on transaction_id that replaced the BRIN index (migration 000020) was measured by the write sections against it: bench/results-writes-000020.md", "– (not this section's)"],
  ]));
  if (s.problems.length) out.push("", `**Broken:** ${s.problems.join("; ")}.`);

  out.push("", "## Data sets", "");
  out.push(
    "Each size is a file copy of the read data set (`audit_bench_rollups_<n>`). The read data sets are `VACUUM (FREEZE)`d: every page all-visible. In the copy, the entries of the " +
      `${RECENT_DAYS} days before the data set's end are moved out into a temporary table and back as the owner (\`audit.maintenance\` and \`audit.moving_partitions\` on: nothing journaled), ` +
      "with a VACUUM of the emptied partition in between (no dead tuple left behind, the emptied end of the heap truncated) and only ANALYZE after: their pages are new and not all-visible, " +
      "as the recent month of a live log is; autovacuum is off on the partitions for the copy's lifetime. Then the cluster's transaction ids are moved past the data set's made-up ones, " +
      "`audit.rebuild_rollups()` counts everything (the watermark moves to the horizon) and the rollups are vacuumed (as autovacuum leaves a rollups table whose past days' rows are no longer updated), and a tail of copies of the 2,000 newest entries (the same at every size) is written in the data set's last second, above the watermark: " +
      "what one interval of writes leaves for `activity_counts` to count live. The simulated size is the largest copy again with its largest tenant's entries of the recent month ×" +
      `${n(r.options.scale)} ` +
      "(new ids, occurred_at jittered by up to ±5 s within its hour, inserted in time order; `audit.rebuild_rollups(tenant)` after): that tenant's density in a log that many times larger.",
    "",
  );
  out.push(table(
    ["entries", "largest tenant (30 days)", "copy s", "recent month rewritten (s)", "partition pages / all-visible", "pages holding the recent month / all-visible", "rebuild s (entries)", "tenant_rollups rows (day / hour), MB", "account_rollups rows, MB", "tail (largest tenant's)"],
    s.datasets.map((d) => [
      `${d.label}${d.standsFor !== d.rows ? ` (${n(d.rows)} in the log, +${n(d.setup.scaledEntries)} in ${n(d.setup.scaleSeconds, 1)} s)` : ""}`,
      `${n(d.tenantEntries)} (${n(d.tenantEntries30d)})`,
      n(d.setup.copySeconds, 1),
      `${n(d.setup.rewrittenEntries)} (${n(d.setup.rewriteSeconds, 1)})`,
      `${n(d.visibility.relpages)} / ${n(d.visibility.relallvisible)}`,
      d.visibility.recentPages === null ? "–" : `${n(d.visibility.recentPages)} / ${n(d.visibility.recentAllVisible)}`,
      `${n(d.setup.rebuildSeconds, 2)} (${n(d.setup.rebuildEntries)})`,
      `${n(d.rollups[0]!.rows)} (${n(d.rollups[0]!.dayRows)} / ${n(d.rollups[0]!.hourRows)}), ${n(d.rollups[0]!.bytes / 1024 ** 2, 1)}`,
      `${n(d.rollups[1]!.rows)}, ${n(d.rollups[1]!.bytes / 1024 ** 2, 1)}`,
      `${n(d.setup.tailEntries)} (${n(d.setup.tailOfLargestTenant)})`,
    ]),
  ));

  out.push("", "## In SQL", "");
  out.push(
    "As the largest tenant's admin (the account admin: its largest account) in the API's settings (`setTransactionScope`, logged in as `audit_authenticator`): each sample its own transaction, " +
      "the statement timed at the client (unnamed, with parameters). Each sample takes `now` = the data set's end minus a random 0–60 min, from = now − 30 days (24 h for the hourly chart), to = now + 1 ms; " +
      "the tail lies in the data set's last second, beyond most samples' `now`: finding it costs the same either way (the live part selects by transaction_id). " +
      "Five warm-up runs first. ms: p50 / p95 / max.",
    "",
  );
  const names = [...new Set(s.datasets.flatMap((d) => d.sql.map((q) => q.name)))];
  out.push(table(
    ["query", ...s.datasets.map((d) => d.label)],
    names.map((name) => {
      const q0 = s.datasets[0]!.sql.find((q) => q.name === name)!;
      return [
        `${q0.description}${q0.role === "account_admin" ? "" : ""}`,
        ...s.datasets.map((d) => {
          const q = d.sql.find((x) => x.name === name);
          return q ? `${n(q.p50Ms, 2)} / **${n(q.p95Ms, 2)}** / ${n(q.maxMs, 1)} (${n(q.samples)}; ${n(q.rows)} rows)` : "–";
        }),
      ];
    }),
  ));
  out.push("", "## GraphQL over HTTP", "");
  out.push(
    "The project's server (`startServer`, PostGraphile) over the copy, logged in as `audit_authenticator`, a bearer token per admin (`mintAdminScopes`); the page's `ActivityChart` document " +
      "(src/browser/queries.ts) with its variables (bucket day, byKind true, fromTime = now − 30 days, toTime = now + 1 ms, `now` as in SQL); the whole request timed. Ten warm-up requests. ms: p50 / p95 / max.",
    "",
  );
  const hnames = [...new Set(s.datasets.flatMap((d) => ("skipped" in d.http ? [] : d.http.map((q) => q.name))))];
  out.push(table(
    ["request", ...s.datasets.map((d) => d.label)],
    hnames.map((name) => {
      const q0 = s.datasets.flatMap((d) => ("skipped" in d.http ? [] : d.http)).find((q) => q.name === name)!;
      return [
        q0.description,
        ...s.datasets.map((d) => {
          if ("skipped" in d.http) return `skipped: ${d.http.skipped}`;
          const q = d.http.find((x) => x.name === name);
          return q ? `${n(q.p50Ms, 2)} / **${n(q.p95Ms, 2)}** / ${n(q.maxMs, 1)} (${n(q.samples)})` : "–";
        }),
      ];
    }),
  ));

  out.push("", "## Exactness", "");
  out.push("`activity_counts` against a count of the log in the same scope and transaction (per UTC day or hour and resource type; the total), at a random `now`:", "");
  out.push(table(
    ["check", ...s.datasets.map((d) => d.label)],
    [...new Set(s.datasets.flatMap((d) => d.exactness.map((e) => e.name)))].map((name) => [
      name,
      ...s.datasets.map((d) => {
        const e = d.exactness.find((x) => x.name === name);
        return e ? (e.differing ? `**${n(e.differing)} of ${n(e.keys)} keys differ**` : `equal (${n(e.keys)} keys, ${n(e.entries)} entries)`) : "–";
      }),
    ]),
  ));

  const planned = [...s.datasets].reverse().find((d) => d.plan?.length);
  if (planned) {
    out.push("", `### The 30-day chart's plan (${planned.label})`, "");
    out.push("`auto_explain` (ANALYZE, BUFFERS, nested statements, as NOTICE) of one chart as the tenant's admin: the function's dynamic statement, then the call.", "");
    out.push("```", ...planned.plan!, "```");
  }

  out.push("", "## The consumer beside a writer", "");
  if (!lag) {
    out.push(`Skipped: ${(s.lag as { skipped: string }).skipped}.`);
  } else {
    out.push(
      `On the ${s.datasets.length ? s.datasets[s.datasets.length - 1]!.label : ""} copy: the write sections' business fixture loaded beside the history (no vacuum of audit.log), ` +
        `pgbench writing audited single-row transactions as \`app_user\` across the fixture's tenants at a fixed ${n(lag.rate)}/s for ${n(lag.seconds)} s over ${lag.clients} connections (load-writer.ts, synchronous commit on), ` +
        `while \`startRollups\` (src/db/rollups.ts) runs in this process with intervalMs ${n(lag.intervalMs)} and the owner's URL. Every ${SAMPLE_EVERY_MS} ms: lag = clock_timestamp() − ` +
        (lag.lagBasis === "commit"
          ? "the oldest commit time (`pg_xact_commit_timestamp`, track_commit_timestamp on) of an entry at or above the rollups' watermark, 0 when none: how long an entry has been in the log without being in the rollups. For comparison, the same counted from the entries' occurred_at (their transaction's start, so it includes the writer's own transaction)."
          : "the oldest occurred_at at or above the rollups' watermark (0 when none; the server does not track commit timestamps, and occurred_at is the transaction's start, so the lag includes the writer's transaction)."),
      "",
    );
    out.push(table(["measured", ""], [
      ["writer", `${n(lag.writer.tps, 1)} transactions/s of ${n(lag.rate)} (${n(lag.writer.ofTarget, 3)}), p50 ${n(lag.writer.p50Ms, 2)} ms, p95 ${n(lag.writer.p95Ms, 2)} ms, p99 ${n(lag.writer.p99Ms, 2)} ms, max ${n(lag.writer.maxMs, 1)} ms, ${n(lag.writer.failed)} failed; ${n(lag.entriesWritten)} entries`],
      [`rollups' lag (from ${lag.lagBasis === "commit" ? "the commit" : "the transaction's start"})`, `p50 ${n(lag.lagSeconds.p50, 3)} s, p95 ${n(lag.lagSeconds.p95, 3)} s, max ${n(lag.lagSeconds.max, 3)} s (${n(lag.lagSamples)} samples)`],
      ...(lag.lagBasis === "commit" ? [["… from the transaction's start", `p50 ${n(lag.lagFromStartSeconds.p50, 3)} s, p95 ${n(lag.lagFromStartSeconds.p95, 3)} s, max ${n(lag.lagFromStartSeconds.max, 3)} s`]] : []),
      ["rounds (`last_round_ms`)", `${n(lag.rounds)} rounds (${n(lag.roundsSeen)} seen by the sampler): ${lag.roundMs ? `p50 ${n(lag.roundMs.p50, 1)} ms, p95 ${n(lag.roundMs.p95, 1)} ms, max ${n(lag.roundMs.max, 1)} ms` : "–"}; entries per round ${lag.roundEntries ? `p50 ${n(lag.roundEntries.p50)}, max ${n(lag.roundEntries.max)}` : "–"}`],
      ["passes (refreshRollups, with the lag check)", `${n(lag.passes)}: ${lag.passMs ? `p50 ${n(lag.passMs.p50)} ms, p95 ${n(lag.passMs.p95)} ms, max ${n(lag.passMs.max)} ms` : "–"}`],
      ["after the writer stopped", lag.caughtUpSeconds === null ? "**not caught up**" : `no entry above the watermark ${n(lag.caughtUpSeconds, 2)} s later`],
      ["exactness (fixture tenants)", lag.exactness.map((e) => `${e.name}: ${e.differing ? `**${e.differing} of ${e.keys} keys differ**` : `equal (${n(e.keys)} keys, ${n(e.entries)} entries)`}`).join("; ")],
    ]));
    if (lag.series.length) {
      out.push("", "Worst lag in each 5 s:", "");
      out.push(table(["from s", "max lag s"], lag.series.map((b) => [n(b.atSeconds), n(b.maxLagSeconds, 2)])));
    }
  }
  out.push("");
  return out.join("\n");
}

export async function writeRollupsResults(prefix: string, r: RollupsResults): Promise<{ json: string; md: string }> {
  await mkdir(path.dirname(prefix), { recursive: true });
  const json = `${prefix}.json`;
  const md = `${prefix}.md`;
  await writeFile(json, JSON.stringify(r, null, 2) + "\n");
  await writeFile(md, renderRollupsMarkdown(r));
  return { json, md };
}
