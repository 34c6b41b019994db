// Who sees and touches security alerts (migrations/current.sql, sections 5,
// 6, 9 and their row-level security), from the attacker's side: the API's
// roles with their claims, app_user, audit_authenticator without a role, and
// crafted arguments.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inTransaction } from "../../../src/db/transaction.ts";
import { createTestDatabase, type TestDatabase } from "../../support/database.ts";
import {
  alertsOf, asApiAdmin, createTenant, detectUntil, failure, provision, write, type Alert, type Claims, type Tenant,
} from "./support/security.ts";

let db: TestDatabase;
let auth: pg.Pool;
let a: Tenant;
let b: Tenant;
/** Tenant A's alerts: of account Operations, of account Finance, tenant-level; tenant B's. */
let ops: Alert;
let fin: Alert;
let tenantLevel: Alert;
let other: Alert;

beforeAll(async () => {
  db = await createTestDatabase();
  auth = new pg.Pool({ connectionString: db.authUrl, max: 2 });
  auth.on("error", () => undefined);
  a = await createTenant(db.app, "Alpha", 1);
  b = await createTenant(db.app, "Beta");
  await provision(db.app, (c) => c.query("insert into app.processes (tenant_id, account_id, name) select $1, $2, 'p-' || g from generate_series(1, 50) g", [a.id, a.otherAccountId]));
  const xids = [
    (await write(db.app, a.admin.id, (c) => c.query("update app.memberships set role = 'admin' where id = $1", [a.memberships.viewer]))).xid,
    (await write(db.app, a.admin2.id, (c) => c.query("delete from app.processes where tenant_id = $1", [a.id]))).xid,
    (await write(db.app, a.member.id, (c) => c.query("insert into app.memberships (tenant_id, account_id, user_id, role) values ($1, null, $2, 'admin')", [a.id, a.users[0]!.id]))).xid,
    (await write(db.app, b.admin.id, (c) => c.query("update app.memberships set role = 'admin' where id = $1", [b.memberships.viewer]))).xid,
  ];
  await detectUntil(db.owner, ...xids);
  const mine = await alertsOf(db.owner, a.id);
  ops = mine.find((x) => x.detector === "role_escalation" && x.actor_id === a.admin.id)!;
  fin = mine.find((x) => x.detector === "mass_change")!;
  tenantLevel = mine.find((x) => x.detector === "role_escalation" && x.actor_id === a.member.id)!;
  other = (await alertsOf(db.owner, b.id, "role_escalation"))[0]!;
  expect(ops.account_id).toBe(a.accountId);
  expect(fin.account_id).toBe(a.otherAccountId);
  expect(tenantLevel.account_id).toBeNull();
  expect(other).toBeDefined();
});
afterAll(async () => {
  await auth?.end();
  await db?.drop();
});

const tenantAdminOf = (t: Tenant): Claims => ({ role: "tenant_admin", tenantId: t.id, sub: t.admin.id, email: t.admin.email });
const accountAdminOf = (t: Tenant, accountId: string): Claims => ({ role: "account_admin", tenantId: t.id, accountId, sub: randomUUID(), email: "auditor@example.test" });

async function visibleAlertIds(claims: Claims | null): Promise<string[]> {
  const { rows } = await asApiAdmin<{ id: string }>(auth, claims, "select id::text from audit.alerts order by id");
  return rows.map((r) => r.id);
}

const byId = (...alerts: Alert[]) => alerts.map((x) => x.id).sort((p, q) => Number(p) - Number(q));

