// Section 3: the admin page's queries under row-level security, as
// audit_viewer (logged in as audit_authenticator, as the API does) with
// tenant-admin and account-admin claims, on the generated data set. Every
// sample is its own transaction: begin; set local role; claims; the timed
// query (parse, plan, execute, fetch: unnamed statement with parameters,
// as PostGraphile sends it); commit.
import pg from "pg";
import type { Logger } from "../src/log.ts";
import type { ReadDataset } from "./read-dataset.ts";
import type { BenchServer } from "./server.ts";
import { percentile, round } from "./stats.ts";

export type ScopeRole = "tenant_admin" | "account_admin";
/** How a query states the scope: row-level security alone (as the API sends it), or also an explicit account predicate. */
export type ScopeForm = "rls" | "rls+account_predicate" | "role_policy";

export interface Scope {
  role: ScopeRole;
  tenantRank: number;
  tenantId: string;
  accountIndex: number | null;
  accountId: string | null;
}

interface ReadQuery {
  name: string;
  description: string;
  /** Which scopes it runs for. */
  roles: ScopeRole[];
  /** Largest tenant only (the chart). */
  largestTenantOnly?: boolean;
  /** p95 target in milliseconds. */
  targetMs: number;
  /** Reported but not counted against the target (a known pathological case). */
  informational?: boolean;
  /** The SQL, with `extra` ("" or "account_id = $n and ") in front of its conditions. */
  sql(extra: string): string;
  params(ctx: QueryContext, i: number): unknown[];
}

interface QueryContext {
  scope: Scope;
  spanEnd: Date;
  cursor: { occurredAt: string; id: string } | null;
}

export interface QueryFigures {
  name: string;
  description: string;
  role: ScopeRole;
  form: ScopeForm;
  samples: number;
  p50Ms: number;
  p95Ms: number;
  maxMs: number;
  targetMs: number;
  informational: boolean;
  meetsTarget: boolean;
  /** EXPLAIN (ANALYZE) on the largest tenant. */
  plan: { planningMs: number; executionMs: number; scopeIndexCondition: boolean; nodes: string[] };
}

export interface ReadsResult {
  variant: string;
  rows: number;
  tenants: number;
  largestTenantEntries: number;
  spanEnd: string;
  queries: QueryFigures[];
  /** Worst p95 of the 15 ms queries, as the API sends them (RLS alone). */
  worstP95Ms: number;
  /** The same with account admins' queries also stating their account. */
  worstP95MsWithAccountPredicate: number;
  /** With per-role policies (bench/variants/roles.sql), when the variant has them. */
  worstP95MsWithRolePolicies: number | null;
}

const COLUMNS = "*";
const PAGE = 50;
const DAY = 86_400_000;
const FILTER_TYPES = ["settings", "api_key", "member", "process", "invitation"];
const RARE_TYPES = ["license", "tenant", "account"];

const newest = `order by occurred_at desc, id desc limit ${PAGE}`;
const where = (extra: string, cond: string) => (extra || cond ? `where ${extra}${cond || "true"}` : "");

