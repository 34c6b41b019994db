// The rollups of the log (migrations/current.sql): audit.tenant_rollups and
// audit.account_rollups kept by the 'rollups' consumer (refresh_rollups), and
// audit.activity_counts(), which must always equal a direct count of
// audit.log by the same role: whatever has been rolled up, whatever commits
// late, whatever the owner's maintenance moved or erased, whoever asks.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inTransaction } from "../../src/db/transaction.ts";
import { backdate } from "../support/backdate.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import {
  asApiAdmin, createTenant, failure, until, write, type Claims, type Tenant,
} from "./security/support/security.ts";
import {
  activityCounts, countBoth, insertEntries, refresh, refreshUntil, rollupPosition, rollupsAndLog, rollupTables, total, xidOf,
  type CountQuery, type CountRow, type RawEntry, type Runner,
} from "./support/rollups.ts";

let db: TestDatabase;
let auth: pg.Pool;
/** The database's now() when the file started: entries and ranges are placed relative to it. */
let base: Date;

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

beforeAll(async () => {
  db = await createTestDatabase();
  auth = new pg.Pool({ connectionString: db.authUrl, max: 4 });
  auth.on("error", () => undefined);
  base = (await db.owner.query<{ n: Date }>("select now() as n")).rows[0]!.n;
});
afterAll(async () => {
  await auth?.end();
  await db?.drop();
});

const asOwner: Runner = (sql, params) => db.owner.query(sql, params);
/** A DBA: audit_reader (reads every tenant through its policies). */
const asReader: Runner = (sql, params) => inTransaction(db.owner, async (c) => {
  await c.query("set local role audit_reader");
  return c.query(sql, params);
});
/** The owner in a session whose time zone is not UTC (half an hour off): periods are UTC's all the same. */
const asOwnerInKolkata: Runner = (sql, params) => inTransaction(db.owner, async (c) => {
  await c.query("set local timezone = 'Asia/Kolkata'");
  return c.query(sql, params);
});
const asAdmin = (claims: Claims): Runner => (sql, params) => asApiAdmin(auth, claims, sql, params);
const tenantAdmin = (t: Tenant): Claims => ({ role: "tenant_admin", tenantId: t.id, sub: t.admin.id });
const accountAdmin = (t: Tenant, accountId = t.accountId): Claims => ({ role: "account_admin", tenantId: t.id, accountId, sub: t.member.id });

/** Midnight UTC of the day `offset` days from the file's start. */
function day(offset: number): Date {
  const d = new Date(base);
  d.setUTCHours(0, 0, 0, 0);
  return new Date(d.getTime() + offset * DAY);
}
const iso = (d: Date | number) => new Date(d).toISOString();

/** Asserts that activity_counts(q) equals the direct count of the log, as `run`'s role; returns the rows. */
async function expectExact(run: Runner, q: CountQuery, label = ""): Promise<CountRow[]> {
  const { got, want } = await countBoth(run, q);
  expect(got, `activity_counts ${label} ${JSON.stringify(q)}`).toEqual(want);
  return got;
}

/** Asserts the rollup tables hold exactly the log's entries below the watermark (and no maintenance is pending). */
async function expectRollupsMatchLog(label = ""): Promise<bigint> {
  const r = await rollupsAndLog(db.owner);
  expect(r.recountDays, `no days left to recount ${label}`).toBeNull();
  expect(r.tables.tenant, `tenant_rollups ${label}`).toEqual(r.expected.tenant);
  expect(r.tables.account, `account_rollups ${label}`).toEqual(r.expected.account);
  return r.watermark;
}

/** The largest transaction id that journaled maintenance of these entries (the maintenance's own transaction). */
async function maintenanceXid(ids: string[]): Promise<bigint> {
  const { rows } = await db.owner.query<{ x: string }>(
    "select max(transaction_id)::text as x from audit.maintenance_journal where entry_id = any($1::bigint[])", [ids]);
  return BigInt(rows[0]!.x);
}

/** Writes `n` settings of a tenant (account-level when accountId is given) as the tenant admin: real capture, settings.updated entries. */
async function writeSettings(t: Tenant, n: number, accountId: string | null = null): Promise<bigint> {
  const { xid } = await write(db.app, t.admin.id, (c) => c.query(
    "insert into app.settings (tenant_id, account_id, key, value) select $1, $2, 'rollup.' || $3 || '.' || g, '{\"on\": true}' from generate_series(1, $4) g",
    [t.id, accountId, randomUUID(), n]));
  return xid;
}

function entry(t: Tenant, at: Date | number, over: Partial<RawEntry> = {}): RawEntry {
  return {
    occurred_at: iso(at), tenant_id: t.id, account_id: t.accountId, actor_id: t.admin.id,
    action: "update", resource_type: "process", event: "process.updated", ...over,
  };
}

async function commitEntries(entries: RawEntry[]): Promise<{ ids: string[]; xid: bigint }> {
  return inTransaction(db.owner, async (c) => ({ ids: await insertEntries(c, entries), xid: await xidOf(c) }));
}

