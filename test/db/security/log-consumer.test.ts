// The log's consumers in commit order (migrations/current.sql, section 3):
// rounds bounded by the xmin horizon never skip an entry and never hand one
// out twice, whatever the order in which transactions start and commit, roll
// back, crash mid-round or run concurrently; audit.detect() is one of them.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inTransaction } from "../../../src/db/transaction.ts";
import { createTestDatabase, type TestDatabase } from "../../support/database.ts";
import {
  alertsOf, alertsWithEntries, createTenant, currentXid, detectUntil, entryIds, failure, horizon, until, watermark, write, type Tenant,
} from "./support/security.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

interface Round {
  from: bigint;
  to: bigint;
  ids: string[];
}

/** One round of a test consumer, driven as a consumer drives it: begin_round, round_entries, end_round, commit. Null when another runner holds the lock. */
async function round(consumer: string, maxXids = 10_000_000): Promise<Round | null> {
  return inTransaction(db.owner, async (c) => {
    const r = (await c.query<{ from_xid: string | null; to_xid: string | null }>(
      "select from_xid::text, to_xid::text from audit_private.begin_round($1, $2)", [consumer, maxXids])).rows[0]!;
    if (r.from_xid === null || r.to_xid === null) return null;
    const ids = (await c.query<{ id: string }>("select e.id::text as id from audit_private.round_entries($1, $2) e order by e.id", [r.from_xid, r.to_xid])).rows.map((x) => x.id);
    await c.query("select audit_private.end_round($1, $2, $3)", [consumer, r.to_xid, ids.length]);
    return { from: BigInt(r.from_xid), to: BigInt(r.to_xid), ids };
  });
}

/** Counts, per entry id, how many rounds handed it out. */
class Ledger {
  readonly seen = new Map<string, number>();
  readonly rounds: Round[] = [];
  record(r: Round): void {
    this.rounds.push(r);
    for (const id of r.ids) this.seen.set(id, (this.seen.get(id) ?? 0) + 1);
  }
  count(id: string): number {
    return this.seen.get(id) ?? 0;
  }
  duplicates(): string[] {
    return [...this.seen].filter(([, n]) => n > 1).map(([id]) => id);
  }
}

/** Runs rounds of `consumer` until its watermark passes every xid given (with a deadline), recording them. */
async function roundsUntil(consumer: string, ledger: Ledger, xids: bigint[], maxXids?: number): Promise<void> {
  const target = xids.reduce((a, b) => (b > a ? b : a), 0n);
  await until(`consumer ${consumer} to pass transaction ${target}`, async () => {
    const r = await round(consumer, maxXids);
    if (r) ledger.record(r);
    const w = await watermark(db.owner, consumer);
    return w !== null && w > target ? true : undefined;
  });
}

/** Writes `n` tenant-level settings (settings.updated entries) on a client inside its transaction. */
async function writeSettings(c: pg.ClientBase, tenantId: string, n = 1): Promise<void> {
  await c.query("insert into app.settings (tenant_id, account_id, key, value) select $1, null, 'test.' || $2 || '.' || g, '{\"on\": true}' from generate_series(1, $3) g",
    [tenantId, randomUUID(), n]);
}

async function setContext(c: pg.ClientBase, actorId: string): Promise<void> {
  await c.query("select audit.set_context($1::jsonb)", [JSON.stringify({ actor_id: actorId, actor_type: "user" })]);
}

async function register(consumer: string): Promise<bigint> {
  const { rows } = await db.owner.query<{ w: string }>("select audit_private.register_consumer($1)::text as w", [consumer]);
  return BigInt(rows[0]!.w);
}

/** A tenant with `viewers` extra users who are viewers of account Operations (added by a database role: not an escalation). */
async function tenantWithViewers(name: string, viewers: number): Promise<{ t: Tenant; viewerMemberships: string[] }> {
  const t = await createTenant(db.app, name, viewers);
  const viewerMemberships = t.users.map(() => randomUUID());
  await write(db.app, null, (c) => c.query(
    "insert into app.memberships (id, tenant_id, account_id, user_id, role) select m, $1, $2, u, 'viewer' from unnest($3::uuid[], $4::uuid[]) as x(m, u)",
    [t.id, t.accountId, viewerMemberships, t.users.map((u) => u.id)]));
  return { t, viewerMemberships };
}

async function makeAdmin(c: pg.ClientBase, membershipId: string): Promise<void> {
  await c.query("update app.memberships set role = 'admin' where id = $1", [membershipId]);
}

