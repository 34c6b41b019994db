// Entity labels (issue 12): every tracked table names its entity in each
// entry, as a snapshot; the configuration refuses labels that would leak a
// secret; entries written before labels get theirs from the backfill.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { backfillLabels } from "../../src/db/label-backfill.ts";
import { createLogger } from "../../src/log.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asUser, createLandscape, entriesAfter, lastEntryId, type Landscape } from "../support/fixtures.ts";

let db: TestDatabase;
let l: Landscape;
const logger = createLogger("silent");

beforeAll(async () => {
  db = await createTestDatabase();
  l = await createLandscape(db.app);
});
afterAll(async () => {
  await db?.drop();
});

/** event → entity_label of the entries written after `mark`, in order. */
async function labelsAfter(mark: string): Promise<[string, string | null][]> {
  return (await entriesAfter(db.owner, mark)).map((e) => [e.event, e.entity_label]);
}

describe("entity labels", () => {
  it("every tracked table names its entity, on insert, update and delete", async () => {
    const mark = await lastEntryId(db.owner);
    const ids = { tenant: randomUUID(), account: randomUUID(), user: randomUUID(), invitation: randomUUID(), process: randomUUID(), key: randomUUID(), license: randomUUID() };
    await asUser(db.app, l.adminId, async (c) => {
      await c.query("insert into app.tenants (id, name) values ($1, 'Globex')", [ids.tenant]);
      await c.query("insert into app.accounts (id, tenant_id, name) values ($1, $2, 'Research')", [ids.account, l.tenantId]);
      await c.query("insert into app.users (id, tenant_id, email, name) values ($1, $2, 'lin@acme.test', 'Lin')", [ids.user, l.tenantId]);
      await c.query("insert into app.memberships (tenant_id, account_id, user_id, role) values ($1, $2, $3, 'member')", [l.tenantId, ids.account, ids.user]);
      await c.query("update app.memberships set role = 'admin' where user_id = $1", [ids.user]);
      await c.query("insert into app.invitations (id, tenant_id, account_id, email, role) values ($1, $2, $3, 'new@acme.test', 'member')", [ids.invitation, l.tenantId, ids.account]);
      await c.query("insert into app.processes (id, tenant_id, account_id, name) values ($1, $2, $3, 'Payroll bot')", [ids.process, l.tenantId, ids.account]);
      await c.query("insert into app.process_members (tenant_id, account_id, process_id, user_id) values ($1, $2, $3, $4)", [l.tenantId, ids.account, ids.process, ids.user]);
      await c.query("insert into app.jobs (tenant_id, account_id, process_id, status) values ($1, $2, $3, 'completed')", [l.tenantId, ids.account, ids.process]);
      await c.query("insert into app.settings (tenant_id, account_id, key, value) values ($1, $2, 'rpa.password', '\"hunter2\"')", [l.tenantId, ids.account]);
      await c.query("insert into app.api_keys (id, tenant_id, account_id, name, key_hash) values ($1, $2, $3, 'CI deploy key', 'h')", [ids.key, l.tenantId, ids.account]);
      await c.query("insert into app.licenses (id, tenant_id, plan, seats) values ($1, $2, 'enterprise', 50)", [ids.license, l.tenantId]);
      await c.query("delete from app.process_members where process_id = $1", [ids.process]);
      await c.query("delete from app.memberships where user_id = $1", [ids.user]);
    });
    expect(await labelsAfter(mark)).toEqual([
      ["tenant.created", "Globex"],
      ["account.created", "Research"],
      ["user.created", "lin@acme.test"],
      ["member.added", "lin@acme.test"],
      ["member.role_updated", "lin@acme.test"],
      ["invitation.created", "new@acme.test"],
      ["process.created", "Payroll bot"],
      ["process_member.added", "lin@acme.test"],
      ["job.completed", "Payroll bot"],
      // the key names the setting; its secret value stays redacted
      ["settings.updated", "rpa.password"],
      ["api_key.created", "CI deploy key"],
      ["license.created", "enterprise"],
      ["process_member.removed", "lin@acme.test"],
      ["member.removed", "lin@acme.test"],
    ]);
    const settings = (await entriesAfter(db.owner, mark)).find((e) => e.event === "settings.updated")!;
    expect(settings.new_values).toMatchObject({ value: "[redacted]" });
  });

  it("is a snapshot: a rename labels the entries from then on, and earlier entries keep the old name", async () => {
    const mark = await lastEntryId(db.owner);
    const id = randomUUID();
    await asUser(db.app, l.adminId, async (c) => {
      await c.query("insert into app.processes (id, tenant_id, account_id, name) values ($1, $2, $3, 'Old name')", [id, l.tenantId, l.accountId]);
      await c.query("update app.processes set description = 'first' where id = $1", [id]);
      await c.query("update app.processes set name = 'New name' where id = $1", [id]);
      await c.query("update app.processes set deleted_at = now() where id = $1", [id]);
      await c.query("delete from app.processes where id = $1", [id]);
    });
    expect(await labelsAfter(mark)).toEqual([
      ["process.created", "Old name"],
      ["process.updated", "Old name"],
      ["process.updated", "New name"],
      ["process.deleted", "New name"],
      ["process.deleted", "New name"],
    ]);
  });

  it("labels every row of a bulk statement", async () => {
    const mark = await lastEntryId(db.owner);
    await asUser(db.app, l.adminId, (c) =>
      c.query("insert into app.processes (tenant_id, account_id, name) select $1, $2, 'Bulk ' || g from generate_series(1, 300) g", [l.tenantId, l.accountId]));
    const labels = (await labelsAfter(mark)).map(([, label]) => label);
    expect(labels).toHaveLength(300);
    expect(new Set(labels)).toEqual(new Set(Array.from({ length: 300 }, (_, i) => `Bulk ${i + 1}`)));
  });
});

