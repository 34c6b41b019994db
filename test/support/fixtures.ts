// A small tenant landscape written through app_user, and readers of the log.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { withAuditContext, type AuditContext } from "../../src/application/audit-context.ts";
import { inTransaction } from "../../src/db/transaction.ts";

export interface Landscape {
  tenantId: string;
  accountId: string;
  otherAccountId: string;
  adminId: string;
  memberId: string;
  processId: string;
}

export interface LogEntry {
  id: string;
  occurred_at: Date;
  tenant_id: string;
  account_id: string | null;
  actor_type: string;
  actor_id: string | null;
  actor_email: string | null;
  actor_name: string | null;
  action: string;
  resource_type: string;
  entity_id: string;
  entity_label: string | null;
  event: string;
  old_values: Record<string, unknown> | null;
  new_values: Record<string, unknown> | null;
  context: Record<string, unknown>;
  transaction_id: string;
}

export async function createLandscape(app: pg.Pool, name = "Acme"): Promise<Landscape> {
  const l: Landscape = {
    tenantId: randomUUID(), accountId: randomUUID(), otherAccountId: randomUUID(),
    adminId: randomUUID(), memberId: randomUUID(), processId: randomUUID(),
  };
  await inTransaction(app, async (client) => {
    await client.query("insert into app.tenants (id, name) values ($1, $2)", [l.tenantId, name]);
    await client.query("insert into app.accounts (id, tenant_id, name) values ($1, $2, 'Operations'), ($3, $2, 'Finance')",
      [l.accountId, l.tenantId, l.otherAccountId]);
    await client.query("insert into app.users (id, tenant_id, email, name) values ($1, $2, $3, 'Ada Admin'), ($4, $2, $5, 'Max Member')",
      [l.adminId, l.tenantId, `ada@${name.toLowerCase()}.test`, l.memberId, `max@${name.toLowerCase()}.test`]);
    await client.query("insert into app.processes (id, tenant_id, account_id, name) values ($1, $2, $3, 'Invoice sync')",
      [l.processId, l.tenantId, l.accountId]);
  });
  return l;
}

/** Runs SQL as app_user with the admin of the landscape as actor. */
export function asUser<T>(app: pg.Pool, userId: string, work: (c: pg.PoolClient) => Promise<T>, extra: Partial<AuditContext> = {}): Promise<T> {
  return withAuditContext(app, { actor_id: userId, actor_type: "user", ...extra }, work);
}

/** Entries written after `afterId`, oldest first (read as the owner). */
export async function entriesAfter(owner: pg.Pool, afterId: string | number = 0): Promise<LogEntry[]> {
  const { rows } = await owner.query<LogEntry>("select * from audit.log where id > $1 order by id", [afterId]);
  return rows;
}

export async function lastEntryId(owner: pg.Pool): Promise<string> {
  const { rows } = await owner.query<{ max: string | null }>("select max(id)::text as max from audit.log");
  return rows[0]?.max ?? "0";
}
