// Section 7: security monitoring, audit.detect() (migrations/current.sql,
// sections 2, 3 and 12), the first consumer of the log in commit order, on a
// copy of the read data set (10M entries in full mode): the business rows of
// its largest tenants are loaded beside their history (sql/detect-fixture.sql)
// and the application writes through them.
//   rounds      ~1,000 new audited entries at a time, written as app_user the
//               way the application does (audit.set_context, then the write,
//               a few hundred transactions of a realistic mix over 4
//               connections), committed; then `select audit.detect()` alone on
//               the detector's own connection, timed at the client and by the
//               round itself (audit_private.log_consumers.last_round_ms).
//               Every round is checked to have consumed exactly those entries
//               (its watermark past them, the count of its range).
//   profile     a few more rounds with track_functions = all: where a round's
//               time goes, function by function.
//   mass change 100,000 rows of one table (app.process_members of one
//               account) inserted in one statement, a round; deleted in one
//               statement by one actor, a round: exactly one mass_change alert
//               of 100,000 entries, and how long that round takes against the
//               server's interval (DETECT_INTERVAL_MS).
//   range read  EXPLAIN (ANALYZE, BUFFERS) of a round's range read
//               (transaction_id in [from, to)): the index on transaction_id
//               (a btree since migration 000020, BRIN before) on every
//               partition, its buffers; the generic plan; what the planner
//               would do without it.
import { createHash } from "node:crypto";
import { readFile, stat } from "node:fs/promises";
import os from "node:os";
import pg from "pg";
import type { Logger } from "../src/log.ts";
import type { ReadDataset } from "./read-dataset.ts";
import { benchDir, dropDatabase, type BenchServer } from "./server.ts";
import { median, percentile, round, sleep } from "./stats.ts";
import { connect, copyDataset, moveXidsPastDataset } from "./dataset-copy.ts";

/** The issue's targets; renderDetect judges them. */
export const DETECT_TARGETS = {
  /** New entries per round of the latency target. */
  entriesPerRound: 1000,
  roundP95Ms: 50,
  /** The server's default DETECT_INTERVAL_MS (src/config.ts): a mass change must be found within one. */
  intervalMs: 15_000,
};

const DATABASE = "audit_bench_detect";
/** How many of the data set's largest tenants the application works in. */
const TENANTS = 8;
/** The server's detection loop runs its rounds with this statement_timeout (src/db/detection.ts). */
const ROUND_TIMEOUT_MS = 120_000;
/** A partition smaller than this may rightly be read whole (a BRIN index's default block range). */
const SMALL_PARTITION_PAGES = 128;
/** Statements of the explained round logged from this duration. */
const EXPLAIN_MIN_MS = 2;
/** The application's connections writing a round. */
const WRITERS = 4;
const SEED = 7;

export interface DetectOptions {
  quick: boolean;
  /** Timed rounds (after the warm-up ones). */
  samples: number;
  /** Rows of the mass change (one insert, one delete). */
  massRows: number;
}

export interface DetectRound {
  entries: number;
  /** Entries the round kept for its detectors (last_round_entries: the others are read and skipped). */
  relevant: number;
  transactions: number;
  /** Writing the round's transactions (4 connections). */
  writeMs: number;
  clientMs: number;
  serverMs: number;
  /** Alerts opened or updated (audit.detect()'s result). */
  changed: number;
  fromXid: string;
  toXid: string;
}

interface Summary {
  p50: number;
  p95: number;
  max: number;
}

export interface FunctionProfile {
  name: string;
  callsPerRound: number;
  totalMsPerRound: number;
  selfMsPerRound: number;
}

export interface SlowStatement {
  ms: number;
  /** The statement's text, whitespace collapsed, cut. */
  query: string;
  /** Calls another function of the round: its time includes theirs. */
  wrapper: boolean;
  plan: string[];
}

export interface DetectAlert {
  detector: string;
  severity: string;
  entryCount: number;
  summary: string;
}

export interface DetectResult {
  rows: number;
  variant: string;
  spanEnd: string;
  database: string;
  /** Which migrations/current.sql the round ran (it is the change in progress). */
  currentSql: { sha1: string; modifiedAt: string };
  setup: { copySeconds: number; fixtureSeconds: number; xidsAdvanced: number; tenants: { rank: number; entries: number; users: number; accounts: number; processes: number }[] };
  loadAverage: { start: number[]; end: number[] };
  mix: { kind: string; description: string; transactions: number; entries: number }[];
  rounds: {
    warmUps: DetectRound[];
    samples: DetectRound[];
    entries: Summary & { min: number; median: number };
    relevant: Summary & { min: number; median: number };
    transactions: { min: number; median: number; max: number };
    writeMs: { median: number };
    clientMs: Summary;
    serverMs: Summary;
    alertsChanged: number;
    /** Median of the first and of the last ten timed rounds (the burst windows fill up as the rounds go on). */
    clientMsFirstTen: number;
    clientMsLastTen: number;
    /** Rounds whose horizon waited for a transaction outside the bench (should be 0). */
    horizonWaits: number;
  };
  profile: {
    rounds: DetectRound[];
    functions: FunctionProfile[];
    /** One more round under auto_explain (analyze, nested statements): its statements above explainMinMs. null: auto_explain unavailable. */
    explained: { round: DetectRound; minMs: number; statements: SlowStatement[] } | null;
  };
  massChange: {
    rows: number;
    insert: { statementMs: number; round: DetectRound };
    /** round is null when the round did not finish within the detection loop's statement_timeout (timedOutMs). */
    delete: { statementMs: number; round: DetectRound | null; timedOutMs: number | null };
    newAlerts: DetectAlert[];
    /** Alerts that existed before the delete's round and were updated by it. */
    updatedAlerts: DetectAlert[];
    massChangeAlerts: number;
    massChangeEntryCount: number | null;
  };
  rangeRead: {
    fromXid: string;
    toXid: string;
    entries: number;
    partitions: number;
    partitionScans: { partition: string; heapPages: number; node: string; index: string; am: string; lossyHeapBlocks: number; rows: number }[];
    /** Every partition of at least SMALL_PARTITION_PAGES is read through its index on transaction_id (a smaller one may rightly be read whole). */
    usesIndexEverywhere: boolean;
    planningMs: number;
    executionMs: number;
    buffers: { sharedHit: number; sharedRead: number };
    heapPages: number;
    /** Pages of the indexes on transaction_id, all partitions. */
    indexPages: number;
    /** null: the server has no EXPLAIN (GENERIC_PLAN) (before PostgreSQL 16). */
    genericPlanUsesIndex: boolean | null;
    withoutIndex: { topNode: string; totalCost: number; indexPlanCost: number };
    plan: string[];
    /**
     * With a BRIN index (before migration 000020, or a variant): the same
     * read after brin_summarize_new_values() on every partition's index:
     * what is left once the unsummarized tail (autosummarize works in the
     * background, a range at a time) is summarized. The rest of the lossy
     * blocks are ranges whose summary the new entries widened. Null without.
     */
    afterSummarize: { rangesSummarized: number; lossyHeapBlocks: number; executionMs: number; buffers: number } | null;
  };
  consumer: Record<string, unknown> | null;
  alertsByDetector: { detector: string; alerts: number; entries: number }[];
}