describe("a transaction that starts first and commits last", () => {
  it("is consumed by a later round of a consumer: every entry exactly once, none skipped", async () => {
    const t = await createTenant(db.app, "Late");
    const consumer = "test_late";
    await register(consumer);
    const ledger = new Ledger();
    const late = await db.app.connect();
    let lateXid: bigint;
    let earlyXid: bigint;
    try {
      await late.query("begin");
      await setContext(late, t.admin.id);
      await writeSettings(late, t.id, 2);
      lateXid = await currentXid(late);

      // Meanwhile another transaction starts after it, commits first, and a round runs.
      earlyXid = (await write(db.app, t.member.id, (c) => writeSettings(c, t.id, 3))).xid;
      expect(earlyXid).toBeGreaterThan(lateXid);
      const earlyIds = await entryIds(db.owner, earlyXid);
      expect(earlyIds).toHaveLength(3);
      const r = (await round(consumer))!;
      ledger.record(r);
      // The round stops below the open transaction: the early entries wait, they are not passed over.
      expect(r.to).toBeLessThanOrEqual(lateXid);
      expect(r.ids.filter((id) => earlyIds.includes(id))).toEqual([]);
      expect(await watermark(db.owner, consumer)).toBeLessThanOrEqual(lateXid);

      await late.query("commit");
    } catch (err) {
      await late.query("rollback");
      throw err;
    } finally {
      late.release();
    }
    const lateIds = await entryIds(db.owner, lateXid);
    expect(lateIds).toHaveLength(2);
    await roundsUntil(consumer, ledger, [lateXid, earlyXid]);
    const everything = [...lateIds, ...(await entryIds(db.owner, earlyXid))];
    expect(everything).toHaveLength(5);
    for (const id of everything) expect(ledger.count(id), `entry ${id}`).toBe(1);
    expect(ledger.duplicates()).toEqual([]);

    // Later rounds never hand them out again.
    const again = (await round(consumer))!;
    expect(again.ids.filter((id) => everything.includes(id))).toEqual([]);
  });

  it("audit.detect(): its escalation is found once the late transaction commits, exactly once, and the early one is not skipped meanwhile", async () => {
    const { t, viewerMemberships } = await tenantWithViewers("LateDetect", 2);
    const late = await db.app.connect();
    let lateXid: bigint;
    let earlyXid: bigint;
    try {
      await late.query("begin");
      await setContext(late, t.admin.id);
      await makeAdmin(late, viewerMemberships[0]!);
      lateXid = await currentXid(late);

      earlyXid = (await write(db.app, t.admin2.id, (c) => makeAdmin(c, viewerMemberships[1]!))).xid;
      expect(earlyXid).toBeGreaterThan(lateXid);
      // Rounds run while the late transaction is open: they stop below it.
      await db.owner.query("select audit.detect()");
      await db.owner.query("select audit.detect()");
      expect(await watermark(db.owner)).toBeLessThanOrEqual(lateXid);
      expect(await alertsOf(db.owner, t.id, "role_escalation")).toEqual([]);
      await late.query("commit");
    } catch (err) {
      await late.query("rollback");
      throw err;
    } finally {
      late.release();
    }
    await detectUntil(db.owner, lateXid, earlyXid);
    const lateIds = await entryIds(db.owner, lateXid);
    const earlyIds = await entryIds(db.owner, earlyXid);
    const alerts = await alertsOf(db.owner, t.id, "role_escalation");
    expect(alerts).toHaveLength(2);
    const lateAlert = alerts.find((a) => a.actor_id === t.admin.id)!;
    const earlyAlert = alerts.find((a) => a.actor_id === t.admin2.id)!;
    expect(lateAlert).toMatchObject({ entry_count: "1", entry_ids: lateIds, severity: "high" });
    expect(earlyAlert).toMatchObject({ entry_count: "1", entry_ids: earlyIds, severity: "high" });

    // Another round changes nothing.
    const { rows } = await db.owner.query<{ n: number | null }>("select audit.detect() as n");
    expect(rows[0]!.n).toBe(0);
    expect(await alertsOf(db.owner, t.id, "role_escalation")).toEqual(alerts);
  });
});

