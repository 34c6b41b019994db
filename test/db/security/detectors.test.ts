// The five detectors of audit.detect() (migrations/current.sql, section 12):
// each fires on its pattern, with the severity, summary, entries and account
// it should have, and stays quiet on ordinary activity. Business rows are
// written as an application writes them (app_user, audit.set_context); times
// are placed with the owner's maintenance path before a round consumes them.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/database.ts";
import {
  alertsOf, alertsWithEntries, backdateTransaction, createTenant, detectUntil, entryIds, horizon, provision, setDetectorSettings, until, write, type Tenant,
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

/** Adds memberships (by the provisioning actor, which no detector minds) and returns their ids. */
async function addMemberships(t: Tenant, users: { id: string }[], role: string, accountId: string | null = t.accountId): Promise<string[]> {
  const ids = users.map(() => randomUUID());
  await provision(db.app, (c) => c.query(
    "insert into app.memberships (id, tenant_id, account_id, user_id, role) select m, $1, $2, u, $3 from unnest($4::uuid[], $5::uuid[]) as x(m, u)",
    [t.id, accountId, role, ids, users.map((u) => u.id)]));
  return ids;
}

const createKey = (t: Tenant, name: string, accountId: string | null = null) => (c: pg.ClientBase) =>
  c.query("insert into app.api_keys (tenant_id, account_id, name, key_hash) values ($1, $2, $3, 'sha256:' || md5(random()::text)) returning id",
    [t.id, accountId, name]).then((r) => r.rows[0].id as string);

describe("role_escalation", () => {
  it("viewer to admin: high, 'Ada Admin made 1 user admin', the entry and its account", async () => {
    const t = await createTenant(db.app, "Escalate");
    const x = await write(db.app, t.admin.id, setRole(t.memberships.viewer, "admin"));
    await detectUntil(db.owner, x.xid);
    const alerts = await alertsOf(db.owner, t.id, "role_escalation");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      severity: "high", status: "open", summary: "Ada Admin made 1 user admin",
      actor_type: "user", actor_id: t.admin.id, actor_email: t.admin.email, actor_name: "Ada Admin",
      entry_count: "1", entry_ids: await entryIds(db.owner, x.xid), account_id: t.accountId,
    });
    expect(alerts[0]!.details.counts).toMatchObject({ raised_to_top: 1 });
  });

  it("a self-escalation: 'raised their own role'", async () => {
    const t = await createTenant(db.app, "SelfRaise");
    const x = await write(db.app, t.viewer.id, setRole(t.memberships.viewer, "admin"));
    await detectUntil(db.owner, x.xid);
    const alerts = await alertsOf(db.owner, t.id, "role_escalation");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: "high", summary: "Vera Viewer raised their own role to admin", actor_id: t.viewer.id });
    expect(alerts[0]!.details.counts).toMatchObject({ self: 1 });
  });

  it("a member added directly as admin: high; not the first admins of a tenant or account created in the same transaction", async () => {
    const t = await createTenant(db.app, "DirectAdmin", 2);
    // An account created with its first admin in one transaction: quiet (like the tenant's own first admins).
    const newAccount = randomUUID();
    const quiet = await write(db.app, t.admin.id, async (c) => {
      await c.query("insert into app.accounts (id, tenant_id, name) values ($1, $2, 'Research')", [newAccount, t.id]);
      await c.query("insert into app.memberships (tenant_id, account_id, user_id, role) values ($1, $2, $3, 'admin')", [t.id, newAccount, t.users[1]!.id]);
    });
    const loud = await write(db.app, t.admin.id, (c) =>
      c.query("insert into app.memberships (tenant_id, account_id, user_id, role) values ($1, null, $2, 'admin')", [t.id, t.users[0]!.id]));
    await detectUntil(db.owner, quiet.xid, loud.xid);
    const alerts = await alertsOf(db.owner, t.id, "role_escalation");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      severity: "high", summary: "Ada Admin added 1 admin directly", entry_ids: await entryIds(db.owner, loud.xid),
      account_id: null, // a tenant-level membership
    });
  });

  it("an invitation created as admin: medium", async () => {
    const t = await createTenant(db.app, "InviteAdmin");
    const x = await write(db.app, t.admin.id, (c) => c.query(
      "insert into app.invitations (tenant_id, account_id, email, role, invited_by) values ($1, $2, 'newcomer@example.test', 'admin', $3)", [t.id, t.accountId, t.admin.id]));
    await detectUntil(db.owner, x.xid);
    const alerts = await alertsOf(db.owner, t.id, "role_escalation");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: "medium", summary: "Ada Admin invited 1 person as admin", account_id: t.accountId });
  });

  it("viewer to member is quiet by default (min_role admin); with min_role member it fires, medium", async () => {
    const byDefault = await createTenant(db.app, "DefaultMinRole");
    const strict = await createTenant(db.app, "StrictMinRole");
    await setDetectorSettings(db.owner, strict.id, { detectors: { role_escalation: { min_role: "member" } } });
    const a = await write(db.app, byDefault.admin.id, setRole(byDefault.memberships.viewer, "member"));
    const b = await write(db.app, strict.admin.id, setRole(strict.memberships.viewer, "member"));
    await detectUntil(db.owner, a.xid, b.xid);
    expect(await alertsOf(db.owner, byDefault.id, "role_escalation")).toEqual([]);
    const alerts = await alertsOf(db.owner, strict.id, "role_escalation");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: "medium", summary: "Ada Admin raised the role of 1 member", entry_ids: await entryIds(db.owner, b.xid) });
  });

  it("ordinary activity stays quiet: a viewer added, a demotion, a member invited, a member removed", async () => {
    const t = await createTenant(db.app, "Ordinary", 1);
    const x = await write(db.app, t.admin.id, async (c) => {
      await c.query("insert into app.memberships (tenant_id, account_id, user_id, role) values ($1, $2, $3, 'viewer')", [t.id, t.accountId, t.users[0]!.id]);
      await setRole(t.memberships.admin2, "member")(c);
      await c.query("insert into app.invitations (tenant_id, account_id, email, role, invited_by) values ($1, $2, 'colleague@example.test', 'member', $3)", [t.id, t.accountId, t.admin.id]);
      await c.query("delete from app.memberships where id = $1", [t.memberships.member]);
    });
    await detectUntil(db.owner, x.xid);
    expect(await alertsOf(db.owner, t.id, "role_escalation")).toEqual([]);
  });

  it("with min_role member, the summaries name the role actually granted (not the top of the ranking)", async () => {
    const t = await createTenant(db.app, "SummaryRole", 1);
    await setDetectorSettings(db.owner, t.id, { detectors: { role_escalation: { min_role: "member" } } });
    const self = await write(db.app, t.viewer.id, setRole(t.memberships.viewer, "member"));
    const added = await write(db.app, t.admin.id, (c) =>
      c.query("insert into app.memberships (tenant_id, account_id, user_id, role) values ($1, $2, $3, 'member')", [t.id, t.accountId, t.users[0]!.id]));
    await detectUntil(db.owner, self.xid, added.xid);
    const [selfAlert] = await alertsWithEntries(db.owner, t.id, await entryIds(db.owner, self.xid), "role_escalation");
    const [addedAlert] = await alertsWithEntries(db.owner, t.id, await entryIds(db.owner, added.xid), "role_escalation");
    expect.soft(selfAlert?.summary).toBe("Vera Viewer raised their own role to member");
    expect.soft(addedAlert?.summary).toBe("Ada Admin added 1 member directly");
  });
});

