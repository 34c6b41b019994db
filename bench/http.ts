// Section 3b: the same admin questions through the API, end to end: an HTTP
// POST /graphql with a bearer token (JWT verified), PostGraphile, row-level
// security, timed to the response's last byte (graphql-client.ts; the JSON
// is parsed and checked after). The server is the project's own (startServer,
// as `npm start` runs it) in a process of its own (api-process.ts), on an
// ephemeral port, over the read data set, logged in as audit_authenticator
// like in production and reading in the admin kind's role
// (audit_tenant_admin / audit_account_admin).
import { randomBytes } from "node:crypto";
import jwt from "jsonwebtoken";
import pg from "pg";
import type { Logger } from "../src/log.ts";
import type { ReadDataset } from "./read-dataset.ts";
import type { ScopeRole } from "./reads.ts";
import { startApiProcess, type ApiProcess } from "./api-process.ts";
import { postGraphQL, type GraphQLBody, type TimedResponse } from "./graphql-client.ts";
import { sampleLatency, type LatencyFigures } from "./sampling.ts";
import type { BenchServer } from "./server.ts";

export interface HttpQueryFigures extends LatencyFigures {
  name: string;
  description: string;
  role: ScopeRole;
  targetMs: number;
  informational: boolean;
}

export interface HttpResult {
  rows: number;
  variant: string;
  queries: HttpQueryFigures[];
}

const DAY = 86_400_000;
const NODE_FIELDS = "id occurredAt actorType actorEmail actorName action resourceType entityId event description accountId oldValues newValues context";
const page = (args: string) => `{ auditLogs(${args}) { nodes { ${NODE_FIELDS} } pageInfo { hasNextPage endCursor } } }`;
/** A page as real clients ask for it: one document, the values as GraphQL variables. */
const PAGE_WITH_VARIABLES = `query Page($first: Int, $after: Cursor) { auditLogs(first: $first, after: $after) { nodes { ${NODE_FIELDS} } pageInfo { hasNextPage endCursor } } }`;


interface HttpQuery {
  name: string;
  description: string;
  roles: ScopeRole[];
  largestTenantOnly?: boolean;
  targetMs: number;
  informational?: boolean;
  query(ctx: { spanEnd: Date; actorId: string; entityId: string; cursor: string | null; i: number }): GraphQLBody;
}

const TYPES = ["settings", "api_key", "member", "process", "invitation"];
/** Requests that warm the API process up before anything is timed (at most; ten per sample), cycling through these pages and the scopes. */
const PROCESS_WARM_UP_REQUESTS = 1_000;
const PROCESS_WARM_UP_QUERIES = ["first_page", "first_page_variables", "resource_filter", "actor_filter", "page10_cursor", "entity_history"];

