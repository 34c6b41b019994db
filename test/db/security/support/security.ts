// Shared helpers of the security-monitoring tests (migrations/current.sql,
// sections 3-5, 8, 9, 12): tenants written as an application writes them,
// transactions whose id we keep, detect() rounds that wait (with a deadline)
// until the entries we wrote are consumed, and readers of alerts.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { withAuditContext } from "../../../../src/application/audit-context.ts";
import { inTransaction } from "../../../../src/db/transaction.ts";
import { backdate } from "../../../support/backdate.ts";

export interface TestUser {
  id: string;
  email: string;
  name: string;
}

export interface Tenant {
  id: string;
  name: string;
  /** Account "Operations": the member and the viewer belong to it. */
  accountId: string;
  /** Account "Finance". */
  otherAccountId: string;
  /** A tenant-level admin (added in the tenant's creating transaction). */
  admin: TestUser;
  /** A second tenant-level admin. */
  admin2: TestUser;
  /** A member of account Operations. */
  member: TestUser;
  /** A viewer of account Operations. */
  viewer: TestUser;
  /** Users of the tenant without any membership. */
  users: TestUser[];
  memberships: { admin: string; admin2: string; member: string; viewer: string };
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9]+/g, "-");

/**
 * A tenant, two accounts, two tenant admins, a member and a viewer of account
 * Operations, and `extraUsers` users without memberships, written in one
 * transaction as app_user by a system actor (so the first admins are those of
 * the tenant's creation and stay quiet).
 */
export async function createTenant(app: pg.Pool, name = "Acme", extraUsers = 0): Promise<Tenant> {
  const domain = `${slug(name)}-${randomUUID().slice(0, 8)}.test`;
  const user = (local: string, display: string): TestUser => ({ id: randomUUID(), email: `${local}@${domain}`, name: display });
  const t: Tenant = {
    id: randomUUID(), name, accountId: randomUUID(), otherAccountId: randomUUID(),
    admin: user("ada", "Ada Admin"), admin2: user("alan", "Alan Admin"),
    member: user("max", "Max Member"), viewer: user("vera", "Vera Viewer"),
    users: Array.from({ length: extraUsers }, (_, i) => user(`user${i + 1}`, `User ${i + 1}`)),
    memberships: { admin: randomUUID(), admin2: randomUUID(), member: randomUUID(), viewer: randomUUID() },
  };
  await withAuditContext(app, { actor_type: "system", actor_name: "provisioning" }, async (c) => {
    await c.query("insert into app.tenants (id, name) values ($1, $2)", [t.id, name]);
    await c.query("insert into app.accounts (id, tenant_id, name) values ($1, $2, 'Operations'), ($3, $2, 'Finance')",
      [t.accountId, t.id, t.otherAccountId]);
    const all = [t.admin, t.admin2, t.member, t.viewer, ...t.users];
    await c.query("insert into app.users (id, tenant_id, email, name) select u.id, $1, u.email, u.name from jsonb_to_recordset($2::jsonb) as u(id uuid, email text, name text)",
      [t.id, JSON.stringify(all)]);
    await c.query(
      `insert into app.memberships (id, tenant_id, account_id, user_id, role) values
         ($1, $5, null, $6, 'admin'), ($2, $5, null, $7, 'admin'), ($3, $5, $10, $8, 'member'), ($4, $5, $10, $9, 'viewer')`,
      [t.memberships.admin, t.memberships.admin2, t.memberships.member, t.memberships.viewer, t.id,
        t.admin.id, t.admin2.id, t.member.id, t.viewer.id, t.accountId]);
  });
  return t;
}

/** Runs `work` in one committed transaction as app_user, with `actorId` as the user actor (null: no audit context, a database role). Returns the work's result and the transaction's id. */
export async function write<T>(app: pg.Pool, actorId: string | null, work: (c: pg.PoolClient) => Promise<T>): Promise<{ result: T; xid: bigint }> {
  const run = async (c: pg.PoolClient) => {
    const result = await work(c);
    const xid = await currentXid(c);
    return { result, xid };
  };
  return actorId ? withAuditContext(app, { actor_id: actorId, actor_type: "user" }, run) : inTransaction(app, run);
}

/** Runs `work` in one committed transaction as app_user by the system actor "provisioning" (setup that no detector looks at). Returns the transaction's id. */
export async function provision(app: pg.Pool, work: (c: pg.PoolClient) => Promise<unknown>): Promise<bigint> {
  return withAuditContext(app, { actor_type: "system", actor_name: "provisioning" }, async (c) => {
    await work(c);
    return currentXid(c);
  });
}

/** The id of the client's current transaction (assigning one if it has none yet). */
export async function currentXid(c: pg.ClientBase): Promise<bigint> {
  const { rows } = await c.query<{ xid: string }>("select txid_current()::text as xid");
  return BigInt(rows[0]!.xid);
}

/** The ids of the entries a transaction wrote, ascending (read as the owner). */
export async function entryIds(owner: pg.Pool, xid: bigint): Promise<string[]> {
  const { rows } = await owner.query<{ id: string }>("select l.id::text as id from audit.log l where l.transaction_id = $1 order by l.id", [xid.toString()]);
  return rows.map((r) => r.id);
}

export async function watermark(owner: pg.Pool | pg.ClientBase, consumer = "detectors"): Promise<bigint | null> {
  const { rows } = await owner.query<{ w: string }>("select watermark::text as w from audit_private.log_consumers where consumer = $1", [consumer]);
  return rows[0] ? BigInt(rows[0].w) : null;
}