describe("member_addition_burst", () => {
  it("11 additions by one actor within 10 minutes fire (more than 10); 10 by another do not", async () => {
    const t = await createTenant(db.app, "Burst", 21);
    const add = (users: { id: string }[]) => (c: pg.ClientBase) => c.query(
      "insert into app.memberships (tenant_id, account_id, user_id, role) select $1, $2, u, 'viewer' from unnest($3::uuid[]) u", [t.id, t.accountId, users.map((u) => u.id)]);
    const eleven = await write(db.app, t.admin.id, add(t.users.slice(0, 11)));
    const ten = await write(db.app, t.admin2.id, add(t.users.slice(11, 21)));
    await detectUntil(db.owner, eleven.xid, ten.xid);
    const alerts = await alertsOf(db.owner, t.id, "member_addition_burst");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      severity: "medium", actor_id: t.admin.id, entry_count: "11", summary: "Ada Admin added 11 members at once", account_id: t.accountId,
    });
    expect([...alerts[0]!.entry_ids].sort()).toEqual([...(await entryIds(db.owner, eleven.xid))].sort());
  });

  it("spread over detect() rounds, the additions make one alert that grows (entry_count, last_at)", async () => {
    const t = await createTenant(db.app, "SlowBurst", 13);
    const addOne = (u: { id: string }) => write(db.app, t.admin.id, (c) =>
      c.query("insert into app.memberships (tenant_id, account_id, user_id, role) values ($1, $2, $3, 'viewer')", [t.id, t.accountId, u.id]));
    const xids: bigint[] = [];
    for (const u of t.users.slice(0, 6)) xids.push((await addOne(u)).xid);
    await detectUntil(db.owner, ...xids);
    expect(await alertsOf(db.owner, t.id, "member_addition_burst")).toEqual([]);
    for (const u of t.users.slice(6, 11)) xids.push((await addOne(u)).xid);
    await detectUntil(db.owner, ...xids);
    const [opened, ...others] = await alertsOf(db.owner, t.id, "member_addition_burst");
    expect(others).toEqual([]);
    expect(opened).toMatchObject({ entry_count: "11", severity: "medium" });
    for (const u of t.users.slice(11, 13)) xids.push((await addOne(u)).xid);
    await detectUntil(db.owner, ...xids);
    const grown = await alertsOf(db.owner, t.id, "member_addition_burst");
    expect(grown).toHaveLength(1);
    expect(grown[0]).toMatchObject({ id: opened!.id, entry_count: "13" });
    expect(grown[0]!.last_at.getTime()).toBeGreaterThan(opened!.last_at.getTime());
    const all = (await Promise.all(xids.map((x) => entryIds(db.owner, x)))).flat();
    expect([...grown[0]!.entry_ids].sort()).toEqual([...all].sort());
    expect(grown[0]!.summary).toMatch(/^Ada Admin added 13 members( at once| in \d+ minutes?)$/);
  });
});

