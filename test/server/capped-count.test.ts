// cappedCount over HTTP against the real server and database: exact below
// the cap, capped above it (also at the default cap of 10,000), equal to
// totalCount and to SQL for every kind of filter and condition, never
// counting another tenant's or another account's entries, clear errors for
// bad caps, a cost below totalCount's, and a scan that stops at the cap.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createLandscape, type Landscape } from "../support/fixtures.ts";
import { refreshUntil } from "../db/support/rollups.ts";
import { accountAdmin, data, gql, sign, tenantAdmin, seedWorld, startTestServer, type World } from "./helpers.ts";

let db: TestDatabase;
let server: RunningServer;
let w: World;
/** A third tenant holding exactly 10,000 entries (a bulk load), then 10,001. */
let big: Landscape;

beforeAll(async () => {
  db = await createTestDatabase();
  w = await seedWorld(db);
  big = await createLandscape(db.app, "Initech");
  const { rows } = await db.owner.query<{ n: number }>("select count(*)::int as n from audit.log where tenant_id = $1", [big.tenantId]);
  await bulkEntries(big, 10_000 - rows[0]!.n);
  // One connection: a request's statements run on one backend, whose table
  // statistics the bounded-scan test reads.
  server = await startTestServer(db, { poolMax: 1 });
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

/** Entries written directly into the log, as a bulk load would (one day in January 2026, account X). */
async function bulkEntries(l: Landscape, n: number): Promise<void> {
  await db.owner.query(
    `insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_id, actor_email, actor_name, action, resource_type, entity_id, event, new_values, context)
     select '2026-01-15T00:00:00Z'::timestamptz + g * interval '1 second', $1, $2, 'user', $3, 'ada@initech.test', 'Ada Admin',
            'update', 'process', $4, 'process.updated', jsonb_build_object('description', 'Bulk ' || g), '{}'::jsonb
       from generate_series(1, $5::int) g`,
    [l.tenantId, l.accountId, l.adminId, l.processId, n],
  );
  await db.owner.query("select audit.ensure_partitions()");
}

interface Capped {
  count: number;
  isCapped: boolean;
}

/** totalCount and cappedCount (with `max` when given) of one connection. */
async function counts(token: string, args: string, max?: number): Promise<{ totalCount: number; capped: Capped }> {
  const d = await data(server, token, `{ auditLogs${args ? `(${args})` : ""} { totalCount capped: cappedCount${max === undefined ? "" : `(max: ${max})`} { count isCapped } } }`);
  return { totalCount: d.auditLogs.totalCount, capped: d.auditLogs.capped };
}

async function sqlCount(where: string, params: unknown[]): Promise<number> {
  const { rows } = await db.owner.query<{ n: number }>(`select count(*)::int as n from audit.log where ${where}`, params);
  return rows[0]!.n;
}

describe("schema", () => {
  it("cappedCount(max: Int = 10000): AuditLogCappedCount! with count and isCapped, described", async () => {
    const d = await data(server, tenantAdmin(w.a), `{
      connection: __type(name: "AuditLogConnection") {
        fields { name description args { name defaultValue description type { name } } type { kind ofType { name } } }
      }
      capped: __type(name: "AuditLogCappedCount") { description fields { name description type { kind ofType { name } } } }
    }`);
    const field = d.connection.fields.find((f: { name: string }) => f.name === "cappedCount");
    expect(field).toMatchObject({ type: { kind: "NON_NULL", ofType: { name: "AuditLogCappedCount" } } });
    expect(field.description).toMatch(/max/);
    expect(field.args).toEqual([{ name: "max", defaultValue: "10000", description: expect.stringMatching(/100000/), type: { name: "Int" } }]);
    expect(d.capped.description).toMatch(/10,000\+/);
    expect(d.capped.fields.map((f: { name: string; type: unknown }) => [f.name, f.type])).toEqual([
      ["count", { kind: "NON_NULL", ofType: { name: "Int" } }],
      ["isCapped", { kind: "NON_NULL", ofType: { name: "Boolean" } }],
    ]);
    for (const f of d.capped.fields) expect(f.description.length).toBeGreaterThan(20);
  });
});

describe("counting", () => {
  it("is exact below the cap and capped above it, telling 'exactly max' from 'more than max'", async () => {
    const n = await sqlCount("tenant_id = $1", [w.a.tenantId]);
    expect(n).toBeGreaterThan(5);
    const token = tenantAdmin(w.a);
    expect(await counts(token, "")).toEqual({ totalCount: n, capped: { count: n, isCapped: false } });
    expect((await counts(token, "", n + 1)).capped).toEqual({ count: n, isCapped: false });
    expect((await counts(token, "", n)).capped).toEqual({ count: n, isCapped: false });
    expect((await counts(token, "", n - 1)).capped).toEqual({ count: n - 1, isCapped: true });
    expect((await counts(token, "", 1)).capped).toEqual({ count: 1, isCapped: true });
    // Several caps in one request, under aliases.
    const d = await data(server, token, "{ auditLogs { a: cappedCount(max: 2) { count isCapped } b: cappedCount { count isCapped } } }");
    expect(d.auditLogs).toEqual({ a: { count: 2, isCapped: true }, b: { count: n, isCapped: false } });
  });

  it("caps at 10,000 by default: exactly 10,000 is exact, 10,001 is '10,000+'", async () => {
    const token = tenantAdmin(big);
    expect(await counts(token, "")).toEqual({ totalCount: 10_000, capped: { count: 10_000, isCapped: false } });
    await bulkEntries(big, 1);
    expect(await counts(token, "")).toEqual({ totalCount: 10_001, capped: { count: 10_000, isCapped: true } });
    expect((await counts(token, "", 100_000)).capped).toEqual({ count: 10_001, isCapped: false });
    // A filter narrows it below the cap again.
    const narrow = await counts(token, `filter: { resourceType: { notEqualTo: "process" } }`);
    expect(narrow.capped).toEqual({ count: narrow.totalCount, isCapped: false });
    expect(narrow.totalCount).toBe(await sqlCount("tenant_id = $1 and resource_type <> 'process'", [big.tenantId]));
  });

  it("honours every filter and condition exactly like totalCount (and SQL), ignoring first, after and orderBy", async () => {
    const a = w.a;
    const page = await data(server, tenantAdmin(a), "{ auditLogs(first: 1, orderBy: [OCCURRED_AT_ASC]) { pageInfo { endCursor } } }");
    const cases: [args: string, where: string, params: unknown[]][] = [
      [`filter: { action: { equalTo: "update" } }`, "action = 'update'", []],
      [`condition: { resourceType: "process" }`, "resource_type = 'process'", []],
      [`condition: { action: "update" }, filter: { resourceType: { in: ["process", "settings"] } }`, "action = 'update' and resource_type in ('process', 'settings')", []],
      [`filter: { or: [{ resourceType: { equalTo: "member" } }, { actorType: { equalTo: "system" } }] }`, "(resource_type = 'member' or actor_type = 'system')", []],
      [`filter: { not: { action: { equalTo: "update" } } }`, "not (action = 'update')", []],
      [`filter: { and: [{ accountId: { isNull: false } }, { actorId: { equalTo: "${a.memberId}" } }] }`, "account_id is not null and actor_id = $2", [a.memberId]],
      [`filter: { accountId: { isNull: true } }`, "account_id is null", []],
      [`filter: { accountId: { in: ["${a.otherAccountId}"] } }`, "account_id = $2", [a.otherAccountId]],
      [`filter: { entityId: { notIn: ["${a.processId}"] }, event: { notEqualTo: "job.completed" } }`, "entity_id <> $2 and event <> 'job.completed'", [a.processId]],
      [`filter: { occurredAt: { greaterThanOrEqualTo: "2026-03-02T00:00:00Z", lessThan: "2026-03-04T00:00:00Z" } }`,
        "occurred_at >= '2026-03-02T00:00:00Z' and occurred_at < '2026-03-04T00:00:00Z'", []],
      [`filter: { newValues: { contains: { role: "admin" } } }`, "new_values @> '{\"role\": \"admin\"}'", []],
      [`filter: { oldValues: { containsKey: "role" } }`, "old_values ? 'role'", []],
      [`filter: { actorEmail: { equalTo: "ada@acme.test" } }, orderBy: [OCCURRED_AT_ASC], first: 1, after: "${page.auditLogs.pageInfo.endCursor}"`,
        "actor_email = 'ada@acme.test'", []],
    ];
    const all = await sqlCount("tenant_id = $1", [a.tenantId]);
    for (const [args, where, params] of cases) {
      const want = await sqlCount(`tenant_id = $1 and (${where})`, [a.tenantId, ...params]);
      expect(want, args).toBeGreaterThan(0);
      expect(want, args).toBeLessThan(all);
      const got = await counts(tenantAdmin(a), args);
      expect(got, args).toEqual({ totalCount: want, capped: { count: want, isCapped: false } });
      if (want > 1) expect((await counts(tenantAdmin(a), args, want - 1)).capped, args).toEqual({ count: want - 1, isCapped: true });
    }
  });

  it("takes the filter from variables like totalCount", async () => {
    const d = await data(server, tenantAdmin(w.a),
      "query ($filter: AuditLogFilter, $max: Int) { auditLogs(filter: $filter) { totalCount cappedCount(max: $max) { count isCapped } } }",
      { filter: { resourceType: { equalTo: "settings" } }, max: 1 });
    const want = await sqlCount("tenant_id = $1 and resource_type = 'settings'", [w.a.tenantId]);
    expect(want).toBeGreaterThan(1);
    expect(d.auditLogs).toEqual({ totalCount: want, cappedCount: { count: 1, isCapped: true } });
  });
});

describe("scope, from the attacker's side", () => {
  it("a tenant admin never counts another tenant's entries, whatever the filter or cap", async () => {
    const a = tenantAdmin(w.a);
    const ownA = await sqlCount("tenant_id = $1", [w.a.tenantId]);
    // The 10,001 entries of the big tenant are not A's: A's largest cap still counts only A.
    expect((await counts(a, "", 100_000)).capped).toEqual({ count: ownA, isCapped: false });
    const { rows } = await db.owner.query("select entity_id from audit.log where tenant_id = $1 limit 1", [w.b.tenantId]);
    for (const filter of [
      `{ accountId: { equalTo: "${w.b.accountId}" } }`,
      `{ accountId: { in: ["${big.accountId}", "${w.b.otherAccountId}"] } }`,
      `{ actorId: { equalTo: "${big.adminId}" } }`,
      `{ actorEmail: { equalTo: "ada@globex.test" } }`,
      `{ entityId: { equalTo: "${rows[0].entity_id}" } }`,
      `{ newValues: { contains: { username: "svc-globex" } } }`,
      `{ occurredAt: { greaterThanOrEqualTo: "2026-01-15T00:00:00Z", lessThan: "2026-01-16T00:00:00Z" } }`,
      `{ or: [{ accountId: { equalTo: "${big.accountId}" } }, { actorId: { equalTo: "${w.b.memberId}" } }] }`,
    ]) {
      for (const max of [1, 10_000, 100_000]) {
        expect(await counts(a, `filter: ${filter}`, max), `${filter} max ${max}`).toEqual({ totalCount: 0, capped: { count: 0, isCapped: false } });
      }
    }
  });

  it("an account admin never counts tenant-level entries or another account's", async () => {
    const x = accountAdmin(w.a, w.a.accountId);
    const ownX = await sqlCount("tenant_id = $1 and account_id = $2", [w.a.tenantId, w.a.accountId]);
    const tenantWide = await sqlCount("tenant_id = $1", [w.a.tenantId]);
    expect(ownX).toBeGreaterThan(1);
    expect(ownX).toBeLessThan(tenantWide);
    expect(await counts(x, "", 100_000)).toEqual({ totalCount: ownX, capped: { count: ownX, isCapped: false } });
    expect((await counts(x, "", ownX - 1)).capped).toEqual({ count: ownX - 1, isCapped: true });
    for (const filter of [`{ accountId: { equalTo: "${w.a.otherAccountId}" } }`, "{ accountId: { isNull: true } }", `{ resourceType: { equalTo: "tenant" } }`,
      `{ or: [{ accountId: { isNull: true } }, { accountId: { equalTo: "${w.a.otherAccountId}" } }] }`]) {
      expect(await counts(x, `filter: ${filter}`, 100_000), filter).toEqual({ totalCount: 0, capped: { count: 0, isCapped: false } });
    }
    // The big tenant's account admin: their account's bulk entries only (the cap does not widen the scope).
    const bigX = accountAdmin(big, big.accountId);
    const ownBigX = await sqlCount("tenant_id = $1 and account_id = $2", [big.tenantId, big.accountId]);
    expect((await counts(bigX, "", 100_000)).capped).toEqual({ count: ownBigX, isCapped: false });
    expect((await counts(accountAdmin(big, big.otherAccountId), "", 100_000)).capped)
      .toEqual({ count: await sqlCount("tenant_id = $1 and account_id = $2", [big.tenantId, big.otherAccountId]), isCapped: false });
  });

  it("a token mixing one tenant with another's account counts nothing", async () => {
    for (const token of [
      sign({ sub: w.a.adminId, tenant_id: w.a.tenantId, role: "account_admin", account_id: big.accountId }),
      sign({ sub: w.a.adminId, tenant_id: big.tenantId, role: "account_admin", account_id: w.a.accountId }),
      sign({ sub: randomUUID(), tenant_id: randomUUID(), role: "tenant_admin" }),
    ]) {
      expect(await counts(token, "", 100_000)).toEqual({ totalCount: 0, capped: { count: 0, isCapped: false } });
    }
  });
});

describe("errors and limits", () => {
  it("refuses a cap outside 1..100000 with a clear error, before any count runs", async () => {
    const query = "query ($max: Int) { auditLogs { cappedCount(max: $max) { count } } }";
    for (const max of [0, -1, 100_001, 2_147_483_647]) {
      const res = await gql(server, tenantAdmin(w.a), query, { max });
      expect(res.status, String(max)).toBe(200);
      expect(res.body.data?.auditLogs, String(max)).toBeNull();
      expect(res.body.errors?.[0], String(max)).toMatchObject({
        message: `max must be between 1 and 100000 (the most entries a capped count reads); got ${max}. Use totalCount for an exact count of a narrow filter.`,
        path: ["auditLogs", "cappedCount"],
        extensions: { code: "CAPPED_COUNT_MAX_OUT_OF_RANGE" },
      });
    }
    const literal = await gql(server, tenantAdmin(w.a), "{ auditLogs { cappedCount(max: 0) { count } } }");
    expect(literal.body.errors?.[0]?.extensions?.code).toBe("CAPPED_COUNT_MAX_OUT_OF_RANGE");
    // Not an integer: GraphQL's own validation says so.
    const fraction = await gql(server, tenantAdmin(w.a), "{ auditLogs { cappedCount(max: 2.5) { count } } }");
    expect(fraction.status).toBe(400);
    expect(fraction.body.errors?.[0]?.message).toMatch(/Int cannot represent non-integer value: 2.5/);
    // null means the default, like `first: null`.
    const nullMax = await data(server, tenantAdmin(w.a), query, { max: null });
    expect(nullMax.auditLogs.cappedCount.count).toBe(await sqlCount("tenant_id = $1", [w.a.tenantId]));
  });

  it("costs less than totalCount: 10 plus 1 per 2,000 entries of its cap", async () => {
    const tight = await startTestServer(db, { maxCost: 100 });
    try {
      const token = tenantAdmin(w.a);
      // The connection's default page is 10 + 50.
      expect((await gql(tight, token, "{ auditLogs { cappedCount { count isCapped } } }")).body.errors).toBeUndefined(); // 60 + 15
      expect((await gql(tight, token, "query ($m: Int = 2000) { auditLogs { cappedCount(max: $m) { count } } }")).body.errors).toBeUndefined(); // 60 + 11
      const exact = await gql(tight, token, "{ auditLogs { totalCount } }");
      expect(exact.body.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_EXPENSIVE", cost: 160 });
      const largest = await gql(tight, token, "{ auditLogs { cappedCount(max: 100000) { count } } }");
      expect(largest.body.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_EXPENSIVE", cost: 120 });
      // A cap from a variable without a default counts as the largest cap.
      const variable = await gql(tight, token, "query ($m: Int) { auditLogs { cappedCount(max: $m) { count } } }", { m: 5 });
      expect(variable.body.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_EXPENSIVE", cost: 120 });
      // The page's count request: no rows, the default cap.
      expect((await gql(tight, token, "{ auditLogs(first: 0) { cappedCount { count isCapped } } }")).body.errors).toBeUndefined(); // 10 + 15
    } finally {
      await tight.close();
    }
  });
});

describe("a bounded scan", () => {
  const BULK = 20_000;

  /**
   * Entries read so far from one partition (sequential and index scans), per
   * the statistics collector. Only the API reads that partition, so what it
   * reads is what the API's requests made PostgreSQL read.
   */
  async function entriesRead(partition: string): Promise<number> {
    await db.owner.query("select pg_stat_clear_snapshot()");
    const { rows } = await db.owner.query<{ n: string }>(`
      select (select coalesce(sum(seq_tup_read), 0) from pg_stat_user_tables where relid = $1::regclass)
           + (select coalesce(sum(idx_tup_read), 0) from pg_stat_user_indexes where relid = $1::regclass) as n`, [partition]);
    return Number(rows[0]!.n);
  }

  /** Runs a request and returns how many entries of the partition it read, once its statistics arrive. */
  async function readBy(partition: string, token: string, query: string, atLeast: number): Promise<number> {
    const before = await entriesRead(partition);
    await data(server, token, query);
    // A backend reports its statistics when idle (within about 10 s) and when
    // it exits: end the server's one connection now (the pool opens another).
    await db.owner.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and application_name = 'audit-trail-api'");
    const deadline = Date.now() + 30_000;
    // The next request must not draw a terminated connection the pool has not
    // yet dropped: wait until it has seen every one of them close.
    while (server.pool.totalCount > 0) {
      if (Date.now() > deadline) throw new Error("the API's pool kept its terminated connections");
      await new Promise((r) => setTimeout(r, 20));
    }
    for (;;) {
      const read = (await entriesRead(partition)) - before;
      if (read >= atLeast) return read;
      if (Date.now() > deadline) throw new Error(`the statistics of ${query} did not arrive (${read} entries read so far)`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /**
   * Writes `entries` updates of the tenant's process a minute apart from
   * `start`, then the `after` statements, on a connection of its own, closed
   * before measuring: a backend reports its statistics (building a new
   * partition's indexes reads it) when it exits.
   */
  async function bulkLoad(l: Landscape, start: string, entries: number, then: { rollUp?: boolean; statements?: string[] } = {}): Promise<void> {
    const loader = new pg.Client({ connectionString: db.ownerUrl });
    await loader.connect();
    try {
      const { rows } = await loader.query<{ xid: string }>(
        `with loaded as (
           insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_id, action, resource_type, entity_id, event, context)
           select $6::timestamptz + g * interval '1 minute', $1, $2, 'user', $3, 'update', 'process', $4, 'process.updated', '{}'::jsonb
             from generate_series(1, $5::int) g
           returning transaction_id)
         select max(transaction_id)::text as xid from loaded`,
        [l.tenantId, l.accountId, l.adminId, l.processId, entries, start],
      );
      for (const statement of then.statements ?? []) await loader.query(statement);
      // Rolled up, as the server's consumer does within seconds of a load
      // (rounds until the watermark passes it: the xmin horizon is cluster-wide).
      if (then.rollUp) await refreshUntil(loader, BigInt(rows[0]!.xid));
    } finally {
      await loader.end();
    }
  }

  it("stops after max + 1 matching entries, where totalCount reads every match", async () => {
    // A tenant whose bulk-loaded entries fill a partition of their own (2025's).
    const hooli = await createLandscape(db.app, "Hooli");
    await bulkLoad(hooli, "2025-12-01T00:00:00Z", BULK, {
      rollUp: true,
      statements: [
        "select audit.ensure_partitions()",
        // Current statistics, as autovacuum keeps them after a load. (Without
        // any, the planner guesses a few matches and may first build a bitmap
        // of every match, which reads all their index entries.)
        "analyze audit.log",
      ],
    });
    // Found in the catalogue, so that the test itself never reads the partition.
    const { rows } = await db.owner.query<{ partition: string }>(
      `select c.oid::regclass::text as partition from pg_inherits i join pg_class c on c.oid = i.inhrelid
        where i.inhparent = 'audit.log'::regclass and c.relname = 'log_2025'`);
    expect(rows.length).toBe(1);
    const partition = rows[0]!.partition;
    const token = tenantAdmin(hooli);

    // The measure works: an exact count reads every one of the partition's entries.
    expect(await readBy(partition, token, "{ auditLogs(first: 0) { totalCount } }", BULK)).toBeGreaterThanOrEqual(BULK);
    // On the log, a capped count reads max + 1 (the oldest partition comes
    // first), and no more.
    const onLog = (max: number) => `{ auditLogs(first: 0, filter: { actorType: { equalTo: "user" } }) { cappedCount(max: ${max}) { count isCapped } } }`;
    const small = await readBy(partition, token, onLog(10), 11);
    expect(small).toBeLessThan(500);
    const larger = await readBy(partition, token, onLog(2000), 2001);
    expect(larger).toBeLessThan(2_500);
    // What the rollups answer (a filter on actions, which no index serves)
    // reads none of the rolled-up entries.
    const fromRollups = `{ auditLogs(first: 0, filter: { action: { equalTo: "update" } }) { cappedCount(max: 15000) { count isCapped } } }`;
    expect(await data(server, token, fromRollups)).toEqual({ auditLogs: { cappedCount: { count: 15000, isCapped: true } } });
    expect(await readBy(partition, token, fromRollups, 0)).toBe(0);

    // More entries than the cap that the rollups have not counted yet (their
    // consumer is behind): the bounded scan answers, not a count of them all.
    await bulkLoad(hooli, "2025-06-01T00:00:00Z", 5000);
    const behind = `{ auditLogs(first: 0, filter: { action: { equalTo: "update" } }) { cappedCount(max: 10) { count isCapped } } }`;
    expect(await data(server, token, behind)).toEqual({ auditLogs: { cappedCount: { count: 10, isCapped: true } } });
    expect(await readBy(partition, token, behind, 11)).toBeLessThan(500);
  });
});