// ---------------------------------------------------------------------------
// The application: the mix of transactions a round writes

/** md5(text)::uuid, as PostgreSQL derives the fixture's ids. */
function md5uuid(text: string): string {
  const h = createHash("md5").update(text).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Tenant {
  rank: number;
  id: string;
  accounts: number;
  users: number;
  weight: number;
  processes: { id: string; account: string }[];
  jobs: number;
  nextJob: number;
  /** Rows the mix created, for the removals. */
  pairs: { process: string; user: string }[];
  memberships: string[];
  keys: string[];
}

interface Planned {
  kind: string;
  context: Record<string, string>;
  sql: string;
  params: unknown[];
  /** Remembers what the statement created (from its RETURNING rows). */
  created?: (rows: Record<string, string>[]) => void;
}

export const MIX = [
  { kind: "job_completion", weight: 30, description: "an API key (the scheduler) completes 1–8 running jobs of one tenant" },
  { kind: "process_update", weight: 22, description: "a user edits the description of 1–3 processes" },
  { kind: "process_delete_restore", weight: 1, description: "a user deletes (soft) or restores a process" },
  { kind: "process_member_add", weight: 10, description: "a user assigns 1–3 users to a process" },
  { kind: "process_member_remove", weight: 5, description: "a user unassigns 1–2 of the users assigned earlier" },
  { kind: "member_add", weight: 4, description: "an admin (60 %) or user adds a user to an account, 1 in 20 as admin" },
  { kind: "member_role_update", weight: 4, description: "an admin (70 %) or user changes a membership's role, 1 in 10 to admin" },
  { kind: "member_remove", weight: 2, description: "a membership added earlier is removed" },
  { kind: "invitation", weight: 3, description: "a user invites someone to an account, 1 in 10 as admin" },
  { kind: "settings_update", weight: 8, description: "an admin (70 %) or user changes an account's RPA credentials (a secret)" },
  { kind: "api_key_create", weight: 2, description: "an admin creates an API key, 1 in 4 times a non-admin does" },
  { kind: "api_key_revoke", weight: 1, description: "an API key created earlier is revoked" },
] as const;

class Application {
  private readonly rng = mulberry32(SEED);
  private seq = 0;
  private readonly totalWeight = MIX.reduce((a, m) => a + m.weight, 0);
  private readonly tenants: Tenant[];
  private readonly tenantWeight: number;

  constructor(tenants: Tenant[]) {
    this.tenants = tenants;
    this.tenantWeight = tenants.reduce((a, t) => a + t.weight, 0);
  }

  private int(n: number): number {
    return Math.floor(this.rng() * n);
  }

  private pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }

  private tenant(): Tenant {
    let x = this.rng() * this.tenantWeight;
    for (const t of this.tenants) {
      x -= t.weight;
      if (x < 0) return t;
    }
    return this.tenants.at(-1)!;
  }

  private user(t: Tenant, u: number): Record<string, string> {
    this.seq++;
    return {
      actor_type: "user", actor_id: md5uuid(`ru:${t.rank}:${u}`), request_id: `req-detect-${this.seq}`,
      ip: `10.9.${this.seq % 250}.7`, user_agent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0",
    };
  }

  /** Users 0–2 are the tenant's admins (sql/detect-fixture.sql), every tenth from 3 an account admin. */
  private admin(): number {
    return this.int(3);
  }

  private nonAdmin(t: Tenant): number {
    for (;;) {
      const u = 3 + this.int(t.users - 3);
      if (u % 10 !== 3) return u;
    }
  }

  private anyUser(t: Tenant): number {
    return this.int(t.users);
  }

  next(): Planned {
    let x = this.rng() * this.totalWeight;
    let kind: (typeof MIX)[number]["kind"] = MIX[0].kind;
    for (const m of MIX) {
      x -= m.weight;
      if (x < 0) {
        kind = m.kind;
        break;
      }
    }
    return this.plan(kind, this.tenant());
  }

  private plan(kind: (typeof MIX)[number]["kind"], t: Tenant): Planned {
    const n = ++this.seq;
    switch (kind) {
      case "job_completion": {
        const b = 1 + this.int(8);
        if (t.nextJob + b - 1 > t.jobs) throw new Error(`detect: tenant ${t.rank} ran out of running jobs (${t.jobs})`);
        const ids = Array.from({ length: b }, (_, i) => md5uuid(`dj:${t.rank}:${t.nextJob + i}`));
        t.nextJob += b;
        return {
          kind, context: { actor_type: "api_key", actor_id: md5uuid(`rk:${t.rank}:${this.int(5)}`), request_id: `req-detect-${n}` },
          sql: "update app.jobs set status = 'completed', finished_at = now() where id = any($1::uuid[]) and status = 'running'", params: [ids],
        };
      }
      case "process_update": {
        const ids = [...new Set(Array.from({ length: 1 + this.int(3) }, () => this.pick(t.processes).id))];
        return {
          kind, context: this.user(t, this.anyUser(t)),
          sql: "update app.processes set description = $2 where id = any($1::uuid[])", params: [ids, `Reviewed in request ${n}`],
        };
      }
      case "process_delete_restore":
        return {
          kind, context: this.user(t, this.anyUser(t)),
          sql: "update app.processes set deleted_at = case when deleted_at is null then now() end where id = $1", params: [this.pick(t.processes).id],
        };
      case "process_member_add": {
        const p = this.pick(t.processes);
        const users = [...new Set(Array.from({ length: 1 + this.int(3) }, () => md5uuid(`ru:${t.rank}:${this.anyUser(t)}`)))];
        return {
          kind, context: this.user(t, this.anyUser(t)),
          sql: "insert into app.process_members (tenant_id, account_id, process_id, user_id) select $1, $2, $3, u from unnest($4::uuid[]) u on conflict do nothing returning process_id::text as process, user_id::text as user",
          params: [t.id, p.account, p.id, users],
          created: (rows) => t.pairs.push(...rows.map((r) => ({ process: r.process!, user: r.user! }))),
        };
      }
      case "process_member_remove": {
        if (t.pairs.length === 0) return this.plan("process_member_add", t);
        const take = Math.min(t.pairs.length, 1 + this.int(2));
        const pairs = Array.from({ length: take }, () => t.pairs.splice(this.int(t.pairs.length), 1)[0]!);
        return {
          kind, context: this.user(t, this.anyUser(t)),
          sql: "delete from app.process_members where (process_id, user_id) in (select p, u from unnest($1::uuid[], $2::uuid[]) x(p, u))",
          params: [pairs.map((p) => p.process), pairs.map((p) => p.user)],
        };
      }
      case "member_add":
        return {
          kind, context: this.user(t, this.rng() < 0.6 ? this.admin() : this.anyUser(t)),
          sql: "insert into app.memberships (tenant_id, account_id, user_id, role) values ($1, $2, $3, $4) on conflict do nothing returning id::text as id",
          params: [t.id, md5uuid(`ra:${t.rank}:${this.int(t.accounts)}`), md5uuid(`ru:${t.rank}:${3 + this.int(t.users - 3)}`), this.rng() < 0.05 ? "admin" : "member"],
          created: (rows) => t.memberships.push(...rows.map((r) => r.id!)),
        };
      case "member_role_update": {
        const role = this.rng() < 0.1 ? "admin" : this.pick(["member", "viewer"]);
        return {
          kind, context: this.user(t, this.rng() < 0.7 ? this.admin() : this.anyUser(t)),
          sql: "update app.memberships set role = $2 where id = $1 and role <> $2", params: [md5uuid(`dm:${t.rank}:${3 + this.int(t.users - 3)}`), role],
        };
      }
      case "member_remove": {
        if (t.memberships.length === 0) return this.plan("member_add", t);
        const id = t.memberships.splice(this.int(t.memberships.length), 1)[0]!;
        return { kind, context: this.user(t, this.admin()), sql: "delete from app.memberships where id = $1", params: [id] };
      }
      case "invitation": {
        const inviter = this.anyUser(t);
        return {
          kind, context: this.user(t, inviter),
          sql: "insert into app.invitations (tenant_id, account_id, email, role, invited_by) values ($1, $2, $3, $4, $5)",
          params: [t.id, md5uuid(`ra:${t.rank}:${this.int(t.accounts)}`), `invitee-${n}@example.test`, this.rng() < 0.1 ? "admin" : "member", md5uuid(`ru:${t.rank}:${inviter}`)],
        };
      }
      case "settings_update":
        return {
          kind, context: this.user(t, this.rng() < 0.7 ? this.admin() : this.anyUser(t)),
          sql: "update app.settings set value = jsonb_build_object('username', 'robot-' || $2::text, 'password', md5($2::text), 'endpoint', 'https://rpa.example.test/' || $3::text) where id = $1",
          params: [md5uuid(`ds:${t.rank}:${this.int(t.accounts)}`), String(n), String(this.int(100))],
        };
      case "api_key_create": {
        const creator = this.rng() < 0.25 ? this.nonAdmin(t) : this.admin();
        return {
          kind, context: this.user(t, creator),
          sql: "insert into app.api_keys (tenant_id, name, key_hash, created_by) values ($1, $2, md5($3), $4) returning id::text as id",
          params: [t.id, `integration-${n}`, `secret-${n}`, md5uuid(`ru:${t.rank}:${creator}`)],
          created: (rows) => t.keys.push(...rows.map((r) => r.id!)),
        };
      }
      case "api_key_revoke": {
        if (t.keys.length === 0) return this.plan("api_key_create", t);
        const id = t.keys.splice(this.int(t.keys.length), 1)[0]!;
        return { kind, context: this.user(t, this.admin()), sql: "update app.api_keys set revoked_at = now() where id = $1 and revoked_at is null", params: [id] };
      }
    }
  }
}

