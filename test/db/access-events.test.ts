// The audit log's own access log at the SQL level (issue 12): the API's
// admin roles record access events whose scope and actor come from the
// verified claims, never from arguments; the catalogue's kinds keep each
// path to its own events.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createLandscape, type Landscape } from "../support/fixtures.ts";

let db: TestDatabase;
let l: Landscape;
let auth: pg.Pool;

interface Claims {
  role: "tenant_admin" | "account_admin";
  tenantId: string;
  accountId?: string;
  sub: string;
  email?: string;
  name?: string;
}

/** Runs `sql` as the API does: the admin kind's role, the claims in jwt.claims.*. */
async function asAdmin<T extends pg.QueryResultRow>(claims: Claims | null, sql: string, params: unknown[] = []): Promise<pg.QueryResult<T>> {
  const c = await auth.connect();
  try {
    await c.query("begin");
    if (claims) {
      await c.query(`set local role ${claims.role === "tenant_admin" ? "audit_tenant_admin" : "audit_account_admin"}`);
      await c.query("select set_config('jwt.claims.role', $1, true), set_config('jwt.claims.tenant_id', $2, true), set_config('jwt.claims.account_id', $3, true), set_config('jwt.claims.sub', $4, true), set_config('jwt.claims.email', $5, true), set_config('jwt.claims.name', $6, true)",
        [claims.role, claims.tenantId, claims.accountId ?? "", claims.sub, claims.email ?? "", claims.name ?? ""]);
    } else {
      await c.query("set local role audit_tenant_admin");
    }
    const result = await c.query<T>(sql, params);
    await c.query("commit");
    return result;
  } catch (err) {
    await c.query("rollback");
    throw err;
  } finally {
    c.release();
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  l = await createLandscape(db.app);
  auth = new pg.Pool({ connectionString: db.authUrl, max: 2 });
  auth.on("error", () => undefined);
});
afterAll(async () => {
  await auth?.end();
  await db?.drop();
});

