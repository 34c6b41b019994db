// Scope attacks: a tenant admin of A never sees B, an account admin of X
// never sees tenant-level entries or account Y, through any field, filter,
// aggregate, cursor or error message. And read-only enforcement: no
// mutation over the log in the schema (security monitoring's are its only
// ones), and audit_viewer cannot write even with SQL.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/app.ts";
import { scopePgSettings, type AuditClaims } from "../../src/server/auth.ts";
import { claimsOf } from "../../src/server/authenticate.ts";
import { withScopedTransaction } from "../../src/server/scoped-query.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { accountAdmin, data, gql, idsWhere, tenantAdmin, seedWorld, sign, startTestServer, type World } from "./helpers.ts";

let db: TestDatabase;
let server: RunningServer;
let w: World;
/** B's identifiers and strings that must never reach A's responses. */
let secretsOfB: string[];

const EVERYTHING = `{
  auditLogs(first: 500) {
    totalCount
    nodes { id tenantId accountId actorId actorEmail actorName entityId oldValues newValues context transactionId description }
    edges { cursor }
    aggregates { count distinctCount { actorId entityId accountId transactionId } earliest { occurredAt } latest { occurredAt } }
    groupedAggregates(groupBy: [ACCOUNT_ID, ACTOR_ID, ACTOR_EMAIL, ACTOR_NAME]) { keys count }
  }
}`;