describe("reading audit.alerts", () => {
  it("a tenant admin sees every alert of their tenant and no other", async () => {
    const all = await alertsOf(db.owner, a.id);
    expect(await visibleAlertIds(tenantAdminOf(a))).toEqual(byId(...all));
    expect(await visibleAlertIds(tenantAdminOf(b))).toEqual(byId(...(await alertsOf(db.owner, b.id))));
  });

  it("an account admin sees only their account's alerts, none tenant-level", async () => {
    const opsIds = (await alertsOf(db.owner, a.id)).filter((x) => x.account_id === a.accountId);
    expect(await visibleAlertIds(accountAdminOf(a, a.accountId))).toEqual(byId(...opsIds));
    expect(await visibleAlertIds(accountAdminOf(a, a.accountId))).not.toContain(tenantLevel.id);
    expect(await visibleAlertIds(accountAdminOf(a, a.otherAccountId))).toEqual(byId(fin));
  });

  it("another tenant's admin, or an account id of another tenant, sees none of them", async () => {
    const seen = await visibleAlertIds(tenantAdminOf(b));
    for (const x of [ops, fin, tenantLevel]) expect(seen).not.toContain(x.id);
    expect(await visibleAlertIds(accountAdminOf(b, a.accountId))).toEqual([]);
  });

  it("claims that do not match the role, or no claims, see nothing", async () => {
    const mismatched = async (role: string, claims: Claims) => (await inTransaction(auth, async (c) => {
      await c.query(`set local role ${role}`);
      await c.query("select set_config('jwt.claims.role', $1, true), set_config('jwt.claims.tenant_id', $2, true), set_config('jwt.claims.account_id', $3, true)",
        [claims.role, claims.tenantId, claims.accountId ?? ""]);
      return c.query("select id from audit.alerts");
    })).rows;
    expect(await mismatched("audit_tenant_admin", accountAdminOf(a, a.accountId))).toEqual([]);
    expect(await mismatched("audit_account_admin", tenantAdminOf(a))).toEqual([]);
    for (const role of ["audit_tenant_admin", "audit_account_admin"]) {
      const unclaimed = await inTransaction(auth, async (c) => {
        await c.query(`set local role ${role}`);
        return c.query("select id from audit.alerts");
      });
      expect(unclaimed.rows, role).toEqual([]);
    }
  });

  it("app_user and audit_authenticator without a role are refused", async () => {
    expect((await failure(db.app.query("select * from audit.alerts"))).code).toBe("42501");
    expect((await failure(auth.query("select * from audit.alerts"))).code).toBe("42501");
  });

  it("an alert's entries through audit.security_alert_entries follow the caller's scope, whatever alert row is passed in", async () => {
    const entriesAs = async (claims: Claims, alert: Alert) => (await asApiAdmin<{ id: string }>(auth, claims,
      "select e.id::text from audit.security_alert_entries((select x from audit.alerts x where x.tenant_id = $1 and x.id = $2)) e", [alert.tenant_id, alert.id])).rows;
    expect(await entriesAs(tenantAdminOf(a), fin)).toHaveLength(50);
    expect(await entriesAs(accountAdminOf(a, a.otherAccountId), fin)).toHaveLength(50);
    // An attacker builds the row of another tenant's alert: the log's own security still hides its entries.
    const forged = await asApiAdmin<{ n: number }>(auth, tenantAdminOf(b),
      "select count(*)::int as n from audit.security_alert_entries(row($1::uuid, $2::bigint, null, 'mass_change', 'high', 'open', 's', 'k', 'user', null, null, null, '-infinity', 'infinity', 5000, '{1}', '{}', '{}', now(), now(), null, null, null, null, null)::audit.alerts)",
      [a.id, fin.id]);
    expect(forged.rows[0]!.n).toBe(0);
  });
});