export async function horizon(owner: pg.Pool | pg.ClientBase): Promise<bigint> {
  const { rows } = await owner.query<{ h: string }>("select audit_private.current_horizon()::text as h");
  return BigInt(rows[0]!.h);
}

/** Polls `probe` until it returns something other than undefined; fails after `timeoutMs` naming `what`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000, pollMs = 25): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
}

/**
 * Runs `select audit.detect()` until the 'detectors' watermark has passed
 * every transaction id in `xids` (their entries are consumed), within a
 * deadline: the xmin horizon is cluster-wide, so transactions of other test
 * files can hold it back for a while. Returns the sum of what the rounds
 * returned (alerts opened or updated).
 */
export async function detectUntil(owner: pg.Pool, ...xids: bigint[]): Promise<number> {
  const target = xids.reduce((a, b) => (b > a ? b : a), 0n);
  let changed = 0;
  await until(`the detectors to consume transaction ${target}`, async () => {
    const { rows } = await owner.query<{ n: number | null }>("select audit.detect() as n");
    changed += rows[0]!.n ?? 0;
    const w = await watermark(owner);
    return w !== null && w > target ? true : undefined;
  });
  return changed;
}

/** Moves the entries of a transaction to `at` (the owner's maintenance path), before a detect() round consumes them. */
export async function backdateTransaction(owner: pg.Pool, xid: bigint, at: string | Date): Promise<void> {
  await backdate(owner, "update audit.log set occurred_at = $2 where transaction_id = $1", [xid.toString(), at]);
}

export interface Alert {
  tenant_id: string;
  id: string;
  account_id: string | null;
  detector: string;
  severity: "low" | "medium" | "high";
  status: "open" | "acknowledged" | "resolved";
  summary: string;
  incident_key: string;
  actor_type: string | null;
  actor_id: string | null;
  actor_email: string | null;
  actor_name: string | null;
  first_at: Date;
  last_at: Date;
  entry_count: string;
  entry_ids: string[];
  entries_descriptor: Record<string, unknown>;
  details: Record<string, unknown> & { counts?: Record<string, number> };
  detected_at: Date;
  updated_at: Date;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  resolved_at: Date | null;
  resolved_by: string | null;
  resolution_note: string | null;
}

/** The alerts of a tenant (of one detector), oldest first, read as the owner. entry_ids as strings. */
export async function alertsOf(owner: pg.Pool, tenantId: string, detector?: string): Promise<Alert[]> {
  const { rows } = await owner.query<Alert>(
    `select a.*, a.id::text as id, a.entry_count::text as entry_count, a.entry_ids::text[] as entry_ids
       from audit.alerts a where a.tenant_id = $1 and ($2::text is null or a.detector = $2) order by a.id`,
    [tenantId, detector ?? null]);
  return rows;
}

/** The alerts of a tenant that hold one of these entries. */
export async function alertsWithEntries(owner: pg.Pool, tenantId: string, ids: string[], detector?: string): Promise<Alert[]> {
  return (await alertsOf(owner, tenantId, detector)).filter((a) => a.entry_ids.some((id) => ids.includes(id)));
}

export async function setDetectorSettings(owner: pg.Pool, tenantId: string, doc: unknown): Promise<Record<string, any>> {
  const { rows } = await owner.query<{ s: Record<string, any> }>("select audit.set_detector_settings($1, $2::jsonb) as s", [tenantId, JSON.stringify(doc)]);
  return rows[0]!.s;
}

/** Business hours around the clock: after_hours_settings_change stays quiet whenever the tests run. */
export const ALWAYS_OPEN = { business_hours: { time_zone: "UTC", days: [1, 2, 3, 4, 5, 6, 7], start: "00:00", end: "24:00" } };

export interface Claims {
  role: "tenant_admin" | "account_admin";
  tenantId: string;
  accountId?: string;
  sub: string;
  email?: string;
  name?: string;
}

async function setClaims(c: pg.ClientBase, claims: Claims): Promise<void> {
  await c.query(
    `select set_config('jwt.claims.role', $1, true), set_config('jwt.claims.tenant_id', $2, true), set_config('jwt.claims.account_id', $3, true),
            set_config('jwt.claims.sub', $4, true), set_config('jwt.claims.email', $5, true), set_config('jwt.claims.name', $6, true)`,
    [claims.role, claims.tenantId, claims.accountId ?? "", claims.sub, claims.email ?? "", claims.name ?? ""]);
}

/** Runs `sql` in a transaction as the owner with a tenant admin's jwt.claims.* (how audit.resolve_security_alert etc. are called without the API). */
export async function ownerWithClaims<T extends pg.QueryResultRow>(owner: pg.Pool, claims: Claims, sql: string, params: unknown[] = []): Promise<pg.QueryResult<T>> {
  return inTransaction(owner, async (c) => {
    await setClaims(c, claims);
    return c.query<T>(sql, params);
  });
}

/** Runs `sql` as the API does: on `auth` (audit_authenticator), switched to the admin kind's role, with the claims in jwt.claims.*; `claims` null: no role, no claims. */
export async function asApiAdmin<T extends pg.QueryResultRow>(auth: pg.Pool, claims: Claims | null, sql: string, params: unknown[] = []): Promise<pg.QueryResult<T>> {
  return inTransaction(auth, async (c) => {
    if (claims) {
      await c.query(`set local role ${claims.role === "tenant_admin" ? "audit_tenant_admin" : "audit_account_admin"}`);
      await setClaims(c, claims);
    }
    return c.query<T>(sql, params);
  });
}

/** The error a promise rejects with (fails when it resolves). */
export async function failure(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error("expected the statement to fail, it succeeded");
}