describe("activity_counts() against a direct count of the log (property)", () => {
  const RESOURCE_TYPES = ["process", "job", "settings", "member"];
  const ACTIONS = ["create", "update", "delete"];
  const EVENTS = ["process.updated", "job.completed", "settings.updated", "x.custom"];

  it("is exact for random entries, commits, refreshes, maintenance and queries, as the owner, a tenant admin and an account admin", async () => {
    const tenants = [await createTenant(db.app, "PropA"), await createTenant(db.app, "PropB"), await createTenant(db.app, "PropC")];
    const strangers = [randomUUID(), randomUUID()];
    const actors = [...tenants.flatMap((t) => [t.admin.id, t.member.id]), ...strangers];
    const accounts = tenants.flatMap((t) => [t.accountId, t.otherAccountId]);
    const live: string[] = []; // ids of the entries this test wrote that still exist
    const hourStart = Math.floor(base.getTime() / HOUR) * HOUR;

    // When an entry occurred: anywhere in the last 40 days, on an hour or day boundary, or in the hour ahead.
    const instant = fc.oneof(
      { weight: 8, arbitrary: fc.integer({ min: -40 * DAY, max: 0 }).map((ms) => base.getTime() + ms) },
      { weight: 2, arbitrary: fc.integer({ min: -40 * 24, max: 0 }).map((h) => hourStart + h * HOUR) },
      { weight: 1, arbitrary: fc.integer({ min: -40, max: 0 }).map((d) => day(d).getTime()) },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: HOUR }).map((ms) => base.getTime() + ms) },
    );
    const rawEntry = fc.record({
      tenant: fc.nat(2), account: fc.constantFrom(0, 1, null), actor: fc.option(fc.nat(actors.length - 1)),
      rt: fc.nat(RESOURCE_TYPES.length - 1), ac: fc.nat(ACTIONS.length - 1), ev: fc.nat(EVENTS.length - 1), at: instant,
    }).map((e): RawEntry => {
      const t = tenants[e.tenant]!;
      return {
        occurred_at: iso(e.at), tenant_id: t.id, account_id: e.account === null ? null : e.account === 0 ? t.accountId : t.otherAccountId,
        actor_id: e.actor === null ? null : actors[e.actor]!, action: ACTIONS[e.ac]!, resource_type: RESOURCE_TYPES[e.rt]!, event: EVENTS[e.ev]!,
      };
    });
    type Step =
      | { kind: "insert"; entries: RawEntry[] }
      | { kind: "business"; tenant: number; n: number; account: boolean }
      | { kind: "refresh"; maxXids: number | null; kolkata: boolean }
      | { kind: "move"; pick: number; tenant: number | null; shiftHours: number; rt: number | null; ev: number | null }
      | { kind: "erase"; pick: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant("insert" as const), entries: fc.array(rawEntry, { minLength: 1, maxLength: 15 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("business" as const), tenant: fc.nat(2), n: fc.integer({ min: 1, max: 3 }), account: fc.boolean() }) },
      { weight: 3, arbitrary: fc.record({ kind: fc.constant("refresh" as const), maxXids: fc.option(fc.integer({ min: 1, max: 4 })), kolkata: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("move" as const), pick: fc.nat(), tenant: fc.option(fc.nat(2)),
        shiftHours: fc.integer({ min: -30 * 24, max: 24 }), rt: fc.option(fc.nat(RESOURCE_TYPES.length - 1)), ev: fc.option(fc.nat(EVENTS.length - 1)) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("erase" as const), pick: fc.nat() }) },
    );
    // Mostly no filter (whole periods come from the rollups), sometimes one.
    const subset = <T>(xs: T[], nullWeight = 3) => fc.oneof({ weight: nullWeight, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.subarray(xs) });
    const query: fc.Arbitrary<CountQuery> = fc.record({
      from: fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: -42 * DAY, max: 2 * HOUR }).map((ms) => base.getTime() + ms) },
        { weight: 1, arbitrary: fc.integer({ min: -42 * 24, max: 1 }).map((h) => hourStart + h * HOUR) },
      ),
      length: fc.option(fc.oneof(fc.integer({ min: 1, max: 45 * DAY }), fc.integer({ min: 1, max: 45 * 24 }).map((h) => h * HOUR)), { freq: 3 }),
      bucket: fc.constantFrom("hour", "day", "total"),
      byKind: fc.boolean(),
      tenantIds: subset([...tenants.map((t) => t.id), randomUUID()]),
      accountIds: subset(accounts),
      resourceTypes: subset(RESOURCE_TYPES),
      actions: subset(ACTIONS),
      events: subset(EVENTS),
      actorIds: subset(actors, 4),
    }).map((q): CountQuery => ({
      from: iso(q.from), to: q.length === null ? null : iso(q.from + q.length), bucket: q.bucket, byKind: q.byKind,
      tenantIds: q.tenantIds, accountIds: q.accountIds, resourceTypes: q.resourceTypes, actions: q.actions, events: q.events, actorIds: q.actorIds,
    }));

    const runners: [string, Runner][] = [
      ["owner", asOwner],
      ["owner (Asia/Kolkata)", asOwnerInKolkata],
      ["audit_reader", asReader],
      ["tenant admin", asAdmin(tenantAdmin(tenants[0]!))],
      ["account admin", asAdmin(accountAdmin(tenants[0]!))],
      ["account admin (other account)", asAdmin(accountAdmin(tenants[1]!, tenants[1]!.otherAccountId))],
    ];
    const checkAll = async (queries: CountQuery[], phase: string) => {
      for (const q of queries) for (const [name, run] of runners) await expectExact(run, q, `${phase} as ${name}`);
    };

    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 8 }), fc.array(query, { minLength: 1, maxLength: 4 }), async (steps, queries) => {
        let last = 0n;
        const note = (x: bigint) => { if (x > last) last = x; };
        for (const s of steps) {
          switch (s.kind) {
            case "insert": {
              const { ids, xid } = await commitEntries(s.entries);
              live.push(...ids);
              note(xid);
              break;
            }
            case "business": {
              const t = tenants[s.tenant]!;
              note(await writeSettings(t, s.n, s.account ? t.accountId : null));
              break;
            }
            case "refresh":
              // (sometimes in a session whose time zone is not UTC: the periods are UTC's all the same)
              if (s.kolkata) {
                await inTransaction(db.owner, async (c) => {
                  await c.query("set local timezone = 'Asia/Kolkata'");
                  await refresh(c, s.maxXids ?? undefined);
                });
              } else {
                await refresh(db.owner, s.maxXids ?? undefined);
              }
              break;
            case "move": {
              if (live.length === 0) break;
              const id = live[s.pick % live.length]!;
              const t = s.tenant === null ? null : tenants[s.tenant]!;
              await backdate(db.owner,
                `update audit.log set occurred_at = occurred_at + make_interval(hours => $2),
                        tenant_id = coalesce($3::uuid, tenant_id),
                        account_id = case when $3::uuid is null or $3::uuid = tenant_id then account_id else $4::uuid end,
                        resource_type = coalesce($5, resource_type), event = coalesce($6, event)
                  where id = $1`,
                [id, s.shiftHours, t?.id ?? null, t?.otherAccountId ?? null, s.rt === null ? null : RESOURCE_TYPES[s.rt]!, s.ev === null ? null : EVENTS[s.ev]!]);
              note(await maintenanceXid([id]));
              break;
            }
            case "erase": {
              if (live.length === 0) break;
              const [id] = live.splice(s.pick % live.length, 1);
              await backdate(db.owner, "delete from audit.log where id = $1", [id]);
              note(await maintenanceXid([id!]));
              break;
            }
          }
        }
        // As things stand (some rolled up, some not, maintenance maybe pending) ...
        await checkAll(queries, "before the final refresh");
        // ... and once the rollups have caught up with everything written.
        if (last > 0n) await refreshUntil(db.owner, last);
        await checkAll(queries, "after the final refresh");
        await expectRollupsMatchLog("after the final refresh");
      }),
      { numRuns: Number(process.env.FC_RUNS ?? 25), endOnFailure: true, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) },
    );
  });

  it("is exact for an open-ended hourly range (to_time null), as it is for daily ones", async () => {
    const t = await createTenant(db.app, "OpenHourly");
    const { xid } = await commitEntries([entry(t, base.getTime() - 5 * HOUR - 7), entry(t, base.getTime() - 30 * HOUR), entry(t, base.getTime() + 20 * 60_000)]);
    await refreshUntil(db.owner, xid);
    const from = iso(base.getTime() - 2 * DAY - 1234);
    for (const bucket of ["day", "total", "hour"]) {
      const rows = await expectExact(asOwner, { from, to: null, bucket, tenantIds: [t.id], resourceTypes: ["process"] }, bucket);
      expect(total(rows)).toBe(3);
      await expectExact(asAdmin(tenantAdmin(t)), { from, to: null, bucket }, bucket);
    }
  });
});

