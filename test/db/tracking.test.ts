// Tracking a new table is one SQL call; bad configuration is refused with a
// specific message.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asUser, createLandscape, entriesAfter, lastEntryId, type Landscape } from "../support/fixtures.ts";

let db: TestDatabase;
let l: Landscape;

beforeAll(async () => {
  db = await createTestDatabase();
  l = await createLandscape(db.app);
  await db.owner.query(`
    create table app.webhooks (
      id uuid primary key default gen_random_uuid(),
      tenant_id uuid not null references app.tenants (id) on delete cascade,
      account_id uuid,
      url text not null,
      signing_secret text not null,
      headers jsonb not null default '{}',
      enabled boolean not null default true,
      updated_at timestamptz not null default now()
    );
    grant select, insert, update, delete on app.webhooks to app_user;
    insert into audit.events (event, action, resource_type, description) values
      ('webhook.created', 'create', 'webhook', 'Webhook created'),
      ('webhook.disabled', 'deactivate', 'webhook', 'Webhook disabled'),
      ('webhook.updated', 'update', 'webhook', 'Webhook updated');
  `);
});
afterAll(async () => {
  await db?.drop();
});

describe("audit.track_table", () => {
  it("starts auditing a new table with its own rules, noise and secrets", async () => {
    await db.owner.query(`
      select audit.track_table('app.webhooks', 'webhook', '[
        {"on": "insert", "event": "webhook.created"},
        {"on": "update", "when": "old.enabled and not new.enabled", "event": "webhook.disabled"},
        {"on": "update", "event": "webhook.updated"}
      ]', redacted_columns => '{signing_secret}')`);
    const mark = await lastEntryId(db.owner);
    const { rows } = await asUser(db.app, l.adminId, (c) =>
      c.query<{ id: string }>(
        "insert into app.webhooks (tenant_id, account_id, url, signing_secret, headers) values ($1, $2, 'https://hooks.test/x', 'whsec_1', $3) returning id",
        [l.tenantId, l.accountId, { Authorization: "Bearer abc", "X-Team": "ops" }]));
    const id = rows[0]!.id;
    await asUser(db.app, l.adminId, (c) => c.query("update app.webhooks set enabled = false where id = $1", [id]));
    await asUser(db.app, l.adminId, (c) => c.query("update app.webhooks set signing_secret = 'whsec_2' where id = $1", [id]));
    await asUser(db.app, l.adminId, (c) => c.query("delete from app.webhooks where id = $1", [id])); // no delete rule

    const entries = await entriesAfter(db.owner, mark);
    expect(entries.map((e) => [e.event, e.action, e.resource_type, e.account_id])).toEqual([
      ["webhook.created", "create", "webhook", l.accountId],
      ["webhook.disabled", "deactivate", "webhook", l.accountId],
      ["webhook.updated", "update", "webhook", l.accountId],
    ]);
    expect(entries[0]!.new_values).toMatchObject({
      url: "https://hooks.test/x", signing_secret: "[redacted]", headers: { Authorization: "Bearer abc", "X-Team": "ops" },
    });
    expect(entries[2]!.old_values).toEqual({ signing_secret: "[redacted]" });
    expect(entries[2]!.new_values).toEqual({ signing_secret: "[redacted]" });
    expect(JSON.stringify(entries)).not.toMatch(/whsec_/);
  });

  it("refuses bad configuration with specific errors", async () => {
    const cases: Array<[string, RegExp]> = [
      [`select audit.track_table('app.webhooks', 'webhook', '[{"on": "upsert", "event": "webhook.created"}]')`, /must say "on": insert, update or delete/],
      [`select audit.track_table('app.webhooks', 'webhook', '[{"on": "insert", "event": "webhook.exploded"}]')`, /missing from audit.events/],
      [`select audit.track_table('app.webhooks', 'webhook', '[{"on": "update", "when": "new.no_such_column", "event": "webhook.updated"}]')`, /update rule of app.webhooks is not valid/],
      [`select audit.track_table('app.webhooks', 'webhook', '[]')`, /non-empty JSON array/],
      [`select audit.track_table('app.webhooks', 'webhook', '[{"on": "insert", "event": "webhook.created"}]', redacted_columns => '{password}')`, /has no column password/],
      [`select audit.track_table('app.webhooks', 'webhook', '[{"on": "insert", "event": "webhook.created"}]', tenant_column => 'org_id')`, /has no tenant column org_id/],
      [`select audit.track_table('app.webhooks', 'webhook', '[{"on": "insert", "event": "webhook.created"}]', secret_key_column => 'name')`, /has no column name \(secret_key_column\)/],
    ];
    for (const [sql, message] of cases) {
      await expect(db.owner.query(sql), sql).rejects.toThrow(message);
    }
    // the earlier, valid configuration is untouched by the refused calls
    const { rows } = await db.owner.query("select count(*)::int as n from audit.event_rules where table_name = 'app.webhooks'::regclass");
    expect(rows[0].n).toBe(3);
  });

  it("untracking stops the capture and keeps the entries", async () => {
    const before = await db.owner.query("select count(*)::int as n from audit.log where resource_type = 'webhook'");
    await db.owner.query("select audit.untrack_table('app.webhooks')");
    await asUser(db.app, l.adminId, (c) =>
      c.query("insert into app.webhooks (tenant_id, url, signing_secret) values ($1, 'https://x.test', 's')", [l.tenantId]));
    const after = await db.owner.query("select count(*)::int as n from audit.log where resource_type = 'webhook'");
    expect(after.rows[0].n).toBe(before.rows[0].n);
    expect(before.rows[0].n).toBeGreaterThan(0);
  });
});