describe("unexpected_api_key_creator", () => {
  it("a key created by a plain member: high", async () => {
    const t = await createTenant(db.app, "MemberKey");
    const x = await write(db.app, t.member.id, createKey(t, "Deploy key", t.accountId));
    await detectUntil(db.owner, x.xid);
    const alerts = await alertsOf(db.owner, t.id, "unexpected_api_key_creator");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      severity: "high", actor_id: t.member.id, account_id: t.accountId, entry_ids: await entryIds(db.owner, x.xid),
      summary: "Max Member created an API key (Deploy key) without being an admin of the account or tenant",
    });
  });

  it("a key created by a database role (no audit.set_context): high", async () => {
    const t = await createTenant(db.app, "RoleKey");
    const x = await write(db.app, null, createKey(t, "Script key"));
    await detectUntil(db.owner, x.xid);
    const alerts = await alertsOf(db.owner, t.id, "unexpected_api_key_creator");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      severity: "high", actor_type: "database_role", actor_id: null, actor_name: "app_user",
      summary: "Database role app_user created an API key (Script key) directly in the database",
    });
  });

  it("by an admin removed or demoted after creating it (before detect() runs): not high, the role at that moment counts", async () => {
    const removed = await createTenant(db.app, "RemovedAfter");
    const demoted = await createTenant(db.app, "DemotedAfter");
    const k1 = await write(db.app, removed.admin2.id, createKey(removed, "Before removal"));
    const r1 = await write(db.app, removed.admin.id, (c) => c.query("delete from app.memberships where id = $1", [removed.memberships.admin2]));
    const k2 = await write(db.app, demoted.admin2.id, createKey(demoted, "Before demotion"));
    const r2 = await write(db.app, demoted.admin.id, setRole(demoted.memberships.admin2, "member"));
    await detectUntil(db.owner, k1.xid, r1.xid, k2.xid, r2.xid);
    for (const t of [removed, demoted]) {
      const alerts = await alertsOf(db.owner, t.id, "unexpected_api_key_creator");
      expect(alerts.map((a) => a.severity), t.name).toEqual(["low"]); // an admin's first key
      expect(alerts[0]!.actor_id).toBe(t.admin2.id);
    }
  });

  it("by a member promoted to admin after creating it: high", async () => {
    const t = await createTenant(db.app, "PromotedAfter");
    const k = await write(db.app, t.member.id, createKey(t, "Early key", t.accountId));
    const p = await write(db.app, t.admin.id, setRole(t.memberships.member, "admin"));
    await detectUntil(db.owner, k.xid, p.xid);
    const alerts = await alertsOf(db.owner, t.id, "unexpected_api_key_creator");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: "high", actor_id: t.member.id });
  });

  it("an admin's first key in the tenant is low, the second is quiet", async () => {
    const t = await createTenant(db.app, "FirstKey");
    const first = await write(db.app, t.admin.id, createKey(t, "First key"));
    await detectUntil(db.owner, first.xid);
    const [alert, ...none] = await alertsOf(db.owner, t.id, "unexpected_api_key_creator");
    expect(none).toEqual([]);
    expect(alert).toMatchObject({ severity: "low", summary: "Ada Admin created an API key for the first time (First key)", entry_count: "1" });
    const second = await write(db.app, t.admin.id, createKey(t, "Second key"));
    await detectUntil(db.owner, second.xid);
    expect(await alertsOf(db.owner, t.id, "unexpected_api_key_creator")).toEqual([alert]);
  });

  it("first_time_creator false silences the low one", async () => {
    const t = await createTenant(db.app, "NoFirstTime");
    await setDetectorSettings(db.owner, t.id, { detectors: { unexpected_api_key_creator: { first_time_creator: false } } });
    const x = await write(db.app, t.admin.id, createKey(t, "First key"));
    await detectUntil(db.owner, x.xid);
    expect(await alertsOf(db.owner, t.id, "unexpected_api_key_creator")).toEqual([]);
  });

  it("an admin membership removed before the key's creation, in the same transaction, does not count as being an admin", async () => {
    const t = await createTenant(db.app, "RemovedBefore");
    const x = await write(db.app, t.admin2.id, async (c) => {
      await c.query("delete from app.memberships where id = $1", [t.memberships.admin2]);
      return createKey(t, "After removal")(c);
    });
    await detectUntil(db.owner, x.xid);
    const alerts = await alertsOf(db.owner, t.id, "unexpected_api_key_creator");
    expect(alerts.map((a) => a.severity)).toEqual(["high"]);
  });
});