describe("a range that ends now", () => {
  it("takes its last hour whole from the rollups and counts out what lies after the range (a future-dated entry): exact as the owner and both admins", async () => {
    if (HOUR - (Date.now() % HOUR) < 10_000) await sleep(11_000); // not across the hour's end
    const t = await createTenant(db.app, "EndsNow");
    const nowMs = Date.now();
    const hourStart = nowMs - (nowMs % HOUR);
    const { xid } = await commitEntries([
      entry(t, hourStart + (nowMs - hourStart) / 2), entry(t, hourStart), entry(t, nowMs - 2 * HOUR),
      entry(t, hourStart + HOUR - 1), // later in the current hour: after the range
    ]);
    await refreshUntil(db.owner, xid);
    const from = iso(nowMs - 30 * DAY), to = iso(nowMs + 1);
    for (const bucket of ["day", "hour", "total"]) {
      // (the tenant's set-up wrote entries of its own: only the processes are this test's)
      const rows = await expectExact(asOwner, { from, to, bucket, tenantIds: [t.id], resourceTypes: ["process"] }, bucket);
      expect(total(rows)).toBe(3);
      await expectExact(asAdmin(tenantAdmin(t)), { from, to, bucket }, bucket);
      if (bucket !== "hour") await expectExact(asAdmin(accountAdmin(t)), { from, to, bucket }, bucket);
    }
  });
});

describe("a transaction that commits late", () => {
  it("holds the watermark below it; counts stay exact before and after it commits and after the next refresh; nothing counted twice", async () => {
    const t = await createTenant(db.app, "Late");
    const d = day(-3);
    const runners: [string, Runner][] = [["owner", asOwner], ["tenant admin", asAdmin(tenantAdmin(t))], ["account admin", asAdmin(accountAdmin(t))]];
    const queries: CountQuery[] = [
      { from: iso(d), to: iso(d.getTime() + DAY), bucket: "day", tenantIds: [t.id] },
      { from: iso(day(-5)), to: null, bucket: "day" },
      { from: iso(day(-5).getTime() + 1500), to: iso(base.getTime() + HOUR), bucket: "hour", tenantIds: [t.id] },
      { from: iso(day(-10)), to: null, bucket: "total", byKind: false },
    ];
    const checkAll = async (phase: string) => {
      for (const q of queries) for (const [name, run] of runners) await expectExact(run, q, `${phase} as ${name}`);
    };
    const lateRows = async () => (await db.owner.query<{ n: string | null }>(
      "select sum(entries)::text as n from audit.tenant_rollups where tenant_id = $1 and period = 'day' and resource_type = 'late'", [t.id])).rows[0]!.n;

    const late = await db.owner.connect();
    const lateApp = await db.app.connect();
    let open = true;
    try {
      // Opened first, written, left open: an owner's direct entries and a business write.
      await late.query("begin");
      await insertEntries(late, [entry(t, d.getTime() + 2 * HOUR, { resource_type: "late" }), entry(t, d.getTime() + 2 * HOUR + 1, { resource_type: "late", account_id: null })]);
      const lateXid = await xidOf(late);
      await lateApp.query("begin");
      await lateApp.query("select audit.set_context($1::jsonb)", [JSON.stringify({ actor_id: t.admin.id, actor_type: "user" })]);
      await lateApp.query("insert into app.settings (tenant_id, account_id, key, value) values ($1, $2, 'late.key', '{}')", [t.id, t.accountId]);
      const lateAppXid = await xidOf(lateApp);

      // Others commit meanwhile, on the same day and elsewhere, and rounds run.
      const early = await commitEntries([entry(t, d.getTime() + 3 * HOUR), entry(t, d.getTime() + 3 * HOUR, { account_id: null }), entry(t, day(-4).getTime() + 5 * HOUR)]);
      expect(early.xid).toBeGreaterThan(lateXid);
      const biz = await writeSettings(t, 2, t.accountId);
      await checkAll("before any refresh");
      for (let i = 0; i < 3; i++) {
        await refresh(db.owner);
        const { watermark } = await rollupPosition(db.owner);
        expect(watermark).toBeLessThanOrEqual(lateXid);
        await checkAll(`after refresh ${i + 1}, the late transaction open`);
      }
      expect(await lateRows()).toBeNull();
      await expectRollupsMatchLog("with the late transaction open");

      await late.query("commit");
      await lateApp.query("commit");
      open = false;
      // Committed, not yet rolled up: counted live.
      await checkAll("after the late commit, before a refresh");
      expect(await lateRows()).toBeNull();

      await refreshUntil(db.owner, [lateXid, lateAppXid, early.xid, biz].reduce((a, b) => (b > a ? b : a)));
      await checkAll("after the refresh that passed the late commit");
      expect(await lateRows()).toBe("2");
      await expectRollupsMatchLog("after the late commit was rolled up");
      // Every entry below the watermark once: the day rows, the hour rows and the log agree.
      const { rows } = await db.owner.query<{ days: string; hours: string; log: string }>(
        `select (select sum(entries) from audit.tenant_rollups where period = 'day')::text as days,
                (select sum(entries) from audit.tenant_rollups where period = 'hour')::text as hours,
                (select count(*) from audit.log where transaction_id < (select watermark from audit.rollup_position()))::text as log`);
      expect(rows[0]!.days).toBe(rows[0]!.log);
      expect(rows[0]!.hours).toBe(rows[0]!.log);
    } finally {
      if (open) {
        await late.query("rollback").catch(() => undefined);
        await lateApp.query("rollback").catch(() => undefined);
      }
      late.release();
      lateApp.release();
    }
  });
});

