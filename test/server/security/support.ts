// Shared by the security monitoring tests: alerts inserted directly as the
// owner (as audit.detect() would write them), and the database's own
// reading of an alert's entries in an admin's scope, to compare the API with.
import type pg from "pg";
import { scopePgSettings, type ScopeClaims } from "../../../src/server/auth.ts";
import { inTransaction } from "../../../src/db/transaction.ts";
import type { Landscape } from "../../support/fixtures.ts";

export interface AlertSpec {
  tenantId: string;
  accountId?: string | null;
  detector?: string;
  severity?: "low" | "medium" | "high";
  status?: "open" | "acknowledged" | "resolved";
  summary?: string;
  /** The alert's entries (ids of audit.log, as strings). */
  entryIds: string[];
  /** More entries than entry_ids holds: entry_count, so that the descriptor is what finds them. */
  entryCount?: number;
  /** Only the first n of entryIds go into entry_ids (with entryCount: a descriptor alert). */
  keepIds?: number;
  descriptor?: Record<string, unknown>;
  detectedAt?: string;
  actor?: { type: string; id: string | null; email?: string | null; name?: string | null };
}

/** Inserts an alert as the owner; its span and actor come from its entries. Returns its id (a string). */
export async function insertAlert(owner: pg.Pool, spec: AlertSpec): Promise<string> {
  const { rows: span } = await owner.query<{ first_at: Date; last_at: Date; actor_type: string; actor_id: string | null; actor_email: string | null; actor_name: string | null }>(
    `select min(occurred_at) as first_at, max(occurred_at) as last_at,
            (array_agg(actor_type::text order by id))[1] as actor_type, (array_agg(actor_id order by id))[1] as actor_id,
            (array_agg(actor_email order by id))[1] as actor_email, (array_agg(actor_name order by id))[1] as actor_name
       from audit.log where id = any($1::bigint[])`,
    [spec.entryIds],
  );
  const s = span[0]!;
  const actor = spec.actor ?? { type: s.actor_type, id: s.actor_id, email: s.actor_email, name: s.actor_name };
  const ids = spec.entryIds.slice(0, spec.keepIds ?? spec.entryIds.length);
  const descriptor = spec.descriptor ?? { actor_type: actor.type, actor_id: actor.id, actor_name: actor.id ? null : actor.name, events: [], resource_types: [], from: s.first_at, to: s.last_at };
  const { rows } = await owner.query<{ id: string }>(
    `insert into audit.alerts (tenant_id, account_id, detector, severity, status, summary, incident_key, actor_type, actor_id, actor_email, actor_name,
                               first_at, last_at, entry_count, entry_ids, entries_descriptor, details, detected_at)
     values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::bigint[], $16, '{"test": true}', coalesce($17::timestamptz, now()))
     returning id::text`,
    [
      spec.tenantId, spec.accountId ?? null, spec.detector ?? "mass_change", spec.severity ?? "medium", spec.status ?? "open",
      spec.summary ?? "Someone did many things", `key-${Math.random()}`, actor.type, actor.id, actor.email ?? null, actor.name ?? null,
      s.first_at, s.last_at, spec.entryCount ?? spec.entryIds.length, ids, JSON.stringify(descriptor), spec.detectedAt ?? null,
    ],
  );
  return rows[0]!.id;
}

export const claimsOfTenantAdmin = (l: Landscape): ScopeClaims => ({ userId: l.adminId, tenantId: l.tenantId, role: "tenant_admin", accountId: null });
export const claimsOfAccountAdmin = (l: Landscape, accountId = l.accountId): ScopeClaims => ({
  userId: l.adminId, tenantId: l.tenantId, role: "account_admin", accountId,
});

/**
 * The alert's entries as the migration's audit.security_alert_entries()
 * finds them, in the admin's role and claims (so through both tables'
 * row-level security), newest first. `authPool` logs in as audit_authenticator.
 */
export async function entriesInScope(authPool: pg.Pool, claims: ScopeClaims, alertId: string): Promise<string[]> {
  return inTransaction(authPool, async (c) => {
    await c.query("select set_config(s.key, s.value, true) from json_each_text($1::json) s", [
      JSON.stringify(scopePgSettings(claims, { statementTimeoutMs: 10_000 })),
    ]);
    const { rows } = await c.query<{ id: string }>(
      `select e.id::text from audit.alerts a cross join lateral audit.security_alert_entries(a) e
        where a.id = $1 order by e.occurred_at desc, e.id desc`,
      [alertId],
    );
    return rows.map((r) => r.id);
  }, { begin: "begin read only" });
}

/** Ids of audit.log entries matching a condition, oldest first by id (as the owner). */
export async function logIds(owner: pg.Pool, where: string, params: unknown[]): Promise<string[]> {
  const { rows } = await owner.query<{ id: string }>(`select id::text from audit.log where ${where} order by id`, params);
  return rows.map((r) => r.id);
}

/** The same ids newest first (occurred_at desc, id desc), as the API lists entries. */
export async function newestFirst(owner: pg.Pool, ids: string[]): Promise<string[]> {
  const { rows } = await owner.query<{ id: string }>("select id::text from audit.log where id = any($1::bigint[]) order by occurred_at desc, id desc", [ids]);
  return rows.map((r) => r.id);
}