export const READ_QUERIES: ReadQuery[] = [
  {
    name: "first_page", description: "first page of 50 newest", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: (x) => `select ${COLUMNS} from audit.log ${where(x, "")} ${newest}`, params: () => [],
  },
  {
    name: "resource_filter", description: "resource-type filter (settings, api_key, member, process, invitation)", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: (x) => `select ${COLUMNS} from audit.log ${where(x, "resource_type = $1")} ${newest}`, params: (_c, i) => [FILTER_TYPES[i % FILTER_TYPES.length]],
  },
  {
    name: "resource_filter_rare", description: "resource-type filter on a rare type (license, tenant, account)", roles: ["tenant_admin", "account_admin"], targetMs: 15, informational: true,
    sql: (x) => `select ${COLUMNS} from audit.log ${where(x, "resource_type = $1")} ${newest}`, params: (_c, i) => [RARE_TYPES[i % RARE_TYPES.length]],
  },
  {
    name: "actor_filter", description: "actor filter (one user's actions)", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: (x) => `select ${COLUMNS} from audit.log ${where(x, "actor_id = $1")} ${newest}`,
    params: (c, i) => [userId(c.scope.tenantRank, [0, 1, 3, 7][i % 4]!)],
  },
  {
    name: "range_7d_year_back", description: "7-day range a year back", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: (x) => `select ${COLUMNS} from audit.log ${where(x, "occurred_at >= $1 and occurred_at < $2")} ${newest}`,
    params: (c) => {
      const from = new Date(c.spanEnd.getTime() - 365 * DAY);
      return [from.toISOString(), new Date(from.getTime() + 7 * DAY).toISOString()];
    },
  },
  {
    name: "page10_cursor", description: "tenth page by keyset cursor (occurred_at, id)", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: (x) => `select ${COLUMNS} from audit.log ${where(x, "(occurred_at, id) < ($1::timestamptz, $2::bigint)")} ${newest}`,
    params: (c) => [c.cursor?.occurredAt ?? c.spanEnd.toISOString(), c.cursor?.id ?? "0"],
  },
  {
    name: "entity_history", description: "an entity's full history", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: (x) => `select ${COLUMNS} from audit.log ${where(x, "entity_id = $1")} order by occurred_at desc, id desc`,
    params: (c, i) => [entityId("process", c.scope.tenantRank, i % 3)],
  },
  {
    name: "capped_count", description: "count of matches, capped at 10,001", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: (x) => `select count(*) as n from (select 1 from audit.log ${where(x, "")} limit 10001) s`, params: () => [],
  },
  {
    name: "capped_count_filtered", description: "count of matches of a resource-type filter, capped at 10,001", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: (x) => `select count(*) as n from (select 1 from audit.log ${where(x, "resource_type = $1")} limit 10001) s`,
    params: (_c, i) => [FILTER_TYPES[i % FILTER_TYPES.length]],
  },
  {
    name: "chart_30_days", description: "counts per day over 30 days, largest tenant", roles: ["tenant_admin"], largestTenantOnly: true, targetMs: 150,
    sql: (x) => `select date_trunc('day', occurred_at) as day, count(*) as n from audit.log ${where(x, "occurred_at >= $1")} group by 1 order by 1`,
    params: (c) => [new Date(c.spanEnd.getTime() - 30 * DAY).toISOString()],
  },
];

// Ids as bench/sql/read-dataset.sql derives them.
const md5uuid = async (c: pg.ClientBase, text: string) => (await c.query<{ id: string }>("select md5($1)::uuid::text as id", [text])).rows[0]!.id;
let idCache = new Map<string, string>();
function userId(rank: number, index: number): string {
  return idCache.get(`ru:${rank}:${index}`) ?? "00000000-0000-0000-0000-000000000000";
}
function entityId(type: string, rank: number, index: number): string {
  return idCache.get(`${type}:${rank}:${index}`) ?? "00000000-0000-0000-0000-000000000000";
}

/** Tenants sampled: half the samples fall on the three largest, where the work is. */
const TENANT_RANKS = [1, 1, 2, 3, 5, 10, 30, 100, 300, 1000];
const ACCOUNT_PICKS = [0, 1, 3, -1]; // -1: the tenant's last (smallest) account

async function buildScopes(c: pg.ClientBase): Promise<Scope[]> {
  const { rows } = await c.query<{ rank: number; id: string; accounts: number }>(
    "select rank, id::text as id, accounts from bench.r_tenants where rank = any($1) order by rank",
    [TENANT_RANKS],
  );
  const byRank = new Map(rows.map((r) => [r.rank, r]));
  const scopes: Scope[] = [];
  for (const [i, rank] of TENANT_RANKS.entries()) {
    const t = byRank.get(rank);
    if (!t) continue;
    scopes.push({ role: "tenant_admin", tenantRank: rank, tenantId: t.id, accountIndex: null, accountId: null });
    const pick = ACCOUNT_PICKS[i % ACCOUNT_PICKS.length]!;
    const accountIndex = pick < 0 ? t.accounts - 1 : Math.min(pick, t.accounts - 1);
    scopes.push({ role: "account_admin", tenantRank: rank, tenantId: t.id, accountIndex, accountId: await md5uuid(c, `ra:${rank}:${accountIndex}`) });
  }
  for (const rank of new Set(TENANT_RANKS)) {
    for (const idx of [0, 1, 3, 7]) idCache.set(`ru:${rank}:${idx}`, await md5uuid(c, `ru:${rank}:${idx}`));
    for (const idx of [0, 1, 2]) idCache.set(`process:${rank}:${idx}`, await md5uuid(c, `process:${rank}:${idx}`));
  }
  return scopes;
}

