// A small, known audit history for the page's end-to-end tests, written the
// way applications write (app_user with an audit context, triggers record),
// then moved back in time (the owner's maintenance path) so that it spreads
// over the last weeks like real activity.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { withAuditContext, type AuditContext } from "../../../src/application/audit-context.ts";
import { backdate } from "../../support/backdate.ts";
import { lastEntryId } from "../../support/fixtures.ts";

const HOUR = 3600_000;
const DAY = 24 * HOUR;

export interface WebSeed {
  tenantId: string;
  opsAccountId: string;
  finAccountId: string;
  ada: { id: string; email: string; name: string };
  max: { id: string; email: string; name: string };
  olga: { id: string; email: string; name: string };
  processes: { ops: string; fin: string };
  settingsId: string;
  apiKeyId: string;
  otherTenantId: string;
  otherAccountId: string;
  otherUserId: string;
}

export async function seedWebData(app: pg.Pool, owner: pg.Pool, now = Date.now()): Promise<WebSeed> {
  const s: WebSeed = {
    tenantId: randomUUID(), opsAccountId: randomUUID(), finAccountId: randomUUID(),
    ada: { id: randomUUID(), email: "ada@acme.test", name: "Ada Admin" },
    max: { id: randomUUID(), email: "max@acme.test", name: "Max Member" },
    olga: { id: randomUUID(), email: "olga@acme.test", name: "Olga Ops" },
    processes: { ops: randomUUID(), fin: randomUUID() },
    settingsId: randomUUID(), apiKeyId: randomUUID(),
    otherTenantId: randomUUID(), otherAccountId: randomUUID(), otherUserId: randomUUID(),
  };
  const step = async (at: number, context: AuditContext, work: (c: pg.PoolClient) => Promise<unknown>) => {
    const before = await lastEntryId(owner);
    await withAuditContext(app, context, async (c) => {
      await work(c);
    });
    // The step's entries move to `at`, keeping their ids (hence their order).
    await backdate(owner, "update audit.log set occurred_at = $2 where id > $1", [before, new Date(at)]);
  };
  const system: AuditContext = { actor_type: "system", actor_name: "provisioning" };
  const as = (user: { id: string }, extra: Partial<AuditContext> = {}): AuditContext => ({ actor_type: "user", actor_id: user.id, ...extra });

  await step(now - 20 * DAY, system, async (c) => {
    await c.query("insert into app.tenants (id, name) values ($1, 'Acme'), ($2, 'Globex')", [s.tenantId, s.otherTenantId]);
    await c.query("insert into app.accounts (id, tenant_id, name) values ($1, $2, 'Operations'), ($3, $2, 'Finance'), ($4, $5, 'Globex HQ')",
      [s.opsAccountId, s.tenantId, s.finAccountId, s.otherAccountId, s.otherTenantId]);
    await c.query("insert into app.users (id, tenant_id, email, name) values ($1, $4, $5, $6), ($2, $4, $7, $8), ($3, $4, $9, $10), ($11, $12, 'gus@globex.test', 'Gus Globex')",
      [s.ada.id, s.max.id, s.olga.id, s.tenantId, s.ada.email, s.ada.name, s.max.email, s.max.name, s.olga.email, s.olga.name, s.otherUserId, s.otherTenantId]);
  });
  await step(now - 12 * DAY, as(s.ada, { request_id: "req-members", ip: "198.51.100.4", user_agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/140" }), async (c) => {
    await c.query("insert into app.memberships (tenant_id, account_id, user_id, role) values ($1, $2, $3, 'admin'), ($1, $4, $5, 'member')",
      [s.tenantId, s.opsAccountId, s.olga.id, s.finAccountId, s.max.id]);
  });
  await step(now - 9 * DAY, as(s.ada), async (c) => {
    await c.query("insert into app.processes (id, tenant_id, account_id, name) values ($1, $2, $3, 'Invoice sync'), ($4, $2, $5, 'Payroll export')",
      [s.processes.ops, s.tenantId, s.opsAccountId, s.processes.fin, s.finAccountId]);
  });
  await step(now - 6 * DAY, as(s.olga, { request_id: "req-1001", ip: "203.0.113.7", user_agent: "Mozilla/5.0 (E2E) Chromium" }), async (c) => {
    await c.query("insert into app.settings (id, tenant_id, account_id, key, value) values ($1, $2, $3, 'rpa.credentials', $4)",
      [s.settingsId, s.tenantId, s.opsAccountId, JSON.stringify({ username: "bot", password: "s3cret" })]);
  });
  await step(now - 3 * DAY, as(s.olga, { request_id: "req-2002", ip: "203.0.113.9", user_agent: "Mozilla/5.0 (E2E) Chromium" }), async (c) => {
    await c.query("update app.settings set value = $2 where id = $1", [s.settingsId, JSON.stringify({ username: "rpa-bot", password: "n3w-s3cret" })]);
  });
  await step(now - 2 * DAY, as(s.ada, { request_id: "req-3003", ip: "198.51.100.4" }), async (c) => {
    await c.query("update app.memberships set role = 'admin' where user_id = $1", [s.max.id]);
  });
  await step(now - 30 * HOUR, as(s.max, { request_id: "req-4004", ip: "192.0.2.10" }), async (c) => {
    await c.query("insert into app.api_keys (id, tenant_id, account_id, name, key_hash, created_by) values ($1, $2, $3, 'CI deploy', 'sha256:abcdef', $4)",
      [s.apiKeyId, s.tenantId, s.finAccountId, s.max.id]);
  });
  // Everyday activity: process edits spread over two weeks, in both accounts.
  for (let i = 0; i < 60; i++) {
    const inOps = i % 3 !== 0;
    await step(now - 14 * DAY + i * 5.5 * HOUR, as(inOps ? s.olga : s.max, { request_id: `req-p${i}` }), async (c) => {
      await c.query("update app.processes set description = $2 where id = $1", [inOps ? s.processes.ops : s.processes.fin, `Revision ${i}`]);
    });
  }
  await step(now - 5 * HOUR, as(s.ada, { request_id: "req-5005", reason: "Left the team" }), async (c) => {
    await c.query("delete from app.memberships where user_id = $1 and account_id = $2", [s.olga.id, s.opsAccountId]);
  });
  // Another tenant's activity that Acme's admins must never see.
  await step(now - 4 * HOUR, as({ id: s.otherUserId }), async (c) => {
    await c.query("insert into app.processes (tenant_id, account_id, name) values ($1, $2, 'Globex secret process')", [s.otherTenantId, s.otherAccountId]);
    await c.query("insert into app.settings (tenant_id, account_id, key, value) values ($1, $2, 'rpa.credentials', '{\"username\": \"gx\"}')", [s.otherTenantId, s.otherAccountId]);
  });
  return s;
}
