// The GraphQL contract over HTTP against the real server and database:
// schema shape, the catalogue, every filter dimension, condition, date
// bounds and time zones, ordering and pagination (also while entries
// arrive), and aggregates checked against the same counts in SQL.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asUser } from "../support/fixtures.ts";
import { accountAdmin, allPages, data, gql, idsWhere, tenantAdmin, seedWorld, startTestServer, type World } from "./helpers.ts";

let db: TestDatabase;
let server: RunningServer;
let w: World;
let tokenA: string;

beforeAll(async () => {
  db = await createTestDatabase();
  // A database whose default time zone is far from UTC: results must not depend on it.
  await db.owner.query(`alter database ${db.name} set timezone to 'Pacific/Kiritimati'`);
  w = await seedWorld(db);
  server = await startTestServer(db);
  tokenA = tenantAdmin(w.a);
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

const nodesQuery = (args: string) => `{ auditLogs(${args}) { totalCount nodes { id } } }`;

async function ids(args: string, token = tokenA): Promise<{ ids: string[]; totalCount: number }> {
  const d = await data(server, token, nodesQuery(args));
  return { ids: d.auditLogs.nodes.map((n: { id: string }) => n.id), totalCount: d.auditLogs.totalCount };
}

/** GraphQL filter result == SQL over tenant A; and the case is meaningful (some, not all). */
async function expectFilter(filter: string, where: string, params: unknown[] = []) {
  const got = await ids(`first: 500, filter: ${filter}`);
  const want = await idsWhere(db.owner, `tenant_id = $1 and (${where})`, [w.a.tenantId, ...params]);
  const all = await idsWhere(db.owner, "tenant_id = $1", [w.a.tenantId]);
  expect(want.length).toBeGreaterThan(0);
  expect(want.length).toBeLessThan(all.length);
  expect(got.ids).toEqual(want);
  expect(got.totalCount).toBe(want.length);
}

describe("schema", () => {
  it("exposes auditLogs and auditEvents (besides security monitoring and log streams), no mutation over the log, with the AuditLog fields in camelCase", async () => {
    const d = await data(server, tokenA, `{
      __schema { mutationType { fields { name } } subscriptionType { name } queryType { fields { name } } types { name } }
      auditLog: __type(name: "AuditLog") { fields { name } }
    }`);
    // The log is read-only: the only mutations are security monitoring's (test/server/security/) and log streams' (test/streams/).
    expect(d.__schema.mutationType.fields.map((f: { name: string }) => f.name).sort()).toEqual([
      "acknowledgeSecurityAlert", "createLogStream", "createWebhookEndpoint", "deleteLogStream", "deleteWebhookEndpoint", "pauseLogStream",
      "replayLogStream", "resolveSecurityAlert", "resumeLogStream", "updateDetectorSettings", "updateLogStream", "updateWebhookEndpoint",
    ]);
    expect(d.__schema.subscriptionType).toBeNull();
    expect(d.__schema.queryType.fields.map((f: { name: string }) => f.name).sort()).toEqual(
      ["activityCounts", "auditEvents", "auditLogs", "detectorSettings", "logStreams", "sealStatus", "sealVerifications", "seals", "securityAlerts", "webhookEndpoints"],
    );
    expect(d.auditLog.fields.map((f: { name: string }) => f.name).sort()).toEqual(
      [
        "id", "occurredAt", "tenantId", "accountId", "actorType", "actorId", "actorEmail", "actorName", "action",
        "resourceType", "entityId", "entityLabel", "event", "oldValues", "newValues", "context", "transactionId", "description",
      ].sort(),
    );
    const types: string[] = d.__schema.types.map((t: { name: string }) => t.name);
    // No partitions, internal tables, scope or maintenance functions, Relay node.
    for (const hidden of ["Log", "LogDefault", "TrackedTable", "EventRule", "CaptureStatement", "Node", "AuditLogInput", "AuditLogPatch", "CreateAuditLogPayload"]) {
      expect(types).not.toContain(hidden);
    }
    expect(types.filter((t) => /^Log\d|^AuditLog\d/.test(t))).toEqual([]);
  });

  it("exposes actorType as a String with the string filter (the column is a domain over text)", async () => {
    const d = await data(server, tokenA, `{
      auditLog: __type(name: "AuditLog") { fields { name type { name ofType { name } } } }
      filter: __type(name: "AuditLogFilter") { inputFields { name type { name } } }
    }`);
    const field = d.auditLog.fields.find((f: { name: string }) => f.name === "actorType");
    expect(field.type.name ?? field.type.ofType.name).toBe("String");
    expect(d.filter.inputFields.find((f: { name: string }) => f.name === "actorType").type.name).toBe("StringFilter");
  });

  it("offers only index-friendly filter operators and the OCCURRED_AT orderings", async () => {
    const d = await data(server, tokenA, `{
      filter: __type(name: "AuditLogFilter") { inputFields { name } }
      string: __type(name: "StringFilter") { inputFields { name } }
      json: __type(name: "JSONFilter") { inputFields { name } }
      datetime: __type(name: "DatetimeFilter") { inputFields { name } }
      order: __type(name: "AuditLogOrderBy") { enumValues { name } }
      groupBy: __type(name: "AuditLogGroupBy") { enumValues { name } }
      query: __type(name: "Query") { fields { name args { name defaultValue } } }
    }`);
    const names = (x: { inputFields?: { name: string }[]; enumValues?: { name: string }[] }) =>
      (x.inputFields ?? x.enumValues ?? []).map((f) => f.name).sort();
    expect(names(d.filter)).toEqual(
      ["accountId", "action", "actorEmail", "actorId", "actorType", "alertId", "and", "entityId", "entityLabel", "event", "newValues", "not", "occurredAt", "oldValues", "or", "resourceType", "transactionId"],
    );
    expect(names(d.string)).toEqual(["equalTo", "in", "isNull", "notEqualTo", "notIn", "startsWith", "startsWithInsensitive"]);
    expect(names(d.json)).toEqual(["contains", "containsKey"]);
    expect(names(d.datetime)).toEqual(["equalTo", "greaterThan", "greaterThanOrEqualTo", "lessThan", "lessThanOrEqualTo"]);
    expect(names(d.order)).toEqual(["OCCURRED_AT_ASC", "OCCURRED_AT_DESC"]);
    expect(names(d.groupBy)).toEqual([
      "ACCOUNT_ID", "ACTION", "ACTOR_EMAIL", "ACTOR_ID", "ACTOR_NAME", "ACTOR_TYPE", "EVENT",
      "OCCURRED_AT_DAY_OF_WEEK", "OCCURRED_AT_HOUR_OF_DAY", "OCCURRED_AT_TRUNCATED_TO_DAY", "OCCURRED_AT_TRUNCATED_TO_HOUR", "RESOURCE_TYPE",
    ]);
    const auditLogs = d.query.fields.find((f: { name: string }) => f.name === "auditLogs");
    const args = Object.fromEntries(auditLogs.args.map((a: { name: string; defaultValue: string | null }) => [a.name, a.defaultValue]));
    expect(Object.keys(args).sort()).toEqual(["after", "condition", "filter", "first", "orderBy"]);
    expect(args.first).toBe("50");
    expect(args.orderBy).toBe("[OCCURRED_AT_DESC]");
  });
});

describe("catalogue and description", () => {
  it("auditEvents lists the whole catalogue, ordered by event", async () => {
    const d = await data(server, tokenA, "{ auditEvents { event action resourceType description } }");
    const { rows } = await db.owner.query("select event, action, resource_type, description from audit.events order by event");
    expect(d.auditEvents).toEqual(rows.map((r) => ({ event: r.event, action: r.action, resourceType: r.resource_type, description: r.description })));
  });

  it("every entry's description is its event's catalogue text", async () => {
    const d = await data(server, tokenA, "{ auditLogs(first: 500) { nodes { event description } } }");
    const { rows } = await db.owner.query<{ event: string; description: string }>("select event, description from audit.events");
    const catalogue = new Map(rows.map((r) => [r.event, r.description]));
    expect(d.auditLogs.nodes.length).toBeGreaterThan(10);
    for (const n of d.auditLogs.nodes) expect(n.description).toBe(catalogue.get(n.event));
  });

  it("every entry's description is what audit.log_description says (the API inlines its body: plugins/entry-description.ts)", async () => {
    const d = await data(server, tokenA, "{ auditLogs(first: 500) { nodes { id description } } }");
    const { rows } = await db.owner.query<{ id: string; description: string }>(
      "select l.id::text as id, audit.log_description(l) as description from audit.log l where l.tenant_id = $1",
      [w.a.tenantId],
    );
    const described = new Map(rows.map((r) => [r.id, r.description]));
    expect(d.auditLogs.nodes.length).toBeGreaterThan(10);
    for (const n of d.auditLogs.nodes) expect(n.description).toBe(described.get(n.id));
  });

  it("returns every column with its value, JSON as JSON and timestamps in UTC", async () => {
    const d = await data(server, tokenA, `{ auditLogs(first: 1, filter: { event: { equalTo: "settings.updated" }, oldValues: { containsKey: "value" } }) {
      nodes { id occurredAt tenantId accountId actorType actorId actorEmail actorName action resourceType entityId entityLabel event oldValues newValues context transactionId }
    } }`);
    const n = d.auditLogs.nodes[0];
    const { rows } = await db.owner.query("select * from audit.log where id = $1", [n.id]);
    const r = rows[0];
    expect(n).toEqual({
      id: String(r.id),
      occurredAt: expect.stringMatching(/\+00:00$/),
      tenantId: r.tenant_id,
      accountId: r.account_id,
      actorType: r.actor_type,
      actorId: r.actor_id,
      actorEmail: r.actor_email,
      actorName: r.actor_name,
      action: r.action,
      resourceType: r.resource_type,
      entityId: r.entity_id,
      entityLabel: "rpa.credentials",
      event: r.event,
      oldValues: r.old_values,
      newValues: r.new_values,
      context: r.context,
      transactionId: String(r.transaction_id),
    });
    expect(Date.parse(n.occurredAt)).toBe(r.occurred_at.getTime());
    expect(n.newValues.value.password).toBe("[redacted]");
  });
});

describe("filters", () => {
  it("action", () => expectFilter(`{ action: { equalTo: "update" } }`, "action = 'update'"));
  it("action in / notIn", async () => {
    await expectFilter(`{ action: { in: ["create", "delete"] } }`, "action in ('create', 'delete')");
    await expectFilter(`{ action: { notIn: ["create", "update"] } }`, "action not in ('create', 'update')");
  });
  it("resourceType", () => expectFilter(`{ resourceType: { equalTo: "settings" } }`, "resource_type = 'settings'"));
  it("event", () => expectFilter(`{ event: { equalTo: "member.removed" } }`, "event = 'member.removed'"));
  it("actorId", () => expectFilter(`{ actorId: { equalTo: "${w.a.memberId}" } }`, "actor_id = $2", [w.a.memberId]));
  it("actorEmail", () => expectFilter(`{ actorEmail: { equalTo: "max@acme.test" } }`, "actor_email = 'max@acme.test'"));
  it("actorType", () => expectFilter(`{ actorType: { equalTo: "user" } }`, "actor_type = 'user'"));
  it("entityId", () => expectFilter(`{ entityId: { equalTo: "${w.apiKeyId}" } }`, "entity_id = $2", [w.apiKeyId]));
  it("entityLabel: equality, set membership and prefix", async () => {
    await expectFilter(`{ entityLabel: { equalTo: "P1" } }`, "entity_label = 'P1'");
    await expectFilter(`{ entityLabel: { in: ["P1", "P3"] } }`, "entity_label in ('P1', 'P3')");
    await expectFilter(`{ entityLabel: { startsWith: "rpa." } }`, "entity_label like 'rpa.%'");
    await expectFilter(`{ event: { startsWith: "process." } }`, "event like 'process.%'");
    await expectFilter(`{ entityLabel: { startsWithInsensitive: "rPA." } }`, "entity_label ilike 'rpa.%'");
  });
  it("a prefix is taken literally: % and _ match only themselves", async () => {
    expect((await ids(`first: 500, filter: { entityLabel: { startsWith: "P" } }`)).ids.length).toBeGreaterThan(0);
    for (const prefix of ["%", "_", "P_", "P%"]) {
      expect((await ids(`first: 500, filter: { entityLabel: { startsWith: ${JSON.stringify(prefix)} } }`)).ids).toEqual([]);
      expect((await ids(`first: 500, filter: { entityLabel: { startsWithInsensitive: ${JSON.stringify(prefix)} } }`)).ids).toEqual([]);
    }
  });
  it("accountId, and tenant-level entries with isNull", async () => {
    await expectFilter(`{ accountId: { equalTo: "${w.a.otherAccountId}" } }`, "account_id = $2", [w.a.otherAccountId]);
    await expectFilter(`{ accountId: { isNull: true } }`, "account_id is null");
    await expectFilter(`{ accountId: { notEqualTo: "${w.a.accountId}" } }`, "account_id <> $2", [w.a.accountId]);
  });
  it("jsonb containment on old and new values", async () => {
    await expectFilter(`{ newValues: { contains: { role: "admin" } } }`, `new_values @> '{"role": "admin"}'`);
    await expectFilter(`{ oldValues: { contains: { role: "member" } } }`, `old_values @> '{"role": "member"}'`);
    await expectFilter(`{ newValues: { containsKey: "revoked_at" } }`, "new_values ? 'revoked_at'");
  });
  it("transactionId: everything written together", async () => {
    const { rows } = await db.owner.query("select transaction_id::text as t from audit.log where tenant_id = $1 and event = 'member.removed'", [w.a.tenantId]);
    await expectFilter(`{ transactionId: { equalTo: "${rows[0].t}" } }`, "transaction_id = $2", [rows[0].t]);
  });
  it("combined with and / or / not", async () => {
    await expectFilter(
      `{ resourceType: { equalTo: "process" }, or: [{ action: { equalTo: "delete" } }, { actorId: { equalTo: "${w.a.memberId}" } }] }`,
      "resource_type = 'process' and (action = 'delete' or actor_id = $2)",
      [w.a.memberId],
    );
    await expectFilter(`{ not: { resourceType: { equalTo: "process" } } }`, "resource_type <> 'process'");
  });
  it("condition: equality on the same columns", async () => {
    const got = await ids(`first: 500, condition: { resourceType: "api_key", action: "create" }`);
    expect(got.ids).toEqual(await idsWhere(db.owner, "tenant_id = $1 and resource_type = 'api_key' and action = 'create'", [w.a.tenantId]));
    expect(got.ids).toHaveLength(1);
  });
  it("rejects operators that are not offered", async () => {
    const res = await gql(server, tokenA, `{ auditLogs(filter: { actorEmail: { includes: "acme" } }) { totalCount } }`);
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.message).toMatch(/includes/);
  });
});

describe("date ranges and time zones", () => {
  let pivot: { id: string; at: string };
  beforeAll(async () => {
    const { rows } = await db.owner.query<{ id: string; at: string }>(
      `select id::text, to_char(occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at
         from audit.log where tenant_id = $1 order by id offset 5 limit 1`,
      [w.a.tenantId],
    );
    pivot = rows[0]!;
  });

  it("greaterThanOrEqualTo and lessThanOrEqualTo include the bound, greaterThan and lessThan exclude it", async () => {
    const at = pivot.at;
    await expectFilter(`{ occurredAt: { greaterThanOrEqualTo: "${at}" } }`, "occurred_at >= $2", [at]);
    await expectFilter(`{ occurredAt: { greaterThan: "${at}" } }`, "occurred_at > $2", [at]);
    await expectFilter(`{ occurredAt: { lessThanOrEqualTo: "${at}" } }`, "occurred_at <= $2", [at]);
    await expectFilter(`{ occurredAt: { lessThan: "${at}" } }`, "occurred_at < $2", [at]);
    expect((await ids(`filter: { occurredAt: { greaterThanOrEqualTo: "${at}" } }, first: 500`)).ids).toContain(pivot.id);
    expect((await ids(`filter: { occurredAt: { greaterThan: "${at}" } }, first: 500`)).ids).not.toContain(pivot.id);
    expect((await ids(`filter: { occurredAt: { lessThanOrEqualTo: "${at}" } }, first: 500`)).ids).toContain(pivot.id);
    expect((await ids(`filter: { occurredAt: { lessThan: "${at}" } }, first: 500`)).ids).not.toContain(pivot.id);
    expect((await ids(`filter: { occurredAt: { equalTo: "${at}" } }`)).ids).toEqual([pivot.id]);
  });

  it("a half-open range [from, to) of a day", async () => {
    await expectFilter(
      `{ occurredAt: { greaterThanOrEqualTo: "2026-03-02T00:00:00Z", lessThan: "2026-03-03T00:00:00Z" } }`,
      "occurred_at >= '2026-03-02T00:00:00Z' and occurred_at < '2026-03-03T00:00:00Z'",
    );
  });

  it("bounds with a UTC offset mean the same instant; bounds without one are UTC", async () => {
    const utc = new Date(Date.parse(pivot.at));
    const ist = new Date(utc.getTime() + 5.5 * 3_600_000).toISOString().replace("Z", "+05:30"); // same instant, in India
    const noZone = pivot.at.replace("Z", "");
    const base = await ids(`first: 500, filter: { occurredAt: { greaterThanOrEqualTo: "${pivot.at}" } }`);
    expect((await ids(`first: 500, filter: { occurredAt: { greaterThanOrEqualTo: "${ist}" } }`)).ids).toEqual(base.ids);
    expect((await ids(`first: 500, filter: { occurredAt: { greaterThanOrEqualTo: "${noZone}" } }`)).ids).toEqual(base.ids);
  });

  it("timestamps come back in UTC whatever the database's time zone", async () => {
    const fresh = new pg.Client({ connectionString: db.authUrl });
    await fresh.connect();
    const { rows } = await fresh.query("select current_setting('TimeZone') as tz");
    await fresh.end();
    expect(rows[0].tz).toBe("Pacific/Kiritimati"); // what a new session of the server gets by default
    const d = await data(server, tokenA, "{ auditLogs(first: 20) { nodes { occurredAt } } }");
    for (const n of d.auditLogs.nodes) expect(n.occurredAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);
  });
});

describe("ordering and pagination", () => {
  it("newest first by default, ties broken by id; OCCURRED_AT_ASC is the exact reverse", async () => {
    const desc = await ids("first: 500");
    const want = await idsWhere(db.owner, "tenant_id = $1", [w.a.tenantId]);
    expect(desc.ids).toEqual(want);
    const asc = await ids("first: 500, orderBy: OCCURRED_AT_ASC");
    expect(asc.ids).toEqual([...want].reverse());
  });

  it("first defaults to 50 and is capped at 500 with a clear error", async () => {
    const mark = await db.owner.query("select count(*)::int as n from audit.log where tenant_id = $1", [w.b.tenantId]);
    // Tenant B gets more than 500 entries for this test.
    await asUser(db.app, w.b.adminId, (c) =>
      c.query("insert into app.jobs (tenant_id, account_id, process_id, status) select $1, $2, $3, 'completed' from generate_series(1, 520)", [
        w.b.tenantId, w.b.accountId, w.b.processId,
      ]),
    );
    const tokenB = tenantAdmin(w.b);
    const omitted = await data(server, tokenB, "{ auditLogs { totalCount nodes { id } } }");
    expect(omitted.auditLogs.nodes).toHaveLength(50);
    expect(omitted.auditLogs.totalCount).toBe(mark.rows[0].n + 520);
    expect((await data(server, tokenB, "{ auditLogs(first: null) { nodes { id } } }")).auditLogs.nodes).toHaveLength(50);
    expect((await data(server, tokenB, "{ auditLogs(first: 500) { nodes { id } } }")).auditLogs.nodes).toHaveLength(500);
    expect((await data(server, tokenB, "{ auditLogs(first: 0) { nodes { id } } }")).auditLogs.nodes).toHaveLength(0);
    for (const [query, variables] of [
      ["{ auditLogs(first: 501) { nodes { id } } }", undefined],
      ["{ auditLogs(first: -1) { nodes { id } } }", undefined],
      ["query ($n: Int) { auditLogs(first: $n) { nodes { id } } }", { n: 100_000 }],
    ] as const) {
      const res = await gql(server, tokenB, query, variables);
      expect(res.body.data?.auditLogs).toBeNull();
      expect(res.body.errors?.[0]).toMatchObject({
        message: expect.stringMatching(/^first must be between 0 and 500/),
        extensions: { code: "PAGE_SIZE_TOO_LARGE" },
      });
    }
  });

  it("has no offset and no last/before (cursors only)", async () => {
    for (const arg of ["offset: 10", "last: 5", `before: "x"`]) {
      const res = await gql(server, tokenA, `{ auditLogs(${arg}) { totalCount } }`);
      expect(res.status).toBe(400);
    }
  });

  it("pages through entries of the same instant without skipping or repeating", async () => {
    // 30 processes in one statement: 30 entries with the same occurred_at.
    await asUser(db.app, w.a.adminId, (c) =>
      c.query("insert into app.processes (tenant_id, account_id, name) select $1, $2, 'batch ' || g from generate_series(1, 30) g", [
        w.a.tenantId, w.a.accountId,
      ]),
    );
    const filter = { resourceType: { equalTo: "process" }, action: { equalTo: "create" } };
    const want = await idsWhere(db.owner, "tenant_id = $1 and resource_type = 'process' and action = 'create'", [w.a.tenantId]);
    const { rows } = await db.owner.query("select count(distinct occurred_at)::int as n from audit.log where id = any($1::bigint[])", [want.slice(0, 30)]);
    expect(rows[0].n).toBe(1);
    expect(await allPages(server, tokenA, { filter, first: 4 })).toEqual(want);
    expect(await allPages(server, tokenA, { filter, first: 4, orderBy: "OCCURRED_AT_ASC" })).toEqual([...want].reverse());
  });

  it("never skips or repeats an entry while new entries arrive during pagination", async () => {
    const before = await idsWhere(db.owner, "tenant_id = $1", [w.a.tenantId]);
    let inserted = 0;
    const writeMore = async () => {
      // Concurrent writers: several transactions, some of them multi-row, between pages.
      await Promise.all([1, 2, 3].map((k) =>
        asUser(db.app, w.a.adminId, (c) =>
          c.query("insert into app.processes (tenant_id, account_id, name) select $1, $2, 'new ' || g from generate_series(1, $3::int) g", [
            w.a.tenantId, w.a.accountId, k,
          ]),
        ),
      ));
      inserted += 6;
    };
    const desc = await allPages(server, tokenA, { first: 7 }, writeMore);
    expect(inserted).toBeGreaterThan(0);
    expect(new Set(desc).size).toBe(desc.length); // no repeats
    expect(desc).toEqual(before); // newest first: arrivals are above the cursor; nothing skipped

    const snapshot = await idsWhere(db.owner, "tenant_id = $1", [w.a.tenantId]);
    const asc = await allPages(server, tokenA, { first: 7, orderBy: "OCCURRED_AT_ASC" }, writeMore);
    expect(new Set(asc).size).toBe(asc.length);
    // Oldest first: every entry that existed is seen once, in order; arrivals follow at the end.
    expect(asc.slice(0, snapshot.length)).toEqual([...snapshot].reverse());
    const after = new Set(await idsWhere(db.owner, "tenant_id = $1", [w.a.tenantId]));
    for (const id of asc) expect(after.has(id)).toBe(true);
  });

  it("cursors are opaque keyset positions: a forged cursor is refused without details", async () => {
    const forged = Buffer.from(JSON.stringify(["0000000000", "2026-03-01T00:00:00Z", "1"])).toString("base64");
    const res = await gql(server, tokenA, `{ auditLogs(after: "${forged}") { nodes { id } } }`);
    expect(res.body.errors?.[0]?.message).toMatch(/cursor/i);
    expect(JSON.stringify(res.body)).not.toMatch(/select|audit\.|sql/i);
  });
});

describe("aggregates", () => {
  const utcText = (unit: string) => `to_char(date_trunc('${unit}', occurred_at at time zone 'UTC'), 'YYYY-MM-DD"T"HH24:MI:SS"Z"')`;
  const GROUPS: Record<string, string> = {
    ACTION: "action",
    RESOURCE_TYPE: "resource_type",
    EVENT: "event",
    ACTOR_ID: "actor_id::text",
    ACTOR_EMAIL: "actor_email",
    ACTOR_TYPE: "actor_type",
    ACCOUNT_ID: "account_id::text",
    OCCURRED_AT_TRUNCATED_TO_DAY: utcText("day"),
    OCCURRED_AT_TRUNCATED_TO_HOUR: utcText("hour"),
    OCCURRED_AT_HOUR_OF_DAY: "extract(hour from occurred_at at time zone 'UTC')::int::text",
    OCCURRED_AT_DAY_OF_WEEK: "extract(isodow from occurred_at at time zone 'UTC')::int::text",
  };
  /** Keys as comparable strings: timestamps as ISO instants (the API's carry an offset, SQL's here a Z). */
  const norm = (key: string | null) => (key !== null && /^\d{4}-\d\d-\d\dT/.test(key) ? new Date(key).toISOString() : key);

  async function sqlGroups(expression: string, where: string, params: unknown[]): Promise<Map<string | null, number>> {
    const { rows } = await db.owner.query<{ k: string | null; n: number }>(
      `select ${expression} as k, count(*)::int as n from audit.log where ${where} group by 1`,
      params,
    );
    return new Map(rows.map((r) => [norm(r.k), r.n]));
  }

  async function apiGroups(groupBy: string, filter: string, token = tokenA): Promise<Map<string | null, number>> {
    const d = await data(server, token, `{ auditLogs${filter ? `(filter: ${filter})` : ""} { groupedAggregates(groupBy: [${groupBy}]) { keys count } } }`);
    return new Map(d.auditLogs.groupedAggregates.map((g: { keys: (string | null)[]; count: string }) => [norm(g.keys[0]!), Number(g.count)]));
  }

  for (const [groupBy, expression] of Object.entries(GROUPS)) {
    it(`groupedAggregates by ${groupBy} equals GROUP BY in SQL (UTC buckets)`, async () => {
      const got = await apiGroups(groupBy, "");
      const want = await sqlGroups(expression, "tenant_id = $1", [w.a.tenantId]);
      expect(got.size).toBeGreaterThan(1);
      expect(got).toEqual(want);
    });
  }

  it("grouped counts respect the filter, also for two keys", async () => {
    const d = await data(server, tokenA, `{ auditLogs(filter: { action: { in: ["update", "delete"] } }) {
      groupedAggregates(groupBy: [RESOURCE_TYPE, ACTION]) { keys count }
    } }`);
    const { rows } = await db.owner.query<{ r: string; a: string; n: number }>(
      "select resource_type as r, action as a, count(*)::int as n from audit.log where tenant_id = $1 and action in ('update', 'delete') group by 1, 2",
      [w.a.tenantId],
    );
    const got = d.auditLogs.groupedAggregates.map((g: { keys: string[]; count: string }) => `${g.keys.join("/")}=${g.count}`).sort();
    expect(got).toEqual(rows.map((r) => `${r.r}/${r.a}=${r.n}`).sort());
  });

  it("aggregates: count, distinct counts, earliest and latest equal SQL; pagination arguments do not change them", async () => {
    const d = await data(server, tokenA, `{ auditLogs(first: 3, filter: { resourceType: { notEqualTo: "job" } }) {
      totalCount
      aggregates { count distinctCount { actorId entityId event transactionId } earliest { occurredAt } latest { occurredAt } }
    } }`);
    const { rows } = await db.owner.query(
      `select count(*)::int as n, count(distinct actor_id)::int as actors, count(distinct entity_id)::int as entities,
              count(distinct event)::int as events, count(distinct transaction_id)::int as txs, min(occurred_at) as first, max(occurred_at) as last
         from audit.log where tenant_id = $1 and resource_type <> 'job'`,
      [w.a.tenantId],
    );
    const r = rows[0];
    const a = d.auditLogs.aggregates;
    expect(d.auditLogs.totalCount).toBe(r.n);
    expect(Number(a.count)).toBe(r.n);
    expect(a.distinctCount).toEqual({ actorId: String(r.actors), entityId: String(r.entities), event: String(r.events), transactionId: String(r.txs) });
    expect(Date.parse(a.earliest.occurredAt)).toBe(r.first.getTime());
    expect(Date.parse(a.latest.occurredAt)).toBe(r.last.getTime());
  });

  it("the User filter's list of actors: groups by actor id, email and name with their last activity", async () => {
    const d = await data(server, tokenA, `{ auditLogs(filter: { actorType: { equalTo: "user" } }) {
      groupedAggregates(groupBy: [ACTOR_ID, ACTOR_EMAIL, ACTOR_NAME]) { keys count latest { occurredAt } }
    } }`);
    const { rows } = await db.owner.query(
      `select actor_id::text as id, actor_email as email, actor_name as name, count(*)::int as n, max(occurred_at) as last
         from audit.log where tenant_id = $1 and actor_type = 'user' group by 1, 2, 3`,
      [w.a.tenantId],
    );
    const got = d.auditLogs.groupedAggregates.map((g: any) => ({ keys: g.keys, n: Number(g.count), last: Date.parse(g.latest.occurredAt) }));
    expect(got).toEqual(
      expect.arrayContaining(rows.map((r) => ({ keys: [r.id, r.email, r.name], n: r.n, last: r.last.getTime() }))),
    );
    expect(got).toHaveLength(rows.length);
  });

  it("an account admin's aggregates cover their account only", async () => {
    const token = accountAdmin(w.a, w.a.accountId);
    const got = await apiGroups("RESOURCE_TYPE", "", token);
    const want = await sqlGroups("resource_type", "tenant_id = $1 and account_id = $2", [w.a.tenantId, w.a.accountId]);
    expect(got).toEqual(want);
    const accounts = await apiGroups("ACCOUNT_ID", "", token);
    expect([...accounts.keys()]).toEqual([w.a.accountId]);
  });

  it("an unknown tenant sees empty results, not errors", async () => {
    const token = tenantAdmin({ ...w.a, tenantId: randomUUID() });
    const d = await data(server, token, "{ auditLogs { totalCount nodes { id } aggregates { count } groupedAggregates(groupBy: [ACTION]) { keys } } }");
    expect(d.auditLogs).toEqual({ totalCount: 0, nodes: [], aggregates: { count: "0" }, groupedAggregates: [] });
  });
});