describe("the owner's maintenance", () => {
  it("moves rolled-up entries to another day, tenant, account and resource type: exact at once and after the refresh, both days' rows right", async () => {
    const a = await createTenant(db.app, "MoveA");
    const b = await createTenant(db.app, "MoveB");
    const oldDay = day(-8);
    const newDay = day(-20);
    const { ids, xid } = await commitEntries([
      ...Array.from({ length: 6 }, (_, i) => entry(a, oldDay.getTime() + (i + 1) * HOUR, { resource_type: "process" })),
      ...Array.from({ length: 3 }, (_, i) => entry(a, oldDay.getTime() + (i + 1) * HOUR, { resource_type: "job", event: "job.completed", account_id: null })),
    ]);
    const bizXid = await writeSettings(a, 2, a.accountId);
    await refreshUntil(db.owner, xid > bizXid ? xid : bizXid);
    await expectRollupsMatchLog("before the maintenance");

    const runners: [string, Runner][] = [
      ["owner", asOwner], ["tenant admin A", asAdmin(tenantAdmin(a))], ["tenant admin B", asAdmin(tenantAdmin(b))],
      ["account admin A", asAdmin(accountAdmin(a))], ["account admin B", asAdmin(accountAdmin(b))],
      ["account admin A other", asAdmin(accountAdmin(a, a.otherAccountId))],
    ];
    const queries: CountQuery[] = [
      { from: iso(day(-25)), to: iso(day(-1)), bucket: "day" },
      { from: iso(day(-25)), to: null, bucket: "total", tenantIds: [a.id, b.id] },
      { from: iso(oldDay), to: iso(oldDay.getTime() + DAY), bucket: "hour" },
      { from: iso(newDay.getTime() - 90 * 60_000), to: iso(newDay.getTime() + DAY + 1), bucket: "day", accountIds: [a.accountId, b.accountId, a.otherAccountId] },
      { from: iso(day(-30)), to: iso(day(0)), bucket: "day", resourceTypes: ["process", "job", "settings"], byKind: false },
    ];
    const checkAll = async (phase: string) => {
      for (const q of queries) for (const [name, run] of runners) await expectExact(run, q, `${phase} as ${name}`);
    };
    await checkAll("before the maintenance");

    // Backdated: two to the new day; one to tenant B on the new day; one to resource type job, same day; one to the other account.
    await backdate(db.owner, "update audit.log set occurred_at = occurred_at - interval '12 days' where id = any($1::bigint[])", [[ids[0], ids[1]]]);
    await backdate(db.owner, "update audit.log set occurred_at = occurred_at - interval '12 days', tenant_id = $2, account_id = $3 where id = $1", [ids[2], b.id, b.accountId]);
    await backdate(db.owner, "update audit.log set resource_type = 'job', event = 'job.completed' where id = $1", [ids[3]]);
    await backdate(db.owner, "update audit.log set account_id = $2 where id = $1", [ids[4], a.otherAccountId]);
    const mXid = await maintenanceXid(ids.slice(0, 5));

    const pos = await rollupPosition(db.owner);
    expect(pos.recountDays).toEqual(expect.arrayContaining([iso(oldDay).slice(0, 10), iso(newDay).slice(0, 10)]));
    await checkAll("right after the maintenance, before a refresh");
    const moved = await activityCounts(asOwner, { from: iso(newDay), to: iso(newDay.getTime() + DAY), bucket: "day", tenantIds: [a.id, b.id] });
    expect(total(moved)).toBe(3);

    await refreshUntil(db.owner, mXid);
    expect((await rollupPosition(db.owner)).recountDays).toBeNull();
    await checkAll("after the refresh");
    await expectRollupsMatchLog("after the maintenance was rolled up");
    // The rows of both days, of both tenants, as they now stand.
    const dayRows = async (t: Tenant, d: Date) => (await db.owner.query<{ r: string }>(
      `select resource_type || ' ' || event || ' ' || entries as r from audit.tenant_rollups
        where tenant_id = $1 and period = 'day' and period_start = $2 order by 1`, [t.id, iso(d)])).rows.map((x) => x.r);
    expect(await dayRows(a, oldDay)).toEqual(["job job.completed 4", "process process.updated 2"]);
    expect(await dayRows(a, newDay)).toEqual(["process process.updated 2"]);
    expect(await dayRows(b, newDay)).toEqual(["process process.updated 1"]);
    const accountRows = async (t: Tenant, d: Date) => (await db.owner.query<{ r: string }>(
      `select (account_id = $3)::text || ' ' || resource_type || ' ' || entries as r from audit.account_rollups
        where tenant_id = $1 and day = $2 order by 1`, [t.id, iso(d), t.accountId])).rows.map((x) => x.r);
    expect(await accountRows(a, oldDay)).toEqual(["false process 1", "true job 1", "true process 1"]);
    expect(await accountRows(a, newDay)).toEqual(["true process 2"]);
    expect(await accountRows(b, newDay)).toEqual(["true process 1"]);
  });

  it("erases a tenant's entries, rolled up or not: exact at once and after the refresh, the tenant's rows gone", async () => {
    const gone = await createTenant(db.app, "Erased");
    const stays = await createTenant(db.app, "Stays");
    const d = day(-6);
    const counted = await commitEntries([
      ...Array.from({ length: 5 }, (_, i) => entry(gone, d.getTime() + i * HOUR)),
      entry(stays, d.getTime() + HOUR), entry(stays, d.getTime() + 2 * HOUR, { account_id: null }),
    ]);
    await writeSettings(gone, 1);
    await refreshUntil(db.owner, counted.xid);
    await expectRollupsMatchLog("before the erasure");
    // Written after the last round: not rolled up when it is erased.
    const fresh = await commitEntries([entry(gone, d.getTime() + 10 * HOUR), entry(gone, day(-2).getTime() + HOUR, { account_id: null })]);
    expect((await rollupPosition(db.owner)).watermark).toBeLessThanOrEqual(fresh.xid);

    const runners: [string, Runner][] = [
      ["owner", asOwner], ["tenant admin (erased)", asAdmin(tenantAdmin(gone))], ["tenant admin (stays)", asAdmin(tenantAdmin(stays))],
      ["account admin (erased)", asAdmin(accountAdmin(gone))],
    ];
    const queries: CountQuery[] = [
      { from: iso(day(-10)), to: iso(day(0)), bucket: "day" },
      { from: iso(day(-10)), to: null, bucket: "total", tenantIds: [gone.id] },
      { from: iso(d.getTime() + 30 * 60_000), to: iso(d.getTime() + DAY + 5), bucket: "hour" },
      { from: iso(day(-7)), to: iso(day(-1)), bucket: "day", accountIds: [gone.accountId, stays.accountId] },
    ];
    const checkAll = async (phase: string) => {
      for (const q of queries) for (const [name, run] of runners) await expectExact(run, q, `${phase} as ${name}`);
    };
    await checkAll("before the erasure");

    const ids = (await db.owner.query<{ id: string }>("select id::text from audit.log where tenant_id = $1", [gone.id])).rows.map((r) => r.id);
    await inTransaction(db.owner, async (c) => {
      await c.query("set local audit.maintenance = 'on'");
      await c.query("set local audit.maintenance_reason = 'erasure of a deleted tenant'");
      await c.query("delete from audit.log where tenant_id = $1", [gone.id]);
    });
    const mXid = await maintenanceXid(ids);
    await checkAll("right after the erasure, before a refresh");
    expect(total(await activityCounts(asOwner, { from: iso(day(-40)), to: null, bucket: "total", tenantIds: [gone.id] }))).toBe(0);

    await refreshUntil(db.owner, mXid);
    await checkAll("after the refresh");
    await expectRollupsMatchLog("after the erasure was rolled up");
    const { rows } = await db.owner.query<{ t: string; a: string }>(
      "select (select count(*) from audit.tenant_rollups where tenant_id = $1)::text as t, (select count(*) from audit.account_rollups where tenant_id = $1)::text as a", [gone.id]);
    expect(rows[0]).toEqual({ t: "0", a: "0" });
    expect(total(await activityCounts(asOwner, { from: iso(d), to: iso(d.getTime() + DAY), bucket: "day", tenantIds: [stays.id] }))).toBe(2);
  });
});

