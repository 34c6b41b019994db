// Section 3: the admin page's queries under row-level security, as the API
// sends them: logged in as audit_authenticator, in the admin kind's role
// (audit_tenant_admin / audit_account_admin, src/server/auth.ts SCOPE_ROLES)
// with the claims in jwt.claims.*, on the generated data set. Every sample
// is its own transaction: begin; the API's transaction-local settings (role,
// claims, TimeZone, statement_timeout: setTransactionScope of
// src/server/scoped-query.ts); the timed query (parse, plan, execute, fetch:
// unnamed statement with parameters, as PostGraphile sends it); commit.
import pg from "pg";
import type { Logger } from "../src/log.ts";
import { SCOPE_ROLES } from "../src/server/auth.ts";
import { setTransactionScope } from "../src/server/scoped-query.ts";
import type { AdminRole } from "../src/shared/admin-roles.ts";
import type { ReadDataset } from "./read-dataset.ts";
import { sampleLatency, timed } from "./sampling.ts";
import type { BenchServer } from "./server.ts";
import { round } from "./stats.ts";

export type ScopeRole = AdminRole;

export interface Scope {
  role: ScopeRole;
  tenantRank: number;
  tenantId: string;
  /** The admin's own user id (the `sub` claim). */
  userId: string;
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
  /** The SQL as the API would send it: the scope comes from row-level security alone. */
  sql: string;
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
  /** The database role the query ran as (SCOPE_ROLES of the admin kind). */
  dbRole: string;
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
  /** Worst p95 of the 15 ms queries (informational ones aside), both kinds of admin. */
  worstP95Ms: number;
}

const COLUMNS = "*";
const PAGE = 50;
const DAY = 86_400_000;
const FILTER_TYPES = ["settings", "api_key", "member", "process", "invitation"];
const RARE_TYPES = ["license", "tenant", "account"];

const newest = `order by occurred_at desc, id desc limit ${PAGE}`;

export const READ_QUERIES: ReadQuery[] = [
  {
    name: "first_page", description: "first page of 50 newest", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: `select ${COLUMNS} from audit.log ${newest}`, params: () => [],
  },
  {
    name: "resource_filter", description: "resource-type filter (settings, api_key, member, process, invitation)", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: `select ${COLUMNS} from audit.log where resource_type = $1 ${newest}`, params: (_c, i) => [FILTER_TYPES[i % FILTER_TYPES.length]],
  },
  {
    name: "resource_filter_rare", description: "resource-type filter on a rare type (license, tenant, account)", roles: ["tenant_admin", "account_admin"], targetMs: 15, informational: true,
    sql: `select ${COLUMNS} from audit.log where resource_type = $1 ${newest}`, params: (_c, i) => [RARE_TYPES[i % RARE_TYPES.length]],
  },
  {
    name: "actor_filter", description: "actor filter (one user's actions)", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: `select ${COLUMNS} from audit.log where actor_id = $1 ${newest}`,
    params: (c, i) => [userId(c.scope.tenantRank, [0, 1, 3, 7][i % 4]!)],
  },
  {
    name: "range_7d_year_back", description: "7-day range a year back", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: `select ${COLUMNS} from audit.log where occurred_at >= $1 and occurred_at < $2 ${newest}`,
    params: (c) => {
      const from = new Date(c.spanEnd.getTime() - 365 * DAY);
      return [from.toISOString(), new Date(from.getTime() + 7 * DAY).toISOString()];
    },
  },
  {
    name: "page10_cursor", description: "tenth page by keyset cursor (occurred_at, id)", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: `select ${COLUMNS} from audit.log where (occurred_at, id) < ($1::timestamptz, $2::bigint) ${newest}`,
    params: (c) => [c.cursor?.occurredAt ?? c.spanEnd.toISOString(), c.cursor?.id ?? "0"],
  },
  {
    name: "entity_history", description: "an entity's full history", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: `select ${COLUMNS} from audit.log where entity_id = $1 order by occurred_at desc, id desc`,
    params: (c, i) => [entityId("process", c.scope.tenantRank, i % 3)],
  },
  {
    name: "capped_count", description: "count of matches, capped at 10,001", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: `select count(*) as n from (select 1 from audit.log limit 10001) s`, params: () => [],
  },
  {
    name: "capped_count_filtered", description: "count of matches of a resource-type filter, capped at 10,001", roles: ["tenant_admin", "account_admin"], targetMs: 15,
    sql: `select count(*) as n from (select 1 from audit.log where resource_type = $1 limit 10001) s`,
    params: (_c, i) => [FILTER_TYPES[i % FILTER_TYPES.length]],
  },
  {
    name: "chart_30_days", description: "counts per day over 30 days, largest tenant", roles: ["tenant_admin"], largestTenantOnly: true, targetMs: 150,
    sql: `select date_trunc('day', occurred_at) as day, count(*) as n from audit.log where occurred_at >= $1 group by 1 order by 1`,
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
    const userId = await md5uuid(c, `ru:${rank}:0`);
    scopes.push({ role: "tenant_admin", tenantRank: rank, tenantId: t.id, userId, accountIndex: null, accountId: null });
    const pick = ACCOUNT_PICKS[i % ACCOUNT_PICKS.length]!;
    const accountIndex = pick < 0 ? t.accounts - 1 : Math.min(pick, t.accounts - 1);
    scopes.push({ role: "account_admin", tenantRank: rank, tenantId: t.id, userId, accountIndex, accountId: await md5uuid(c, `ra:${rank}:${accountIndex}`) });
  }
  for (const rank of new Set(TENANT_RANKS)) {
    for (const idx of [0, 1, 3, 7]) idCache.set(`ru:${rank}:${idx}`, await md5uuid(c, `ru:${rank}:${idx}`));
    for (const idx of [0, 1, 2]) idCache.set(`process:${rank}:${idx}`, await md5uuid(c, `process:${rank}:${idx}`));
  }
  return scopes;
}

