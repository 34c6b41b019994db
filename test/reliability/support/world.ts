// A random multi-tenant history, written the way applications write: as
// app_user, through the business tables, with audit.set_context naming the
// actor (or without it, as direct SQL). The plan (how many tenants, accounts
// and users, which writes in which transactions, by whom) comes from
// fast-check, so a seed replays it; ids and names are derived from the seed
// too. Every name, email and value carries a marker (`mk` + 8 characters)
// so that a response can be searched for another scope's data.
import { createHash } from "node:crypto";
import fc from "fast-check";
import type pg from "pg";
import { withAuditContext, type AuditContext } from "../../../src/application/audit-context.ts";
import { inTransaction } from "../../../src/db/transaction.ts";
import { backdate } from "../../support/backdate.ts";
import { sometimes } from "./isolation-runs.ts";
import type { TestDatabase } from "../../support/database.ts";

/** Markers and uuids in any text: what identifies one scope's data. */
export const ATOM_RE = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mk[0-9a-z]{8}/gi;

export interface TenantInfo {
  id: string;
  accounts: string[];
  users: string[];
}

export interface World {
  tenants: TenantInfo[];
}

type ActorKind = "user" | "api_key" | "system" | "none";

interface OpPlan {
  kind: number;
  /** Another tenant than the transaction's (one transaction writing two tenants). */
  otherTenant: number | null;
  a: number;
  b: number;
  c: number;
}

interface TransactionPlan {
  tenant: number;
  actor: { kind: ActorKind; pick: number };
  ops: OpPlan[];
}

export interface WorldPlan {
  tenants: { accounts: number; users: number }[];
  transactions: TransactionPlan[];
  /** Backdating: the seed of the instants, and how often a transaction shares the previous one's instant. */
  time: { seed: number; tiePercent: number };
}

const OP_COUNT = 15;

const opPlan: fc.Arbitrary<OpPlan> = fc.record({
  kind: fc.integer({ min: 0, max: OP_COUNT - 1 }),
  otherTenant: sometimes(fc.nat(100), 10),
  a: fc.nat(1000),
  b: fc.nat(1000),
  c: fc.nat(1000),
});

export const worldPlan: fc.Arbitrary<WorldPlan> = fc.record({
  tenants: fc.array(fc.record({ accounts: fc.integer({ min: 1, max: 3 }), users: fc.integer({ min: 1, max: 4 }) }), { minLength: 3, maxLength: 4 }),
  transactions: fc.array(
    fc.record({
      tenant: fc.nat(100),
      actor: fc.record({
        kind: fc.oneof(
          { weight: 5, arbitrary: fc.constant<ActorKind>("user") },
          { weight: 2, arbitrary: fc.constant<ActorKind>("api_key") },
          { weight: 2, arbitrary: fc.constant<ActorKind>("system") },
          { weight: 1, arbitrary: fc.constant<ActorKind>("none") },
        ),
        pick: fc.nat(1000),
      }),
      ops: fc.array(opPlan, { minLength: 1, maxLength: 3 }),
    }),
    { minLength: 40, maxLength: 70 },
  ),
  time: fc.record({ seed: fc.nat(), tiePercent: fc.integer({ min: 10, max: 40 }) }),
});

/** Ids and markers derived from the seed: the same world on every replay. */
class Names {
  private n = 0;
  private readonly seed: number;
  constructor(seed: number) {
    this.seed = seed;
  }
  private next(): string {
    return createHash("sha256").update(`${this.seed}:${this.n++}`).digest("hex");
  }
  uuid(): string {
    const h = this.next();
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
  }
  marker(): string {
    return "mk" + BigInt("0x" + this.next().slice(0, 12)).toString(36).padStart(8, "0").slice(-8);
  }
}

/** What the writes need to know of a tenant's business rows. */
interface TenantState extends TenantInfo {
  apiKeys: OneWay[];
  processes: { id: string; account: string; deleted: boolean }[];
  memberships: { id: string; account: string | null; user: string }[];
  settings: { account: string | null; key: string }[];
  invitations: OneWay[];
  licenses: { id: string; activated: boolean }[];
}

const SETTING_KEYS = ["rpa.credentials", "security.mfa_required", "ui.theme", "smtp.api_key"];
const ROLES = ["admin", "member", "viewer"];