/** The database role of a scope: audit_viewer, or with per-role policies (bench/variants/roles.sql) one role per kind of admin. */
function roleOf(s: Scope, form: ScopeForm): string {
  if (form !== "role_policy") return "audit_viewer";
  return s.role === "tenant_admin" ? "audit_tenant_admin" : "audit_account_admin";
}

async function enterScope(c: pg.ClientBase, s: Scope, form: ScopeForm = "rls"): Promise<void> {
  await c.query("begin");
  await c.query(`set local role ${roleOf(s, form)}`);
  await c.query(
    "select set_config('jwt.claims.tenant_id', $1, true), set_config('jwt.claims.role', $2, true), set_config('jwt.claims.account_id', $3, true)",
    [s.tenantId, s.role, s.accountId ?? ""],
  );
}

async function cursorFor(c: pg.ClientBase, s: Scope): Promise<QueryContext["cursor"]> {
  await enterScope(c, s);
  try {
    const { rows } = await c.query<{ occurred_at: string; id: string }>(
      `select occurred_at::text, id::text from audit.log order by occurred_at desc, id desc offset ${PAGE * 9 - 1} limit 1`,
    );
    return rows[0] ? { occurredAt: rows[0].occurred_at, id: rows[0].id } : null;
  } finally {
    await c.query("commit");
  }
}

interface Prepared {
  sql: string;
  params: unknown[];
}

function prepare(q: ReadQuery, ctx: QueryContext, form: ScopeForm, i: number): Prepared {
  const params = q.params(ctx, i);
  if (form !== "rls+account_predicate" || ctx.scope.accountId === null) return { sql: q.sql(""), params };
  return { sql: q.sql(`account_id = $${params.length + 1}::uuid and `), params: [...params, ctx.scope.accountId] };
}

async function explain(c: pg.ClientBase, p: Prepared, scope: Scope, form: ScopeForm): Promise<QueryFigures["plan"]> {
  await enterScope(c, scope, form);
  try {
    const { rows } = await c.query<{ "QUERY PLAN": string }>(`explain (analyze, costs off, summary) ${p.sql}`, p.params);
    const lines = rows.map((r) => r["QUERY PLAN"]);
    const num = (re: RegExp) => Number(re.exec(lines.join("\n"))?.[1] ?? Number.NaN);
    const conds = lines.filter((l) => /Index Cond|Recheck Cond/.test(l)).join("\n");
    const tenantCond = /tenant_id = /.test(conds);
    const accountCond = /account_id = /.test(conds);
    return {
      planningMs: num(/Planning Time: ([\d.]+) ms/),
      executionMs: num(/Execution Time: ([\d.]+) ms/),
      scopeIndexCondition: scope.role === "tenant_admin" ? tenantCond : tenantCond && accountCond,
      // the plan's shape without the per-partition repetition
      nodes: [...new Set(lines.map((l) => l.replace(/ on log_\d{4}_\d{2}( log_\d+)?/, " on log_<month>").replace(/\(actual.*\)$/, "").trimEnd()))]
        .filter((l) => !/^\s*(Buffers|Index Searches|Heap Fetches|Rows Removed|Planning|Execution|Worker)/.test(l.trim()))
        .slice(0, 14),
    };
  } finally {
    await c.query("commit");
  }
}

/** Samples per query and scope: opts.samples, fewer (at least 10) when a query is slow enough to pass the time budget. */
const BUDGET_MS = 25_000;
const MIN_SAMPLES = 10;

