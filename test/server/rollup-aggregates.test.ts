// The audit log's `aggregates`, `groupedAggregates` and `cappedCount` read
// the rollups where the request allows it (src/server/plugins/rollup-aggregates.ts)
// and the log otherwise, with the same numbers. The log's answer is the same
// request with its filter wrapped in a one-part `or` (which the rollups do
// not answer); a tampered rollup shows which source answered.
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

const { from: FROM, to: TO } = ROLLUP_RANGE;
const IN_RANGE = IN_ROLLUP_RANGE;

type Filter = Record<string, unknown>;
type Groups = Map<string, number>;

/** The same filter, answered by the log: a one-part `or` means the same, and the rollups do not answer it. */
const onLog = (filter: Filter | null): Filter => ({ or: [filter && Object.keys(filter).length > 0 ? filter : EVERYTHING] });

/** A filter every entry matches. */
const EVERYTHING = { occurredAt: { greaterThan: "1900-01-01T00:00:00Z" } };

/** groupedAggregates as "key|key|..." -> count (keys of time buckets as instants). */
async function grouped(token: string, filter: Filter | null, groupBy: string[], extra = ""): Promise<Groups> {
  const d = await data<{ auditLogs: { groupedAggregates: { keys: (string | null)[]; count: string }[] } }>(server, token,
    `query($filter: AuditLogFilter) { auditLogs(filter: $filter) { groupedAggregates(groupBy: [${groupBy.join(", ")}]) { keys count ${extra} } } }`,
    { filter });
  const groups = new Map<string, number>();
  for (const g of d.auditLogs.groupedAggregates) {
    const key = g.keys.map((k) => (k !== null && /^\d{4}-\d\d-\d\d[ T]\d\d:/.test(k) ? keyToIso(k) : k)).join("|");
    expect(groups.has(key), key).toBe(false);
    groups.set(key, Number(g.count));
  }
  return groups;
}

async function count(token: string, filter: Filter | null, condition: Filter | null = null): Promise<number> {
  const d = await data<{ auditLogs: { aggregates: { count: string } } }>(server, token,
    `query($filter: AuditLogFilter, $condition: AuditLogCondition) { auditLogs(filter: $filter, condition: $condition) { aggregates { count } } }`,
    { filter, condition });
  return Number(d.auditLogs.aggregates.count);
}

async function totalCount(token: string, filter: Filter | null, condition: Filter | null = null): Promise<number> {
  const d = await data<{ auditLogs: { totalCount: number } }>(server, token,
    `query($filter: AuditLogFilter, $condition: AuditLogCondition) { auditLogs(filter: $filter, condition: $condition) { totalCount } }`,
    { filter, condition });
  return d.auditLogs.totalCount;
}

const GROUPINGS = [
  ["OCCURRED_AT_TRUNCATED_TO_DAY", "RESOURCE_TYPE", "ACTION", "EVENT"],
  ["OCCURRED_AT_TRUNCATED_TO_HOUR"],
  ["OCCURRED_AT_HOUR_OF_DAY", "EVENT"],
  ["OCCURRED_AT_DAY_OF_WEEK"],
  ["RESOURCE_TYPE"],
  ["EVENT", "OCCURRED_AT_TRUNCATED_TO_DAY", "OCCURRED_AT_TRUNCATED_TO_HOUR"],
];

/** Adds 1000 to one whole day's rollup of tenant A (the first kind that day); rebuilt by `restore`. */
async function tamperDay(day: string): Promise<{ key: string; restore: () => Promise<void> }> {
  const { rows } = await db.owner.query<{ resource_type: string; action: string; event: string }>(
    "select resource_type, action, event from audit.tenant_rollups where tenant_id = $1 and period = 'day' and period_start = $2 order by 1, 2, 3 limit 1",
    [w.a.tenantId, day]);
  expect(rows.length).toBe(1);
  const { resource_type, action, event } = rows[0]!;
  await db.owner.query(
    "update audit.tenant_rollups set entries = entries + 1000 where tenant_id = $1 and period = 'day' and period_start = $2 and resource_type = $3 and action = $4 and event = $5",
    [w.a.tenantId, day, resource_type, action, event]);
  return {
    key: [day, resource_type, action, event].join("|"),
    restore: async () => {
      await db.owner.query("select audit.rebuild_rollups($1)", [w.a.tenantId]);
    },
  };
}