const pick = <T>(list: readonly T[], n: number): T | undefined => (list.length === 0 ? undefined : list[n % list.length]);
/** An account of the tenant, or (one time in accounts + 1) null: a tenant-level row. */
const accountOrNull = (t: TenantState, n: number): string | null => t.accounts[n % (t.accounts.length + 1)] ?? null;
const remove = <T>(list: T[], item: T) => list.splice(list.indexOf(item), 1);

/** A row with a one-way change (an invitation accepted, an API key revoked). */
interface OneWay {
  id: string;
  done: boolean;
}

/** Makes a row's one-way change (`column` = now()) the first time, if `b` is even; deletes it otherwise. */
async function changeOrDelete(c: pg.PoolClient, table: string, column: string, list: OneWay[], a: number, b: number): Promise<void> {
  const row = pick(list, a);
  if (!row) return;
  if (!row.done && b % 2 === 0) {
    await c.query(`update ${table} set ${column} = now() where id = $1`, [row.id]);
    row.done = true;
  } else {
    await c.query(`delete from ${table} where id = $1`, [row.id]);
    remove(list, row);
  }
}

type Op = (c: pg.PoolClient, t: TenantState, op: OpPlan, names: Names) => Promise<void>;

// One write (or a few statements) per kind; a kind with nothing to act on does nothing.
const OPS: readonly Op[] = [
  async (c, t, { a, b, c: n }, names) => {
    const account = accountOrNull(t, a);
    const key = SETTING_KEYS[b % SETTING_KEYS.length]!;
    const value = key === "rpa.credentials" ? { username: names.marker(), password: `pw-${names.marker()}` } : { value: names.marker(), n };
    await c.query(
      `insert into app.settings (tenant_id, account_id, key, value) values ($1, $2, $3, $4)
       on conflict (tenant_id, account_id, key) do update set value = excluded.value`,
      [t.id, account, key, JSON.stringify(value)],
    );
    if (!t.settings.some((s) => s.account === account && s.key === key)) t.settings.push({ account, key });
  },
  async (c, t, { a }) => {
    const s = pick(t.settings, a);
    if (!s) return;
    await c.query("delete from app.settings where tenant_id = $1 and account_id is not distinct from $2 and key = $3", [t.id, s.account, s.key]);
    remove(t.settings, s);
  },
  async (c, t, { a, b }, names) => {
    // Several rows in one statement: entries of the same instant and transaction.
    const account = t.accounts[a % t.accounts.length]!;
    const ids = Array.from({ length: 1 + (b % 3) }, () => names.uuid());
    await c.query(
      "insert into app.processes (id, tenant_id, account_id, name) select id, $2, $3, name from unnest($1::uuid[], $4::text[]) p(id, name)",
      [ids, t.id, account, ids.map(() => `Process ${names.marker()}`)],
    );
    t.processes.push(...ids.map((id) => ({ id, account, deleted: false })));
  },
  async (c, t, { a, b }, names) => {
    const p = pick(t.processes, a);
    if (!p) return;
    const column = b % 2 === 0 ? "description" : "name";
    await c.query(`update app.processes set ${column} = $2 where id = $1`, [p.id, `${column} ${names.marker()}`]);
  },
  async (c, t, { a }) => {
    const p = pick(t.processes, a);
    if (!p) return;
    await c.query(`update app.processes set deleted_at = ${p.deleted ? "null" : "now()"} where id = $1`, [p.id]);
    p.deleted = !p.deleted;
  },
  async (c, t, { a, b }) => {
    const p = pick(t.processes, a);
    if (!p) return;
    const status = ["completed", "failed", "cancelled"][b % 3]!;
    if (b % 2 === 0) {
      await c.query("insert into app.jobs (tenant_id, account_id, process_id, status) values ($1, $2, $3, $4)", [t.id, p.account, p.id, status]);
    } else {
      // Progress is not recorded, the terminal status is.
      const { rows } = await c.query<{ id: string }>(
        "insert into app.jobs (tenant_id, account_id, process_id, status) values ($1, $2, $3, 'running') returning id", [t.id, p.account, p.id],
      );
      await c.query("update app.jobs set status = $2, finished_at = now() where id = $1", [rows[0]!.id, status]);
    }
  },
  async (c, t, { a, b, c: n }, names) => {
    const user = t.users[a % t.users.length]!;
    const account = accountOrNull(t, b);
    const role = ROLES[n % ROLES.length]!;
    const existing = t.memberships.find((m) => m.user === user && m.account === account);
    if (existing) {
      await c.query("update app.memberships set role = $2 where id = $1", [existing.id, role]);
    } else {
      const id = names.uuid();
      await c.query("insert into app.memberships (id, tenant_id, account_id, user_id, role) values ($1, $2, $3, $4, $5)", [id, t.id, account, user, role]);
      t.memberships.push({ id, account, user });
    }
  },
  async (c, t, { a }) => {
    const m = pick(t.memberships, a);
    if (!m) return;
    await c.query("delete from app.memberships where id = $1", [m.id]);
    remove(t.memberships, m);
  },
  async (c, t, { a, b, c: n }, names) => {
    const id = names.uuid();
    await c.query("insert into app.invitations (id, tenant_id, account_id, email, role, invited_by) values ($1, $2, $3, $4, $5, $6)", [
      id, t.id, accountOrNull(t, a), `${names.marker()}@invited.test`, ROLES[b % ROLES.length], pick(t.users, n),
    ]);
    t.invitations.push({ id, done: false });
  },
  (c, t, { a, b }) => changeOrDelete(c, "app.invitations", "accepted_at", t.invitations, a, b),
  async (c, t, { a, b }, names) => {
    const id = names.uuid();
    await c.query("insert into app.api_keys (id, tenant_id, account_id, name, key_hash, created_by) values ($1, $2, $3, $4, 'hash', $5)", [
      id, t.id, accountOrNull(t, a), `Key ${names.marker()}`, pick(t.users, b),
    ]);
    t.apiKeys.push({ id, done: false });
  },
  (c, t, { a, b }) => changeOrDelete(c, "app.api_keys", "revoked_at", t.apiKeys, a, b),
  async (c, t, { a, b }, names) => {
    const l = pick(t.licenses.filter((x) => !x.activated), a);
    if (l && b % 2 === 0) {
      await c.query("update app.licenses set activated_at = now() where id = $1", [l.id]);
      l.activated = true;
    } else {
      const id = names.uuid();
      await c.query("insert into app.licenses (id, tenant_id, plan, seats) values ($1, $2, $3, $4)", [id, t.id, `plan-${names.marker()}`, 1 + (b % 50)]);
      t.licenses.push({ id, activated: false });
    }
  },
  async (c, t, { a, b }, names) => {
    const name = `Renamed ${names.marker()}`;
    if (b % 3 === 0) await c.query("update app.tenants set name = $2 where id = $1", [t.id, name]);
    else if (b % 3 === 1) await c.query("update app.accounts set name = $2 where id = $1", [t.accounts[a % t.accounts.length], name]);
    else await c.query("update app.users set name = $2 where id = $1", [t.users[a % t.users.length], name]);
  },
  async (c, t, { a, b }, names) => {
    // An application event (what no trigger sees), with a marked label and context.
    const [event, account] = b % 2 === 0 ? ["user.signed_in", null] : ["settings.viewed", accountOrNull(t, a)];
    await c.query("select audit.record_event($1, $2, $3, $4, $5, $6)",
      [event, t.id, account, t.users[a % t.users.length], JSON.stringify({ via: names.marker() }), `Event ${names.marker()}`]);
  },
];

