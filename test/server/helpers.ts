// Shared by the API tests: a real server on an ephemeral port over a cloned
// test database, tokens made with jsonwebtoken, a small GraphQL client, and
// a two-tenant data set written through app_user like an application would.
import { randomUUID } from "node:crypto";
import jwt from "jsonwebtoken";
import type pg from "pg";
import { createLogger } from "../../src/log.ts";
import { startServer, type RunningServer, type ServerOptions } from "../../src/server/app.ts";
import type { TestDatabase } from "../support/database.ts";
import { withAuditContext } from "../../src/application/audit-context.ts";
import { backdate } from "../support/backdate.ts";
import { refreshUntil } from "../db/support/rollups.ts";
import { asUser, createLandscape, type Landscape } from "../support/fixtures.ts";

export const SECRET = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";

export type Claims = Record<string, unknown>;

/** A signed HS256 token; exp 5 minutes ahead unless claims say otherwise. */
export function sign(claims: Claims, secret: string = SECRET, options: jwt.SignOptions = {}): string {
  const body = "exp" in claims ? claims : { exp: Math.floor(Date.now() / 1000) + 300, ...claims };
  return jwt.sign(body, secret, { algorithm: "HS256", ...options });
}

export const tenantAdmin = (l: Landscape, extra: Claims = {}) =>
  sign({ sub: l.adminId, tenant_id: l.tenantId, role: "tenant_admin", ...extra });
export const accountAdmin = (l: Landscape, accountId = l.accountId, extra: Claims = {}) =>
  sign({ sub: l.adminId, tenant_id: l.tenantId, role: "account_admin", account_id: accountId, ...extra });

export async function startTestServer(db: TestDatabase, options: Partial<ServerOptions> = {}): Promise<RunningServer> {
  return startServer({
    authUrl: db.authUrl,
    jwt: { algorithm: "HS256", key: SECRET },
    port: 0,
    introspection: true,
    // Quiet unless asked (LOG_LEVEL=debug npm test): masked errors are logged on purpose in some tests.
    logger: createLogger(process.env.LOG_LEVEL ?? "silent"),
    ...options,
  });
}

export interface GraphQLResponse<T = any> {
  status: number;
  headers: Headers;
  body: { data?: T; errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[] };
}

/** POSTs a GraphQL request; `token` null sends no Authorization header. */
export async function gql<T = any>(
  server: { url: string },
  token: string | null,
  query: string,
  variables?: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<GraphQLResponse<T>> {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token !== null ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as GraphQLResponse<T>["body"] };
}

/** The data of a successful request; fails the test with the errors otherwise. */
export async function data<T = any>(server: { url: string }, token: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await gql<T>(server, token, query, variables);
  if (res.status !== 200 || res.body.errors?.length || !res.body.data) {
    throw new Error(`GraphQL request failed (${res.status}): ${JSON.stringify(res.body.errors ?? res.body)}`);
  }
  return res.body.data;
}

export interface World {
  a: Landscape;
  b: Landscape;
  /** An API key of tenant A (account X). */
  apiKeyId: string;
}

const CONTEXT = { request_id: "req-test", ip: "203.0.113.9", user_agent: "vitest" };

/** Activity of one landscape: tenant-level and account-level entries, several actors and events. */
async function activity(app: pg.Pool, l: Landscape, label: string): Promise<string> {
  const apiKeyId = randomUUID();
  const membershipId = randomUUID();
  const extraProcesses = [randomUUID(), randomUUID(), randomUUID()];
  await asUser(app, l.adminId, async (c) => {
    await c.query("insert into app.settings (tenant_id, account_id, key, value) values ($1, null, 'security.mfa_required', '{\"enabled\": true}')", [l.tenantId]);
    await c.query("insert into app.settings (tenant_id, account_id, key, value) values ($1, $2, 'rpa.credentials', $3)", [
      l.tenantId, l.accountId, JSON.stringify({ username: `svc-${label}`, password: "s3cret" }),
    ]);
    await c.query("insert into app.api_keys (id, tenant_id, account_id, name, key_hash, created_by) values ($1, $2, $3, $4, 'hash', $5)", [
      apiKeyId, l.tenantId, l.accountId, `${label} key`, l.adminId,
    ]);
    await c.query("insert into app.memberships (id, tenant_id, account_id, user_id, role) values ($1, $2, $3, $4, 'member')", [
      membershipId, l.tenantId, l.accountId, l.memberId,
    ]);
    await c.query("insert into app.processes (id, tenant_id, account_id, name) values ($1, $4, $5, 'P1'), ($2, $4, $5, 'P2'), ($3, $4, $6, 'P3')", [
      ...extraProcesses, l.tenantId, l.accountId, l.otherAccountId,
    ]);
  }, CONTEXT);
  await asUser(app, l.memberId, async (c) => {
    await c.query("update app.processes set description = 'edited' where id = $1", [l.processId]);
    await c.query("update app.settings set value = $2 where tenant_id = $1 and key = 'rpa.credentials'", [
      l.tenantId, JSON.stringify({ username: `svc-${label}-2`, password: "rotated" }),
    ]);
  }, { ...CONTEXT, ip: "192.0.2.66" });
  await asUser(app, l.adminId, async (c) => {
    await c.query("update app.memberships set role = 'admin' where id = $1", [membershipId]);
    await c.query("update app.api_keys set revoked_at = now() where id = $1", [apiKeyId]);
    await c.query("update app.processes set deleted_at = now() where id = any($1::uuid[])", [extraProcesses.slice(0, 2)]);
    await c.query("insert into app.jobs (tenant_id, account_id, process_id, status) values ($1, $2, $3, 'completed'), ($1, $2, $3, 'failed')", [
      l.tenantId, l.accountId, l.processId,
    ]);
    await c.query("delete from app.memberships where id = $1", [membershipId]);
  }, CONTEXT);
  await withAuditContext(app, { actor_type: "system", actor_name: "scheduler", run_id: `run-${label}` }, (c) =>
    c.query("insert into app.jobs (tenant_id, account_id, process_id, status) values ($1, $2, $3, 'completed')", [l.tenantId, l.accountId, l.processId]),
  );
  return apiKeyId;
}