describe("a rolled-back transaction", () => {
  it("never appears in a round; the committed one next to it does, once", async () => {
    const t = await createTenant(db.app, "Rollback");
    const consumer = "test_rollback";
    await register(consumer);
    const c = await db.owner.connect();
    let rolledIds: string[];
    try {
      await c.query("begin");
      await setContext(c, t.admin.id);
      await writeSettings(c, t.id, 3);
      rolledIds = (await c.query<{ id: string }>("select l.id::text as id from audit.log l where l.transaction_id = txid_current() order by l.id")).rows.map((r) => r.id);
      expect(rolledIds).toHaveLength(3);
      await c.query("rollback");
    } finally {
      c.release();
    }
    const committed = await write(db.app, t.admin.id, (x) => writeSettings(x, t.id, 2));
    const ledger = new Ledger();
    await roundsUntil(consumer, ledger, [committed.xid]);
    for (const id of rolledIds) expect(ledger.count(id)).toBe(0);
    for (const id of await entryIds(db.owner, committed.xid)) expect(ledger.count(id)).toBe(1);
    expect(ledger.duplicates()).toEqual([]);
  });

  it("audit.detect(): a rolled-back escalation raises no alert", async () => {
    const { t, viewerMemberships } = await tenantWithViewers("RollbackDetect", 1);
    const c = await db.app.connect();
    try {
      await c.query("begin");
      await setContext(c, t.admin.id);
      await makeAdmin(c, viewerMemberships[0]!);
      await c.query("rollback");
    } finally {
      c.release();
    }
    const after = await write(db.app, t.admin.id, (x) => writeSettings(x, t.id));
    await detectUntil(db.owner, after.xid);
    expect(await alertsOf(db.owner, t.id, "role_escalation")).toEqual([]);
  });
});

describe("savepoints", () => {
  it("entries written inside a subtransaction carry the top-level transaction id and are consumed with it; a rolled-back savepoint's never", async () => {
    const t = await createTenant(db.app, "Savepoints");
    const consumer = "test_savepoint";
    await register(consumer);
    const { xid, kept, dropped } = await inTransaction(db.owner, async (c) => {
      await setContext(c, t.admin.id);
      await c.query("savepoint a");
      await writeSettings(c, t.id, 1);
      await c.query("release savepoint a");
      await c.query("savepoint b");
      await writeSettings(c, t.id, 2);
      const dropped = (await c.query<{ id: string }>("select l.id::text as id from audit.log l where l.tenant_id = $1 and l.event = 'settings.updated'", [t.id])).rows.map((x) => x.id);
      await c.query("rollback to savepoint b");
      await writeSettings(c, t.id, 1);
      const xid = await currentXid(c);
      const kept = (await c.query<{ id: string; transaction_id: string }>(
        "select l.id::text as id, l.transaction_id::text from audit.log l where l.tenant_id = $1 and l.event = 'settings.updated'", [t.id])).rows;
      return { xid, kept, dropped };
    });
    expect(kept).toHaveLength(2);
    for (const e of kept) expect(BigInt(e.transaction_id)).toBe(xid);
    const ledger = new Ledger();
    await roundsUntil(consumer, ledger, [xid]);
    for (const e of kept) expect(ledger.count(e.id)).toBe(1);
    const rolledBack = dropped.filter((d) => !kept.some((k) => k.id === d));
    expect(rolledBack).toHaveLength(2);
    for (const id of rolledBack) expect(ledger.count(id)).toBe(0);
  });
});