async function provision(app: pg.Pool, shape: WorldPlan["tenants"][number], index: number, names: Names): Promise<TenantState> {
  const t: TenantState = {
    id: names.uuid(),
    accounts: Array.from({ length: shape.accounts }, () => names.uuid()),
    users: Array.from({ length: shape.users }, () => names.uuid()),
    apiKeys: [], processes: [], memberships: [], settings: [], invitations: [], licenses: [],
  };
  const domain = `${names.marker()}.test`;
  const work = async (c: pg.PoolClient) => {
    await c.query("insert into app.tenants (id, name) values ($1, $2)", [t.id, `Tenant ${names.marker()}`]);
    for (const id of t.accounts) await c.query("insert into app.accounts (id, tenant_id, name) values ($1, $2, $3)", [id, t.id, `Account ${names.marker()}`]);
    for (const id of t.users) {
      await c.query("insert into app.users (id, tenant_id, email, name) values ($1, $2, $3, $4)", [id, t.id, `${names.marker()}@${domain}`, `User ${names.marker()}`]);
    }
  };
  // Some tenants are provisioned by a named system actor, some by plain SQL (actor: the database role).
  if (index % 2 === 0) await withAuditContext(app, { actor_type: "system", actor_name: `provisioner ${names.marker()}` }, work);
  else await inTransaction(app, work);
  return t;
}