describe("the owner's maintenance of transaction ids", () => {
  it("re-stamps a counted entry above the watermark and an uncounted one below it: exact at once and after the refresh", async () => {
    const t = await createTenant(db.app, "Restamp");
    const d = day(-14);
    const old = await commitEntries([entry(t, d.getTime() + HOUR), entry(t, d.getTime() + 2 * HOUR)]);
    await refreshUntil(db.owner, old.xid);
    await expectRollupsMatchLog("before the re-stamping");
    // Committed after the last round: not rolled up yet.
    const d2 = day(-13);
    const fresh = await commitEntries([entry(t, d2.getTime() + 3 * HOUR), entry(t, d.getTime() + 4 * HOUR, { account_id: null })]);
    expect((await rollupPosition(db.owner)).watermark).toBeLessThanOrEqual(fresh.xid);
    const runners: [string, Runner][] = [["owner", asOwner], ["tenant admin", asAdmin(tenantAdmin(t))], ["account admin", asAdmin(accountAdmin(t))]];
    const queries: CountQuery[] = [
      { from: iso(d), to: iso(d2.getTime() + DAY), bucket: "day", tenantIds: [t.id] },
      { from: iso(day(-20)), to: null, bucket: "total", tenantIds: [t.id], resourceTypes: ["process"] },
      { from: iso(d.getTime() - 1), to: iso(d2.getTime() + DAY + 1), bucket: "hour", tenantIds: [t.id] },
      { from: iso(d2), to: iso(d2.getTime() + DAY), bucket: "total", byKind: false },
    ];
    const checkAll = async (phase: string) => {
      for (const q of queries) for (const [name, run] of runners) await expectExact(run, q, `${phase} as ${name}`);
    };

    // A counted entry (day d) moves into the fresh transaction; an uncounted one (day d2, alone) into the old transaction, below the watermark.
    await backdate(db.owner, "update audit.log set transaction_id = $2 where id = $1", [old.ids[0], fresh.xid.toString()]);
    await backdate(db.owner, "update audit.log set transaction_id = $2 where id = $1", [fresh.ids[0], old.xid.toString()]);
    const mXid = await maintenanceXid([old.ids[0]!, fresh.ids[0]!]);
    try {
      await checkAll("right after the re-stamping, before a refresh");

      await refreshUntil(db.owner, mXid > fresh.xid ? mXid : fresh.xid);
      await checkAll("after the refresh");
      expect(total(await activityCounts(asOwner, queries[0]!))).toBe(4);
      await expectRollupsMatchLog("after the re-stamping was rolled up");
    } finally {
      // Whatever happened, the tenant's rollups are recounted, so that a failure here does not spill into the tests after it.
      await db.owner.query("select audit.rebuild_rollups($1)", [t.id]);
    }
  });
});

describe("a round in the writing transaction itself", () => {
  it("leaves the transaction's own entries to a later round; counts are exact inside the transaction and after", async () => {
    const t = await createTenant(db.app, "SelfRound");
    const d = day(-16);
    const q: CountQuery = { from: iso(d), to: iso(d.getTime() + DAY), bucket: "day", tenantIds: [t.id] };
    const xid = await inTransaction(db.owner, async (c) => {
      const run: Runner = (sql, params) => c.query(sql, params);
      await insertEntries(c, [entry(t, d.getTime() + HOUR), entry(t, d.getTime() + 2 * HOUR, { account_id: null })]);
      const x = await xidOf(c);
      await refresh(c);
      expect((await rollupPosition(c)).watermark).toBeLessThanOrEqual(x);
      expect(total(await expectExact(run, q, "inside, after the round"))).toBe(2);
      await expectExact(run, { ...q, accountIds: [t.accountId] }, "inside, per account");
      await insertEntries(c, [entry(t, d.getTime() + 3 * HOUR)]);
      expect(total(await expectExact(run, q, "inside, after a later write"))).toBe(3);
      return x;
    });
    expect(total(await expectExact(asOwner, q, "after the commit"))).toBe(3);
    await refreshUntil(db.owner, xid);
    expect(total(await expectExact(asOwner, q, "after the next rounds"))).toBe(3);
    await expectExact(asAdmin(accountAdmin(t)), { ...q, tenantIds: null }, "account admin");
    await expectRollupsMatchLog("after the own transaction was rolled up");
  });
});