describe("a crash mid-round", () => {
  it("repeats the round: rolled back, or the connection terminated, the watermark stays and the entries come again", async () => {
    const t = await createTenant(db.app, "Crash");
    const consumer = "test_crash";
    await register(consumer);
    const w = await write(db.app, t.admin.id, (c) => writeSettings(c, t.id, 2));
    const ids = await entryIds(db.owner, w.xid);
    await until("the horizon to pass the write", async () => ((await horizon(db.owner)) > w.xid ? true : undefined));

    // 1. The round's transaction rolls back.
    const c = await db.owner.connect();
    let from: bigint;
    try {
      await c.query("begin");
      const r = (await c.query<{ from_xid: string; to_xid: string }>("select from_xid::text, to_xid::text from audit_private.begin_round($1)", [consumer])).rows[0]!;
      from = BigInt(r.from_xid);
      const got = (await c.query<{ id: string }>("select id::text from audit_private.round_entries($1, $2)", [r.from_xid, r.to_xid])).rows.map((x) => x.id);
      expect(got).toEqual(expect.arrayContaining(ids));
      await c.query("rollback");
    } finally {
      c.release();
    }
    expect(await watermark(db.owner, consumer)).toBe(from);

    // 2. The round's connection is terminated before it commits.
    const crashing = new pg.Client({ connectionString: db.ownerUrl });
    crashing.on("error", () => undefined);
    await crashing.connect();
    const pid = (await crashing.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
    await crashing.query("begin");
    const r2 = (await crashing.query<{ from_xid: string; to_xid: string }>("select from_xid::text, to_xid::text from audit_private.begin_round($1)", [consumer])).rows[0]!;
    expect(BigInt(r2.from_xid)).toBe(from);
    await crashing.query("select audit_private.end_round($1, $2, 0)", [consumer, r2.to_xid]);
    await db.owner.query("select pg_terminate_backend($1)", [pid]);
    await crashing.end().catch(() => undefined);
    expect(await watermark(db.owner, consumer)).toBe(from);

    // The next round (its lock released) hands the same entries out; once consumed, never again.
    const ledger = new Ledger();
    const next = await until("the lock of the terminated round to be released", () => round(consumer).then((r) => r ?? undefined));
    ledger.record(next);
    expect(next.from).toBe(from);
    await roundsUntil(consumer, ledger, [w.xid]);
    for (const id of ids) expect(ledger.count(id)).toBe(1);
    const later = (await round(consumer))!;
    expect(later.ids.filter((id) => ids.includes(id))).toEqual([]);
  });

  it("audit.detect(): a terminated round's alerts vanish with it, and the next round raises them once", async () => {
    const { t, viewerMemberships } = await tenantWithViewers("CrashDetect", 1);
    const x = await write(db.app, t.admin.id, (c) => makeAdmin(c, viewerMemberships[0]!));
    await until("the horizon to pass the escalation", async () => ((await horizon(db.owner)) > x.xid ? true : undefined));
    const before = await watermark(db.owner);
    const crashing = new pg.Client({ connectionString: db.ownerUrl });
    crashing.on("error", () => undefined);
    await crashing.connect();
    const pid = (await crashing.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
    await crashing.query("begin");
    const n = (await crashing.query<{ n: number | null }>("select audit.detect() as n")).rows[0]!.n;
    expect(n).toBeGreaterThanOrEqual(1);
    const inside = (await crashing.query<{ n: number }>("select count(*)::int as n from audit.alerts where tenant_id = $1 and detector = 'role_escalation'", [t.id])).rows[0]!.n;
    expect(inside).toBe(1);
    await db.owner.query("select pg_terminate_backend($1)", [pid]);
    await crashing.end().catch(() => undefined);
    expect(await alertsOf(db.owner, t.id, "role_escalation")).toEqual([]);
    expect(await watermark(db.owner)).toBe(before);

    await detectUntil(db.owner, x.xid);
    await db.owner.query("select audit.detect()");
    const alerts = await alertsOf(db.owner, t.id, "role_escalation");
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ entry_count: "1", entry_ids: await entryIds(db.owner, x.xid) });
  });
});

describe("concurrent runners", () => {
  it("a second runner of the same consumer returns nulls at once while the first holds the round; other consumers are not held", async () => {
    const consumer = "test_lock";
    const c1 = await db.owner.connect();
    const c2 = await db.owner.connect();
    try {
      await c1.query("begin");
      const held = (await c1.query<{ from_xid: string | null }>("select from_xid::text from audit_private.begin_round($1)", [consumer])).rows[0]!;
      expect(held.from_xid).not.toBeNull();
      const started = Date.now();
      const other = (await c2.query<{ from_xid: string | null; to_xid: string | null }>("select from_xid::text, to_xid::text from audit_private.begin_round($1)", [consumer])).rows[0]!;
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(other).toEqual({ from_xid: null, to_xid: null });
      await c2.query("begin");
      const unrelated = (await c2.query<{ from_xid: string | null }>("select from_xid::text from audit_private.begin_round('test_lock_other')")).rows[0]!;
      expect(unrelated.from_xid).not.toBeNull();
      await c2.query("rollback");
      await c1.query("rollback");
      const after = (await c2.query<{ from_xid: string | null }>("select from_xid::text from audit_private.begin_round($1)", [consumer])).rows[0]!;
      expect(after.from_xid).not.toBeNull();
    } finally {
      await c1.query("rollback").catch(() => undefined);
      c1.release();
      c2.release();
    }
  });

  it("audit.detect(): one returns null at once while the other holds the lock", async () => {
    const c1 = await db.owner.connect();
    const c2 = await db.owner.connect();
    try {
      await c1.query("begin");
      const first = (await c1.query<{ n: number | null }>("select audit.detect() as n")).rows[0]!.n;
      expect(first).not.toBeNull();
      const started = Date.now();
      const second = (await c2.query<{ n: number | null }>("select audit.detect() as n")).rows[0]!.n;
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(second).toBeNull();
      await c1.query("commit");
      const third = (await c2.query<{ n: number | null }>("select audit.detect() as n")).rows[0]!.n;
      expect(third).not.toBeNull();
    } finally {
      await c1.query("rollback").catch(() => undefined);
      c1.release();
      c2.release();
    }
  });
});