describe("aggregates of the log from the rollups", () => {
  it("groupedAggregates by time buckets and kinds equal the log's, for tenant and account admins", async () => {
    for (const token of [tenantAdmin(w.a), accountAdmin(w.a), tenantAdmin(w.b)]) {
      for (const groupBy of GROUPINGS) {
        const want = await grouped(token, onLog(IN_RANGE), groupBy);
        expect(want.size, groupBy.join()).toBeGreaterThan(0);
        expect(await grouped(token, IN_RANGE, groupBy), groupBy.join()).toEqual(want);
      }
    }
  });

  it("gives the groups in the order of their keys, from the rollups and from the log alike", async () => {
    const token = tenantAdmin(w.a);
    const keysOf = async (groupBy: string[], filter: Filter) => {
      const d = await data<{ auditLogs: { groupedAggregates: { keys: (string | null)[] }[] } }>(server, token,
        `query($filter: AuditLogFilter) { auditLogs(filter: $filter) { groupedAggregates(groupBy: [${groupBy.join(", ")}]) { keys } } }`, { filter });
      return d.auditLogs.groupedAggregates.map((g) => g.keys.map((k) => (k !== null && /^\d{4}-\d\d-\d\d[ T]/.test(k) ? keyToIso(k) : k)));
    };
    for (const groupBy of [["OCCURRED_AT_TRUNCATED_TO_DAY", "EVENT"], ["OCCURRED_AT_TRUNCATED_TO_HOUR"], ["RESOURCE_TYPE", "OCCURRED_AT_TRUNCATED_TO_DAY"]]) {
      const fromRollups = await keysOf(groupBy, IN_RANGE);
      expect(fromRollups.length, groupBy.join()).toBeGreaterThan(3);
      // The same order (text keys in the database's collation) on both sources.
      expect(fromRollups, groupBy.join()).toEqual(await keysOf(groupBy, onLog(IN_RANGE)));
      // Time keys ascending within equal preceding keys.
      const t = groupBy.findIndex((g) => g.startsWith("OCCURRED_AT"));
      for (let i = 1; i < fromRollups.length; i++) {
        const [prev, cur] = [fromRollups[i - 1]!, fromRollups[i]!];
        if (prev.slice(0, t).join("|") === cur.slice(0, t).join("|")) expect(Date.parse(cur[t]!), groupBy.join()).toBeGreaterThanOrEqual(Date.parse(prev[t]!));
      }
    }
  });

  it("with every filter the rollups can answer, equals the log's (groups, aggregates.count, totalCount, cappedCount)", async () => {
    const token = tenantAdmin(w.a);
    const filters: Filter[] = [
      {},
      IN_RANGE,
      { occurredAt: { greaterThan: FROM } },
      { occurredAt: { lessThanOrEqualTo: TO } },
      { occurredAt: { greaterThan: FROM, lessThanOrEqualTo: TO }, resourceType: { in: ["settings", "process"] } },
      { ...IN_RANGE, action: { equalTo: "update" } },
      { ...IN_RANGE, event: { in: ["job.completed", "api_key.created"] } },
      { ...IN_RANGE, accountId: { equalTo: w.a.accountId } },
      { ...IN_RANGE, accountId: { in: [w.a.accountId, w.a.otherAccountId] }, resourceType: { equalTo: "process" } },
      { and: [IN_RANGE, { occurredAt: { greaterThanOrEqualTo: "2026-03-02T10:00:00Z" } }, { action: { in: ["create", "update"] } }] },
      { ...IN_RANGE, resourceType: { in: [] } },
    ];
    for (const filter of filters) {
      const label = JSON.stringify(filter);
      const logGroups = await grouped(token, onLog(filter), ["OCCURRED_AT_TRUNCATED_TO_DAY", "RESOURCE_TYPE", "ACTION", "EVENT"]);
      expect(await grouped(token, filter, ["OCCURRED_AT_TRUNCATED_TO_DAY", "RESOURCE_TYPE", "ACTION", "EVENT"]), label).toEqual(logGroups);
      const total = await totalCount(token, filter);
      expect(await count(token, filter), label).toBe(total);
      expect(await count(token, onLog(filter)), label).toBe(total);
      expect([...logGroups.values()].reduce((a, b) => a + b, 0), label).toBe(total);
      const capped = await data(server, token, `query($filter: AuditLogFilter) { auditLogs(filter: $filter) { cappedCount(max: 5) { count isCapped } } }`, { filter });
      expect(capped.auditLogs.cappedCount, label).toEqual({ count: Math.min(total, 5), isCapped: total > 5 });
    }
    // An exact instant, and `condition`'s equality.
    const { rows } = await db.owner.query<{ at: Date }>("select occurred_at as at from audit.log where tenant_id = $1 order by occurred_at desc limit 1", [w.a.tenantId]);
    const at = rows[0]!.at.toISOString();
    expect(await count(token, { occurredAt: { equalTo: at } })).toBe(await totalCount(token, { occurredAt: { equalTo: at } }));
    expect(await count(token, null, { resourceType: "process", action: "update" })).toBe(await totalCount(token, null, { resourceType: "process", action: "update" }));
    expect(await count(token, IN_RANGE, { occurredAt: at })).toBe(await totalCount(token, IN_RANGE, { occurredAt: at }));
  });

  it("reads the rollups where they answer (a tampered rollup shows) and the log otherwise", async () => {
    const token = tenantAdmin(w.a);
    const day = "2026-03-03T00:00:00.000Z";
    const byDay = ["OCCURRED_AT_TRUNCATED_TO_DAY", "RESOURCE_TYPE", "ACTION", "EVENT"];
    const before = await grouped(token, IN_RANGE, byDay);
    const beforeCount = await count(token, IN_RANGE);
    const { key, restore } = await tamperDay(day);
    try {
      // From the rollups: the tampered day shows, in groups, counts and capped counts.
      expect((await grouped(token, IN_RANGE, byDay)).get(key)).toBe(before.get(key)! + 1000);
      expect(await count(token, IN_RANGE)).toBe(beforeCount + 1000);
      // cappedCount reads them for actions and events (no index serves those), the log for the rest.
      const action = key.split("|")[2]!;
      const capped = async (filter: Filter) =>
        (await data(server, token, `query($filter: AuditLogFilter) { auditLogs(filter: $filter) { cappedCount(max: 100000) { count } } }`, { filter })).auditLogs.cappedCount.count;
      const byAction = { ...IN_RANGE, action: { equalTo: action } };
      expect(await capped(byAction)).toBe(await totalCount(token, byAction) + 1000);
      expect(await capped(IN_RANGE)).toBe(beforeCount);
      // From the log: what the rollups do not carry.
      expect(await grouped(token, onLog(IN_RANGE), byDay)).toEqual(before);
      expect(await grouped(token, { ...IN_RANGE, actorType: { equalTo: "user" } }, byDay)).toEqual(
        await grouped(token, onLog({ ...IN_RANGE, actorType: { equalTo: "user" } }), byDay));
      expect(await grouped(token, IN_RANGE, byDay, "distinctCount { actorId }")).toEqual(before);
      expect(await grouped(token, IN_RANGE, ["OCCURRED_AT_TRUNCATED_TO_DAY", "ACTOR_ID"])).toEqual(await grouped(token, onLog(IN_RANGE), ["OCCURRED_AT_TRUNCATED_TO_DAY", "ACTOR_ID"]));
      expect(await count(token, { ...IN_RANGE, action: { notEqualTo: "nothing" } })).toBe(beforeCount);
      expect(await count(token, { ...IN_RANGE, resourceType: { equalTo: "process" }, and: [{ resourceType: { in: ["process"] } }] })).toBe(
        await totalCount(token, { ...IN_RANGE, resourceType: { equalTo: "process" } }));
    } finally {
      await restore();
    }
    expect(await grouped(token, IN_RANGE, byDay)).toEqual(before);
  });

  it("counts entries newer than the rollups, and hourly groups beyond 400 days on the log", async () => {
    const token = tenantAdmin(w.a);
    const open = { occurredAt: { greaterThanOrEqualTo: "2026-01-01T00:00:00Z" } };
    const before = await count(token, open);
    await db.app.query("insert into app.settings (tenant_id, account_id, key, value) values ($1, null, 'fresh.rollup.one', '{}'), ($1, null, 'fresh.rollup.two', '{}')", [w.a.tenantId]);
    expect(await count(token, open)).toBe(before + 2);
    expect(await count(token, open)).toBe(await totalCount(token, open));
    expect(await grouped(token, open, ["OCCURRED_AT_TRUNCATED_TO_HOUR", "EVENT"])).toEqual(await grouped(token, onLog(open), ["OCCURRED_AT_TRUNCATED_TO_HOUR", "EVENT"]));
    // No lower bound, or more than 400 days, by hour: activity_counts refuses those; the log answers.
    for (const filter of [{}, { occurredAt: { greaterThanOrEqualTo: "2020-01-01T00:00:00Z" } }]) {
      expect(await grouped(token, filter, ["OCCURRED_AT_TRUNCATED_TO_HOUR"])).toEqual(await grouped(token, onLog(filter), ["OCCURRED_AT_TRUNCATED_TO_HOUR"]));
    }
  });

  it("an empty range or no match gives no groups and a zero count", async () => {
    const token = tenantAdmin(w.a);
    for (const filter of [
      { occurredAt: { greaterThanOrEqualTo: TO, lessThan: FROM } },
      { occurredAt: { greaterThan: FROM, lessThanOrEqualTo: FROM } },
      { ...IN_RANGE, event: { equalTo: "no.such.event" } },
    ]) {
      expect(await grouped(token, filter, ["OCCURRED_AT_TRUNCATED_TO_DAY"]), JSON.stringify(filter)).toEqual(new Map());
      expect(await count(token, filter)).toBe(0);
    }
  });

  it("never counts another tenant's or another account's entries, whatever the filter", async () => {
    // Tenant B's admin naming tenant A's account; an account admin naming the tenant's other account.
    for (const [token, accountId] of [[tenantAdmin(w.b), w.a.accountId], [accountAdmin(w.a), w.a.otherAccountId]] as const) {
      for (const filter of [{ accountId: { equalTo: accountId } }, { ...IN_RANGE, accountId: { in: [accountId] } }]) {
        expect(await count(token, filter), JSON.stringify(filter)).toBe(0);
        expect(await grouped(token, filter, ["OCCURRED_AT_TRUNCATED_TO_DAY", "EVENT"])).toEqual(new Map());
      }
    }
    // An account admin without a filter: only their account, as on the log.
    const own = await count(accountAdmin(w.a), null);
    expect(own).toBe(await count(accountAdmin(w.a), onLog(null)));
    const { rows } = await db.owner.query<{ n: string }>("select count(*) as n from audit.log where tenant_id = $1", [w.a.tenantId]);
    expect(own).toBeLessThan(Number(rows[0]!.n));
    // Tenant B's days count tenant B's entries, as SQL counts them.
    const bDays = await grouped(tenantAdmin(w.b), IN_RANGE, ["OCCURRED_AT_TRUNCATED_TO_DAY"]);
    const b = await db.owner.query<{ n: string }>("select count(*) as n from audit.log where tenant_id = $1 and occurred_at >= $2 and occurred_at < $3", [w.b.tenantId, FROM, TO]);
    expect([...bDays.values()].reduce((x, y) => x + y, 0)).toBe(Number(b.rows[0]!.n));
  });

  it("gives a filter's errors as the log does", async () => {
    const token = tenantAdmin(w.a);
    for (const filter of [{ accountId: { equalTo: null } }, { ...IN_RANGE, event: {} }]) {
      for (const field of ["aggregates { count }", "groupedAggregates(groupBy: [EVENT]) { count }", "cappedCount { count }"]) {
        const res = await gql(server, token, `query($filter: AuditLogFilter) { auditLogs(filter: $filter) { ${field} } }`, { filter });
        expect(res.body.errors?.[0]?.extensions?.code, `${field} ${JSON.stringify(filter)}`).toMatch(/^FILTER_(NULL|EMPTY)_VALUE$/);
      }
    }
    const bad = await gql(server, token, `{ auditLogs(filter: { occurredAt: { greaterThan: "yesterday-ish" } }) { aggregates { count } } }`);
    expect(bad.body.errors?.[0]?.message).toMatch(/Datetime|yesterday-ish/);
  });
});