describe("scope, from the attacker's side", () => {
  let t: Tenant;
  let other: Tenant;
  const from = () => iso(day(-15));

  beforeAll(async () => {
    t = await createTenant(db.app, "Scoped");
    other = await createTenant(db.app, "Foreign");
    const d = day(-9);
    const { xid } = await commitEntries([
      entry(t, d.getTime() + HOUR), entry(t, d.getTime() + 2 * HOUR, { account_id: t.otherAccountId }), entry(t, d.getTime() + 3 * HOUR, { account_id: null }),
      entry(other, d.getTime() + HOUR, { account_id: other.accountId }), entry(other, d.getTime() + 4 * HOUR, { account_id: null }),
    ]);
    await writeSettings(t, 1, t.accountId);
    await writeSettings(other, 2, other.accountId);
    await refreshUntil(db.owner, xid);
  });

  it("an account admin counts only their account, whatever account_ids or tenant_ids they pass", async () => {
    const me = asAdmin(accountAdmin(t));
    const mine = await activityCounts(asOwner, { from: from(), to: null, bucket: "day", tenantIds: [t.id], accountIds: [t.accountId] });
    expect(total(mine)).toBeGreaterThanOrEqual(2);
    for (const bucket of ["day", "total", "hour"]) {
      const q = { from: from(), to: iso(base.getTime() + HOUR), bucket };
      expect(await expectExact(me, q)).toEqual(await activityCounts(asOwner, { ...q, tenantIds: [t.id], accountIds: [t.accountId] }));
      for (const probe of [
        { accountIds: [t.otherAccountId] }, { accountIds: [other.accountId] }, { tenantIds: [other.id] },
        { tenantIds: [other.id], accountIds: [other.accountId] }, { actorIds: [t.admin.id], accountIds: [t.otherAccountId] },
      ]) {
        expect(await expectExact(me, { ...q, ...probe }), JSON.stringify(probe)).toEqual([]);
      }
      expect(await expectExact(me, { ...q, accountIds: [t.accountId, t.otherAccountId, other.accountId] }))
        .toEqual(await activityCounts(asOwner, { ...q, tenantIds: [t.id], accountIds: [t.accountId] }));
    }
  });

  it("an account admin reads no row of audit.tenant_rollups and only their account's rows of audit.account_rollups", async () => {
    const claims = accountAdmin(t);
    const tenantRows = await asApiAdmin<{ n: string }>(auth, claims, "select count(*)::text as n from audit.tenant_rollups");
    expect(tenantRows.rows[0]!.n).toBe("0");
    const { rows } = await asApiAdmin<{ tenant_id: string; account_id: string; entries: string }>(auth, claims,
      "select tenant_id, account_id, entries::text from audit.account_rollups");
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) expect(r).toMatchObject({ tenant_id: t.id, account_id: t.accountId });
    const owned = await db.owner.query<{ n: string }>("select count(*)::text as n from audit.account_rollups where tenant_id = $1 and account_id = $2", [t.id, t.accountId]);
    expect(String(rows.length)).toBe(owned.rows[0]!.n);
  });

  it("a tenant admin sees nothing of another tenant: no counts, no rollup rows", async () => {
    const me = asAdmin(tenantAdmin(t));
    for (const bucket of ["day", "total"]) {
      expect(await expectExact(me, { from: from(), to: null, bucket, tenantIds: [other.id] })).toEqual([]);
      expect(await expectExact(me, { from: from(), to: null, bucket, accountIds: [other.accountId] })).toEqual([]);
      expect(await expectExact(me, { from: from(), to: null, bucket }))
        .toEqual(await activityCounts(asOwner, { from: from(), to: null, bucket, tenantIds: [t.id] }));
    }
    const { rows } = await asApiAdmin<{ foreign_t: string; foreign_a: string; own_t: string }>(auth, tenantAdmin(t),
      `select (select count(*) from audit.tenant_rollups where tenant_id <> $1)::text as foreign_t,
              (select count(*) from audit.account_rollups where tenant_id <> $1)::text as foreign_a,
              (select count(*) from audit.tenant_rollups)::text as own_t`, [t.id]);
    expect(rows[0]!.foreign_t).toBe("0");
    expect(rows[0]!.foreign_a).toBe("0");
    expect(Number(rows[0]!.own_t)).toBeGreaterThan(0);
  });

  it("audit_authenticator without a role switch gets a permission error; audit_viewer without claims sees nothing", async () => {
    for (const sql of [
      "select * from audit.activity_counts(now() - interval '30 days')",
      "select count(*) from audit.tenant_rollups",
      "select count(*) from audit.account_rollups",
      "select * from audit.rollup_position()",
    ]) {
      const err = await failure(asApiAdmin(auth, null, sql));
      expect(err.code, sql).toBe("42501");
    }
    const { rows } = await inTransaction(auth, async (c) => {
      await c.query("set local role audit_viewer");
      return c.query<{ counts: string; t: string; a: string }>(
        `select (select count(*) from audit.activity_counts(now() - interval '30 days', null, 'total'))::text as counts,
                (select count(*) from audit.tenant_rollups)::text as t, (select count(*) from audit.account_rollups)::text as a`);
    });
    expect(rows[0]).toEqual({ counts: "0", t: "0", a: "0" });
  });

  it("app_user cannot refresh, rebuild, read or write the rollups", async () => {
    for (const sql of [
      "select audit.refresh_rollups()",
      "select audit.rebuild_rollups()",
      `select audit.rebuild_rollups('${t.id}')`,
      "select count(*) from audit.tenant_rollups",
      "select count(*) from audit.account_rollups",
      `insert into audit.tenant_rollups values ('${t.id}', 'day', now(), 'x', 'x', 'x', 1)`,
      "select * from audit.activity_counts(now() - interval '30 days')",
    ]) {
      const err = await failure(db.app.query(sql));
      expect(err.code, sql).toBe("42501");
    }
  });
});