describe("a new consumer", () => {
  it("starts at the current horizon: it owes nothing older, and consumes what commits from then on", async () => {
    const t = await createTenant(db.app, "Newcomer");
    const old = await write(db.app, t.admin.id, (c) => writeSettings(c, t.id, 2));
    const oldIds = await entryIds(db.owner, old.xid);
    await until("the horizon to pass the old write", async () => ((await horizon(db.owner)) > old.xid ? true : undefined));
    const consumer = `test_new_${randomUUID().slice(0, 8)}`;
    const start = await register(consumer);
    expect(start).toBeGreaterThan(old.xid);
    expect(await register(consumer)).toBe(start); // registering again changes nothing
    const fresh = await write(db.app, t.admin.id, (c) => writeSettings(c, t.id, 1));
    const ledger = new Ledger();
    await roundsUntil(consumer, ledger, [fresh.xid]);
    for (const id of oldIds) expect(ledger.count(id)).toBe(0);
    for (const id of await entryIds(db.owner, fresh.xid)) expect(ledger.count(id)).toBe(1);
  });

  it("refuses a name that is not a lower-case identifier", async () => {
    const err = await failure(db.owner.query("select audit_private.register_consumer('Bad Name')"));
    expect(err.code).toBe("23514");
  });
});

describe("audit.log_consumers()", () => {
  it("reports pending entries and the oldest transaction holding the horizon back, then catches up when it ends", async () => {
    const t = await createTenant(db.app, "Lag");
    await detectUntil(db.owner, (await write(db.app, t.admin.id, (c) => writeSettings(c, t.id))).xid);
    const before = (await db.owner.query<{ rounds: string; entries_consumed: string }>(
      "select rounds::text, entries_consumed::text from audit.log_consumers() where consumer = 'detectors'")).rows[0]!;
    const late = await db.app.connect();
    let lateXid: bigint;
    let earlyXid: bigint;
    try {
      await late.query("begin");
      await setContext(late, t.admin.id);
      await writeSettings(late, t.id, 1);
      lateXid = await currentXid(late);
      const pid = (await late.query<{ pid: number }>("select pg_backend_pid() as pid")).rows[0]!.pid;
      earlyXid = (await write(db.app, t.member.id, (c) => writeSettings(c, t.id, 3))).xid;
      await db.owner.query("select audit.detect()");

      interface Row { consumer: string; watermark: string; horizon: string; pending_entries: string; lag_seconds: string; oldest_transaction_pid: number | null; oldest_transaction_age_seconds: string | null }
      const row = await until("log_consumers() to name the open transaction as the oldest", async () => {
        const r = (await db.owner.query<Row>("select * from audit.log_consumers() where consumer = 'detectors'")).rows[0]!;
        return r.oldest_transaction_pid === pid ? r : undefined;
      });
      expect(BigInt(row.horizon)).toBeLessThanOrEqual(lateXid);
      expect(BigInt(row.watermark)).toBeLessThanOrEqual(lateXid);
      expect(Number(row.pending_entries)).toBeGreaterThanOrEqual(3); // the early commit's entries wait
      expect(Number(row.lag_seconds)).toBeGreaterThanOrEqual(0);
      expect(Number(row.oldest_transaction_age_seconds)).toBeGreaterThanOrEqual(0);
      await late.query("commit");
    } catch (err) {
      await late.query("rollback");
      throw err;
    } finally {
      late.release();
    }
    await detectUntil(db.owner, lateXid, earlyXid);
    const after = (await db.owner.query<{ pending_entries: string; rounds: string; entries_consumed: string; last_round_at: Date | null }>(
      "select pending_entries::text, rounds::text, entries_consumed::text, last_round_at from audit.log_consumers() where consumer = 'detectors'")).rows[0]!;
    expect(after.pending_entries).toBe("0");
    expect(BigInt(after.rounds)).toBeGreaterThan(BigInt(before.rounds));
    expect(BigInt(after.entries_consumed)).toBeGreaterThanOrEqual(BigInt(before.entries_consumed) + 4n);
    expect(after.last_round_at).not.toBeNull();
  });

  it("is for operators: audit_reader may call it, app_user may not", async () => {
    const rows = await inTransaction(db.owner, async (c) => {
      await c.query("set local role audit_reader");
      return (await c.query<{ consumer: string }>("select consumer from audit.log_consumers()")).rows;
    });
    expect(rows.map((r) => r.consumer)).toContain("detectors");
    const err = await failure(db.app.query("select * from audit.log_consumers()"));
    expect(err.code).toBe("42501");
  });
});