describe("after_hours_settings_change", () => {
  // 2026-11-23 is a Monday, 2026-11-28 a Saturday.
  const SATURDAY_NOON = "2026-11-28T12:00:00Z";
  const MONDAY_2AM = "2026-11-23T02:00:00Z";
  const TUESDAY_10AM = "2026-11-24T10:00:00Z";

  const setSetting = (t: Tenant, key: string) => (c: pg.ClientBase) =>
    c.query("insert into app.settings (tenant_id, account_id, key, value) values ($1, null, $2, '{\"v\": 1}')", [t.id, key]);

  it("on a Saturday (rpa.credentials: high) and at 02:00 (another key: medium) it fires; within business hours it does not", async () => {
    const t = await createTenant(db.app, "AfterHours");
    const saturday = await write(db.app, t.admin.id, setSetting(t, "rpa.credentials"));
    const night = await write(db.app, t.admin2.id, setSetting(t, "ui.theme"));
    const office = await write(db.app, t.member.id, setSetting(t, "ui.language"));
    await backdateTransaction(db.owner, saturday.xid, SATURDAY_NOON);
    await backdateTransaction(db.owner, night.xid, MONDAY_2AM);
    await backdateTransaction(db.owner, office.xid, TUESDAY_10AM);
    await detectUntil(db.owner, saturday.xid, night.xid, office.xid);
    const alerts = await alertsOf(db.owner, t.id, "after_hours_settings_change");
    expect(alerts).toHaveLength(2);
    expect(alerts.find((a) => a.actor_id === t.admin.id)).toMatchObject({
      severity: "high", account_id: null, entry_ids: await entryIds(db.owner, saturday.xid),
      summary: "Ada Admin changed rpa.credentials outside business hours (Saturday 12:00 UTC)",
      details: expect.objectContaining({ first_local_time: "Saturday 12:00", time_zone: "UTC" }),
    });
    expect(alerts.find((a) => a.actor_id === t.admin2.id)).toMatchObject({
      severity: "medium", summary: "Alan Admin changed ui.theme outside business hours (Monday 02:00 UTC)",
    });
    expect(alerts.find((a) => a.actor_id === t.member.id)).toBeUndefined();
  });

  it("an API key revoked after hours fires", async () => {
    const t = await createTenant(db.app, "RevokedAfterHours");
    const created = await write(db.app, t.admin.id, createKey(t, "Old key"));
    await backdateTransaction(db.owner, created.xid, TUESDAY_10AM);
    const revoked = await write(db.app, t.admin.id, (c) => c.query("update app.api_keys set revoked_at = now() where id = $1", [created.result]));
    await backdateTransaction(db.owner, revoked.xid, "2026-11-29T23:00:00Z"); // a Sunday
    await detectUntil(db.owner, created.xid, revoked.xid);
    const alerts = await alertsOf(db.owner, t.id, "after_hours_settings_change");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      severity: "medium", entry_ids: await entryIds(db.owner, revoked.xid),
      summary: 'Ada Admin revoked API key "Old key" outside business hours (Sunday 23:00 UTC)',
    });
  });

  it("daylight saving: Europe/Berlin 08:00-18:00, 06:30 UTC on a summer Monday (08:30 CEST) is quiet, on a winter Monday (07:30 CET) it fires", async () => {
    const summer = await createTenant(db.app, "BerlinSummer");
    const winter = await createTenant(db.app, "BerlinWinter");
    const berlin = { business_hours: { time_zone: "Europe/Berlin", days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" } };
    await setDetectorSettings(db.owner, summer.id, berlin);
    await setDetectorSettings(db.owner, winter.id, berlin);
    const s = await write(db.app, summer.admin.id, setSetting(summer, "ui.theme"));
    const w = await write(db.app, winter.admin.id, setSetting(winter, "ui.theme"));
    await backdateTransaction(db.owner, s.xid, "2026-07-13T06:30:00Z");
    await backdateTransaction(db.owner, w.xid, "2026-01-12T06:30:00Z");
    await detectUntil(db.owner, s.xid, w.xid);
    expect(await alertsOf(db.owner, summer.id, "after_hours_settings_change")).toEqual([]);
    const alerts = await alertsOf(db.owner, winter.id, "after_hours_settings_change");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      severity: "medium", summary: "Ada Admin changed ui.theme outside business hours (Monday 07:30 Europe/Berlin)",
      details: expect.objectContaining({ first_local_time: "Monday 07:30", time_zone: "Europe/Berlin" }),
    });
  });

  it("an incident consumed after a later one of the same actor (out of order) opens its own alert, not the later one's", async () => {
    const t = await createTenant(db.app, "OutOfOrder");
    const later = await write(db.app, t.admin.id, setSetting(t, "ui.theme"));
    await backdateTransaction(db.owner, later.xid, SATURDAY_NOON);
    await detectUntil(db.owner, later.xid);
    // A week earlier, consumed by a later round (a transaction that committed late, or history imported late).
    const earlier = await write(db.app, t.admin.id, setSetting(t, "ui.language"));
    await backdateTransaction(db.owner, earlier.xid, "2026-11-21T12:00:00Z");
    await detectUntil(db.owner, earlier.xid);
    const alerts = await alertsOf(db.owner, t.id, "after_hours_settings_change");
    expect(alerts.map((a) => a.entry_count)).toEqual(["1", "1"]);
  });
});

