// Every row of the event catalogue, performed as app_user through `pg`,
// asserting the whole entry.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asUser, createLandscape, entriesAfter, lastEntryId, type Landscape, type LogEntry } from "../support/fixtures.ts";

let db: TestDatabase;
let l: Landscape;
let mark: string;

beforeAll(async () => {
  db = await createTestDatabase();
  l = await createLandscape(db.app);
});
afterAll(async () => {
  await db?.drop();
});
beforeEach(async () => {
  mark = await lastEntryId(db.owner);
});

const CONTEXT = { request_id: "req-42", ip: "203.0.113.7", user_agent: "vitest" };

/** Performs `sql` as the landscape's admin and returns the entries it wrote. */
async function write(sql: string, params: unknown[] = []): Promise<LogEntry[]> {
  await asUser(db.app, l.adminId, (c) => c.query(sql, params), CONTEXT);
  return entriesAfter(db.owner, mark);
}

function only(entries: LogEntry[]): LogEntry {
  expect(entries).toHaveLength(1);
  return entries[0]!;
}

/** The actor and context parts every entry written by write() shares. */
function expectActor(e: LogEntry) {
  expect(e.actor_type).toBe("user");
  expect(e.actor_id).toBe(l.adminId);
  expect(e.actor_email).toBe("ada@acme.test");
  expect(e.actor_name).toBe("Ada Admin");
  expect(e.context).toEqual(CONTEXT);
  expect(e.tenant_id).toBe(l.tenantId);
  expect(Number(e.transaction_id)).toBeGreaterThan(0);
}

function expectEntry(e: LogEntry, want: Partial<LogEntry>) {
  expectActor(e);
  expect(e).toMatchObject(want);
}

describe("tenants and accounts", () => {
  it("tenant.created and tenant.updated", async () => {
    const id = randomUUID();
    const created = only(await write("insert into app.tenants (id, name) values ($1, 'Globex')", [id]));
    expectActor({ ...created, tenant_id: l.tenantId });
    expect(created).toMatchObject({
      event: "tenant.created", action: "create", resource_type: "tenant", entity_id: id, tenant_id: id,
      account_id: null, old_values: null,
    });
    expect(created.new_values).toMatchObject({ id, name: "Globex" });
    expect(created.new_values).not.toHaveProperty("updated_at");

    mark = await lastEntryId(db.owner);
    const updated = only(await write("update app.tenants set name = 'Globex Corp' where id = $1", [id]));
    expect(updated).toMatchObject({
      event: "tenant.updated", action: "update", resource_type: "tenant", entity_id: id, tenant_id: id,
      old_values: { name: "Globex" }, new_values: { name: "Globex Corp" },
    });
  });

  it("account.created and account.updated carry the account itself", async () => {
    const id = randomUUID();
    const created = only(await write("insert into app.accounts (id, tenant_id, name) values ($1, $2, 'Legal')", [id, l.tenantId]));
    expectEntry(created, {
      event: "account.created", action: "create", resource_type: "account", entity_id: id, account_id: id, old_values: null,
    });
    expect(created.new_values).toMatchObject({ id, tenant_id: l.tenantId, name: "Legal" });

    mark = await lastEntryId(db.owner);
    const updated = only(await write("update app.accounts set name = 'Legal & Compliance' where id = $1", [id]));
    expectEntry(updated, {
      event: "account.updated", action: "update", resource_type: "account", entity_id: id, account_id: id,
      old_values: { name: "Legal" }, new_values: { name: "Legal & Compliance" },
    });
  });
});