describe("max_xids", () => {
  it("bounds a round: no round is wider, and the batches together hand out every entry once", async () => {
    const t = await createTenant(db.app, "Batches");
    const consumer = "test_batch";
    const start = await register(consumer);
    const xids: bigint[] = [];
    for (let i = 0; i < 3; i++) xids.push((await write(db.app, t.admin.id, (c) => writeSettings(c, t.id, 2))).xid);
    const ledger = new Ledger();
    await roundsUntil(consumer, ledger, xids, 2);
    for (const r of ledger.rounds) {
      expect(r.to - r.from).toBeLessThanOrEqual(2n);
      expect(r.to).toBeGreaterThanOrEqual(r.from);
    }
    expect(ledger.rounds.length).toBeGreaterThanOrEqual(Math.ceil(Number(xids[2]! + 1n - start) / 2));
    for (const xid of xids) for (const id of await entryIds(db.owner, xid)) expect(ledger.count(id)).toBe(1);
    expect(ledger.duplicates()).toEqual([]);
  });

  it("must be positive", async () => {
    const err = await failure(db.owner.query("select * from audit_private.begin_round('test_batch', 0)"));
    expect(err.code).toBe("22023");
    expect(err.message).toMatch(/max_xids must be positive/);
  });
});

describe("the round's own transaction", () => {
  it("entries it writes itself are left to a later round, never passed over", async () => {
    const t = await createTenant(db.app, "Self");
    const consumer = "test_self";
    await register(consumer);
    const ledger = new Ledger();
    const { ownXid, ownIds } = await inTransaction(db.owner, async (c) => {
      const r = (await c.query<{ from_xid: string; to_xid: string }>("select from_xid::text, to_xid::text from audit_private.begin_round($1)", [consumer])).rows[0]!;
      await setContext(c, t.admin.id);
      await writeSettings(c, t.id, 2);
      const ownXid = await currentXid(c);
      const ownIds = (await c.query<{ id: string }>("select l.id::text as id from audit.log l where l.transaction_id = txid_current() order by l.id")).rows.map((x) => x.id);
      const ids = (await c.query<{ id: string }>("select id::text from audit_private.round_entries($1, $2)", [r.from_xid, r.to_xid])).rows.map((x) => x.id);
      ledger.record({ from: BigInt(r.from_xid), to: BigInt(r.to_xid), ids });
      await c.query("select audit_private.end_round($1, $2, $3)", [consumer, r.to_xid, ids.length]);
      return { ownXid, ownIds };
    });
    await roundsUntil(consumer, ledger, [ownXid]);
    for (const id of ownIds) expect(ledger.count(id)).toBe(1);
  });

  it("audit.detect() in the same transaction as an escalation, before or after it, still raises its alert", async () => {
    const { t, viewerMemberships } = await tenantWithViewers("SelfDetect", 2);
    const sameTx = async (order: "write-then-detect" | "detect-then-write", membershipId: string) =>
      inTransaction(db.owner, async (c) => {
        await setContext(c, t.admin.id);
        if (order === "detect-then-write") await c.query("select audit.detect()");
        await makeAdmin(c, membershipId);
        if (order === "write-then-detect") await c.query("select audit.detect()");
        return currentXid(c);
      });
    const a = await sameTx("write-then-detect", viewerMemberships[0]!);
    const b = await sameTx("detect-then-write", viewerMemberships[1]!);
    await detectUntil(db.owner, a, b);
    const ids = [...(await entryIds(db.owner, a)), ...(await entryIds(db.owner, b))];
    expect(ids).toHaveLength(2);
    const alerts = await alertsWithEntries(db.owner, t.id, ids, "role_escalation");
    expect(alerts).toHaveLength(1); // one actor, within the window: one incident
    expect([...alerts[0]!.entry_ids].sort()).toEqual([...ids].sort());
    expect(alerts[0]!.entry_count).toBe("2");
  });
});