describe("the rollups are what activity_counts() reads", () => {
  it("shows a tampered row for whole days (not with an actor filter); rebuild_rollups() by tenant, by range and whole restores exactness", async () => {
    const t = await createTenant(db.app, "Tamper");
    const u = await createTenant(db.app, "Tamper2");
    const d1 = day(-12);
    const d2 = day(-11);
    const { xid } = await commitEntries([
      entry(t, d1.getTime() + HOUR), entry(t, d1.getTime() + 5 * HOUR), entry(t, d1.getTime() + 5 * HOUR, { account_id: null }),
      entry(t, d2.getTime() + 2 * HOUR), entry(u, d2.getTime() + 3 * HOUR),
    ]);
    await refreshUntil(db.owner, xid);
    await expectRollupsMatchLog("before tampering");
    const wholeDays: CountQuery = { from: iso(d1), to: iso(d2.getTime() + DAY), bucket: "day", tenantIds: [t.id] };
    const truth = await expectExact(asOwner, wholeDays);
    expect(truth).toEqual([[expect.any(String), "process", "update", "process.updated", "3"], [expect.any(String), "process", "update", "process.updated", "1"]]);

    const tamper = (sql: string, params: unknown[]) => db.owner.query(sql, params);
    await tamper("update audit.tenant_rollups set entries = entries + 1000 where tenant_id = $1 and period = 'day' and period_start = $2", [t.id, iso(d1)]);
    const tampered = await activityCounts(asOwner, wholeDays);
    expect(tampered.map((r) => r[4])).toEqual(["1003", "1"]);
    expect(total(await activityCounts(asAdmin(tenantAdmin(t)), { ...wholeDays, tenantIds: null }))).toBe(1004);
    // The same query with an actor filter counts the log.
    expect(await expectExact(asOwner, { ...wholeDays, actorIds: [t.admin.id] })).toEqual(truth);
    // Hours: an hourly range reads the hour rows, an account the account rows.
    await tamper("update audit.tenant_rollups set entries = entries + 100 where tenant_id = $1 and period = 'hour' and period_start = $2", [t.id, iso(d1.getTime() + 5 * HOUR)]);
    await tamper("update audit.account_rollups set entries = entries + 10 where tenant_id = $1 and day = $2", [t.id, iso(d1)]);
    expect(total(await activityCounts(asOwner, { from: iso(d1), to: iso(d1.getTime() + DAY), bucket: "hour", tenantIds: [t.id] }))).toBe(103);
    expect(total(await activityCounts(asOwner, { ...wholeDays, accountIds: [t.accountId] }))).toBe(2 + 10 + 1);
    expect(total(await activityCounts(asAdmin(accountAdmin(t)), wholeDays))).toBe(13);

    // By tenant: exact again.
    const n = await db.owner.query<{ n: string }>("select audit.rebuild_rollups($1)::text as n", [t.id]);
    expect(Number(n.rows[0]!.n)).toBeGreaterThanOrEqual(4);
    await expectExact(asOwner, wholeDays);
    await expectExact(asOwner, { ...wholeDays, bucket: "hour" });
    await expectExact(asOwner, { ...wholeDays, accountIds: [t.accountId] });
    await expectRollupsMatchLog("after rebuild_rollups(tenant)");

    // By range: the days holding [from, to) are recounted, the rows outside are left alone.
    await tamper("update audit.tenant_rollups set entries = entries + 1000 where tenant_id = $1 and period = 'day' and period_start = $2", [t.id, iso(d1)]);
    await tamper("update audit.tenant_rollups set entries = entries + 1000 where tenant_id = $1 and period = 'day' and period_start = $2", [u.id, iso(d2)]);
    const before = await rollupTables(db.owner);
    await db.owner.query("select audit.rebuild_rollups(null, $1, $2)", [iso(d1.getTime() + 4 * HOUR), iso(d1.getTime() + 6 * HOUR)]);
    const after = await rollupTables(db.owner);
    expect(total(await activityCounts(asOwner, { from: iso(d1), to: iso(d1.getTime() + DAY), bucket: "total", tenantIds: [t.id] }))).toBe(3);
    expect(total(await activityCounts(asOwner, { from: iso(d2), to: iso(d2.getTime() + DAY), bucket: "total", tenantIds: [u.id] }))).toBe(1001);
    const changed = (xs: string[], ys: string[]) => xs.filter((x) => !ys.includes(x));
    const d1Key = iso(d1).slice(0, 10);
    // Only rows of day d1 changed (the tampered one, back to its count).
    expect(changed(before.tenant, after.tenant).every((r) => r.includes(d1Key))).toBe(true);
    expect(changed(after.tenant, before.tenant).every((r) => r.includes(d1Key))).toBe(true);
    expect(changed(before.tenant, after.tenant).length).toBeGreaterThan(0);
    expect(after.account).toEqual(before.account);
    await db.owner.query("select audit.rebuild_rollups(null, $1, $2)", [iso(d2), iso(d2.getTime() + DAY)]);
    await expectRollupsMatchLog("after the range rebuilds");

    // Whole: the watermark moves to the horizon, past entries no round has counted.
    const pending = await commitEntries([entry(t, d2.getTime() + 7 * HOUR), entry(u, day(-1).getTime() + 7 * HOUR, { account_id: null })]);
    await tamper("update audit.tenant_rollups set entries = entries + 5 where tenant_id = $1", [u.id]);
    const wBefore = (await rollupPosition(db.owner)).watermark;
    expect(wBefore).toBeLessThanOrEqual(pending.xid);
    await until("a whole rebuild to pass the pending commit", async () => {
      const h = BigInt((await db.owner.query<{ h: string }>("select audit_private.current_horizon()::text as h")).rows[0]!.h);
      await db.owner.query("select audit.rebuild_rollups()");
      const w = (await rollupPosition(db.owner)).watermark;
      expect(w).toBeGreaterThanOrEqual(h);
      return w > pending.xid ? true : undefined;
    });
    await expectRollupsMatchLog("after a whole rebuild");
    await expectExact(asOwner, wholeDays);
    await expectExact(asOwner, { from: iso(day(-20)), to: null, bucket: "day" });
  });
});