// ---------------------------------------------------------------------------



const num = (v: unknown) => Number(v);

function summarize(xs: number[]): Summary {
  return { p50: round(percentile(xs, 50), 2), p95: round(percentile(xs, 95), 2), max: round(Math.max(...xs), 2) };
}

export async function measureDetect(server: BenchServer, ds: ReadDataset, opts: DetectOptions, logger: Logger): Promise<DetectResult> {
  const loadStart = os.loadavg().map((l) => round(l, 2));
  const currentSqlPath = `${benchDir}../migrations/current.sql`;
  const currentSql = {
    sha1: createHash("sha1").update(await readFile(currentSqlPath)).digest("hex"),
    modifiedAt: (await stat(currentSqlPath)).mtime.toISOString(),
  };
  const warmUpCount = opts.quick ? 1 : 3;
  const profileCount = opts.quick ? 2 : 5;
  // rounds of the mix: warm-ups, samples, profile, plus slack for the jobs
  const roundsOfMix = warmUpCount + opts.samples + profileCount + 2;

  let started = performance.now();
  logger.info({ template: ds.database, database: DATABASE }, "detect: copying the read data set");
  await copyDataset(server, ds.database, DATABASE);
  const copySeconds = round((performance.now() - started) / 1000, 1);

  const url = server.url(DATABASE);
  const ctl = await connect(url, "audit-trail-bench");
  const clients: pg.Client[] = [];
  try {
    // The business rows of the largest tenants, beside their history.
    started = performance.now();
    const users1 = num((await ctl.query("select users from bench.r_tenants where rank = 1")).rows[0]?.users);
    const massProcesses = Math.ceil(opts.massRows / users1);
    let fixture = await readFile(`${benchDir}sql/detect-fixture.sql`, "utf8");
    const fill = { tenants: TENANTS, jobs: Math.ceil(roundsOfMix * DETECT_TARGETS.entriesPerRound * 0.75), mass_processes: massProcesses };
    for (const [k, v] of Object.entries(fill)) fixture = fixture.replaceAll(`{{${k}}}`, String(v));
    await ctl.query(fixture);
    await ctl.query("vacuum analyze app.tenants, app.accounts, app.users, app.memberships, app.api_keys, app.processes, app.jobs, app.settings, app.process_members, app.invitations");
    const fixtureSeconds = round((performance.now() - started) / 1000, 1);

    const { rows: trows } = await ctl.query<{ rank: number; id: string; accounts: number; users: number; weight: number; entries: string }>(
      `select t.rank, t.id::text as id, t.accounts, t.users, t.share / sum(t.share) over () as weight, t.entries::text as entries
         from bench.r_tenants t where t.rank <= $1 order by t.rank`,
      [TENANTS],
    );
    const tenants: Tenant[] = [];
    for (const r of trows) {
      const { rows: procs } = await ctl.query<{ id: string; account: string }>(
        "select id::text as id, account_id::text as account from app.processes where tenant_id = $1 and account_id <> md5('ra:1:imports')::uuid order by id",
        [r.id],
      );
      const { rows: jobs } = await ctl.query<{ n: number }>("select count(*)::int as n from app.jobs where tenant_id = $1", [r.id]);
      tenants.push({ rank: r.rank, id: r.id, accounts: r.accounts, users: r.users, weight: Number(r.weight), processes: procs, jobs: jobs[0]!.n, nextJob: 1, pairs: [], memberships: [], keys: [] });
    }
    const app = new Application(tenants);

    // History below the horizon, as real history is (dataset-copy.ts).
    const xidsAdvanced = await moveXidsPastDataset(ctl, (xids) =>
      logger.info({ xids }, "detect: moving the cluster's transaction ids past the data set's"));
    // The detectors start at the horizon: the data set's history is not theirs to consume.
    await ctl.query("select audit_private.register_consumer('detectors')");
    await ctl.query("update audit_private.log_consumers set watermark = audit_private.current_horizon() where consumer = 'detectors'");

    for (let i = 0; i < WRITERS; i++) clients.push(await connect(server.url(DATABASE, "app"), "audit-trail-bench-application"));
    // The server's detection loop: one owner connection, rounds one at a time (src/db/detection.ts).
    const detector = new pg.Client({ connectionString: url, application_name: "audit-trail-detection", options: `-c statement_timeout=${ROUND_TIMEOUT_MS}` });
    await detector.connect();
    clients.push(detector);

    const mixTotals = new Map<string, { transactions: number; entries: number }>();
    let watermark = (await ctl.query<{ w: string }>("select watermark::text as w from audit_private.log_consumers where consumer = 'detectors'")).rows[0]!.w;
    let horizonWaits = 0;

    /** Writes the planned transactions (4 connections) until ~target entries are committed. */
    const writeMix = async (target: number, count: boolean) => {
      let entries = 0;
      let transactions = 0;
      const t0 = performance.now();
      await Promise.all(
        clients.slice(0, WRITERS).map(async (c) => {
          while (entries < target) {
            const p = app.next();
            await c.query("begin");
            try {
              await c.query({ name: "context", text: "select audit.set_context($1::jsonb)", values: [JSON.stringify(p.context)] });
              const r = await c.query<Record<string, string>>(p.sql, p.params);
              await c.query("commit");
              p.created?.(r.rows);
              entries += r.rowCount ?? 0;
              transactions++;
              if (count) {
                const k = mixTotals.get(p.kind) ?? { transactions: 0, entries: 0 };
                k.transactions++;
                k.entries += r.rowCount ?? 0;
                mixTotals.set(p.kind, k);
              }
            } catch (err) {
              await c.query("rollback").catch(() => undefined);
              throw new Error(`detect: the application's ${p.kind} transaction failed: ${err instanceof Error ? err.message : String(err)}`);
            }
          }
        }),
      );
      return { entries, transactions, writeMs: performance.now() - t0 };
    };

    /**
     * One round after committed writes: waits until the xmin horizon has
     * passed them (nothing else holds it back on a bench server), times
     * audit.detect() alone, and checks that the round consumed exactly them.
     */
    const detectRound = async (written: { entries: number; transactions: number; writeMs: number }): Promise<DetectRound> => {
      const xmax = BigInt((await ctl.query<{ x: string }>("select pg_snapshot_xmax(pg_current_snapshot())::text as x")).rows[0]!.x);
      for (let waited = 0; ; waited += 20) {
        const h = BigInt((await ctl.query<{ h: string }>("select audit_private.current_horizon()::text as h")).rows[0]!.h);
        if (h >= xmax) break;
        if (waited === 0) horizonWaits++;
        if (waited > 30_000) {
          const { rows } = await ctl.query("select pid, application_name, state, xact_start::text, left(query, 200) as query from pg_stat_activity where backend_xid is not null");
          throw new Error(`detect: a transaction holds the xmin horizon back: ${JSON.stringify(rows)}`);
        }
        await sleep(20);
      }
      const t0 = performance.now();
      const { rows } = await detector.query<{ changed: number | null }>("select audit.detect() as changed");
      const clientMs = performance.now() - t0;
      if (rows[0]?.changed === null || rows[0]?.changed === undefined) throw new Error("detect: audit.detect() returned null: another runner held the lock");
      const { rows: s } = await ctl.query<{ w: string; ms: string; entries: number }>(
        "select watermark::text as w, last_round_ms::text as ms, last_round_entries as entries from audit_private.log_consumers where consumer = 'detectors'",
      );
      const after = s[0]!;
      if (BigInt(after.w) < xmax) throw new Error(`detect: the round stopped at ${after.w}, before the writes (up to ${xmax - 1n}): something held the horizon back`);
      const { rows: c } = await ctl.query<{ n: number }>("select count(*)::int as n from audit.log where transaction_id >= $1 and transaction_id < $2", [watermark, after.w]);
      if (c[0]!.n !== written.entries) throw new Error(`detect: the round's range [${watermark}, ${after.w}) holds ${c[0]!.n} entries, the application wrote ${written.entries}`);
      const r: DetectRound = {
        entries: c[0]!.n, relevant: after.entries, transactions: written.transactions, writeMs: round(written.writeMs, 1),
        clientMs: round(clientMs, 2), serverMs: Number(after.ms), changed: rows[0]!.changed!, fromXid: watermark, toXid: after.w,
      };
      watermark = after.w;
      return r;
    };

    const mixRound = async (count: boolean) => detectRound(await writeMix(DETECT_TARGETS.entriesPerRound, count));

    // --- rounds
    logger.info({ warmUps: warmUpCount, samples: opts.samples }, "detect: rounds of ~1,000 new entries");
    const warmUps: DetectRound[] = [];
    for (let i = 0; i < warmUpCount; i++) warmUps.push(await mixRound(false));
    const samples: DetectRound[] = [];
    for (let i = 0; i < opts.samples; i++) {
      const r = await mixRound(true);
      samples.push(r);
      logger.debug({ round: i + 1, ...r }, "detect: round");
    }
    const client = summarize(samples.map((r) => r.clientMs));
    const serverMs = summarize(samples.map((r) => r.serverMs));
    logger.info({ samples: samples.length, clientP50: client.p50, clientP95: client.p95, clientMax: client.max, serverP95: serverMs.p95 }, "detect: rounds measured");

    // --- profile: the same rounds with every function call counted
    await detector.query("set track_functions = 'all'");
    const functionStats = async () => {
      await detector.query("select pg_stat_force_next_flush()");
      await detector.query("select 1");
      await ctl.query("select pg_stat_clear_snapshot()");
      const { rows } = await ctl.query<{ name: string; calls: string; total: number; self: number }>(
        "select schemaname || '.' || funcname as name, calls::text as calls, total_time as total, self_time as self from pg_stat_user_functions where schemaname in ('audit', 'audit_private')",
      );
      return new Map(rows.map((r) => [r.name, { calls: Number(r.calls), total: r.total, self: r.self }]));
    };
    const before = await functionStats();
    const profileRounds: DetectRound[] = [];
    for (let i = 0; i < profileCount; i++) profileRounds.push(await mixRound(false));
    const after = await functionStats();
    await detector.query("reset track_functions");

    // --- one more round under auto_explain: the statements that take the time, with their plans
    let explained: DetectResult["profile"]["explained"] = null;
    try {
      await detector.query("load 'auto_explain'");
    } catch (err) {
      logger.warn({ error: err instanceof Error ? err.message : String(err) }, "detect: auto_explain is not available; no explained round");
    }
    if ((await detector.query("select 1 from pg_settings where name = 'auto_explain.log_min_duration'")).rowCount) {
      const notices: string[] = [];
      const onNotice = (m: { message?: string }) => void notices.push(m.message ?? "");
      detector.on("notice", onNotice);
      await detector.query(
        `set auto_explain.log_min_duration = ${EXPLAIN_MIN_MS}; set auto_explain.log_analyze = on; set auto_explain.log_buffers = on; ` +
          "set auto_explain.log_nested_statements = on; set auto_explain.log_timing = on; set auto_explain.log_level = notice",
      );
      try {
        const round1 = await mixRound(false);
        explained = { round: round1, minMs: EXPLAIN_MIN_MS, statements: parseAutoExplain(notices) };
      } finally {
        await detector.query("set auto_explain.log_min_duration = -1");
        detector.off("notice", onNotice);
      }
    }
    const functions: FunctionProfile[] = [...after.entries()]
      .map(([name, a]) => {
        const b = before.get(name) ?? { calls: 0, total: 0, self: 0 };
        return { name, callsPerRound: round((a.calls - b.calls) / profileCount, 1), totalMsPerRound: round((a.total - b.total) / profileCount, 2), selfMsPerRound: round((a.self - b.self) / profileCount, 2) };
      })
      .filter((f) => f.callsPerRound > 0 && !/^audit\.set_context$|^audit_private\.current_actor$/.test(f.name))
      .sort((x, y) => y.totalMsPerRound - x.totalMsPerRound);

    // --- the index on transaction_id: the last round's range
    // (the round run last: a later one's writes would widen the ranges a BRIN index reads)
    const last = explained?.round ?? profileRounds.at(-1) ?? samples.at(-1)!;
    const rangeRead = await explainRangeRead(ctl, last);
    logger.info({ usesIndexEverywhere: rangeRead.usesIndexEverywhere, partitions: rangeRead.partitions, buffers: rangeRead.buffers, executionMs: rangeRead.executionMs }, "detect: the round's range read");

    // --- the mass change
    logger.info({ rows: opts.massRows }, "detect: the mass change");
    const massChange = await measureMassChange(ctl, clients[0]!, detectRound, trows[0]!.id, opts.massRows, users1);
    logger.info({ roundMs: massChange.delete.round?.clientMs ?? null, timedOutMs: massChange.delete.timedOutMs, newAlerts: massChange.newAlerts.length, entryCount: massChange.massChangeEntryCount }, "detect: the mass change's round");

    const { rows: consumerRows } = await ctl.query("select * from audit.log_consumers() where consumer = 'detectors'");
    const { rows: byDetector } = await ctl.query<{ detector: string; alerts: number; entries: string }>(
      "select detector, count(*)::int as alerts, sum(entry_count)::text as entries from audit.alerts group by detector order by detector",
    );

    const pick = (f: (r: DetectRound) => number) => {
      const xs = samples.map(f);
      return { min: Math.min(...xs), median: median(xs), ...summarize(xs) };
    };
    const setupTenants = trows.map((r, i) => ({ rank: r.rank, entries: Number(r.entries), users: r.users, accounts: r.accounts, processes: tenants[i]!.processes.length }));
    return {
      rows: ds.rows,
      variant: ds.variant,
      spanEnd: ds.spanEnd.toISOString(),
      database: DATABASE,
      currentSql,
      setup: { copySeconds, fixtureSeconds, xidsAdvanced, tenants: setupTenants },
      loadAverage: { start: loadStart, end: os.loadavg().map((l) => round(l, 2)) },
      mix: MIX.map((m) => ({ kind: m.kind, description: m.description, ...(mixTotals.get(m.kind) ?? { transactions: 0, entries: 0 }) })),
      rounds: {
        warmUps,
        samples,
        entries: pick((r) => r.entries),
        relevant: pick((r) => r.relevant),
        transactions: (({ min, median: med, max }) => ({ min, median: med, max }))(pick((r) => r.transactions)),
        writeMs: { median: round(median(samples.map((r) => r.writeMs)), 1) },
        clientMs: client,
        serverMs,
        alertsChanged: samples.reduce((a, r) => a + r.changed, 0),
        clientMsFirstTen: round(median(samples.slice(0, 10).map((r) => r.clientMs)), 1),
        clientMsLastTen: round(median(samples.slice(-10).map((r) => r.clientMs)), 1),
        horizonWaits,
      },
      profile: { rounds: profileRounds, functions, explained },
      massChange,
      rangeRead,
      consumer: consumerRows[0] ?? null,
      alertsByDetector: byDetector.map((r) => ({ detector: r.detector, alerts: r.alerts, entries: Number(r.entries) })),
    };
  } finally {
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await ctl.end();
    // BENCH_DETECT_KEEP=1 leaves the copy for a look at its state (dropped by the next run).
    if (process.env.BENCH_DETECT_KEEP === "1") logger.info({ database: DATABASE }, "detect: keeping the database (BENCH_DETECT_KEEP)");
    else await dropDatabase(server.rootUrl, DATABASE);
  }
}

