// `activityCounts` over HTTP: the counts behind the page's chart and count,
// answered from the rollups (db/schema/rollups.sql) where they can and from
// the log otherwise, always equal to the log's own aggregates
// (`groupedAggregates`, `totalCount`) for the same filter and token.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { accountAdmin, data, gql, IN_ROLLUP_RANGE, keyToIso, ROLLUP_RANGE, seedRolledUpWorld, startTestServer, tenantAdmin, type World } from "./helpers.ts";

let db: TestDatabase;
let server: RunningServer;
let w: World;

beforeAll(async () => {
  db = await createTestDatabase();
  w = await seedRolledUpWorld(db);
  server = await startTestServer(db);
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

interface Count {
  periodStart: string | null;
  resourceType: string | null;
  action: string | null;
  event: string | null;
  entries: string;
}

const COUNTS = `query Counts($fromTime: Datetime!, $toTime: Datetime, $bucket: String, $accountIds: [UUID], $resourceTypes: [String],
                             $actions: [String], $events: [String], $actorIds: [UUID], $byKind: Boolean) {
  activityCounts(fromTime: $fromTime, toTime: $toTime, bucket: $bucket, accountIds: $accountIds, resourceTypes: $resourceTypes,
                 actions: $actions, events: $events, actorIds: $actorIds, byKind: $byKind) {
    periodStart resourceType action event entries
  }
}`;

async function counts(token: string, variables: Record<string, unknown>): Promise<Count[]> {
  return (await data<{ activityCounts: Count[] }>(server, token, COUNTS, variables)).activityCounts;
}

/** The same question to the log's own grouped aggregates: "period|type|action|event" -> count. */
async function fromLog(token: string, filter: Record<string, unknown>, bucket: "hour" | "day"): Promise<Map<string, number>> {
  const groupBy = bucket === "day" ? "OCCURRED_AT_TRUNCATED_TO_DAY" : "OCCURRED_AT_TRUNCATED_TO_HOUR";
  const d = await data<{ auditLogs: { groupedAggregates: { keys: string[]; count: string }[] } }>(server, token,
    `query($filter: AuditLogFilter) { auditLogs(filter: $filter) { groupedAggregates(groupBy: [${groupBy}, RESOURCE_TYPE, ACTION, EVENT]) { keys count } } }`,
    { filter });
  return new Map(d.auditLogs.groupedAggregates.map((g) => [[keyToIso(g.keys[0]!), ...g.keys.slice(1)].join("|"), Number(g.count)]));
}

const keyed = (rows: Count[]) =>
  new Map(rows.map((r) => [[new Date(r.periodStart!).toISOString(), r.resourceType, r.action, r.event].join("|"), Number(r.entries)]));

const { from: FROM, to: TO } = ROLLUP_RANGE;
const IN_RANGE = IN_ROLLUP_RANGE;

describe("activityCounts", () => {
  it("is in the schema with its arguments and a record per period and kind", async () => {
    const d = await data(server, tenantAdmin(w.a), `{
      __type(name: "Query") { fields { name args { name } } }
      record: __type(name: "ActivityCountsRecord") { fields { name } }
    }`);
    expect(d.record.fields.map((f: { name: string }) => f.name).sort()).toEqual(["action", "entries", "event", "periodStart", "resourceType"]);
    const field = d.__type.fields.find((f: { name: string }) => f.name === "activityCounts");
    expect(field.args.map((a: { name: string }) => a.name), JSON.stringify(field.args)).toEqual([
      "fromTime", "toTime", "bucket", "tenantIds", "accountIds", "resourceTypes", "actions", "events", "actorIds", "byKind",
    ]);
  });

  it("per day and per hour, equals the log's grouped aggregates for a tenant admin and an account admin", async () => {
    for (const token of [tenantAdmin(w.a), accountAdmin(w.a), tenantAdmin(w.b)]) {
      for (const bucket of ["day", "hour"] as const) {
        const got = keyed(await counts(token, { fromTime: FROM, toTime: TO, bucket }));
        const want = await fromLog(token, IN_RANGE, bucket);
        expect(want.size).toBeGreaterThan(0);
        expect(got).toEqual(want);
      }
    }
  });

  it("with filters (resource types, actions, events, accounts, actors) equals the log's", async () => {
    const token = tenantAdmin(w.a);
    const cases: [Record<string, unknown>, Record<string, unknown>][] = [
      [{ resourceTypes: ["settings", "process"] }, { resourceType: { in: ["settings", "process"] } }],
      [{ actions: ["update"] }, { action: { equalTo: "update" } }],
      [{ events: ["job.completed", "api_key.created"] }, { event: { in: ["job.completed", "api_key.created"] } }],
      [{ accountIds: [w.a.accountId] }, { accountId: { equalTo: w.a.accountId } }],
      [{ actorIds: [w.a.memberId] }, { actorId: { equalTo: w.a.memberId } }],
    ];
    for (const [args, filter] of cases) {
      const got = keyed(await counts(token, { fromTime: FROM, toTime: TO, bucket: "day", ...args }));
      const want = await fromLog(token, { ...IN_RANGE, ...filter }, "day");
      expect(want.size, JSON.stringify(args)).toBeGreaterThan(0);
      expect(got, JSON.stringify(args)).toEqual(want);
    }
  });

  it("a total equals totalCount, also for an open range, and counts entries newer than the rollups", async () => {
    const token = tenantAdmin(w.a);
    const total = async () => {
      const rows = await counts(token, { fromTime: "2026-01-01T00:00:00Z", bucket: "total", byKind: false });
      expect(rows).toHaveLength(1);
      expect(rows[0]!.periodStart).toBeNull();
      expect(rows[0]!.resourceType).toBeNull();
      return Number(rows[0]!.entries);
    };
    const totalCount = async () =>
      (await data(server, token, `{ auditLogs(filter: { occurredAt: { greaterThanOrEqualTo: "2026-01-01T00:00:00Z" } }) { totalCount } }`)).auditLogs.totalCount as number;
    expect(await total()).toBe(await totalCount());
    // New entries, not rolled up yet: counted live.
    await db.app.query("insert into app.settings (tenant_id, account_id, key, value) values ($1, null, 'fresh.one', '{}'), ($1, null, 'fresh.two', '{}')", [w.a.tenantId]);
    const now = await total();
    expect(now).toBe(await totalCount());
    await db.owner.query("select audit.refresh_rollups()");
    expect(await total()).toBe(now);
  });

  it("reads the rollups for whole days (a tampered rollup shows), and the log for an actor's counts", async () => {
    const token = tenantAdmin(w.a);
    const day = "2026-03-03T00:00:00.000Z";
    const before = keyed(await counts(token, { fromTime: FROM, toTime: TO, bucket: "day" }));
    const key = [...before.keys()].find((k) => k.startsWith(day))!;
    const [, resourceType, action, event] = key.split("|");
    await db.owner.query(
      "update audit.tenant_rollups set entries = entries + 1000 where tenant_id = $1 and period = 'day' and period_start = $2 and resource_type = $3 and action = $4 and event = $5",
      [w.a.tenantId, day, resourceType, action, event]);
    try {
      const tampered = keyed(await counts(token, { fromTime: FROM, toTime: TO, bucket: "day" }));
      expect(tampered.get(key)).toBe(before.get(key)! + 1000);
    } finally {
      const { rows } = await db.owner.query<{ n: string }>("select audit.rebuild_rollups($1) as n", [w.a.tenantId]);
      expect(Number(rows[0]!.n)).toBeGreaterThan(0);
    }
    expect(keyed(await counts(token, { fromTime: FROM, toTime: TO, bucket: "day" }))).toEqual(before);
  });

  it("never counts another tenant's or another account's entries, whatever the arguments", async () => {
    // Tenant B's admin asking for tenant A's ids and account.
    const stolen = await counts(tenantAdmin(w.b), { fromTime: "2026-01-01T00:00:00Z", bucket: "total", byKind: false, accountIds: [w.a.accountId] });
    expect(stolen).toEqual([]);
    const viaTenant = await data(server, tenantAdmin(w.b), `query($t: [UUID]) { activityCounts(fromTime: "2026-01-01T00:00:00Z", bucket: "total", byKind: false, tenantIds: $t) { entries } }`, { t: [w.a.tenantId] });
    expect(viaTenant.activityCounts).toEqual([]);
    // An account admin asking for the tenant's other account: nothing; for none: only their own.
    const other = await counts(accountAdmin(w.a), { fromTime: "2026-01-01T00:00:00Z", bucket: "total", byKind: false, accountIds: [w.a.otherAccountId] });
    expect(other).toEqual([]);
    const own = await counts(accountAdmin(w.a), { fromTime: "2026-01-01T00:00:00Z", bucket: "total", byKind: false });
    const ownLog = (await data(server, accountAdmin(w.a), `{ auditLogs(filter: { occurredAt: { greaterThanOrEqualTo: "2026-01-01T00:00:00Z" } }) { totalCount } }`)).auditLogs.totalCount;
    expect(Number(own[0]!.entries)).toBe(ownLog);
    const { rows } = await db.owner.query<{ n: string }>("select count(*) as n from audit.log where tenant_id = $1", [w.a.tenantId]);
    expect(ownLog).toBeLessThan(Number(rows[0]!.n));
  });

  it("refuses a bad bucket or range with a message that names it", async () => {
    const token = tenantAdmin(w.a);
    for (const [variables, message] of [
      [{ fromTime: FROM, bucket: "week" }, /bucket must be hour, day or total; got week/],
      [{ fromTime: TO, toTime: FROM }, /to_time .* must be after from_time/],
      [{ toTime: TO }, /"\$fromTime" of required type "Datetime!" was not provided/],
      [{ fromTime: "2020-01-01T00:00:00Z", toTime: TO, bucket: "hour" }, /hourly buckets cover at most 400 days/],
    ] as const) {
      const res = await gql(server, token, COUNTS, variables);
      expect(res.body.errors?.[0]?.message, JSON.stringify(variables)).toMatch(message);
      expect(res.body.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    }
  });
});