export async function measureReads(
  server: BenchServer,
  ds: ReadDataset,
  opts: { samples: number; variant: string },
  logger: Logger,
): Promise<ReadsResult> {
  idCache = new Map();
  const owner = new pg.Client({ connectionString: server.url(ds.database) });
  const viewer = new pg.Client({ connectionString: server.url(ds.database, "auth") });
  await Promise.all([owner.connect(), viewer.connect()]);
  try {
    const scopes = await buildScopes(owner);
    const largest = (await owner.query<{ n: string }>("select count(*) as n from audit.log where tenant_id = (select id from bench.r_tenants where rank = 1)")).rows[0]!.n;
    const cursors = new Map<Scope, QueryContext["cursor"]>();
    for (const s of scopes) cursors.set(s, await cursorFor(viewer, s));

    const figures: QueryFigures[] = [];
    const runs: { role: ScopeRole; form: ScopeForm }[] = [
      { role: "tenant_admin", form: "rls" },
      { role: "account_admin", form: "rls" },
      { role: "account_admin", form: "rls+account_predicate" },
    ];
    const perRole = await owner.query("select 1 from pg_policies where schemaname = 'audit' and tablename = 'log' and policyname = 'log_account_admin_select'");
    if (perRole.rowCount) runs.push({ role: "tenant_admin", form: "role_policy" }, { role: "account_admin", form: "role_policy" });
    for (const q of READ_QUERIES) {
      for (const { role, form } of runs) {
        if (!q.roles.includes(role)) continue;
        const roleScopes = scopes.filter((s) => s.role === role && (!q.largestTenantOnly || s.tenantRank === 1));
        const ctxFor = (i: number): QueryContext => {
          const scope = roleScopes[i % roleScopes.length]!;
          return { scope, spanEnd: ds.spanEnd, cursor: cursors.get(scope) ?? null };
        };
        const once = async (i: number) => {
          const ctx = ctxFor(i);
          const p = prepare(q, ctx, form, i);
          await enterScope(viewer, ctx.scope, form);
          const t0 = performance.now();
          await viewer.query(p.sql, p.params);
          const ms = performance.now() - t0;
          await viewer.query("commit");
          return ms;
        };
        for (let i = 0; i < roleScopes.length; i++) await once(i); // warm-up: every scope once
        const times: number[] = [];
        const started = performance.now();
        for (let i = 0; i < opts.samples; i++) {
          times.push(await once(i));
          if (i + 1 >= MIN_SAMPLES && performance.now() - started > BUDGET_MS) break;
        }
        const largestScope = roleScopes.find((s) => s.tenantRank === 1) ?? roleScopes[0]!;
        const largestCtx = { scope: largestScope, spanEnd: ds.spanEnd, cursor: cursors.get(largestScope) ?? null };
        const plan = await explain(viewer, prepare(q, largestCtx, form, 0), largestScope, form);
        const p95 = percentile(times, 95);
        const f: QueryFigures = {
          name: q.name,
          description: q.description,
          role,
          form,
          samples: times.length,
          p50Ms: round(percentile(times, 50), 2),
          p95Ms: round(p95, 2),
          maxMs: round(Math.max(...times), 2),
          targetMs: q.targetMs,
          informational: q.informational ?? false,
          meetsTarget: p95 <= q.targetMs,
          plan,
        };
        figures.push(f);
        logger.info({ variant: opts.variant, rows: ds.rows, query: q.name, role, form, p50Ms: f.p50Ms, p95Ms: f.p95Ms, maxMs: f.maxMs, planningMs: plan.planningMs, scopeIndexCondition: plan.scopeIndexCondition }, "read query");
      }
    }
    const counted = (f: QueryFigures) => !f.informational && f.targetMs === 15;
    return {
      variant: opts.variant,
      rows: ds.rows,
      tenants: ds.tenants,
      largestTenantEntries: Number(largest),
      spanEnd: ds.spanEnd.toISOString(),
      queries: figures,
      worstP95Ms: round(Math.max(...figures.filter((f) => counted(f) && f.form === "rls").map((f) => f.p95Ms)), 2),
      worstP95MsWithAccountPredicate: round(Math.max(...figures.filter((f) => counted(f) && f.form !== "role_policy" && (f.role === "tenant_admin" || f.form !== "rls")).map((f) => f.p95Ms)), 2),
      worstP95MsWithRolePolicies: perRole.rowCount ? round(Math.max(...figures.filter((f) => counted(f) && f.form === "role_policy").map((f) => f.p95Ms)), 2) : null,
    };
  } finally {
    await Promise.all([owner.end(), viewer.end()]);
  }
}