const HTTP_QUERIES: HttpQuery[] = [
  { name: "first_page", description: "first page of 50 newest", roles: ["tenant_admin", "account_admin"], targetMs: 10, query: () => page("first: 50") },
  {
    name: "first_page_variables", description: "first page of 50 newest, `first` as a variable (as the page sends it)", roles: ["tenant_admin", "account_admin"], targetMs: 10,
    query: () => ({ query: PAGE_WITH_VARIABLES, variables: { first: 50 } }),
  },
  {
    name: "resource_filter", description: "resource-type filter", roles: ["tenant_admin", "account_admin"], targetMs: 40,
    query: (c) => page(`first: 50, condition: { resourceType: "${TYPES[c.i % TYPES.length]}" }`),
  },
  { name: "actor_filter", description: "actor filter", roles: ["tenant_admin", "account_admin"], targetMs: 40, query: (c) => page(`first: 50, condition: { actorId: "${c.actorId}" }`) },
  {
    name: "range_7d_year_back", description: "7-day range a year back", roles: ["tenant_admin", "account_admin"], targetMs: 40,
    query: (c) => {
      const from = new Date(c.spanEnd.getTime() - 365 * DAY);
      const to = new Date(from.getTime() + 7 * DAY);
      return page(`first: 50, filter: { occurredAt: { greaterThanOrEqualTo: "${from.toISOString()}", lessThan: "${to.toISOString()}" } }`);
    },
  },
  { name: "page10_cursor", description: "tenth page by cursor", roles: ["tenant_admin", "account_admin"], targetMs: 40, query: (c) => page(`first: 50, after: ${JSON.stringify(c.cursor)}`) },
  { name: "entity_history", description: "an entity's full history", roles: ["tenant_admin", "account_admin"], targetMs: 40, query: (c) => page(`first: 500, condition: { entityId: "${c.entityId}" }`) },
  {
    // What the page asks for its "10,000+" (src/server/plugins/capped-count.ts).
    name: "capped_count", description: "capped count of matches, resource-type filter (`cappedCount(max: 10000)`, `first: 0` as the page asks)", roles: ["tenant_admin", "account_admin"], targetMs: 40,
    query: (c) => `{ auditLogs(first: 0, condition: { resourceType: "${TYPES[c.i % TYPES.length]}" }) { cappedCount(max: 10000) { count isCapped } } }`,
  },
  {
    name: "total_count", description: "count of matches (the API's exact totalCount, resource-type filter)", roles: ["tenant_admin", "account_admin"], targetMs: 40, informational: true,
    query: (c) => `{ auditLogs(first: 0, condition: { resourceType: "${TYPES[c.i % TYPES.length]}" }) { totalCount } }`,
  },
  {
    name: "chart_30_days", description: "counts per day over 30 days, largest tenant", roles: ["tenant_admin"], largestTenantOnly: true, targetMs: 150,
    query: (c) =>
      `{ auditLogs(filter: { occurredAt: { greaterThanOrEqualTo: "${new Date(c.spanEnd.getTime() - 30 * DAY).toISOString()}" } }) { groupedAggregates(groupBy: [OCCURRED_AT_TRUNCATED_TO_DAY]) { keys count } } }`,
  },
];

const TENANT_RANKS = [1, 1, 2, 3, 5, 10, 30, 100, 300, 1000];

/** An admin of the read data set with a signed token (HS256, `secret`). */
export interface AdminScope {
  role: ScopeRole;
  /** Rank of the tenant by size (1: the largest). */
  rank: number;
  tenantId: string;
  /** The account admin's account; null for tenant admins. */
  accountId: string | null;
  token: string;
  /** A user of the tenant and a process of it, as bench/sql/read-dataset.sql derives them. */
  actorId: string;
  entityId: string;
}

/**
 * A tenant admin and an account admin for each of TENANT_RANKS (half of them
 * in the three largest tenants, where the work is), with tokens valid for
 * `ttlSeconds`.
 */
export async function mintAdminScopes(owner: pg.ClientBase, secret: string, ttlSeconds = 3600): Promise<AdminScope[]> {
  const { rows: tenants } = await owner.query<{ rank: number; id: string; accounts: number }>(
    "select rank, id::text as id, accounts from bench.r_tenants where rank = any($1)", [TENANT_RANKS],
  );
  const md5 = async (text: string) => (await owner.query<{ id: string }>("select md5($1)::uuid::text as id", [text])).rows[0]!.id;
  const scopes: AdminScope[] = [];
  for (const [i, rank] of TENANT_RANKS.entries()) {
    const t = tenants.find((x) => x.rank === rank);
    if (!t) continue;
    const exp = Math.floor(Date.now() / 1000) + ttlSeconds;
    const sub = await md5(`ru:${rank}:0`);
    const account = [0, 1, 3, t.accounts - 1][i % 4]!;
    const accountId = await md5(`ra:${rank}:${Math.min(account, t.accounts - 1)}`);
    const common = { rank, tenantId: t.id, actorId: await md5(`ru:${rank}:${i % 3}`), entityId: await md5(`process:${rank}:${i % 3}`) };
    scopes.push({ role: "tenant_admin", accountId: null, token: jwt.sign({ sub, tenant_id: t.id, role: "tenant_admin", exp }, secret, { algorithm: "HS256" }), ...common });
    scopes.push({
      role: "account_admin", accountId,
      token: jwt.sign({ sub, tenant_id: t.id, role: "account_admin", account_id: accountId, exp }, secret, { algorithm: "HS256" }),
      ...common,
    });
  }
  return scopes;
}