/** Generous: the bench measures slow plans rather than cutting them off (the API's default is lower). */
const STATEMENT_TIMEOUT_MS = 120_000;

/** Opens a sample's transaction with the API's own settings for the scope. */
async function enterScope(c: pg.ClientBase, s: Scope): Promise<void> {
  await c.query("begin");
  await setTransactionScope(c, { userId: s.userId, tenantId: s.tenantId, role: s.role, accountId: s.accountId }, { statementTimeoutMs: STATEMENT_TIMEOUT_MS });
}

async function cursorFor(c: pg.ClientBase, s: Scope): Promise<QueryContext["cursor"]> {
  await enterScope(c, s);
  try {
    // The settings must have switched the role: audit_authenticator (NOINHERIT) or
    // audit_viewer would read nothing, and the bench would time empty answers.
    const { rows: who } = await c.query<{ role: string }>("select current_user as role");
    if (who[0]?.role !== SCOPE_ROLES[s.role]) throw new Error(`reads: expected to run as ${SCOPE_ROLES[s.role]}, running as ${who[0]?.role}`);
    const { rows } = await c.query<{ occurred_at: string; id: string }>(
      `select occurred_at::text, id::text from audit.log order by occurred_at desc, id desc offset ${PAGE * 9 - 1} limit 1`,
    );
    return rows[0] ? { occurredAt: rows[0].occurred_at, id: rows[0].id } : null;
  } finally {
    await c.query("commit");
  }
}

async function explain(c: pg.ClientBase, q: ReadQuery, ctx: QueryContext): Promise<QueryFigures["plan"]> {
  await enterScope(c, ctx.scope);
  try {
    const { rows } = await c.query<{ "QUERY PLAN": string }>(`explain (analyze, costs off, summary) ${q.sql}`, q.params(ctx, 0));
    const lines = rows.map((r) => r["QUERY PLAN"]);
    const num = (re: RegExp) => Number(re.exec(lines.join("\n"))?.[1] ?? Number.NaN);
    const conds = lines.filter((l) => /Index Cond|Recheck Cond/.test(l)).join("\n");
    const tenantCond = /tenant_id = /.test(conds);
    const accountCond = /account_id = /.test(conds);
    return {
      planningMs: num(/Planning Time: ([\d.]+) ms/),
      executionMs: num(/Execution Time: ([\d.]+) ms/),
      scopeIndexCondition: ctx.scope.role === "tenant_admin" ? tenantCond : tenantCond && accountCond,
      // the plan's shape without the per-partition repetition
      nodes: [...new Set(lines.map((l) => l.replace(/ on log_\d{4}_\d{2}( log_\d+)?/, " on log_<month>").replace(/\(actual.*\)$/, "").trimEnd()))]
        .filter((l) => !/^\s*(Buffers|Index Searches|Heap Fetches|Rows Removed|Planning|Execution|Worker)/.test(l.trim()))
        .slice(0, 14),
    };
  } finally {
    await c.query("commit");
  }
}

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
    const contextOf = (scope: Scope): QueryContext => ({ scope, spanEnd: ds.spanEnd, cursor: cursors.get(scope) ?? null });

    const figures: QueryFigures[] = [];
    for (const q of READ_QUERIES) {
      for (const role of q.roles) {
        const roleScopes = scopes.filter((s) => s.role === role && (!q.largestTenantOnly || s.tenantRank === 1));
        const latency = await sampleLatency({ warmUps: roleScopes.length, samples: opts.samples }, async (i) => {
          const ctx = contextOf(roleScopes[i % roleScopes.length]!);
          const params = q.params(ctx, i);
          await enterScope(viewer, ctx.scope);
          const ms = await timed(() => viewer.query(q.sql, params));
          await viewer.query("commit");
          return ms;
        });
        const largestScope = roleScopes.find((s) => s.tenantRank === 1) ?? roleScopes[0]!;
        const plan = await explain(viewer, q, contextOf(largestScope));
        const f: QueryFigures = {
          name: q.name,
          description: q.description,
          role,
          dbRole: SCOPE_ROLES[role],
          ...latency,
          targetMs: q.targetMs,
          informational: q.informational ?? false,
          meetsTarget: latency.p95Ms <= q.targetMs,
          plan,
        };
        figures.push(f);
        logger.info({ variant: opts.variant, rows: ds.rows, query: q.name, role, p50Ms: f.p50Ms, p95Ms: f.p95Ms, maxMs: f.maxMs, planningMs: plan.planningMs, scopeIndexCondition: plan.scopeIndexCondition }, "read query");
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
      worstP95Ms: round(Math.max(...figures.filter(counted).map((f) => f.p95Ms)), 2),
    };
  } finally {
    await Promise.all([owner.end(), viewer.end()]);
  }
}