describe("mass_change", () => {
  /** `n` processes named prefix-1..n in the account, created by provisioning. */
  async function processes(t: Tenant, prefix: string, n: number, accountId = t.accountId): Promise<void> {
    await provision(db.app, (c) => c.query(
      "insert into app.processes (tenant_id, account_id, name) select $1, $2, $3 || '-' || g from generate_series(1, $4) g", [t.id, accountId, prefix, n]));
  }
  const deleteAll = (t: Tenant, prefix: string) => (c: pg.ClientBase) =>
    c.query("delete from app.processes where tenant_id = $1 and name like $2 || '-%'", [t.id, prefix]);

  it("50 deletions in one statement by one actor: one high alert; 49 by another: none", async () => {
    const t = await createTenant(db.app, "MassDelete");
    await processes(t, "fifty", 50);
    await processes(t, "fortynine", 49);
    const x = await write(db.app, t.admin.id, deleteAll(t, "fifty"));
    const y = await write(db.app, t.admin2.id, deleteAll(t, "fortynine"));
    expect(x.result.rowCount).toBe(50);
    await detectUntil(db.owner, x.xid, y.xid);
    const alerts = await alertsOf(db.owner, t.id, "mass_change");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      severity: "high", actor_id: t.admin.id, entry_count: "50", account_id: t.accountId,
      summary: "Ada Admin deleted or removed 50 processes at once",
      details: expect.objectContaining({ kind: "deletions", resource_type: "process" }),
    });
    expect([...alerts[0]!.entry_ids].sort()).toEqual([...(await entryIds(db.owner, x.xid))].sort());
  });

  it("60 updates of one resource type: medium", async () => {
    const t = await createTenant(db.app, "MassUpdate");
    await processes(t, "sixty", 60);
    const x = await write(db.app, t.admin.id, (c) => c.query("update app.processes set description = 'reviewed' where tenant_id = $1", [t.id]));
    await detectUntil(db.owner, x.xid);
    const alerts = await alertsOf(db.owner, t.id, "mass_change");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ severity: "medium", entry_count: "60", summary: "Ada Admin updated 60 processes at once", details: expect.objectContaining({ kind: "updates" }) });
  });

  it("a statement deleting 5,000 rows: one alert, entry_count 5000, entry_ids capped at 1000, all 5000 through audit.security_alert_entries", async () => {
    const t = await createTenant(db.app, "HugeDelete");
    await processes(t, "bulk", 5000);
    const x = await write(db.app, t.admin.id, deleteAll(t, "bulk"));
    // One round consumes the statement (waiting first for the horizon, which other files' transactions may hold back).
    await until("the horizon to pass the deletion", async () => ((await horizon(db.owner)) > x.xid ? true : undefined));
    const started = Date.now();
    await db.owner.query("select audit.detect()");
    const roundMs = Date.now() - started;
    await detectUntil(db.owner, x.xid);
    // The round's work grows with the entries (a linear amount of work: well under a second here); a 5,000-row statement
    // must not hold the detectors' lock for many seconds.
    expect.soft(roundMs, "ms taken by the detect() round that consumed 5,000 deletions").toBeLessThan(4_000);
    const alerts = await alertsOf(db.owner, t.id, "mass_change");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.entry_count).toBe("5000");
    expect(alerts[0]!.entry_ids).toHaveLength(1000);
    expect(alerts[0]!.summary).toBe("Ada Admin deleted or removed 5,000 processes at once");
    const all = await entryIds(db.owner, x.xid);
    expect(all).toHaveLength(5000);
    expect(alerts[0]!.entry_ids).toEqual(all.slice(0, 1000)); // the first 1,000 by id
    const { rows } = await db.owner.query<{ id: string }>(
      "select e.id::text from audit.alerts a, audit.security_alert_entries(a) e where a.tenant_id = $1 and a.id = $2 order by e.id", [t.id, alerts[0]!.id]);
    expect(rows.map((r) => r.id)).toEqual(all);
  });

  it("per-tenant thresholds and enabled: false", async () => {
    const low = await createTenant(db.app, "LowThreshold");
    const off = await createTenant(db.app, "MassOff");
    await setDetectorSettings(db.owner, low.id, { detectors: { mass_change: { threshold: 5 } } });
    await setDetectorSettings(db.owner, off.id, { detectors: { mass_change: { enabled: false } } });
    await processes(low, "five", 5);
    await processes(off, "fifty", 50);
    const a = await write(db.app, low.admin.id, deleteAll(low, "five"));
    const b = await write(db.app, off.admin.id, deleteAll(off, "fifty"));
    await detectUntil(db.owner, a.xid, b.xid);
    expect((await alertsOf(db.owner, low.id, "mass_change")).map((x) => [x.severity, x.entry_count])).toEqual([["high", "5"]]);
    expect(await alertsOf(db.owner, off.id, "mass_change")).toEqual([]);
  });
});