describe("the label configuration", () => {
  it("refuses a label that names a redacted column, and a rule naming an event that is not a trigger's", async () => {
    await expect(db.owner.query(`
      select audit.track_table('app.api_keys', 'api_key', '[{"on": "insert", "event": "api_key.created"}]',
        redacted_columns => '{key_hash}', label => 'key_hash')`)).rejects.toThrow(/label of app\.api_keys names a redacted column \(key_hash\)/);
    await expect(db.owner.query(`
      select audit.track_table('app.processes', 'process', '[{"on": "insert", "event": "process.run_requested"}]')`))
      .rejects.toThrow(/names an event of kind application; a rule can only name trigger events/);
    await expect(db.owner.query(`
      select audit.track_table('app.processes', 'process', '[{"on": "insert", "event": "process.created"}]', label => 'no_such_column')`))
      .rejects.toThrow(/rule of app\.processes is not valid: column "no_such_column" does not exist/);
  });
});

describe("the label backfill", () => {
  it("labels entries written before labels from their values and the current row, in batches, and only once", async () => {
    // Entries as a log written before labels has them: no label, the
    // backfill's state covering them.
    const id = randomUUID();
    const mark = await lastEntryId(db.owner);
    await asUser(db.app, l.adminId, async (c) => {
      await c.query("insert into app.processes (id, tenant_id, account_id, name) values ($1, $2, $3, 'Ledger bot')", [id, l.tenantId, l.accountId]);
      await c.query("update app.processes set description = 'nightly' where id = $1", [id]);
      await c.query("update app.processes set name = 'Ledger bot v2' where id = $1", [id]);
      await c.query("insert into app.settings (tenant_id, account_id, key, value) values ($1, $2, 'smtp.api_key', '\"k\"')", [l.tenantId, l.accountId]);
      await c.query("insert into app.memberships (tenant_id, account_id, user_id, role) values ($1, $2, $3, 'viewer')", [l.tenantId, l.otherAccountId, l.memberId]);
    });
    const written = await entriesAfter(db.owner, mark);
    expect(written.map((e) => e.entity_label)).toEqual(["Ledger bot", "Ledger bot", "Ledger bot v2", "smtp.api_key", "max@acme.test"]);
    const upTo = written.at(-1)!.id;
    await db.owner.query(`
      begin;
      set local audit.maintenance = 'on';
      update audit.log set entity_label = null where id <= ${upTo};
      update audit_private.label_backfill set up_to_id = ${upTo}, last_tenant = null, last_time = null, last_id = null,
             examined = 0, labelled = 0, finished_at = null;
      commit;`);
    // An entry written after the cut, with no label of its own: not the backfill's.
    const after = await db.app.query<{ id: string }>(
      "select audit.record_event('user.signed_out', $1, null, $2) as id", [l.tenantId, l.memberId]);

    const result = await backfillLabels(db.ownerUrl, logger, { batchEntries: 3, progressEveryMs: 0 });
    expect(result.done).toBe(true);
    expect(result.batches).toBeGreaterThan(2);
    expect(result.labelled).toBeGreaterThanOrEqual(5);
    // Created and renamed entries carry the name they wrote; the update that
    // did not touch the name takes the current row's.
    expect((await entriesAfter(db.owner, mark)).filter((e) => BigInt(e.id) <= BigInt(upTo)).map((e) => e.entity_label))
      .toEqual(["Ledger bot", "Ledger bot v2", "Ledger bot v2", "smtp.api_key", "max@acme.test"]);
    const { rows } = await db.owner.query("select entity_label from audit.log where id = $1", [after.rows[0]!.id]);
    expect(rows[0].entity_label).toBeNull();
    const state = await db.owner.query("select finished_at is not null as finished, examined::int, labelled::int from audit_private.label_backfill");
    expect(state.rows[0]).toMatchObject({ finished: true });
    // Done is done: another run examines nothing.
    expect(await backfillLabels(db.ownerUrl, logger)).toMatchObject({ done: true, batches: 0, examined: 0 });
  });

  it("stops between batches when asked, and the next run goes on where it stopped", async () => {
    const mark = await lastEntryId(db.owner);
    await asUser(db.app, l.adminId, (c) =>
      c.query("insert into app.processes (tenant_id, account_id, name) select $1, $2, 'Batch ' || g from generate_series(1, 40) g", [l.tenantId, l.accountId]));
    const upTo = await lastEntryId(db.owner);
    await db.owner.query(`
      begin;
      set local audit.maintenance = 'on';
      update audit.log set entity_label = null where id > ${mark} and id <= ${upTo};
      update audit_private.label_backfill set up_to_id = ${upTo}, last_tenant = null, last_time = null, last_id = null,
             examined = 0, labelled = 0, finished_at = null;
      commit;`);
    // Asked to stop at its first progress report (after one batch).
    const controller = new AbortController();
    let infos = 0;
    const stopping = { ...logger, child: () => stopping, info: () => { if (++infos === 2) controller.abort(); } } as unknown as typeof logger;
    const first = await backfillLabels(db.ownerUrl, stopping, { batchEntries: 5, progressEveryMs: 0, signal: controller.signal });
    expect(first).toMatchObject({ done: false, batches: 1 });
    const rest = await backfillLabels(db.ownerUrl, logger, { batchEntries: 50 });
    expect(rest.done).toBe(true);
    expect(rest.examined + first.examined).toBeGreaterThanOrEqual(40);
    const labels = (await entriesAfter(db.owner, mark)).map((e) => e.entity_label);
    expect(new Set(labels)).toEqual(new Set(Array.from({ length: 40 }, (_, i) => `Batch ${i + 1}`)));
  });
});
