// An alert's life (migrations/current.sql, sections 9 and 12): a re-run adds
// nothing, an acknowledged alert keeps growing, a resolved one stays closed
// and new activity opens another, a rising severity escalates it, and the
// outbox gets one delivery per opening and escalation, in the round's
// transaction.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/database.ts";
import {
  alertsOf, createTenant, detectUntil, entryIds, ownerWithClaims, provision, write, type Alert, type Claims, type Tenant,
} from "./support/security.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

const setRole = (membershipId: string, role: string) => (c: pg.ClientBase) =>
  c.query("update app.memberships set role = $2 where id = $1", [membershipId, role]);

const createKey = (t: Tenant, name: string) => (c: pg.ClientBase) =>
  c.query("insert into app.api_keys (tenant_id, account_id, name, key_hash) values ($1, null, $2, 'sha256:' || md5(random()::text))", [t.id, name]);

/** `n` extra users of the tenant as viewers of account Operations; returns their membership ids. */
async function viewers(t: Tenant, n: number): Promise<string[]> {
  const ids = t.users.slice(0, n).map(() => randomUUID());
  await provision(db.app, (c) => c.query(
    "insert into app.memberships (id, tenant_id, account_id, user_id, role) select m, $1, $2, u, 'viewer' from unnest($3::uuid[], $4::uuid[]) as x(m, u)",
    [t.id, t.accountId, ids, t.users.slice(0, n).map((u) => u.id)]));
  return ids;
}

const tenantAdmin = (t: Tenant): Claims => ({ role: "tenant_admin", tenantId: t.id, sub: t.admin2.id, email: t.admin2.email, name: t.admin2.name });

async function detectNow(): Promise<number | null> {
  return (await db.owner.query<{ n: number | null }>("select audit.detect() as n")).rows[0]!.n;
}

describe("re-running detect()", () => {
  it("adds nothing: the second run returns 0 and no alert changes", async () => {
    const t = await createTenant(db.app, "Rerun", 1);
    const [m] = await viewers(t, 1);
    await provision(db.app, (c) => c.query("insert into app.processes (tenant_id, account_id, name) select $1, $2, 'p-' || g from generate_series(1, 50) g", [t.id, t.accountId]));
    const a = await write(db.app, t.admin.id, setRole(m!, "admin"));
    const b = await write(db.app, t.admin.id, (c) => c.query("delete from app.processes where tenant_id = $1", [t.id]));
    const changed = await detectUntil(db.owner, a.xid, b.xid);
    expect(changed).toBeGreaterThanOrEqual(2);
    const before = await alertsOf(db.owner, t.id);
    expect(before.map((x) => x.detector).sort()).toEqual(expect.arrayContaining(["mass_change", "role_escalation"]));
    expect(await detectNow()).toBe(0);
    expect(await detectNow()).toBe(0);
    expect(await alertsOf(db.owner, t.id)).toEqual(before);
  });
});

describe("an acknowledged alert", () => {
  it("keeps growing with the same incident, and stays acknowledged", async () => {
    const t = await createTenant(db.app, "Acknowledged", 2);
    const [m1, m2] = await viewers(t, 2);
    const first = await write(db.app, t.admin.id, setRole(m1!, "admin"));
    await detectUntil(db.owner, first.xid);
    const [alert] = await alertsOf(db.owner, t.id, "role_escalation");
    const acked = (await ownerWithClaims<Alert>(db.owner, tenantAdmin(t), "select * from audit.acknowledge_security_alert($1)", [alert!.id])).rows[0]!;
    expect(acked).toMatchObject({ status: "acknowledged", acknowledged_by: t.admin2.email });
    const entry = (await db.owner.query("select * from audit.log where tenant_id = $1 and event = 'alert.acknowledged'", [t.id])).rows;
    expect(entry).toHaveLength(1);
    expect(entry[0]).toMatchObject({ actor_type: "user", actor_id: t.admin2.id, entity_id: alert!.id, old_values: { status: "open" }, new_values: { status: "acknowledged" } });

    const second = await write(db.app, t.admin.id, setRole(m2!, "admin"));
    await detectUntil(db.owner, second.xid);
    const alerts = await alertsOf(db.owner, t.id, "role_escalation");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ id: alert!.id, status: "acknowledged", entry_count: "2", summary: expect.stringMatching(/^Ada Admin made 2 users admins/) });
    expect([...alerts[0]!.entry_ids].sort()).toEqual([...(await entryIds(db.owner, first.xid)), ...(await entryIds(db.owner, second.xid))].sort());
  });
});