beforeAll(async () => {
  db = await createTestDatabase();
  w = await seedWorld(db);
  server = await startTestServer(db, {
    // An export-like route built from the exported helpers, as the page's CSV export will be.
    routes(app, ctx) {
      app.get("/test/scoped-count", ctx.authenticateAdmin, async (req, res) => {
        const claims = claimsOf(req)!;
        const n = await withScopedTransaction(ctx.pool, claims, async (c) => (await c.query("select count(*)::int as n from audit.log")).rows[0].n);
        res.json({ n });
      });
    },
  });
  const { rows } = await db.owner.query<{ v: string }>(
    `select distinct v from (
       select tenant_id::text as v from audit.log where tenant_id = $1
       union all select account_id::text from audit.log where tenant_id = $1 and account_id is not null
       union all select actor_id::text from audit.log where tenant_id = $1 and actor_id is not null
       union all select actor_email from audit.log where tenant_id = $1 and actor_email is not null
       union all select entity_id from audit.log where tenant_id = $1) s`,
    [w.b.tenantId],
  );
  secretsOfB = [...rows.map((r) => r.v), "svc-globex", "globex key", "Globex"];
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

function expectNothingOfB(body: unknown) {
  const text = JSON.stringify(body);
  for (const s of secretsOfB) expect(text, `response leaks ${s}`).not.toContain(s);
}

describe("tenant isolation", () => {
  it("every field and aggregate of A's admin shows only A", async () => {
    const res = await gql(server, tenantAdmin(w.a), EVERYTHING);
    expect(res.status).toBe(200);
    const c = res.body.data.auditLogs;
    const wantIds = await idsWhere(db.owner, "tenant_id = $1", [w.a.tenantId]);
    expect(c.totalCount).toBe(wantIds.length);
    expect(c.nodes.map((n: { id: string }) => n.id)).toEqual(wantIds);
    expect(new Set(c.nodes.map((n: { tenantId: string }) => n.tenantId))).toEqual(new Set([w.a.tenantId]));
    expect(Number(c.aggregates.count)).toBe(wantIds.length);
    expectNothingOfB(res.body);
  });

  it("filters naming B's accounts, actors, entities or values find nothing", async () => {
    const { rows } = await db.owner.query("select entity_id from audit.log where tenant_id = $1 limit 1", [w.b.tenantId]);
    const filters = [
      `{ accountId: { equalTo: "${w.b.accountId}" } }`,
      `{ accountId: { in: ["${w.b.accountId}", "${w.b.otherAccountId}"] } }`,
      `{ actorId: { equalTo: "${w.b.adminId}" } }`,
      `{ actorEmail: { equalTo: "ada@globex.test" } }`,
      `{ entityId: { equalTo: "${rows[0].entity_id}" } }`,
      `{ newValues: { contains: { username: "svc-globex" } } }`,
      `{ oldValues: { contains: { name: "Globex" } } }`,
      `{ or: [{ accountId: { equalTo: "${w.b.accountId}" } }, { actorId: { equalTo: "${w.b.memberId}" } }] }`,
    ];
    for (const filter of filters) {
      const res = await gql(server, tenantAdmin(w.a), `{ auditLogs(filter: ${filter}) { totalCount nodes { id } aggregates { count } groupedAggregates(groupBy: [ACTION]) { keys count } } }`);
      expect(res.body.data.auditLogs, filter).toEqual({ totalCount: 0, nodes: [], aggregates: { count: "0" }, groupedAggregates: [] });
    }
    // A mixed `in` returns only A's side.
    const mixed = await data(server, tenantAdmin(w.a), `{ auditLogs(filter: { actorId: { in: ["${w.a.adminId}", "${w.b.adminId}"] } }) { nodes { tenantId } } }`);
    expect(mixed.auditLogs.nodes.length).toBeGreaterThan(0);
    for (const n of mixed.auditLogs.nodes) expect(n.tenantId).toBe(w.a.tenantId);
  });

  it("a cursor taken from B's pages, used by A, only moves within A", async () => {
    const pageB = await data(server, tenantAdmin(w.b), "{ auditLogs(first: 3) { pageInfo { endCursor } } }");
    const res = await gql(server, tenantAdmin(w.a), `{ auditLogs(first: 500, after: "${pageB.auditLogs.pageInfo.endCursor}") { nodes { id tenantId } } }`);
    expect(res.status).toBe(200);
    for (const n of res.body.data.auditLogs.nodes) expect(n.tenantId).toBe(w.a.tenantId);
    expectNothingOfB(res.body);
  });

  it("error messages carry nothing of B", async () => {
    const cursorOfB = Buffer.from(JSON.stringify(["deadbeef00", "2026-03-01T00:00:00Z", "1"])).toString("base64");
    for (const query of [
      `{ auditLogs(after: "${cursorOfB}") { nodes { id } } }`,
      `{ auditLogs(filter: { accountId: { equalTo: "not-a-uuid" } }) { nodes { id } } }`,
      `{ auditLogs(first: 100000) { nodes { id } } }`,
      `{ auditLogs { nodes { id secret } } }`,
    ]) {
      const res = await gql(server, tenantAdmin(w.a), query);
      expect(res.body.errors?.length, query).toBeGreaterThan(0);
      expectNothingOfB(res.body);
    }
  });

  it("a token naming A's tenant with B's account (or the reverse) sees nothing", async () => {
    for (const token of [
      sign({ sub: w.a.adminId, tenant_id: w.a.tenantId, role: "account_admin", account_id: w.b.accountId }),
      sign({ sub: w.a.adminId, tenant_id: w.b.tenantId, role: "account_admin", account_id: w.a.accountId }),
    ]) {
      const res = await gql(server, token, EVERYTHING);
      expect(res.body.data.auditLogs.totalCount).toBe(0);
      expect(res.body.data.auditLogs.groupedAggregates).toEqual([]);
    }
  });
});

describe("account isolation", () => {
  it("an account admin of X sees X's entries only: never tenant-level entries, never account Y", async () => {
    const res = await gql(server, accountAdmin(w.a, w.a.accountId), EVERYTHING);
    const c = res.body.data.auditLogs;
    const want = await idsWhere(db.owner, "tenant_id = $1 and account_id = $2", [w.a.tenantId, w.a.accountId]);
    expect(want.length).toBeGreaterThan(0);
    expect(c.nodes.map((n: { id: string }) => n.id)).toEqual(want);
    expect(c.totalCount).toBe(want.length);
    expect(new Set(c.nodes.map((n: { accountId: string }) => n.accountId))).toEqual(new Set([w.a.accountId]));
    expect(c.groupedAggregates.every((g: { keys: string[] }) => g.keys[0] === w.a.accountId)).toBe(true);
    expectNothingOfB(res.body);
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(w.a.otherAccountId);
  });

  it("filters for Y or for tenant-level entries find nothing", async () => {
    for (const filter of [`{ accountId: { equalTo: "${w.a.otherAccountId}" } }`, "{ accountId: { isNull: true } }", `{ resourceType: { equalTo: "tenant" } }`]) {
      const d = await data(server, accountAdmin(w.a, w.a.accountId), `{ auditLogs(filter: ${filter}) { totalCount aggregates { count } } }`);
      expect(d.auditLogs, filter).toEqual({ totalCount: 0, aggregates: { count: "0" } });
    }
    const tenantLevel = await idsWhere(db.owner, "tenant_id = $1 and account_id is null", [w.a.tenantId]);
    expect(tenantLevel.length).toBeGreaterThan(0); // they exist; the account admin just cannot see them
  });
});

describe("read-only", () => {
  it("the schema has no mutation over the log (only security monitoring's and log streams'), and one is refused clearly", async () => {
    const d = await data(server, tenantAdmin(w.a), "{ __schema { mutationType { fields { name type { name } } } } }");
    const mutations: { name: string; type: { name: string } }[] = d.__schema.mutationType.fields;
    expect(mutations.map((m) => m.name).sort()).toEqual([
      "acknowledgeSecurityAlert", "createLogStream", "createWebhookEndpoint", "deleteLogStream", "deleteWebhookEndpoint", "pauseLogStream",
      "replayLogStream", "resolveSecurityAlert", "resumeLogStream", "updateDetectorSettings", "updateLogStream", "updateWebhookEndpoint",
    ]);
    // none of them takes or returns an entry of the log
    const payloads = await Promise.all(mutations.map((m) => data(server, tenantAdmin(w.a), `{ __type(name: "${m.type.name}") { fields { type { name ofType { name } } } } }`)));
    for (const p of payloads) {
      expect(p.__type.fields.map((f: { type: { name: string | null; ofType: { name: string } | null } }) => f.type.name ?? f.type.ofType?.name)).not.toContain("AuditLog");
    }
    for (const query of ['mutation { deleteAuditLog(input: { id: "1" }) { clientMutationId } }', 'mutation { updateAuditLog(input: { id: "1", patch: {} }) { clientMutationId } }', "mutation { createAuditLog(input: {}) { clientMutationId } }"]) {
      const res = await gql(server, tenantAdmin(w.a), query);
      expect(res.body.data, query).toBeUndefined();
      expect(res.body.errors?.[0], query).toMatchObject({ message: expect.stringMatching(/^Cannot query field "\w+AuditLog" on type "Mutation"\./), extensions: { code: "GRAPHQL_VALIDATION_FAILED" } });
    }
  });

  const claimsA = (): AuditClaims => ({ userId: w.a.adminId, tenantId: w.a.tenantId, role: "tenant_admin", accountId: null, expiresAt: new Date(Date.now() + 60_000) });

  it("withScopedTransaction runs in the admin kind's role with the claims, and sees what the API sees", async () => {
    const pool = new pg.Pool({ connectionString: db.authUrl, max: 2 });
    try {
      const r = await withScopedTransaction(pool, claimsA(), async (c) => (await c.query(
        "select current_user as role, current_setting('jwt.claims.tenant_id') as tenant, current_setting('TimeZone') as tz, count(*)::int as n from audit.log",
      )).rows[0]);
      const want = await idsWhere(db.owner, "tenant_id = $1", [w.a.tenantId]);
      expect(r).toEqual({ role: "audit_tenant_admin", tenant: w.a.tenantId, tz: "UTC", n: want.length });
      const asAccount = await withScopedTransaction(pool, { ...claimsA(), role: "account_admin", accountId: w.a.accountId }, async (c) => (await c.query(
        "select current_user as role, count(*)::int as n from audit.log",
      )).rows[0]);
      const wantAccount = await idsWhere(db.owner, "tenant_id = $1 and account_id = $2", [w.a.tenantId, w.a.accountId]);
      expect(asAccount).toEqual({ role: "audit_account_admin", n: wantAccount.length });
      expect(scopePgSettings(null, { statementTimeoutMs: 1000 }).role).toBe("audit_viewer");
    } finally {
      await pool.end();
    }
  });

  it("the scope roles only see their scope when the claims agree with the role", async () => {
    // What audit_authenticator could do by mistake (or an attacker holding its
    // password): switch to a role whose claims say something else.
    const pool = new pg.Pool({ connectionString: db.authUrl, max: 1 });
    const count = async (role: string, claims: Record<string, string>) => {
      const c = await pool.connect();
      try {
        await c.query("begin read only");
        await c.query(`set local role ${role}`);
        for (const [k, v] of Object.entries(claims)) await c.query("select set_config($1, $2, true)", [`jwt.claims.${k}`, v]);
        const { rows } = await c.query<{ n: number }>("select count(*)::int as n from audit.log");
        return rows[0]!.n;
      } finally {
        await c.query("rollback");
        c.release();
      }
    };
    try {
      const tenantClaims = { tenant_id: w.a.tenantId, role: "tenant_admin" };
      const accountClaims = { tenant_id: w.a.tenantId, role: "account_admin", account_id: w.a.accountId };
      expect(await count("audit_tenant_admin", tenantClaims)).toBeGreaterThan(0);
      expect(await count("audit_account_admin", accountClaims)).toBeGreaterThan(0);
      // audit_viewer is the group holding the grants: as itself it sees nothing
      expect(await count("audit_viewer", tenantClaims)).toBe(0);
      expect(await count("audit_viewer", accountClaims)).toBe(0);
      // a role whose claimed kind disagrees sees nothing
      expect(await count("audit_tenant_admin", { ...accountClaims })).toBe(0);
      expect(await count("audit_account_admin", { ...accountClaims, role: "tenant_admin" })).toBe(0);
      // an account admin without an account, or with another tenant's account, sees nothing
      expect(await count("audit_account_admin", { tenant_id: w.a.tenantId, role: "account_admin" })).toBe(0);
      expect(await count("audit_account_admin", { tenant_id: w.b.tenantId, role: "account_admin", account_id: w.a.accountId })).toBe(0);
      expect(await count("audit_tenant_admin", { role: "tenant_admin" })).toBe(0);
    } finally {
      await pool.end();
    }
  });

  it("the scope roles cannot write the log, reach partitions or internals, or touch business tables", async () => {
    const pool = new pg.Pool({ connectionString: db.authUrl, max: 2 });
    const { rows } = await db.owner.query<{ part: string }>("select tableoid::regclass::text as part from audit.log where tenant_id = $1 limit 1", [w.a.tenantId]);
    try {
      for (const sql of [
        "insert into audit.log (tenant_id, actor_type, action, resource_type, entity_id, event) values ('" + w.a.tenantId + "', 'user', 'create', 'x', 'x', 'x.y')",
        "update audit.log set action = 'tampered'",
        "delete from audit.log",
        "truncate audit.log",
        `select * from ${rows[0]!.part}`,
        "select * from audit.log_default",
        "select * from audit.tracked_tables",
        "select * from audit_private.capture_statements",
        "select audit.ensure_partitions()",
        "select audit.set_context('{}')",
        "select * from app.tenants",
        "set role audit_reader",
      ]) {
        for (const claims of [claimsA(), { ...claimsA(), role: "account_admin" as const, accountId: w.a.accountId }]) {
          await expect(
            withScopedTransaction(pool, claims, (c) => c.query(sql), { readOnly: false }),
            `${claims.role}: ${sql}`,
          ).rejects.toMatchObject({ code: expect.stringMatching(/^(42501|3F000)$/) });
        }
      }
    } finally {
      await pool.end();
    }
  });

  it("audit_authenticator itself (before switching role) can read nothing", async () => {
    const client = new pg.Client({ connectionString: db.authUrl });
    await client.connect();
    try {
      await expect(client.query("select count(*) from audit.log")).rejects.toMatchObject({ code: "42501" });
    } finally {
      await client.end();
    }
  });

  it("an export-style route reuses authenticateAdmin and withScopedTransaction", async () => {
    const anonymous = await fetch(`${server.url}/test/scoped-count`);
    expect(anonymous.status).toBe(401);
    const asA = await fetch(`${server.url}/test/scoped-count`, { headers: { authorization: `Bearer ${accountAdmin(w.a, w.a.accountId)}` } });
    const want = await idsWhere(db.owner, "tenant_id = $1 and account_id = $2", [w.a.tenantId, w.a.accountId]);
    expect(await asA.json()).toEqual({ n: want.length });
  });
});