async function measureMassChange(
  ctl: pg.Client,
  app: pg.Client,
  detectRound: (w: { entries: number; transactions: number; writeMs: number }) => Promise<DetectRound>,
  tenantId: string,
  rows: number,
  users: number,
): Promise<DetectResult["massChange"]> {
  const account = md5uuid("ra:1:imports");
  const statement = async (actor: Record<string, string>, sql: string, params: unknown[]) => {
    await app.query("begin");
    try {
      await app.query({ name: "context", text: "select audit.set_context($1::jsonb)", values: [JSON.stringify(actor)] });
      const t0 = performance.now();
      const r = await app.query(sql, params);
      const ms = performance.now() - t0;
      await app.query("commit");
      return { n: r.rowCount ?? 0, ms };
    } catch (err) {
      await app.query("rollback").catch(() => undefined);
      throw err;
    }
  };
  // An import: one statement inserting the rows (process_member.added, no detector's business).
  const ins = await statement(
    { actor_type: "api_key", actor_id: md5uuid("rk:1:0"), request_id: "req-detect-import" },
    `insert into app.process_members (tenant_id, account_id, process_id, user_id)
     select $1, $2, md5('dmp:' || (g / $4::int))::uuid, md5('ru:1:' || (g % $4::int))::uuid from generate_series(0, $3::int - 1) g`,
    [tenantId, account, rows, users],
  );
  if (ins.n !== rows) throw new Error(`detect: the import inserted ${ins.n} rows, not ${rows}`);
  const insRound = await detectRound({ entries: ins.n, transactions: 1, writeMs: ins.ms });

  const alertState = async () => {
    const { rows: a } = await ctl.query<{ id: string; detector: string; severity: string; entry_count: number; summary: string; updated_at: string }>(
      "select id::text as id, detector, severity, entry_count, summary, updated_at::text as updated_at from audit.alerts",
    );
    return new Map(a.map((x) => [x.id, x]));
  };
  const beforeAlerts = await alertState();
  // One actor, one statement: the data steward clears the account's assignments.
  const del = await statement(
    { actor_type: "user", actor_id: md5uuid("ru:1:steward"), request_id: "req-detect-cleanup", ip: "10.9.0.1" },
    "delete from app.process_members where tenant_id = $1 and account_id = $2",
    [tenantId, account],
  );
  if (del.n !== rows) throw new Error(`detect: the delete removed ${del.n} rows, not ${rows}`);
  let delRound: DetectRound | null = null;
  let timedOutMs: number | null = null;
  try {
    delRound = await detectRound({ entries: del.n, transactions: 1, writeMs: del.ms });
  } catch (err) {
    // the server's loop would fail the same way, and repeat the round every interval
    if ((err as { code?: string }).code !== "57014") throw err;
    timedOutMs = ROUND_TIMEOUT_MS;
  }
  const afterAlerts = await alertState();
  const asAlert = (x: { detector: string; severity: string; entry_count: number; summary: string }): DetectAlert => ({
    detector: x.detector, severity: x.severity, entryCount: Number(x.entry_count), summary: x.summary,
  });
  const newAlerts = [...afterAlerts.values()].filter((x) => !beforeAlerts.has(x.id)).map(asAlert);
  const updatedAlerts = [...afterAlerts.values()].filter((x) => beforeAlerts.has(x.id) && beforeAlerts.get(x.id)!.updated_at !== x.updated_at).map(asAlert);
  const mass = [...newAlerts, ...updatedAlerts].filter((a) => a.detector === "mass_change");
  return {
    rows,
    insert: { statementMs: round(ins.ms, 1), round: insRound },
    delete: { statementMs: round(del.ms, 1), round: delRound, timedOutMs },
    newAlerts,
    updatedAlerts,
    massChangeAlerts: mass.length,
    massChangeEntryCount: mass.length === 1 ? Number(mass[0]!.entryCount) : null,
  };
}

