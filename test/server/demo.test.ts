// The demo data set: loaded through the triggers, dated over six months in
// yearly partitions, consistent; and the README's use-case queries find
// what the story planted, through the API with the printed tokens.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACME, DEMO_ACCOUNT_ADMIN, DEMO_TENANT_ADMIN, DEMO_TENANTS } from "../../src/demo/cast.ts";
import { demoState, loadDemo, type DemoSummary } from "../../src/demo/load.ts";
import { signDemoTokens } from "../../src/demo/tokens.ts";
import { createLogger } from "../../src/log.ts";
import type { RunningServer } from "../../src/server/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { data, SECRET, startTestServer } from "./helpers.ts";

let db: TestDatabase;
let server: RunningServer;
let summary: DemoSummary;
let tenantToken: string;
let accountToken: string;
const now = new Date();

const person = (first: string) => ACME.people.find((p) => p.name.startsWith(first))!;

beforeAll(async () => {
  db = await createTestDatabase();
  expect(await demoState(db.ownerUrl)).toBe("empty");
  summary = await loadDemo(db.ownerUrl, createLogger("silent"), { now });
  server = await startTestServer(db);
  [tenantToken, accountToken] = signDemoTokens(SECRET).map((t) => t.token) as [string, string];
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

describe("the demo data", () => {
  it("is a few thousand entries over six months, written as app_user through the triggers", async () => {
    expect(summary.writer).toBe("app_user");
    expect(summary.entries).toBeGreaterThan(2_000);
    expect(summary.entries).toBeLessThan(10_000);
    expect(summary.newest.getTime()).toBeLessThan(now.getTime());
    expect(now.getTime() - summary.oldest.getTime()).toBeGreaterThan(170 * 86_400_000);
    expect(await demoState(db.ownerUrl)).toBe("loaded");
    const { rows } = await db.owner.query(
      `select count(distinct tenant_id)::int as tenants, count(*) filter (where actor_type = 'database_role')::int as anonymous,
              count(distinct actor_type)::int as actor_types, count(distinct event)::int as events
         from audit.log`,
    );
    expect(rows[0]).toMatchObject({ tenants: DEMO_TENANTS.length, anonymous: 0, actor_types: 3 });
    expect(rows[0].events).toBeGreaterThanOrEqual(20);
  });

  it("sits in its years' partitions, none in the default one, with ids growing with time", async () => {
    const { rows } = await db.owner.query(
      `select (select count(*)::int from audit.log_default) as in_default,
              (select count(distinct tableoid)::int from audit.log) as partitions,
              (select count(distinct extract(year from occurred_at at time zone 'UTC'))::int from audit.log) as years,
              (select count(*)::int from (select occurred_at < lag(occurred_at) over (order by id) as back from audit.log) s where back) as out_of_order`,
    );
    expect(rows[0]).toEqual({ in_default: 0, partitions: rows[0].years, years: expect.any(Number), out_of_order: 0 });
    expect(rows[0].years).toBeGreaterThanOrEqual(1);
  });

  it("keeps captured created_at values consistent with the dates", async () => {
    const { rows } = await db.owner.query(
      `select count(*)::int as n from audit.log
        where (new_values->>'created_at')::timestamptz > occurred_at or (old_values->>'created_at')::timestamptz > occurred_at`,
    );
    expect(rows[0].n).toBe(0);
  });

  it("is not loaded over other data", async () => {
    const other = await createTestDatabase();
    try {
      await other.app.query("insert into app.tenants (name) values ('Someone else')");
      expect(await demoState(other.ownerUrl)).toBe("other");
    } finally {
      await other.drop();
    }
  });
});

describe("the printed tokens", () => {
  it("show the tenant admin all of Acme, and the account admin only Operations", async () => {
    const t = await data(server, tenantToken, "{ auditLogs { totalCount } }");
    const a = await data(server, accountToken, "{ auditLogs { totalCount groupedAggregates(groupBy: [ACCOUNT_ID]) { keys } } }");
    const { rows } = await db.owner.query(
      "select count(*)::int as tenant, count(*) filter (where account_id = $2)::int as account from audit.log where tenant_id = $1",
      [DEMO_TENANT_ADMIN.tenant.id, DEMO_ACCOUNT_ADMIN.account.id],
    );
    expect(t.auditLogs.totalCount).toBe(rows[0].tenant);
    expect(a.auditLogs.totalCount).toBe(rows[0].account);
    expect(a.auditLogs.groupedAggregates).toEqual([{ keys: [DEMO_ACCOUNT_ADMIN.account.id] }]);
  });
});

// The README's example queries (readme-api.md), run against the demo.
describe("use cases", () => {
  it("compliance: member access changes, with who and when", async () => {
    const d = await data(server, tenantToken, `{
      auditLogs(filter: { resourceType: { equalTo: "member" } }, first: 100) {
        totalCount
        nodes { occurredAt actorEmail description accountId oldValues newValues }
      }
    }`);
    const events = new Set(d.auditLogs.nodes.map((n: { description: string }) => n.description));
    expect(events).toEqual(new Set(["Member added", "Member role updated", "Member removed"]));
  });

  it("who changed the RPA credentials?", async () => {
    const d = await data(server, tenantToken, `{
      auditLogs(filter: {
        resourceType: { equalTo: "settings" }
        action: { equalTo: "update" }
        newValues: { contains: { value: { password: "[redacted]" } } }
      }) {
        nodes { occurredAt actorEmail accountId oldValues newValues context }
      }
    }`);
    const nodes = d.auditLogs.nodes;
    expect(nodes.length).toBeGreaterThan(3);
    const oscar = nodes.find((n: { actorEmail: string }) => n.actorEmail === person("Oscar").email);
    expect(oscar.newValues.value).toEqual({ username: "svc-rpa-temp", password: "[redacted]", vault: "personal" });
    expect(oscar.context.ip).toBe("192.0.2.66");
    expect(JSON.stringify(nodes)).not.toMatch(/"password":"(?!\[redacted\])/);
  });

  it("when was this user removed?", async () => {
    const linus = person("Linus");
    const d = await data(server, tenantToken, `{
      auditLogs(filter: { event: { equalTo: "member.removed" }, oldValues: { contains: { user_id: "${linus.id}" } } }) {
        nodes { occurredAt actorEmail accountId oldValues }
      }
    }`);
    expect(d.auditLogs.nodes).toHaveLength(1);
    const removed = d.auditLogs.nodes[0];
    expect(removed.accountId).toBe(ACME.accounts[1]!.id);
    expect(Math.round((now.getTime() - Date.parse(removed.occurredAt)) / 86_400_000)).toBeGreaterThanOrEqual(59);
  });

  it("who created this API key?", async () => {
    const d = await data(server, tenantToken, `{
      auditLogs(filter: { resourceType: { equalTo: "api_key" }, action: { equalTo: "create" }, newValues: { contains: { name: "prod-export" } } }) {
        nodes { occurredAt actorEmail actorName entityId newValues }
      }
    }`);
    expect(d.auditLogs.nodes).toHaveLength(1);
    expect(d.auditLogs.nodes[0]).toMatchObject({ actorEmail: person("Max").email, newValues: { name: "prod-export", key_hash: "[redacted]" } });
  });

  it("suspicious: role escalations", async () => {
    const d = await data(server, tenantToken, `{
      auditLogs(filter: { event: { equalTo: "member.role_updated" }, newValues: { contains: { role: "admin" } } }) {
        nodes { occurredAt actorEmail entityId oldValues newValues context }
      }
    }`);
    const max = d.auditLogs.nodes.filter((n: { actorEmail: string }) => n.actorEmail === person("Max").email);
    expect(max).toHaveLength(1);
    expect(max[0]).toMatchObject({ oldValues: { role: "member" }, newValues: { role: "admin" } });
  });

  it("suspicious: API keys created by unexpected users", async () => {
    const d = await data(server, tenantToken, `{
      auditLogs(filter: { event: { equalTo: "api_key.created" } }) {
        groupedAggregates(groupBy: [ACTOR_EMAIL]) { keys count latest { occurredAt } }
      }
    }`);
    const creators = d.auditLogs.groupedAggregates.map((g: { keys: string[] }) => g.keys[0]);
    expect(creators).toContain(person("Max").email);
    expect(creators).toContain(person("Ada").email);
  });

  it("suspicious: settings changed outside business hours", async () => {
    const d = await data(server, tenantToken, `{
      auditLogs(filter: { resourceType: { equalTo: "settings" } }) {
        groupedAggregates(groupBy: [OCCURRED_AT_HOUR_OF_DAY]) { keys count }
      }
    }`);
    const byHour = new Map<number, number>(d.auditLogs.groupedAggregates.map((g: { keys: string[]; count: string }) => [Number(g.keys[0]), Number(g.count)]));
    expect(byHour.get(2)).toBe(1);
    for (const hour of byHour.keys()) expect(hour === 2 || (hour >= 7 && hour <= 17)).toBe(true);
  });

  it("suspicious: mass deletions", async () => {
    const d = await data(server, tenantToken, `{
      auditLogs(filter: { action: { equalTo: "delete" } }) {
        groupedAggregates(groupBy: [ACTOR_EMAIL, OCCURRED_AT_TRUNCATED_TO_HOUR]) { keys count distinctCount { entityId } }
      }
    }`);
    const biggest = d.auditLogs.groupedAggregates.sort((x: { count: string }, y: { count: string }) => Number(y.count) - Number(x.count))[0];
    expect(biggest.keys[0]).toBe(person("Max").email);
    expect(Number(biggest.count)).toBe(20);
    expect(biggest.distinctCount.entityId).toBe("20");
  });

  it("the activity chart: entries per day, by resource type", async () => {
    const since = new Date(now.getTime() - 30 * 86_400_000).toISOString();
    const d = await data(server, tenantToken, `{
      auditLogs(filter: { occurredAt: { greaterThanOrEqualTo: "${since}" } }) {
        totalCount
        groupedAggregates(groupBy: [OCCURRED_AT_TRUNCATED_TO_DAY, RESOURCE_TYPE]) { keys count }
      }
    }`);
    const total = d.auditLogs.groupedAggregates.reduce((s: number, g: { count: string }) => s + Number(g.count), 0);
    expect(total).toBe(d.auditLogs.totalCount);
  });
});