describe("changing alerts", () => {
  const attempts = [
    "update audit.alerts set status = 'resolved'",
    "delete from audit.alerts",
    "insert into audit.alerts (tenant_id, detector, severity, summary, incident_key, first_at, last_at, entry_count, entry_ids, entries_descriptor) select tenant_id, detector, severity, summary, incident_key, first_at, last_at, entry_count, entry_ids, entries_descriptor from audit.alerts",
  ];

  it("no role can update, delete or insert alerts directly", async () => {
    for (const sql of attempts) {
      for (const claims of [tenantAdminOf(a), accountAdminOf(a, a.accountId)]) {
        expect((await failure(asApiAdmin(auth, claims, sql))).code, `${claims.role}: ${sql}`).toBe("42501");
      }
      expect((await failure(db.app.query(sql))).code, `app_user: ${sql}`).toBe("42501");
      expect((await failure(auth.query(sql))).code, `audit_authenticator: ${sql}`).toBe("42501");
      const asReader = inTransaction(db.owner, async (c) => {
        await c.query("set local role audit_reader");
        return c.query(sql);
      });
      expect((await failure(asReader)).code, `audit_reader: ${sql}`).toBe("42501");
    }
    expect((await alertsOf(db.owner, a.id)).map((x) => x.status)).toEqual((await alertsOf(db.owner, a.id)).map(() => "open"));
  });

  it("acknowledging and resolving are for the tenant's admins: an account admin gets 42501, another tenant's admin 'no such alert'", async () => {
    const accountAdmin = await failure(asApiAdmin(auth, accountAdminOf(a, a.accountId), "select audit.acknowledge_security_alert($1)", [ops.id]));
    expect(accountAdmin.code).toBe("42501");
    expect(accountAdmin.message).toMatch(/only tenant admins can acknowledge security alerts/);
    const resolveByAccountAdmin = await failure(asApiAdmin(auth, accountAdminOf(a, a.accountId), "select audit.resolve_security_alert($1)", [ops.id]));
    expect(resolveByAccountAdmin.code).toBe("42501");
    const stranger = await failure(asApiAdmin(auth, tenantAdminOf(b), "select audit.resolve_security_alert($1)", [ops.id]));
    expect(stranger.code).toBe("P0002");
    expect(stranger.message).toMatch(/no security alert with id/);
    const noClaims = await failure(db.app.query("select audit.resolve_security_alert($1)", [ops.id]));
    expect(noClaims.code).toBe("42501");
    expect((await alertsOf(db.owner, a.id)).find((x) => x.id === ops.id)!.status).toBe("open");
    // The tenant's admin, through the API's role, may.
    const acked = await asApiAdmin<{ status: string }>(auth, tenantAdminOf(a), "select (audit.acknowledge_security_alert($1)).status", [ops.id]);
    expect(acked.rows[0]!.status).toBe("acknowledged");
  });

  it("the API's roles cannot run detection, change settings through the owner's setter, or reach the consumers' internals", async () => {
    for (const sql of [
      "select audit.detect()",
      `select audit.set_detector_settings('${a.id}', '{}')`,
      "select * from audit_private.begin_round('detectors')",
      "select * from audit_private.webhook_secrets",
    ]) {
      expect((await failure(asApiAdmin(auth, tenantAdminOf(a), sql))).code, sql).toBe("42501");
      expect((await failure(db.app.query(sql))).code, sql).toBe("42501");
    }
  });

  it("detector settings and webhooks: the tenant admin's own only; account admins are refused", async () => {
    await db.owner.query("select audit.set_detector_settings($1, '{}'), audit.set_detector_settings($2, '{}')", [a.id, b.id]);
    await db.owner.query("insert into audit.webhook_endpoints (tenant_id, url) values ($1, 'https://a.example.com/hook'), ($2, 'https://b.example.com/hook')", [a.id, b.id]);
    for (const table of ["audit.detector_settings", "audit.webhook_endpoints"]) {
      const seen = await asApiAdmin<{ tenant_id: string }>(auth, tenantAdminOf(a), `select tenant_id from ${table}`);
      expect(seen.rows.map((r) => r.tenant_id), table).toEqual([a.id]);
      expect((await failure(asApiAdmin(auth, accountAdminOf(a, a.accountId), `select * from ${table}`))).code, table).toBe("42501");
    }
  });
});