/** auto_explain's messages ("duration: X ms  plan:\nQuery Text: …\n<plan>"), slowest first. */
function parseAutoExplain(notices: string[]): SlowStatement[] {
  const out: SlowStatement[] = [];
  for (const msg of notices) {
    const m = /^duration: ([\d.]+) ms\s+plan:\n([\s\S]*)$/.exec(msg);
    if (!m) continue;
    const lines = m[2]!.split("\n");
    const planAt = lines.findIndex((l) => /\(cost=[\d.]+\.\.[\d.]+ rows=/.test(l));
    const queryLines = (planAt < 0 ? lines : lines.slice(0, planAt)).join(" ").replace(/^Query Text:\s*/, "");
    const query = queryLines.replace(/\s+/g, " ").trim();
    out.push({
      ms: round(Number(m[1]), 2),
      query: query.length > 220 ? `${query.slice(0, 217)}…` : query,
      wrapper: /^(select|perform)\s+audit(_private)?\.\w+\(/i.test(query) || /audit_private\.(was_admin|role_at|burst_entries|signal_details|merge_alert_details)\(/.test(query),
      plan: planAt < 0 ? [] : lines.slice(planAt, planAt + 60),
    });
  }
  return out.sort((a, b) => b.ms - a.ms);
}

/** EXPLAIN of a round's range read: through the index on transaction_id on every partition? */
async function explainRangeRead(ctl: pg.Client, r: DetectRound): Promise<DetectResult["rangeRead"]> {
  const sql = `select count(*) from audit.log where transaction_id >= ${BigInt(r.fromXid)} and transaction_id < ${BigInt(r.toXid)}`;
  const { rows } = await ctl.query<{ "QUERY PLAN": string }>(`explain (analyze, buffers, summary) ${sql}`);
  const lines = rows.map((x) => x["QUERY PLAN"]);
  const text = lines.join("\n");
  const { rows: parts } = await ctl.query<{ name: string; pages: string }>(
    `select c.relname as name, (pg_relation_size(c.oid) / current_setting('block_size')::int)::text as pages
       from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'audit.log'::regclass order by 1`,
  );
  // The partitions' indexes whose first column is transaction_id, whatever their access method.
  const { rows: xidIndexes } = await ctl.query<{ name: string; am: string; pages: string }>(
    `select c.relname as name, am.amname as am, (pg_relation_size(c.oid) / current_setting('block_size')::int)::text as pages
       from pg_index x join pg_class c on c.oid = x.indexrelid join pg_am am on am.oid = c.relam
       join pg_attribute a on a.attrelid = x.indrelid and a.attnum = x.indkey[0]
      where a.attname = 'transaction_id' and x.indrelid in (select inhrelid from pg_inherits where inhparent = 'audit.log'::regclass)`,
  );
  const amOf = new Map(xidIndexes.map((a) => [a.name, a.am]));
  const pagesOf = new Map(parts.map((p) => [p.name, Number(p.pages)]));
  const scanNode = /->\s+(Bitmap Heap Scan|Seq Scan|Index Scan|Index Only Scan|Parallel Seq Scan|Parallel Bitmap Heap Scan|Parallel Index Scan)(?: using (\S+))? on (\S+)/;
  // One scan per partition: the node that reads it, its index (of a bitmap heap scan: the bitmap's) and lossy blocks.
  const partitionScans: DetectResult["rangeRead"]["partitionScans"] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = scanNode.exec(lines[i]!);
    if (!m) continue;
    const index = m[2] ?? "";
    const scan = { partition: m[3]!, heapPages: pagesOf.get(m[3]!) ?? 0, node: m[1]!, index, am: index ? (amOf.get(index) ?? "?") : "", lossyHeapBlocks: 0, rows: Number(/actual time=[\d.]+\.\.[\d.]+ rows=([\d.]+)/.exec(lines[i]!)?.[1] ?? Number.NaN) };
    for (let j = i + 1; j < lines.length && !scanNode.test(lines[j]!); j++) {
      const idx = /Bitmap Index Scan on (\S+)/.exec(lines[j]!);
      if (idx) {
        scan.index = idx[1]!;
        scan.am = amOf.get(idx[1]!) ?? "?";
      }
      const lossy = /Heap Blocks:.*lossy=(\d+)/.exec(lines[j]!);
      if (lossy) scan.lossyHeapBlocks = Number(lossy[1]);
    }
    partitionScans.push(scan);
  }
  const buffers = /Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?/.exec(text);
  let genericPlanUsesIndex: boolean | null = null;
  if (Number((await ctl.query<{ v: string }>("select current_setting('server_version_num') as v")).rows[0]!.v) >= 160000) {
    const generic = await ctl.query<{ "QUERY PLAN": string }>(
      "explain (generic_plan, costs off) select count(*) from audit.log where transaction_id >= $1 and transaction_id < $2",
    );
    const used = generic.rows.map((x) => /(?:Index Scan using|Index Only Scan using|Bitmap Index Scan on) (\S+)/.exec(x["QUERY PLAN"])?.[1]).filter((x): x is string => !!x && amOf.has(x));
    const big = parts.filter((p) => Number(p.pages) >= SMALL_PARTITION_PAGES).length;
    genericPlanUsesIndex = used.length >= big;
  }
  const withCost = async (indexes: boolean) => {
    await ctl.query("begin");
    try {
      if (!indexes) await ctl.query("set local enable_bitmapscan = off; set local enable_indexscan = off; set local enable_indexonlyscan = off");
      const { rows: p } = await ctl.query<{ "QUERY PLAN": string }>(`explain ${sql}`);
      const top = p[0]!["QUERY PLAN"];
      const scan = p.map((x) => x["QUERY PLAN"]).find((l) => /->/.test(l) && /Scan/.test(l)) ?? top;
      return { top, scan: scan.replace(/^\s*->\s*/, "").replace(/\s+\(cost.*$/, ""), cost: Number(/cost=[\d.]+\.\.([\d.]+)/.exec(top)?.[1] ?? Number.NaN) };
    } finally {
      await ctl.query("rollback");
    }
  };
  const withIndex = await withCost(true);
  const without = await withCost(false);
  let afterSummarize: DetectResult["rangeRead"]["afterSummarize"] = null;
  const brinIndexes = xidIndexes.filter((x) => x.am === "brin");
  if (brinIndexes.length) {
    let ranges = 0;
    for (const b of brinIndexes) ranges += Number((await ctl.query<{ n: string }>("select brin_summarize_new_values($1::regclass)::text as n", [`audit.${b.name}`])).rows[0]!.n);
    const { rows: again } = await ctl.query<{ "QUERY PLAN": string }>(`explain (analyze, buffers, summary) ${sql}`);
    const t = again.map((x) => x["QUERY PLAN"]).join("\n");
    afterSummarize = {
      rangesSummarized: ranges,
      lossyHeapBlocks: [...t.matchAll(/Heap Blocks:.*lossy=(\d+)/g)].reduce((a, x) => a + Number(x[1]), 0),
      executionMs: Number(/Execution Time: ([\d.]+) ms/.exec(t)?.[1] ?? Number.NaN),
      buffers: (([, hit, read]) => Number(hit ?? 0) + Number(read ?? 0))(/Buffers: shared(?: hit=(\d+))?(?: read=(\d+))?/.exec(t) ?? []),
    };
  }
  return {
    fromXid: r.fromXid,
    toXid: r.toXid,
    entries: r.entries,
    partitions: parts.length,
    partitionScans,
    usesIndexEverywhere: partitionScans.length === parts.length && partitionScans.every((p) => amOf.has(p.index) || p.heapPages < SMALL_PARTITION_PAGES),
    planningMs: Number(/Planning Time: ([\d.]+) ms/.exec(text)?.[1] ?? Number.NaN),
    executionMs: Number(/Execution Time: ([\d.]+) ms/.exec(text)?.[1] ?? Number.NaN),
    buffers: { sharedHit: Number(buffers?.[1] ?? 0), sharedRead: Number(buffers?.[2] ?? 0) },
    heapPages: parts.reduce((a, p) => a + Number(p.pages), 0),
    indexPages: xidIndexes.reduce((a, p) => a + Number(p.pages), 0),
    genericPlanUsesIndex,
    withoutIndex: { topNode: without.scan, totalCost: without.cost, indexPlanCost: withIndex.cost },
    plan: lines.filter((l) => !/^\s*(Planning|Execution)/.test(l)).slice(0, 40),
    afterSummarize,
  };
}

// ---------------------------------------------------------------------------
// The report (called by report.ts)

const ok = (pass: boolean) => (pass ? "yes" : "**no**");
const n = (v: number | null | undefined, digits = 0) =>
  v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
function table(head: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join("\n");
}

/** The verdicts of the three targets. */
export function detectVerdicts(d: DetectResult): { latency: boolean; massChange: boolean; rangeRead: boolean } {
  const m = d.massChange;
  return {
    latency: d.rounds.clientMs.p95 <= DETECT_TARGETS.roundP95Ms,
    massChange: m.massChangeAlerts === 1 && m.massChangeEntryCount === m.rows && m.delete.round !== null && m.delete.round.clientMs <= DETECT_TARGETS.intervalMs,
    rangeRead: d.rangeRead.usesIndexEverywhere,
  };
}

export function renderDetect(out: string[], d: DetectResult): void {
  const v = detectVerdicts(d);
  const r = d.rounds;
  const m = d.massChange;
  const b = d.rangeRead;
  out.push("", "## 7. Detection: audit.detect() on the log", "");
  out.push(
    `${n(d.rows)} entries (${d.variant === "migrated" ? "schema as migrated" : `bench/variants/${d.variant}.sql`}), on a copy of the read data set ` +
      `(copied in ${n(d.setup.copySeconds, 1)} s) with the business rows of its ${d.setup.tenants.length} largest tenants loaded beside their history ` +
      `(sql/detect-fixture.sql, ${n(d.setup.fixtureSeconds, 1)} s; tenants ranked ${d.setup.tenants.map((t) => t.rank).join(", ")} hold ` +
      `${n(d.setup.tenants.reduce((a, t) => a + t.entries, 0))} of the log's entries). The detectors start at the xmin horizon (the data set's history is not theirs)` +
      `${d.setup.xidsAdvanced ? `; the cluster's transaction ids were moved ${n(d.setup.xidsAdvanced)} past the data set's made-up ones first` : ""}. ` +
      `Each round: the application writes ~${n(DETECT_TARGETS.entriesPerRound)} audited entries as \`app_user\` (${WRITERS} connections; ` +
      "`begin; select audit.set_context(…); <write>; commit`), then the detector's own owner connection runs `select audit.detect()` alone, " +
      "timed at the client (the statement, its commit included) and by the round itself (`last_round_ms` of `audit_private.log_consumers`, from begin_round to end_round). " +
      "Every round is checked to have consumed exactly the entries written (its watermark past them, its range's count). " +
      `Load average at the section's start ${d.loadAverage.start.join(" / ")}, at its end ${d.loadAverage.end.join(" / ")}. ` +
      `\`migrations/current.sql\` as of ${d.currentSql.modifiedAt.slice(0, 19).replace("T", " ")} UTC (sha1 ${d.currentSql.sha1.slice(0, 12)}).`,
    "",
  );
  out.push(table(["target", "measured", "met"], [
    [
      `\`audit.detect()\` with ${n(DETECT_TARGETS.entriesPerRound)} new entries on a ${n(d.rows)}-entry log: p95 ≤ ${DETECT_TARGETS.roundP95Ms} ms`,
      `p95 ${n(r.clientMs.p95, 1)} ms (p50 ${n(r.clientMs.p50, 1)}, max ${n(r.clientMs.max, 1)}; the round's own p95 ${n(r.serverMs.p95, 1)} ms), ${r.samples.length} rounds of ${n(r.entries.min)}–${n(r.entries.max)} entries`,
      ok(v.latency),
    ],
    [
      `one statement deleting ${n(m.rows)} rows: exactly one \`mass_change\` alert, found within one interval (${n(DETECT_TARGETS.intervalMs / 1000)} s)`,
      m.delete.round === null
        ? `the round did not finish within the detection loop's statement_timeout (${n((m.delete.timedOutMs ?? 0) / 1000)} s): no alert; the server would repeat it every interval`
        : `${m.massChangeAlerts} mass_change alert${m.massChangeAlerts === 1 ? "" : "s"}${m.massChangeEntryCount !== null ? ` of ${n(m.massChangeEntryCount)} entries` : ""}; the round took ${n(m.delete.round.clientMs, 0)} ms (its own ${n(m.delete.round.serverMs, 0)} ms)`,
      ok(v.massChange),
    ],
    [
      "the round's range read (`transaction_id` in [from, to)) uses the index on transaction_id on every partition",
      `${b.partitionScans.filter((s) => s.index !== "").length} of ${b.partitions} partitions through it (${[...new Set(b.partitionScans.filter((s) => s.index !== "").map((s) => `${s.node}, ${s.am}`))].join("; ")})${b.partitionScans.some((s) => s.index === "") ? ` (the others read whole: ${b.partitionScans.filter((s) => s.index === "").map((s) => `${s.partition} ${s.node}, ${n(s.heapPages)} pages`).join(", ")})` : ""}; ${n(b.buffers.sharedHit + b.buffers.sharedRead)} buffers (${n(b.buffers.sharedRead)} read) for ${n(b.entries)} entries, ${n(b.executionMs, 2)} ms`,
      ok(v.rangeRead),
    ],
  ]));

  out.push("", `### Rounds of ~${n(DETECT_TARGETS.entriesPerRound)} new entries`, "");
  out.push(table(["", "min", "median", "p95", "max"], [
    ["entries in the round", n(r.entries.min), n(r.entries.median), n(r.entries.p95), n(r.entries.max)],
    ["… kept for the detectors (the others read and skipped)", n(r.relevant.min), n(r.relevant.median), n(r.relevant.p95), n(r.relevant.max)],
    ["application transactions", n(r.transactions.min), n(r.transactions.median), "", n(r.transactions.max)],
    ["`select audit.detect()` at the client, ms", "", n(r.clientMs.p50, 1), n(r.clientMs.p95, 1), n(r.clientMs.max, 1)],
    ["the round's own time (`last_round_ms`), ms", "", n(r.serverMs.p50, 1), n(r.serverMs.p95, 1), n(r.serverMs.max, 1)],
  ]));
  out.push(
    "",
    `${r.samples.length} timed rounds after ${r.warmUps.length} warm-up round${r.warmUps.length === 1 ? "" : "s"} (${r.warmUps.map((w) => `${n(w.clientMs, 0)} ms`).join(", ")}); ` +
      `writing a round took ${n(r.writeMs.median, 0)} ms (median); the rounds opened or updated ${n(r.alertsChanged)} alerts; ` +
      `median of the first ten rounds ${n(r.clientMsFirstTen, 0)} ms, of the last ten ${n(r.clientMsLastTen, 0)} ms (the detectors' windows fill with the rounds' entries); ` +
      `${r.horizonWaits} round${r.horizonWaits === 1 ? "" : "s"} waited for the horizon.`,
  );
  out.push("", "The application's mix over the timed rounds:", "");
  const totalEntries = d.mix.reduce((a, x) => a + x.entries, 0);
  out.push(table(["transaction", "transactions", "entries", "share of entries %"], d.mix.map((x) => [x.description, n(x.transactions), n(x.entries), n((100 * x.entries) / totalEntries, 1)])));

  if (d.profile.functions.length) {
    out.push("", `### Where a round's time goes (${d.profile.rounds.length} more rounds with \`track_functions = all\`, per round)`, "");
    out.push(`Those rounds: ${d.profile.rounds.map((x) => `${n(x.clientMs, 0)} ms`).join(", ")} at the client (counting adds a little). Total includes the functions a function calls; self is its own statements.`, "");
    out.push(table(["function", "calls", "total ms", "self ms"], d.profile.functions.slice(0, 14).map((f) => [`\`${f.name}\``, n(f.callsPerRound, 1), n(f.totalMsPerRound, 2), n(f.selfMsPerRound, 2)])));
  }
  const ex = d.profile.explained;
  if (ex) {
    const own = ex.statements.filter((x) => !x.wrapper);
    out.push("", `### The statements of a round (one more round under auto_explain: analyze, buffers, nested statements ≥ ${n(ex.minMs)} ms)`, "");
    out.push(`That round: ${n(ex.round.entries)} entries, ${n(ex.round.relevant)} kept, ${n(ex.round.clientMs, 0)} ms at the client with the instrumentation. Statements that call a function of the round (marked "calls") include its time; a statement run once per entry or group appears once per run.`, "");
    out.push(table(["ms", "", "statement"], ex.statements.slice(0, 16).map((x) => [n(x.ms, 1), x.wrapper ? "calls" : "", `\`${x.query.replaceAll("|", "\\|").replaceAll("`", "'")}\``])));
    for (const x of own.slice(0, 2)) {
      out.push("", `Plan of the ${x === own[0] ? "slowest" : "next"} statement of its own (${n(x.ms, 1)} ms):`, "", "```", ...x.plan.slice(0, 40).map((l) => l.replace(/\s+$/, "")), "```");
    }
  }

  out.push("", `### The mass change: ${n(m.rows)} rows of app.process_members in one account`, "");
  out.push(table(["step", "statement ms", "entries", "kept for the detectors", "round at the client ms", "the round's own ms", "alerts opened or updated"], [
    ["an API key imports them in one insert (`process_member.added`: no detector's business)", n(m.insert.statementMs, 0), n(m.insert.round.entries), n(m.insert.round.relevant), n(m.insert.round.clientMs, 0), n(m.insert.round.serverMs, 0), n(m.insert.round.changed)],
    m.delete.round === null
      ? ["a data steward deletes them in one statement (`process_member.removed`)", n(m.delete.statementMs, 0), n(m.rows), "–", `cancelled at ${n((m.delete.timedOutMs ?? 0) / 1000)} s (statement_timeout)`, "–", "–"]
      : ["a data steward deletes them in one statement (`process_member.removed`)", n(m.delete.statementMs, 0), n(m.delete.round.entries), n(m.delete.round.relevant), n(m.delete.round.clientMs, 0), n(m.delete.round.serverMs, 0), n(m.delete.round.changed)],
  ]));
  const alerts = [...m.newAlerts.map((a) => ({ ...a, state: "opened" })), ...m.updatedAlerts.map((a) => ({ ...a, state: "updated" }))];
  if (alerts.length) {
    out.push("", "Alerts of the delete's round:", "");
    out.push(table(["", "detector", "severity", "entries", "summary"], alerts.map((a) => [a.state, a.detector, a.severity, n(a.entryCount), a.summary.replaceAll("|", "\\|")])));
  }

  out.push("", "### The index on transaction_id: the last round's range", "");
  out.push(
    `\`select count(*) from audit.log where transaction_id >= ${b.fromXid} and transaction_id < ${b.toXid}\` (${n(b.entries)} entries) on ${b.partitions} partitions: ` +
      `planning ${n(b.planningMs, 2)} ms, execution ${n(b.executionMs, 2)} ms, buffers ${n(b.buffers.sharedHit)} hit and ${n(b.buffers.sharedRead)} read; ` +
      `the heap blocks the index let through (lossy) ${n(b.partitionScans.reduce((a, s) => a + s.lossyHeapBlocks, 0))} of the log's ${n(b.heapPages)} heap pages; ` +
      `the indexes on transaction_id hold ${n(b.indexPages)} pages in all. The generic plan (what a session may switch to after five runs of a statement) ${b.genericPlanUsesIndex === null ? "was not checked (EXPLAIN (GENERIC_PLAN) needs PostgreSQL 16)" : b.genericPlanUsesIndex ? "uses it too" : "**does not use it on every partition**"}. ` +
      `Without index scans the planner would read the log with ${b.withoutIndex.topNode} (estimated cost ${n(b.withoutIndex.totalCost)} against ${n(b.withoutIndex.indexPlanCost)}).`,
    "",
  );
  if (b.afterSummarize) {
    const a = b.afterSummarize;
    out.push(
      `The rounds come every second or two here, faster than autosummarize (autovacuum, a range at a time) summarizes the ranges they fill: after \`brin_summarize_new_values()\` summarized ${n(a.rangesSummarized)} more range${a.rangesSummarized === 1 ? "" : "s"}, ` +
        `the same read let ${n(a.lossyHeapBlocks)} heap blocks through (${n(a.buffers)} buffers, ${n(a.executionMs, 2)} ms); the blocks left belong to the ranges that hold the round's entries, or whose summary other new entries widened.`,
      "",
    );
  }
  out.push(table(["partition", "heap pages", "scan", "index", "heap blocks (lossy)", "rows"], b.partitionScans.map((s) => [s.partition, n(s.heapPages), s.node, s.index ? `${s.index} (${s.am})` : "–", n(s.lossyHeapBlocks), n(s.rows)])));
  out.push("", "```", ...b.plan, "```");

  if (d.alertsByDetector.length) {
    out.push("", `Alerts at the end of the section: ${d.alertsByDetector.map((a) => `${a.detector} ${n(a.alerts)} (${n(a.entries)} entries)`).join(", ")}.`);
  }
}