describe("the account of an alert", () => {
  it("the account when all entries are in one account; null when they span accounts or are tenant-level", async () => {
    const t = await createTenant(db.app, "Accounts");
    await provision(db.app, async (c) => {
      await c.query("insert into app.processes (tenant_id, account_id, name) select $1, $2, 'ops-' || g from generate_series(1, 30) g", [t.id, t.accountId]);
      await c.query("insert into app.processes (tenant_id, account_id, name) select $1, $2, 'fin-' || g from generate_series(1, 30) g", [t.id, t.otherAccountId]);
      await c.query("insert into app.processes (tenant_id, account_id, name) select $1, $2, 'one-' || g from generate_series(1, 50) g", [t.id, t.otherAccountId]);
    });
    const spanning = await write(db.app, t.admin.id, (c) => c.query("delete from app.processes where tenant_id = $1 and (name like 'ops-%' or name like 'fin-%')", [t.id]));
    const single = await write(db.app, t.admin2.id, (c) => c.query("delete from app.processes where tenant_id = $1 and name like 'one-%'", [t.id]));
    const tenantLevel = await write(db.app, t.admin.id, setRole(t.memberships.admin2, "viewer"));
    const raise = await write(db.app, t.member.id, setRole(t.memberships.admin2, "admin")); // a tenant-level membership
    await detectUntil(db.owner, spanning.xid, single.xid, tenantLevel.xid, raise.xid);
    const mass = await alertsOf(db.owner, t.id, "mass_change");
    expect(mass.find((a) => a.actor_id === t.admin.id)).toMatchObject({ entry_count: "60", account_id: null });
    expect(mass.find((a) => a.actor_id === t.admin2.id)).toMatchObject({ entry_count: "50", account_id: t.otherAccountId });
    const escalation = await alertsOf(db.owner, t.id, "role_escalation");
    expect(escalation).toHaveLength(1);
    expect(escalation[0]).toMatchObject({ actor_id: t.member.id, account_id: null });
  });
});