describe("audit.record_access", () => {
  it("an account admin's export is an entry of the account: the tenant's admins and the account's see it, another account's never", async () => {
    const admin: Claims = { role: "account_admin", tenantId: l.tenantId, accountId: l.accountId, sub: randomUUID(), email: "auditor@acme.test", name: "Aude Auditor" };
    const exportId = randomUUID();
    const { rows } = await asAdmin<{ id: string }>(admin, "select audit.record_access('audit_log.exported', $1, $2, 'CSV export') as id",
      [exportId, { format: "csv", filter: { resourceType: { equalTo: "settings" } }, token: "secret" }]);
    const entry = (await db.owner.query("select * from audit.log where id = $1", [rows[0]!.id])).rows[0];
    expect(entry).toMatchObject({
      tenant_id: l.tenantId, account_id: l.accountId, actor_type: "user", actor_id: admin.sub, actor_email: "auditor@acme.test", actor_name: "Aude Auditor",
      event: "audit_log.exported", action: "export", resource_type: "audit_log", entity_id: exportId, entity_label: "CSV export",
      old_values: null, new_values: null,
      context: { format: "csv", filter: { resourceType: { equalTo: "settings" } }, token: "[redacted]" },
    });
    const visible = (claims: Claims) => asAdmin<{ n: number }>(claims, "select count(*)::int as n from audit.log where id = $1", [rows[0]!.id]).then((r) => r.rows[0]!.n);
    expect(await visible({ role: "tenant_admin", tenantId: l.tenantId, sub: randomUUID() })).toBe(1);
    expect(await visible({ role: "account_admin", tenantId: l.tenantId, accountId: l.accountId, sub: randomUUID() })).toBe(1);
    expect(await visible({ role: "account_admin", tenantId: l.tenantId, accountId: l.otherAccountId, sub: randomUUID() })).toBe(0);
  });

  it("a tenant admin's is tenant-level; a subject that is a user is named from the users table when the token carries no name", async () => {
    const { rows } = await asAdmin<{ id: string }>({ role: "tenant_admin", tenantId: l.tenantId, sub: l.adminId },
      "select audit.record_access('audit_log.export_finished', $1, '{\"entries\": 12, \"status\": \"completed\"}') as id", [randomUUID()]);
    const entry = (await db.owner.query("select * from audit.log where id = $1", [rows[0]!.id])).rows[0];
    expect(entry).toMatchObject({ tenant_id: l.tenantId, account_id: null, actor_id: l.adminId, actor_email: "ada@acme.test", actor_name: "Ada Admin" });
  });

  it("writes at most one entry per admin, event, key and minute", async () => {
    const admin: Claims = { role: "account_admin", tenantId: l.tenantId, accountId: l.accountId, sub: randomUUID() };
    const view = (key: string) => asAdmin<{ id: string | null }>(admin, "select audit.record_access('audit_log.viewed', $1, '{\"page\": 1}', null, $2) as id", [l.tenantId, key]).then((r) => r.rows[0]!.id);
    const first = await view("filter-a");
    expect(first).not.toBeNull();
    expect(await view("filter-a")).toBeNull();
    expect(await view("filter-b")).not.toBeNull();
    // another admin's identical read is theirs
    expect(await asAdmin<{ id: string | null }>({ ...admin, sub: randomUUID() }, "select audit.record_access('audit_log.viewed', $1, '{}', null, 'filter-a') as id", [l.tenantId]).then((r) => r.rows[0]!.id)).not.toBeNull();
  });

  it("refuses without an admin scope, and any event that is not an access event", async () => {
    await expect(asAdmin(null, "select audit.record_access('audit_log.viewed', 'x')")).rejects.toThrow(/no admin scope/);
    const admin: Claims = { role: "tenant_admin", tenantId: l.tenantId, sub: randomUUID() };
    await expect(asAdmin(admin, "select audit.record_access('process.created', 'x')")).rejects.toMatchObject({ code: "42501", message: expect.stringMatching(/"process.created" is not an access event/) });
    await expect(asAdmin(admin, "select audit.record_access('user.signed_in', 'x')")).rejects.toMatchObject({ code: "42501" });
    await expect(asAdmin(admin, "select audit.record_access('audit_log.nope', 'x')")).rejects.toMatchObject({ code: "22023" });
    await expect(asAdmin(admin, "select audit.record_access('audit_log.viewed', '')")).rejects.toThrow(/entity_id is required/);
    await expect(asAdmin(admin, "select audit.record_access('audit_log.viewed', 'x', '[1]')")).rejects.toThrow(/context must be a JSON object, got array/);
  });

  it("is the admin roles' path only: the application cannot write access events, and admins cannot write application events", async () => {
    await expect(db.app.query("select audit.record_access('audit_log.viewed', 'x')")).rejects.toThrow(/permission denied for function record_access/);
    await expect(asAdmin({ role: "tenant_admin", tenantId: l.tenantId, sub: randomUUID() }, "select audit.record_event('user.signed_in', $1, null, 'x')", [l.tenantId]))
      .rejects.toThrow(/permission denied for function record_event/);
    await expect(db.app.query("select audit.record_event('audit_log.exported', $1, null, 'x')", [l.tenantId]))
      .rejects.toMatchObject({ code: "42501", message: expect.stringMatching(/is an access event; only application events/) });
  });
});

describe("the catalogue's kinds", () => {
  it("marks every event trigger, application, access or admin, and every rule names a trigger event", async () => {
    const { rows } = await db.owner.query<{ kind: string; events: string[] }>(
      "select kind, array_agg(event order by event) as events from audit.events group by kind order by kind");
    expect(rows.map((r) => r.kind)).toEqual(["access", "admin", "application", "trigger"]);
    expect(rows.find((r) => r.kind === "admin")!.events).toEqual([
      "alert.acknowledged", "alert.resolved",
      "log_stream.created", "log_stream.deleted", "log_stream.paused", "log_stream.replayed", "log_stream.resumed", "log_stream.updated",
      "security_policy.updated", "webhook_endpoint.created", "webhook_endpoint.deleted", "webhook_endpoint.updated"]);
    expect(rows.find((r) => r.kind === "access")!.events).toEqual(["audit_log.export_finished", "audit_log.exported", "audit_log.viewed"]);
    expect(rows.find((r) => r.kind === "application")!.events).toEqual(
      ["data.exported", "process.run_requested", "settings.viewed", "user.sign_in_failed", "user.signed_in", "user.signed_out"]);
    const { rows: rules } = await db.owner.query("select r.event from audit.event_rules r join audit.events e using (event) where e.kind <> 'trigger'");
    expect(rules).toEqual([]);
  });
});