export async function measureHttp(server: BenchServer, ds: ReadDataset, opts: { samples: number }, logger: Logger): Promise<HttpResult | { skipped: string }> {
  const secret = randomBytes(32).toString("base64url");
  let api: ApiProcess;
  try {
    api = await startApiProcess(server.url(ds.database, "auth"), secret);
  } catch (err) {
    return { skipped: `the API server did not start (${err instanceof Error ? err.message.split("\n")[0] : String(err)})` };
  }
  const owner = new pg.Client({ connectionString: server.url(ds.database) });
  await owner.connect();
  try {
    const scopes = (await mintAdminScopes(owner, secret)).map((s) => ({ ...s, cursor: null as string | null }));
    // The tenth page's cursor: page through nine pages first.
    for (const s of scopes) {
      let after: string | null = null;
      for (let p = 0; p < 9; p++) {
        const page: TimedResponse<{ auditLogs: { pageInfo: { endCursor: string | null } } }> = await postGraphQL(
          api.url, s.token, `{ auditLogs(first: 50${after ? `, after: ${JSON.stringify(after)}` : ""}) { pageInfo { endCursor } } }`);
        const d = page.data;
        after = d.auditLogs.pageInfo.endCursor;
        if (!after) break;
      }
      s.cursor = after;
    }

    // A fresh process runs its first few hundred requests on code V8 has not
    // optimised yet (measured: first page p50 8.0 → 6.9 ms after 1,000
    // requests); an API in service has long passed them. Warm the process up
    // on the pages before any query is timed.
    const warmQueries = HTTP_QUERIES.filter((q) => PROCESS_WARM_UP_QUERIES.includes(q.name));
    const warmUps = Math.min(PROCESS_WARM_UP_REQUESTS, opts.samples * 10); // (quick mode: a smoke test)
    for (let i = 0; i < warmUps; i++) {
      const q = warmQueries[i % warmQueries.length]!;
      const s = scopes[Math.floor(i / warmQueries.length) % scopes.length]!;
      if (q.name === "page10_cursor" && !s.cursor) continue;
      await postGraphQL(api.url, s.token, q.query({ spanEnd: ds.spanEnd, actorId: s.actorId, entityId: s.entityId, cursor: s.cursor, i }));
    }

    const figures: HttpQueryFigures[] = [];
    for (const q of HTTP_QUERIES) {
      for (const role of q.roles) {
        const roleScopes = scopes.filter((s) => s.role === role && (!q.largestTenantOnly || s.rank === 1) && (q.name !== "page10_cursor" || s.cursor));
        if (!roleScopes.length) continue;
        const ask = async (i: number) => {
          const s = roleScopes[i % roleScopes.length]!;
          return (await postGraphQL(api.url, s.token, q.query({ spanEnd: ds.spanEnd, actorId: s.actorId, entityId: s.entityId, cursor: s.cursor, i }))).ms;
        };
        // warm-up: every scope once; then each request, to its response's last byte
        const latency = await sampleLatency({ warmUps: roleScopes.length, samples: opts.samples }, ask);
        const f: HttpQueryFigures = {
          name: q.name, description: q.description, role, ...latency,
          targetMs: q.targetMs, informational: q.informational ?? false,
        };
        figures.push(f);
        logger.info({ rows: ds.rows, query: q.name, role, p50Ms: f.p50Ms, p95Ms: f.p95Ms }, "GraphQL over HTTP");
      }
    }
    return { rows: ds.rows, variant: ds.variant, queries: figures };
  } finally {
    await owner.end();
    await api.stop();
  }
}