function actorContext(t: TenantState, actor: TransactionPlan["actor"], names: Names): AuditContext | null {
  const context = { request_id: `req-${names.marker()}`, ip: "198.51.100.7", user_agent: `agent ${names.marker()}` };
  const key = pick(t.apiKeys, actor.pick);
  switch (actor.kind) {
    case "user":
      return { ...context, actor_type: "user", actor_id: t.users[actor.pick % t.users.length]! };
    case "api_key":
      if (key) return { ...context, actor_type: "api_key", actor_id: key.id };
      return { ...context, actor_type: "system", actor_name: `sync ${names.marker()}` };
    case "system":
      return { ...context, actor_type: "system", actor_name: `scheduler ${names.marker()}` };
    case "none":
      return null;
  }
}

/** A tiny deterministic generator (mulberry32) for the backdated instants. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = Math.imul(s ^ (s >>> 15), 1 | s);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Window of the backdated entries: across a year's end, so queries span two partitions. */
export const WINDOW = { start: Date.parse("2025-12-24T00:00:00Z"), days: 16 };

/**
 * Re-dates every entry: one random instant (with microseconds) per
 * transaction, as now() is per transaction; some transactions share the
 * previous one's instant, so cursors must break ties by id. The instants are
 * not in id order.
 */
async function backdateAll(owner: pg.Pool, time: WorldPlan["time"]): Promise<void> {
  const next = random(time.seed);
  const { rows } = await owner.query<{ transaction_id: string }>("select distinct transaction_id::text from audit.log order by 1");
  const at = new Map<string, string>();
  let previous = "";
  for (const { transaction_id } of rows) {
    if (previous && next() * 100 < time.tiePercent) {
      at.set(transaction_id, previous);
      continue;
    }
    const ms = WINDOW.start + Math.floor(next() * WINDOW.days * 86_400_000);
    const micros = String(Math.floor(next() * 1000)).padStart(3, "0");
    previous = new Date(ms).toISOString().replace("Z", `${micros}Z`);
    at.set(transaction_id, previous);
  }
  await backdate(
    owner,
    "update audit.log l set occurred_at = v.t from unnest($1::bigint[], $2::timestamptz[]) v(tx, t) where l.transaction_id = v.tx",
    [[...at.keys()], [...at.values()]],
  );
  await owner.query("select audit.ensure_partitions()");
  // Current statistics, as autovacuum keeps them: realistic plans, and pg_stats has something to hide.
  await owner.query("analyze audit.log");
}

/** Writes the planned history through app_user and backdates it; returns who exists. */
export async function buildWorld(db: TestDatabase, plan: WorldPlan, seed: number): Promise<World> {
  const names = new Names(seed);
  const tenants: TenantState[] = [];
  for (const [i, shape] of plan.tenants.entries()) tenants.push(await provision(db.app, shape, i, names));
  for (const tx of plan.transactions) {
    const home = tenants[tx.tenant % tenants.length]!;
    const work = async (c: pg.PoolClient) => {
      for (const op of tx.ops) {
        const t = op.otherTenant === null ? home : tenants[op.otherTenant % tenants.length]!;
        await OPS[op.kind]!(c, t, op, names);
      }
    };
    const context = actorContext(home, tx.actor, names);
    if (context) await withAuditContext(db.app, context, work);
    else await inTransaction(db.app, work);
  }
  await backdateAll(db.owner, plan.time);
  return { tenants: tenants.map(({ id, accounts, users }) => ({ id, accounts, users })) };
}

/** The world of a seed: the plan drawn by fast-check, then written. */
export async function seededWorld(db: TestDatabase, seed: number): Promise<World> {
  const [plan] = fc.sample(worldPlan, { seed, numRuns: 1 });
  return buildWorld(db, plan!, seed);
}