describe("a resolved alert", () => {
  it("stays closed; new activity of the same incident opens a new alert", async () => {
    const t = await createTenant(db.app, "Resolved", 2);
    const [m1, m2] = await viewers(t, 2);
    const first = await write(db.app, t.admin.id, setRole(m1!, "admin"));
    await detectUntil(db.owner, first.xid);
    const [alert] = await alertsOf(db.owner, t.id, "role_escalation");
    const resolved = (await ownerWithClaims<Alert>(db.owner, tenantAdmin(t), "select * from audit.resolve_security_alert($1, $2)", [alert!.id, "  Checked with Ada  "])).rows[0]!;
    expect(resolved).toMatchObject({ status: "resolved", resolved_by: t.admin2.email, resolution_note: "Checked with Ada" });
    expect(resolved.resolved_at).not.toBeNull();
    const entry = (await db.owner.query("select * from audit.log where tenant_id = $1 and event = 'alert.resolved'", [t.id])).rows;
    expect(entry).toHaveLength(1);
    expect(entry[0]).toMatchObject({
      actor_id: t.admin2.id, entity_id: alert!.id, old_values: { status: "open" }, new_values: { status: "resolved", resolution_note: "Checked with Ada" },
    });
    // Resolving again changes nothing.
    const again = (await ownerWithClaims<Alert>(db.owner, tenantAdmin(t), "select * from audit.resolve_security_alert($1)", [alert!.id])).rows[0]!;
    expect(again.resolved_at).toEqual(resolved.resolved_at);

    const second = await write(db.app, t.admin.id, setRole(m2!, "admin"));
    await detectUntil(db.owner, second.xid);
    const alerts = await alertsOf(db.owner, t.id, "role_escalation");
    expect(alerts).toHaveLength(2);
    expect(alerts[0]).toMatchObject({ id: alert!.id, status: "resolved", entry_count: "1", entry_ids: await entryIds(db.owner, first.xid) });
    expect(alerts[1]).toMatchObject({ status: "open", entry_count: "1", entry_ids: await entryIds(db.owner, second.xid) });
  });

  it("a burst's resolved entries are not counted again in the next alert", async () => {
    const t = await createTenant(db.app, "ResolvedBurst");
    await provision(db.app, (c) => c.query("insert into app.processes (tenant_id, account_id, name) select $1, $2, 'p-' || g from generate_series(1, 52) g", [t.id, t.accountId]));
    const mass = await write(db.app, t.admin.id, (c) => c.query("delete from app.processes where tenant_id = $1 and name <> all ('{p-51,p-52}')", [t.id]));
    await detectUntil(db.owner, mass.xid);
    const [alert] = await alertsOf(db.owner, t.id, "mass_change");
    expect(alert).toMatchObject({ entry_count: "50" });
    await ownerWithClaims(db.owner, tenantAdmin(t), "select audit.resolve_security_alert($1)", [alert!.id]);
    // Two more deletions within the window, after the incident was closed.
    const more = await write(db.app, t.admin.id, (c) => c.query("delete from app.processes where tenant_id = $1", [t.id]));
    await detectUntil(db.owner, more.xid);
    const alerts = await alertsOf(db.owner, t.id, "mass_change");
    expect(alerts[0]).toMatchObject({ id: alert!.id, status: "resolved", entry_count: "50" });
    const resolvedIds = new Set(alerts[0]!.entry_ids);
    for (const later of alerts.slice(1)) {
      expect(later.entry_ids.filter((id) => resolvedIds.has(id)), `alert ${later.id} (${later.summary}) repeats entries of the resolved alert`).toEqual([]);
    }
  });
});