/**
 * Two tenants (Acme = a, Globex = b) with varied activity, dated over several
 * days and hours: entry i of a tenant (in id order) occurs `i * 7h 13m`
 * after 2026-03-01T00:00:00Z (b starts half an hour later), so that day and
 * hour buckets, ranges and orderings have something to tell apart.
 */
export async function seedWorld(db: TestDatabase): Promise<World> {
  const a = await createLandscape(db.app, "Acme");
  const b = await createLandscape(db.app, "Globex");
  const apiKeyId = await activity(db.app, a, "acme");
  await activity(db.app, b, "globex");
  await spreadOverTime(db.owner, a.tenantId, Date.parse("2026-03-01T00:00:00Z"));
  await spreadOverTime(db.owner, b.tenantId, Date.parse("2026-03-01T00:30:00Z"));
  return { a, b, apiKeyId };
}

/**
 * seedWorld in a database whose time zone is far from UTC (results must not
 * depend on it), its entries rolled up: what follows is counted live.
 */
export async function seedRolledUpWorld(db: TestDatabase): Promise<World> {
  await db.owner.query(`alter database ${db.name} set timezone to 'Pacific/Kiritimati'`);
  const world = await seedWorld(db);
  // Until the watermark has passed every seeded entry: the xmin horizon is
  // cluster-wide, so another test file's open transaction can hold a round back.
  const { rows } = await db.owner.query<{ x: string }>(
    "select max(transaction_id)::text as x from audit.log where tenant_id = any($1)", [[world.a.tenantId, world.b.tenantId]]);
  await refreshUntil(db.owner, BigInt(rows[0]!.x));
  return world;
}

/**
 * A range over seedWorld's entries with partial hours and days at both ends
 * and whole days between (tenant A's entries come every 7 h 13 min from
 * 2026-03-01T00:00Z), and the log's filter for it.
 */
export const ROLLUP_RANGE = { from: "2026-03-01T05:17:00Z", to: "2026-03-06T13:41:00Z" };
export const IN_ROLLUP_RANGE = { occurredAt: { greaterThanOrEqualTo: ROLLUP_RANGE.from, lessThan: ROLLUP_RANGE.to } };

/** A timestamptz key of groupedAggregates ("2026-03-04 00:00:00+00") as an ISO instant. */
export function keyToIso(key: string): string {
  return new Date(key.includes("T") ? key : key.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00")).toISOString();
}

const STEP_MS = (7 * 60 + 13) * 60_000;

/** Re-dates a tenant's entries: entry i (in id order) to `startMs` + i × STEP_MS. */
export async function spreadOverTime(owner: pg.Pool, tenantId: string, startMs: number): Promise<void> {
  await backdate(
    owner,
    `update audit.log l set occurred_at = to_timestamp($2::double precision / 1000 + (r.n - 1) * $3::double precision / 1000)
       from (select id, row_number() over (order by id) as n from audit.log where tenant_id = $1) r
      where l.id = r.id and l.tenant_id = $1`,
    [tenantId, startMs, STEP_MS],
  );
  await owner.query("select audit.ensure_partitions()");
}

/** Entry ids (as strings) matching an SQL condition, newest first, read as the owner. */
export async function idsWhere(owner: pg.Pool, where: string, params: unknown[] = []): Promise<string[]> {
  const { rows } = await owner.query<{ id: string }>(`select id::text from audit.log where ${where} order by occurred_at desc, id desc`, params);
  return rows.map((r) => r.id);
}

/** Every node of a connection, page by page; `between` runs after each page but the last. */
export async function allPages(
  server: { url: string },
  token: string,
  args: { filter?: unknown; orderBy?: string; first?: number } = {},
  between?: (page: number) => Promise<void>,
): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  const declared = ["$after: Cursor", ...(args.filter ? ["$filter: AuditLogFilter"] : [])].join(", ");
  const passed = [`first: ${args.first ?? 50}`, "after: $after", ...(args.filter ? ["filter: $filter"] : []), ...(args.orderBy ? [`orderBy: ${args.orderBy}`] : [])].join(", ");
  const query = `query (${declared}) { auditLogs(${passed}) { nodes { id } pageInfo { hasNextPage endCursor } } }`;
  for (let page = 0; ; page++) {
    const d: any = await data(server, token, query, { after, ...(args.filter ? { filter: args.filter } : {}) });
    ids.push(...d.auditLogs.nodes.map((n: { id: string }) => n.id));
    if (!d.auditLogs.pageInfo.hasNextPage) return ids;
    after = d.auditLogs.pageInfo.endCursor;
    if (page > 10_000) throw new Error("pagination does not end");
    await between?.(page);
  }
}