describe("users and members", () => {
  it("user.created, user.updated, user.deleted", async () => {
    const id = randomUUID();
    const created = only(await write(
      "insert into app.users (id, tenant_id, email, name) values ($1, $2, 'eve@acme.test', 'Eve')", [id, l.tenantId]));
    expectEntry(created, { event: "user.created", action: "create", resource_type: "user", entity_id: id, account_id: null, old_values: null });
    expect(created.new_values).toMatchObject({ id, email: "eve@acme.test", name: "Eve" });

    mark = await lastEntryId(db.owner);
    const updated = only(await write("update app.users set name = 'Eve Example' where id = $1", [id]));
    expectEntry(updated, {
      event: "user.updated", action: "update", resource_type: "user", entity_id: id,
      old_values: { name: "Eve" }, new_values: { name: "Eve Example" },
    });

    mark = await lastEntryId(db.owner);
    const deleted = only(await write("delete from app.users where id = $1", [id]));
    expectEntry(deleted, { event: "user.deleted", action: "delete", resource_type: "user", entity_id: id, new_values: null });
    expect(deleted.old_values).toMatchObject({ id, email: "eve@acme.test", name: "Eve Example" });
  });

  it("member.added, member.role_updated, member.removed, with account scope", async () => {
    const id = randomUUID();
    const added = only(await write(
      "insert into app.memberships (id, tenant_id, account_id, user_id, role) values ($1, $2, $3, $4, 'member')",
      [id, l.tenantId, l.accountId, l.memberId]));
    expectEntry(added, {
      event: "member.added", action: "assign", resource_type: "member", entity_id: id, account_id: l.accountId, old_values: null,
    });
    expect(added.new_values).toMatchObject({ user_id: l.memberId, role: "member", account_id: l.accountId });

    mark = await lastEntryId(db.owner);
    const escalated = only(await write("update app.memberships set role = 'admin' where id = $1", [id]));
    expectEntry(escalated, {
      event: "member.role_updated", action: "update", resource_type: "member", entity_id: id, account_id: l.accountId,
      old_values: { role: "member" }, new_values: { role: "admin" },
    });

    mark = await lastEntryId(db.owner);
    const removed = only(await write("delete from app.memberships where id = $1", [id]));
    expectEntry(removed, {
      event: "member.removed", action: "unassign", resource_type: "member", entity_id: id, account_id: l.accountId, new_values: null,
    });
    expect(removed.old_values).toMatchObject({ user_id: l.memberId, role: "admin" });
  });

  it("a tenant-level membership has no account", async () => {
    const added = only(await write(
      "insert into app.memberships (tenant_id, account_id, user_id, role) values ($1, null, $2, 'admin')", [l.tenantId, l.memberId]));
    expectEntry(added, { event: "member.added", account_id: null });
  });

  it("invitation.created and invitation.accepted", async () => {
    const id = randomUUID();
    const created = only(await write(
      "insert into app.invitations (id, tenant_id, account_id, email, role, invited_by) values ($1, $2, $3, 'new@acme.test', 'member', $4)",
      [id, l.tenantId, l.accountId, l.adminId]));
    expectEntry(created, {
      event: "invitation.created", action: "create", resource_type: "invitation", entity_id: id, account_id: l.accountId, old_values: null,
    });
    expect(created.new_values).toMatchObject({ email: "new@acme.test", role: "member", invited_by: l.adminId, accepted_at: null });

    mark = await lastEntryId(db.owner);
    const accepted = only(await write("update app.invitations set accepted_at = '2026-11-20T10:00:00Z' where id = $1", [id]));
    expectEntry(accepted, {
      event: "invitation.accepted", action: "accept", resource_type: "invitation", entity_id: id, account_id: l.accountId,
      old_values: { accepted_at: null }, new_values: { accepted_at: "2026-11-20T10:00:00+00:00" },
    });
  });
});

describe("processes and jobs", () => {
  it("process.created, process.updated, process.deleted (soft and hard)", async () => {
    const id = randomUUID();
    const created = only(await write(
      "insert into app.processes (id, tenant_id, account_id, name, description) values ($1, $2, $3, 'Payroll', 'Monthly')",
      [id, l.tenantId, l.accountId]));
    expectEntry(created, {
      event: "process.created", action: "create", resource_type: "process", entity_id: id, account_id: l.accountId, old_values: null,
    });
    expect(created.new_values).toMatchObject({ name: "Payroll", description: "Monthly", deleted_at: null });

    mark = await lastEntryId(db.owner);
    const updated = only(await write("update app.processes set description = 'Weekly' where id = $1", [id]));
    expectEntry(updated, {
      event: "process.updated", action: "update", resource_type: "process",
      old_values: { description: "Monthly" }, new_values: { description: "Weekly" },
    });

    mark = await lastEntryId(db.owner);
    const softDeleted = only(await write("update app.processes set deleted_at = '2026-11-21T09:00:00Z' where id = $1", [id]));
    expectEntry(softDeleted, {
      event: "process.deleted", action: "delete", resource_type: "process", entity_id: id,
      old_values: { deleted_at: null }, new_values: { deleted_at: "2026-11-21T09:00:00+00:00" },
    });

    mark = await lastEntryId(db.owner);
    const hardDeleted = only(await write("delete from app.processes where id = $1", [id]));
    expectEntry(hardDeleted, { event: "process.deleted", action: "delete", entity_id: id, new_values: null });
    expect(hardDeleted.old_values).toMatchObject({ id, name: "Payroll" });
  });

  it("process_member.added and process_member.removed", async () => {
    const id = randomUUID();
    const added = only(await write(
      "insert into app.process_members (id, tenant_id, account_id, process_id, user_id) values ($1, $2, $3, $4, $5)",
      [id, l.tenantId, l.accountId, l.processId, l.memberId]));
    expectEntry(added, {
      event: "process_member.added", action: "assign", resource_type: "process_member", entity_id: id, account_id: l.accountId,
      old_values: null,
    });
    expect(added.new_values).toMatchObject({ process_id: l.processId, user_id: l.memberId });

    mark = await lastEntryId(db.owner);
    const removed = only(await write("delete from app.process_members where id = $1", [id]));
    expectEntry(removed, { event: "process_member.removed", action: "unassign", entity_id: id, new_values: null });
  });

  it("job.completed only when a job reaches a terminal status", async () => {
    const id = randomUUID();
    expect(await write("insert into app.jobs (id, tenant_id, account_id, process_id) values ($1, $2, $3, $4)",
      [id, l.tenantId, l.accountId, l.processId])).toEqual([]);
    expect(await write("update app.jobs set status = 'running', started_at = now() where id = $1", [id])).toEqual([]);
    const completed = only(await write("update app.jobs set status = 'failed', finished_at = '2026-11-22T08:00:00Z' where id = $1", [id]));
    expectEntry(completed, {
      event: "job.completed", action: "complete", resource_type: "job", entity_id: id, account_id: l.accountId,
      old_values: { status: "running", finished_at: null },
      new_values: { status: "failed", finished_at: "2026-11-22T08:00:00+00:00" },
    });
    mark = await lastEntryId(db.owner);
    // terminal to terminal is not a new completion
    expect(await write("update app.jobs set status = 'cancelled' where id = $1", [id])).toEqual([]);

    const insertedDone = randomUUID();
    const inserted = only(await write(
      "insert into app.jobs (id, tenant_id, account_id, process_id, status) values ($1, $2, $3, $4, 'completed')",
      [insertedDone, l.tenantId, l.accountId, l.processId]));
    expectEntry(inserted, { event: "job.completed", action: "complete", entity_id: insertedDone, old_values: null });
    expect(inserted.new_values).toMatchObject({ status: "completed" });
  });
});