describe("severity escalation", () => {
  it("first-time low, then not-admin high by the same actor within the window: one alert, raised to high, 'alert.opened' then 'alert.escalated' deliveries", async () => {
    const t = await createTenant(db.app, "Escalation");
    const endpoints = (await db.owner.query<{ id: string; wants: string }>(
      `insert into audit.webhook_endpoints (tenant_id, url, severities, created_by)
       values ($1, 'https://hooks.example.com/all', '{low,medium,high}', 'test'), ($1, 'https://hooks.example.com/high', '{high}', 'test')
       returning id, array_to_string(severities, ',') as wants`, [t.id])).rows;
    await db.owner.query("insert into audit_private.webhook_secrets (tenant_id, endpoint_id, secret) select $1, unnest($2::uuid[]), 'whsec_test'", [t.id, endpoints.map((e) => e.id)]);
    const all = endpoints.find((e) => e.wants === "low,medium,high")!.id;
    const high = endpoints.find((e) => e.wants === "high")!.id;

    const first = await write(db.app, t.admin.id, createKey(t, "First key"));
    await detectUntil(db.owner, first.xid);
    const [opened] = await alertsOf(db.owner, t.id, "unexpected_api_key_creator");
    expect(opened).toMatchObject({ severity: "low" });
    interface Delivery { endpoint_id: string; event_id: string; event_type: string; payload: any; status: string; attempts: number }
    const deliveries = async () => (await db.owner.query<Delivery>(
      "select endpoint_id, event_id, event_type, payload, status, attempts from audit.webhook_deliveries where tenant_id = $1 and alert_id = $2 order by id", [t.id, opened!.id])).rows;
    expect((await deliveries()).map((d) => [d.endpoint_id, d.event_type])).toEqual([[all, "alert.opened"]]);

    // Demoted by the other admin, the same actor creates another key: not an admin any more.
    const demote = await write(db.app, t.admin2.id, setRole(t.memberships.admin, "member"));
    const second = await write(db.app, t.admin.id, createKey(t, "Second key"));
    await detectUntil(db.owner, demote.xid, second.xid);
    const alerts = await alertsOf(db.owner, t.id, "unexpected_api_key_creator");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ id: opened!.id, severity: "high", entry_count: "2" });
    const ds = await deliveries();
    expect(ds.map((d) => [d.endpoint_id, d.event_type]).sort()).toEqual([[all, "alert.opened"], [all, "alert.escalated"], [high, "alert.escalated"]].sort());
    for (const d of ds) {
      expect(d).toMatchObject({ status: "pending", attempts: 0 });
      expect(d.payload).toEqual({
        id: d.event_id, type: d.event_type, created_at: expect.any(String), tenant_id: t.id,
        alert: {
          id: opened!.id, detector: "unexpected_api_key_creator", severity: d.event_type === "alert.opened" ? "low" : "high", status: "open",
          summary: expect.any(String), account_id: null,
          actor: { type: "user", id: t.admin.id, email: t.admin.email, name: "Ada Admin" },
          first_at: expect.any(String), last_at: expect.any(String), entry_count: d.event_type === "alert.opened" ? 1 : 2, detected_at: expect.any(String),
        },
      });
    }
    expect(new Set(ds.map((d) => d.event_id)).size).toBe(3);

    // Growing without a higher severity posts nothing more.
    const third = await write(db.app, t.admin.id, createKey(t, "Third key"));
    await detectUntil(db.owner, third.xid);
    expect((await alertsOf(db.owner, t.id, "unexpected_api_key_creator"))[0]).toMatchObject({ id: opened!.id, entry_count: "3", severity: "high" });
    expect(await deliveries()).toHaveLength(3);
  });
});

describe("a disabled webhook endpoint", () => {
  it("gets a waiting delivery for an alert opened while it is disabled (its enabled column: deliveries wait), posted once it is enabled again", async () => {
    const t = await createTenant(db.app, "Disabled", 1);
    const [m] = await viewers(t, 1);
    const { rows: [endpoint] } = await db.owner.query<{ id: string }>(
      "insert into audit.webhook_endpoints (tenant_id, url, severities, enabled) values ($1, 'https://hooks.example.com/paused', '{low,medium,high}', false) returning id", [t.id]);
    await db.owner.query("insert into audit_private.webhook_secrets (tenant_id, endpoint_id, secret) values ($1, $2, 'whsec_test')", [t.id, endpoint!.id]);
    const x = await write(db.app, t.admin.id, setRole(m!, "admin"));
    await detectUntil(db.owner, x.xid);
    const [alert] = await alertsOf(db.owner, t.id, "role_escalation");
    expect(alert).toBeDefined();
    const pending = (await db.owner.query("select event_type, status from audit.webhook_deliveries where tenant_id = $1 and alert_id = $2", [t.id, alert!.id])).rows;
    expect(pending).toEqual([{ event_type: "alert.opened", status: "pending" }]);
    await db.owner.query("update audit.webhook_endpoints set enabled = true where tenant_id = $1 and id = $2", [t.id, endpoint!.id]);
    const claimed = (await db.owner.query("select * from audit_private.claim_webhook_deliveries(1000, 60) where tenant_id = $1", [t.id])).rows;
    expect(claimed.map((d) => [d.url, d.event_type])).toEqual([["https://hooks.example.com/paused", "alert.opened"]]);
  });
});