describe("a consumer far behind the log", () => {
  /** Whether the rollups consumer is in step with the log (audit.rollups_in_step(), the default reach), as the tenant's admin. */
  const inStep = async (t: Tenant) =>
    (await asAdmin(tenantAdmin(t))("select audit.rollups_in_step() as s", [])).rows[0]!.s as boolean;

  it("leaves ranges to the log (exact, a tampered rollup unseen) until a round brings it back in step", async () => {
    const t = await createTenant(db.app, "Behind");
    const d1 = day(-9);
    const { xid } = await commitEntries([entry(t, d1.getTime() + HOUR), entry(t, d1.getTime() + 2 * HOUR), entry(t, d1.getTime() + 3 * HOUR)]);
    await refreshUntil(db.owner, xid);
    const wholeDay: CountQuery = { from: iso(d1), to: iso(d1.getTime() + DAY), bucket: "day", tenantIds: null };
    await db.owner.query("update audit.tenant_rollups set entries = entries + 1000 where tenant_id = $1 and period = 'day' and period_start = $2", [t.id, iso(d1)]);
    // In step: the day comes from its (tampered) row.
    expect(await inStep(t)).toBe(true);
    expect(total(await activityCounts(asAdmin(tenantAdmin(t)), wholeDay))).toBe(1003);

    // 100,001 transaction ids go by without a round (subtransactions that
    // each write: one id each), as after an outage or an upgrade to the
    // rollups on a large log. (The horizon is the cluster's: another test
    // file's open transaction can hold it back for a moment.)
    await inTransaction(db.owner, async (c) => {
      await c.query("create temporary table burnt_ids (n integer) on commit drop");
      await c.query("do $$ begin for i in 1..100001 loop begin insert into burnt_ids values (i); exception when others then null; end; end loop; end $$");
    });
    await until("the horizon to pass the burnt transaction ids", async () => ((await inStep(t)) ? undefined : true));
    // Far behind: counted from the log, exact, the tampered row unseen.
    expect(total(await expectExact(asAdmin(tenantAdmin(t)), wholeDay))).toBe(3);
    expect(total(await expectExact(asOwner, { ...wholeDay, tenantIds: [t.id], bucket: "hour" }))).toBe(3);

    // A round moves the watermark to the horizon: in step, the rollups answer again.
    await until("a round to bring the rollups back in step", async () => {
      await refresh(db.owner);
      return (await inStep(t)) ? true : undefined;
    });
    expect(total(await activityCounts(asAdmin(tenantAdmin(t)), wholeDay))).toBe(1003);
    await db.owner.query("select audit.rebuild_rollups($1)", [t.id]);
    await expectExact(asAdmin(tenantAdmin(t)), wholeDay);
  });
});

describe("bad inputs", () => {
  const cases: [string, CountQuery, string, RegExp][] = [
    ["bucket week", { from: "2026-01-01T00:00:00Z", to: null, bucket: "week" }, "22023", /bucket/],
    ["bucket null", { from: "2026-01-01T00:00:00Z", to: null, bucket: null }, "22023", /bucket/],
    ["from_time null", { from: null, to: "2026-01-01T00:00:00Z", bucket: "day" }, "22023", /from_time/],
    ["to_time = from_time", { from: "2026-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z", bucket: "day" }, "22023", /to_time/],
    ["to_time < from_time", { from: "2026-01-02T00:00:00Z", to: "2026-01-01T00:00:00Z", bucket: "total" }, "22023", /to_time/],
    ["hourly over 400 days", { from: "2024-01-01T00:00:00Z", to: "2025-02-05T00:00:01Z", bucket: "hour" }, "22023", /hourly buckets.*400 days/],
  ];
  for (const [name, q, code, message] of cases) {
    it(`activity_counts(): ${name} is refused with ${code}`, async () => {
      const err = await failure(activityCounts(asOwner, q));
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
      expect(err.message).toMatch(/^audit\.activity_counts: /);
      const asApi = await failure(activityCounts(asAdmin({ role: "tenant_admin", tenantId: randomUUID(), sub: randomUUID() }), q));
      expect(asApi.code).toBe(code);
    });
  }

  it("activity_counts(): 400 days of hours exactly are allowed, and daily buckets over longer ranges", async () => {
    await expect(activityCounts(asOwner, { from: "2024-01-01T00:00:00Z", to: "2025-02-04T00:00:00Z", bucket: "hour" })).resolves.toBeDefined();
    await expect(activityCounts(asOwner, { from: "2020-01-01T00:00:00Z", to: "2026-01-01T00:00:00Z", bucket: "day" })).resolves.toBeDefined();
  });

  it("rebuild_rollups(): to_time not after from_time is refused; refresh_rollups(): max_xids must be positive", async () => {
    const err = await failure(db.owner.query("select audit.rebuild_rollups(null, '2026-01-02', '2026-01-01')"));
    expect(err.code).toBe("22023");
    expect(err.message).toMatch(/to_time/);
    const zero = await failure(db.owner.query("select audit.refresh_rollups(0)"));
    expect(zero.code).toBe("22023");
    expect(zero.message).toMatch(/max_xids/);
  });
});

describe("concurrent rounds", () => {
  it("a second refresh_rollups() while one holds the round returns null; nothing is counted twice", async () => {
    const t = await createTenant(db.app, "Concurrent");
    const first = await commitEntries(Array.from({ length: 4 }, (_, i) => entry(t, day(-2).getTime() + i * HOUR)));
    await until("the horizon to pass the write", async () => {
      const { rows } = await db.owner.query<{ h: string }>("select audit_private.current_horizon()::text as h");
      return BigInt(rows[0]!.h) > first.xid ? true : undefined;
    });
    const c1 = await db.owner.connect();
    const c2 = await db.owner.connect();
    try {
      await c1.query("begin");
      const n1 = await refresh(c1);
      expect(n1).not.toBeNull();
      expect(await refresh(c2)).toBeNull();
      // A DBA's rebuild waits for the round instead of failing.
      const rebuild = db.owner.query("select audit.rebuild_rollups($1)", [t.id]);
      await until("the rebuild to wait for the round's lock", async () => {
        const { rows } = await db.owner.query<{ n: number }>("select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())");
        return rows[0]!.n > 0 ? true : undefined;
      });
      await c1.query("commit");
      await rebuild;
      await expectRollupsMatchLog("after a held round and a waiting rebuild");
    } finally {
      await c1.query("rollback").catch(() => undefined);
      c1.release();
      c2.release();
    }

    // Rounds started together, again and again with writes between: at most one counts each time.
    let last = first.xid;
    for (let i = 0; i < 5; i++) {
      const w = await commitEntries([entry(t, day(-2).getTime() + (10 + i) * HOUR), entry(t, day(-1).getTime() + i * HOUR, { account_id: null })]);
      last = w.xid;
      const results = await Promise.all([refresh(db.owner), refresh(db.owner), refresh(db.owner)]);
      expect(results.some((r) => r !== null)).toBe(true);
      await expectRollupsMatchLog(`after concurrent rounds ${i + 1}`);
    }
    await refreshUntil(db.owner, last);
    await expectRollupsMatchLog("at the end");
    const day2 = await activityCounts(asOwner, { from: iso(day(-2)), to: iso(day(-1)), bucket: "total", tenantIds: [t.id] });
    expect(total(day2)).toBe(9);
    await expectExact(asOwner, { from: iso(day(-3)), to: null, bucket: "day", tenantIds: [t.id] });
  });
});