describe("settings, API keys and licenses", () => {
  it("settings.updated on insert, update and delete, with secrets redacted", async () => {
    const id = randomUUID();
    const created = only(await write(
      "insert into app.settings (id, tenant_id, account_id, key, value) values ($1, $2, $3, 'rpa.credentials', $4)",
      [id, l.tenantId, l.accountId, { username: "robot", password: "hunter2", nested: { api_token: "t0k3n" } }]));
    expectEntry(created, {
      event: "settings.updated", action: "update", resource_type: "settings", entity_id: id, account_id: l.accountId, old_values: null,
    });
    expect(created.new_values).toMatchObject({
      key: "rpa.credentials",
      value: { username: "robot", password: "[redacted]", nested: { api_token: "[redacted]" } },
    });

    mark = await lastEntryId(db.owner);
    const changed = only(await write("update app.settings set value = $2 where id = $1",
      [id, { username: "robot", password: "correct horse", nested: { api_token: "t0k3n" } }]));
    expectEntry(changed, { event: "settings.updated", action: "update", resource_type: "settings", entity_id: id });
    // the change is recorded, the secret is not
    expect(changed.old_values).toEqual({ value: { username: "robot", password: "[redacted]", nested: { api_token: "[redacted]" } } });
    expect(changed.new_values).toEqual({ value: { username: "robot", password: "[redacted]", nested: { api_token: "[redacted]" } } });
    const raw = JSON.stringify(await entriesAfter(db.owner, 0));
    expect(raw).not.toContain("hunter2");
    expect(raw).not.toContain("correct horse");
    expect(raw).not.toContain("t0k3n");

    mark = await lastEntryId(db.owner);
    const deleted = only(await write("delete from app.settings where id = $1", [id]));
    expectEntry(deleted, { event: "settings.updated", action: "update", new_values: null });
    expect(deleted.old_values).toMatchObject({ value: { password: "[redacted]" } });
  });

  it("a setting whose key names a secret has its whole value redacted, whatever its JSON type", async () => {
    const secrets: Array<[string, unknown]> = [
      ["rpa.password", "hunter2"], ["smtp.api_key", 42424242], ["vault.token", ["t0k3n-a", "t0k3n-b"]], ["sso.client_secret", { v: "s3cr3t" }],
    ];
    for (const [key, value] of secrets) {
      mark = await lastEntryId(db.owner);
      const id = randomUUID();
      const created = only(await write("insert into app.settings (id, tenant_id, account_id, key, value) values ($1, $2, $3, $4, $5)",
        [id, l.tenantId, l.accountId, key, JSON.stringify(value)]));
      expect(created.new_values, key).toMatchObject({ key, value: "[redacted]" });
      mark = await lastEntryId(db.owner);
      const changed = only(await write("update app.settings set value = $2 where id = $1", [id, JSON.stringify("rotated-" + key)]));
      // the change is still recorded: that the secret changed, not what it is
      expect(changed.old_values, key).toEqual({ value: "[redacted]" });
      expect(changed.new_values, key).toEqual({ value: "[redacted]" });
      mark = await lastEntryId(db.owner);
      const deleted = only(await write("delete from app.settings where id = $1", [id]));
      expect(deleted.old_values, key).toMatchObject({ key, value: "[redacted]" });
    }
    const raw = JSON.stringify(await entriesAfter(db.owner, 0));
    for (const secret of ["hunter2", "42424242", "t0k3n-a", "s3cr3t", "rotated-"]) expect(raw).not.toContain(secret);

    // ordinary keys keep their values; a null value stays null
    mark = await lastEntryId(db.owner);
    const plain = only(await write("insert into app.settings (tenant_id, account_id, key, value) values ($1, $2, 'ui.theme', '\"dark\"')", [l.tenantId, l.accountId]));
    expect(plain.new_values).toMatchObject({ key: "ui.theme", value: "dark" });
    mark = await lastEntryId(db.owner);
    const nulled = only(await write("insert into app.settings (tenant_id, account_id, key, value) values ($1, $2, 'rpa.passphrase', 'null')", [l.tenantId, l.accountId]));
    expect(nulled.new_values).toMatchObject({ key: "rpa.passphrase", value: null });
  });

  it("tenant settings have no account", async () => {
    const e = only(await write("insert into app.settings (tenant_id, key, value) values ($1, 'security.sso', '{\"enforced\": true}')", [l.tenantId]));
    expectEntry(e, { event: "settings.updated", account_id: null, new_values: expect.objectContaining({ value: { enforced: true } }) });
  });

  it("api_key.created and api_key.deactivated never reveal the key hash", async () => {
    const id = randomUUID();
    const created = only(await write(
      "insert into app.api_keys (id, tenant_id, account_id, name, key_hash, created_by) values ($1, $2, $3, 'CI', 'sha256:abcdef', $4)",
      [id, l.tenantId, l.accountId, l.adminId]));
    expectEntry(created, {
      event: "api_key.created", action: "create", resource_type: "api_key", entity_id: id, account_id: l.accountId, old_values: null,
    });
    expect(created.new_values).toMatchObject({ name: "CI", key_hash: "[redacted]", created_by: l.adminId });

    mark = await lastEntryId(db.owner);
    // last_used_at is noise: no entry
    expect(await write("update app.api_keys set last_used_at = now() where id = $1", [id])).toEqual([]);
    const revoked = only(await write("update app.api_keys set revoked_at = '2026-11-23T12:00:00Z' where id = $1", [id]));
    expectEntry(revoked, {
      event: "api_key.deactivated", action: "deactivate", resource_type: "api_key", entity_id: id,
      old_values: { revoked_at: null }, new_values: { revoked_at: "2026-11-23T12:00:00+00:00" },
    });
    expect(JSON.stringify(await entriesAfter(db.owner, 0))).not.toContain("sha256:abcdef");
  });

  it("license.activated on activation and renewal", async () => {
    const id = randomUUID();
    const activated = only(await write(
      "insert into app.licenses (id, tenant_id, plan, seats, activated_at, expires_at) values ($1, $2, 'enterprise', 50, '2026-01-01Z', '2027-01-01Z')",
      [id, l.tenantId]));
    expectEntry(activated, {
      event: "license.activated", action: "activate", resource_type: "license", entity_id: id, account_id: null, old_values: null,
    });
    expect(activated.new_values).toMatchObject({ plan: "enterprise", seats: 50 });

    mark = await lastEntryId(db.owner);
    const renewed = only(await write("update app.licenses set expires_at = '2028-01-01Z' where id = $1", [id]));
    expectEntry(renewed, {
      event: "license.activated", action: "activate",
      old_values: { expires_at: "2027-01-01T00:00:00+00:00" }, new_values: { expires_at: "2028-01-01T00:00:00+00:00" },
    });

    mark = await lastEntryId(db.owner);
    const seats = only(await write("update app.licenses set seats = 60 where id = $1", [id]));
    expectEntry(seats, { event: "license.updated", action: "update", old_values: { seats: 50 }, new_values: { seats: 60 } });
  });
});

describe("coverage of the business schema", () => {
  it("every table in app is tracked", async () => {
    const { rows } = await db.owner.query<{ table: string }>(`
      select c.oid::regclass::text as table
        from pg_class c
       where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p')
         and not exists (select from audit.tracked_tables t where t.table_name = c.oid)`);
    expect(rows.map((r) => r.table)).toEqual([]);
  });

  it("every event a rule names is in the catalogue, with a description", async () => {
    const { rows } = await db.owner.query(`
      select r.event from audit.event_rules r left join audit.events e using (event) where e.description is null`);
    expect(rows).toEqual([]);
  });
});
