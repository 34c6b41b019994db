// Bad input to the GraphQL API, from the client's side (docs/errors.md):
// nulls for whole arguments mean "not given"; nulls and empty values inside
// a filter, unknown operators, bad UUIDs, dates, big integers, actor types
// and cursors, huge lists, bad page sizes and orderings, documents too
// large, too deep, malformed or with too many mistakes, and inputs too deep
// or holding NUL characters are each a client error with a specific message
// and a stable code: never data, never logged as a server fault, never a
// change to any data. (An empty page, `first: 0`, is no error.)
import { getIntrospectionQuery } from "postgraphile/graphql";
import { beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/app.ts";
import type { TestDatabase } from "../support/database.ts";
import { watchedServer, type FaultWatch } from "./fault-watch.ts";
import { data, gql, idsWhere, seedWorld, tenantAdmin, type GraphQLResponse, type World } from "./helpers.ts";

const watched = watchedServer(seedWorld);
let db: TestDatabase;
let server: RunningServer;
let w: World;
let token: string;
let faults: FaultWatch;

beforeAll(() => {
  ({ db, server, seeded: w, faults } = watched);
  token = tenantAdmin(w.a);
});

/** A GraphQL input literal of a JS value: `{ accountId: { equalTo: null } }`. */
const literal = (value: unknown): string => JSON.stringify(value).replace(/"([A-Za-z_][A-Za-z0-9_]*)":/g, "$1:");

/** Sends a request and checks it was refused as the client's mistake: code, message, no data, nothing logged. */
async function refused(query: string, variables: Record<string, unknown> | undefined, code: string, message: RegExp): Promise<GraphQLResponse> {
  const mark = faults.mark();
  const res = await gql(server, token, query, variables);
  const context = `${query} ${JSON.stringify(variables ?? {})}`;
  expect([200, 400], context).toContain(res.status);
  expect(res.body.errors?.[0]?.extensions?.code, context).toBe(code);
  expect(res.body.errors?.[0]?.message, context).toMatch(message);
  expect(res.body.errors?.[0]?.extensions, context).not.toHaveProperty("errorId"); // only server faults get one
  for (const value of Object.values(res.body.data ?? {})) expect(value, context).toBeNull();
  expect(faults.faultsSince(mark), context).toEqual([]);
  return res;
}

const SHAPE = `totalCount cappedCount { count isCapped } aggregates { count } groupedAggregates(groupBy: [ACTION]) { keys count }
  nodes { id } pageInfo { endCursor hasNextPage }`;

/** The answer to a SHAPE query, with its groups in a stable order (GROUP BY has none). */
async function shaped(query: string, variables?: Record<string, unknown>) {
  const d = await data(server, token, query, variables);
  const groups = d.auditLogs.groupedAggregates as { keys: string[] }[];
  groups.sort((a, b) => a.keys.join().localeCompare(b.keys.join()));
  return d;
}

describe("a null for a whole argument means the argument was not given", () => {
  it("filter: null (literal or variable), filter: {} and an unset variable answer exactly like no filter", async () => {
    const none = await shaped(`{ auditLogs { ${SHAPE} } }`);
    expect(none.auditLogs.totalCount).toBeGreaterThan(1);
    const withVariable = `query ($filter: AuditLogFilter) { auditLogs(filter: $filter) { ${SHAPE} } }`;
    expect(await shaped(withVariable, { filter: null })).toEqual(none);
    expect(await shaped(withVariable, {})).toEqual(none);
    expect(await shaped(withVariable, { filter: {} })).toEqual(none);
    expect(await shaped(`{ auditLogs(filter: null) { ${SHAPE} } }`)).toEqual(none);
    expect(await shaped(`{ auditLogs(filter: {}) { ${SHAPE} } }`)).toEqual(none);
  });

  it("condition: null and {} answer like no condition; orderBy: null and [] like the default order", async () => {
    const none = await shaped(`{ auditLogs { ${SHAPE} } }`);
    for (const args of ["condition: null", "condition: {}", "orderBy: null", "orderBy: []", "orderBy: [OCCURRED_AT_DESC]", "after: null", "first: null"]) {
      expect(await shaped(`{ auditLogs(${args}) { ${SHAPE} } }`), args).toEqual(none);
    }
    const variables = "query ($c: AuditLogCondition, $o: [AuditLogOrderBy!], $a: Cursor, $f: Int) { auditLogs(condition: $c, orderBy: $o, after: $a, first: $f)";
    expect(await shaped(`${variables} { ${SHAPE} } }`, { c: null, o: null, a: null, f: null })).toEqual(none);
    // The default order's cursors are the explicit order's: pages continue across both spellings.
    const next = `query ($a: Cursor) { auditLogs(first: 3, after: $a, orderBy: [OCCURRED_AT_DESC]) { nodes { id } } }`;
    const page = await data(server, token, `{ auditLogs(first: 3, orderBy: null) { pageInfo { endCursor } } }`);
    const want = await idsWhere(db.owner, "tenant_id = $1", [w.a.tenantId]);
    expect((await data(server, token, next, { a: page.auditLogs.pageInfo.endCursor })).auditLogs.nodes.map((n: { id: string }) => n.id)).toEqual(want.slice(3, 6));
  });

  it("cappedCount(max: null) counts up to the default cap", async () => {
    const d = await data(server, token, "{ auditLogs { a: cappedCount(max: null) { count isCapped } b: cappedCount { count isCapped } totalCount } }");
    expect(d.auditLogs.a).toEqual(d.auditLogs.b);
    expect(d.auditLogs.a.count).toBe(d.auditLogs.totalCount);
  });

  it("null inside a condition is a value: condition: { accountId: null } is the tenant-level entries", async () => {
    const d = await data(server, token, "{ auditLogs(first: 500, condition: { accountId: null }) { nodes { id } } }");
    const want = await idsWhere(db.owner, "tenant_id = $1 and account_id is null", [w.a.tenantId]);
    expect(want.length).toBeGreaterThan(0);
    expect(d.auditLogs.nodes.map((n: { id: string }) => n.id)).toEqual(want);
  });

  it("arguments the API does not have (offset, last, before) are refused, null or not", async () => {
    for (const arg of ["offset: null", "last: null", "before: null", "offset: 5"]) {
      await refused(`{ auditLogs(${arg}) { totalCount } }`, undefined, "GRAPHQL_VALIDATION_FAILED", /^Unknown argument "(offset|last|before)" on field "Query\.auditLogs"/);
    }
  });
});

describe("a null or an empty value inside a filter is refused, never dropped", () => {
  const NULLS: [unknown, string][] = [
    [{ accountId: { equalTo: null } }, "filter.accountId.equalTo"],
    [{ accountId: null }, "filter.accountId"],
    [{ occurredAt: { greaterThanOrEqualTo: null } }, "filter.occurredAt.greaterThanOrEqualTo"],
    [{ and: null }, "filter.and"],
    [{ not: null }, "filter.not"],
    [{ or: [{ action: { equalTo: "update" } }, { actorId: null }] }, "filter.or[1].actorId"],
    [{ newValues: { contains: null } }, "filter.newValues.contains"],
    [{ actorEmail: { isNull: null } }, "filter.actorEmail.isNull"],
  ];
  const EMPTIES: [unknown, string, "object" | "list"][] = [
    [{ occurredAt: {} }, "filter.occurredAt", "object"],
    [{ or: [{ action: { equalTo: "update" } }, {}] }, "filter.or[1]", "object"],
    [{ not: {} }, "filter.not", "object"],
    [{ and: [{ not: { or: [{}] } }] }, "filter.and[0].not.or[0]", "object"],
    [{ and: [] }, "filter.and", "list"],
    [{ or: [] }, "filter.or", "list"],
  ];
  const escape = (path: string) => path.replace(/[.[\]]/g, "\\$&");

  it("a null, as a literal or in a variable: FILTER_NULL_VALUE, naming where", async () => {
    for (const [filter, path] of NULLS) {
      const message = new RegExp(`^${escape(path)} is null\\. Leave it out to not filter on it; to match entries without a value, use isNull: true\\.$`);
      await refused(`{ auditLogs(filter: ${literal(filter)}) { nodes { id } } }`, undefined, "FILTER_NULL_VALUE", message);
      await refused("query ($f: AuditLogFilter) { auditLogs(filter: $f) { nodes { id } } }", { f: filter }, "FILTER_NULL_VALUE", message);
    }
  });

  it("an empty object or an empty and / or list: FILTER_EMPTY_VALUE, naming where", async () => {
    for (const [filter, path, what] of EMPTIES) {
      const message = new RegExp(`^${escape(path)} is an empty ${what}: give it at least one`);
      await refused(`{ auditLogs(filter: ${literal(filter)}) { nodes { id } } }`, undefined, "FILTER_EMPTY_VALUE", message);
      await refused("query ($f: AuditLogFilter) { auditLogs(filter: $f) { nodes { id } } }", { f: filter }, "FILTER_EMPTY_VALUE", message);
    }
  });

  it("is refused whichever field reads the filter: counts, capped counts, aggregates, groups", async () => {
    for (const selection of ["totalCount", "cappedCount { count }", "aggregates { count }", "groupedAggregates(groupBy: [ACTION]) { count }"]) {
      await refused(`{ auditLogs(first: 0, filter: { or: [{ action: { equalTo: "update" } }, {}] }) { ${selection} } }`, undefined, "FILTER_EMPTY_VALUE", /^filter\.or\[1\]/);
      await refused(`query ($f: AuditLogFilter) { auditLogs(first: 0, filter: $f) { ${selection} } }`, { f: { accountId: { equalTo: null } } }, "FILTER_NULL_VALUE", /^filter\.accountId\.equalTo is null/);
    }
  });

  it("a null item of and / or is a type error of the request", async () => {
    await refused(`{ auditLogs(filter: { and: [null] }) { totalCount } }`, undefined, "GRAPHQL_VALIDATION_FAILED", /Expected value of type "AuditLogFilter!", found null/);
    await refused("query ($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount } }", { f: { or: [null] } }, "BAD_USER_INPUT", /^Variable "\$f" got invalid value null at "f\.or\[0\]"; Expected non-nullable type "AuditLogFilter!" not to be null\./);
  });

  it("nulls inside JSON values are data (jsonb containment), and an empty `in` list narrows to nothing", async () => {
    const d = await data(server, token, `{ auditLogs(first: 500, filter: { newValues: { contains: { revoked_at: null } } }) { nodes { id } } }`);
    expect(d.auditLogs.nodes.map((n: { id: string }) => n.id)).toEqual(
      await idsWhere(db.owner, "tenant_id = $1 and new_values @> '{\"revoked_at\": null}'", [w.a.tenantId]),
    );
    expect((await data(server, token, `{ auditLogs(filter: { actorId: { in: [] } }) { totalCount } }`)).auditLogs.totalCount).toBe(0);
  });
});

describe("operators, fields and values of the wrong kind", () => {
  it("operators and fields that are not offered: GRAPHQL_VALIDATION_FAILED", async () => {
    await refused(`{ auditLogs(filter: { actorEmail: { includes: "acme" } }) { totalCount } }`, undefined, "GRAPHQL_VALIDATION_FAILED", /^Field "includes" is not defined by type "StringFilter"\./);
    await refused(`{ auditLogs(filter: { tenantId: { equalTo: "${w.b.tenantId}" } }) { totalCount } }`, undefined, "GRAPHQL_VALIDATION_FAILED", /^Field "tenantId" is not defined by type "AuditLogFilter"\./);
    await refused(`{ auditLogs(orderBy: [ACTION_ASC]) { totalCount } }`, undefined, "GRAPHQL_VALIDATION_FAILED", /Value "ACTION_ASC" does not exist in "AuditLogOrderBy" enum/);
    await refused("query ($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount } }", { f: { actorEmail: { like: "%" } } }, "BAD_USER_INPUT", /Field "like" is not defined by type "StringFilter"/);
    await refused(`{ auditLogs { nodes { id secret } } }`, undefined, "GRAPHQL_VALIDATION_FAILED", /^Cannot query field "secret" on type "AuditLog"\./);
  });

  it("bad UUIDs: INVALID_UUID", async () => {
    const message = /UUID values must be 32 hexadecimal digits/;
    for (const filter of [{ accountId: { equalTo: "not-a-uuid" } }, { actorId: { in: [w.a.adminId, "x' or '1'='1"] } }]) {
      await refused(`{ auditLogs(filter: ${literal(filter)}) { totalCount } }`, undefined, "INVALID_UUID", message);
      await refused("query ($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount } }", { f: filter }, "INVALID_UUID", message);
    }
    await refused(`{ auditLogs(condition: { actorId: "12345" }) { totalCount } }`, undefined, "INVALID_UUID", message);
    // The variable's error names where the value was.
    await refused("query ($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount } }", { f: { accountId: { equalTo: "nope" } } }, "INVALID_UUID",
      /^Variable "\$f" got invalid value "nope" at "f\.accountId\.equalTo"; UUID values must be/);
    // Without hyphens, or in capitals, a UUID is still one.
    const bare = w.a.accountId.replaceAll("-", "").toUpperCase();
    expect((await data(server, token, `{ auditLogs(filter: { accountId: { equalTo: "${bare}" } }) { totalCount } }`)).auditLogs.totalCount).toBeGreaterThan(0);
  });

  it("bad dates: INVALID_DATETIME (nothing reaches PostgreSQL, which would read some of them its own way)", async () => {
    const message = /Datetime values must be ISO 8601 date-times such as "2026-03-01T00:00:00Z"/;
    for (const bad of ["soon", "yesterday", "now", "2026-02-30T00:00:00Z", "2026-13-01", "2026-03-01T24:00:00Z", "2026-03-01T10:61:00Z",
      "0000-01-01", "2026-03-01T00:00:00+16:00", "March 1, 2026", "1709251200", ""]) {
      await refused(`{ auditLogs(filter: { occurredAt: { lessThan: ${JSON.stringify(bad)} } }) { totalCount } }`, undefined, "INVALID_DATETIME", message);
      await refused("query ($t: Datetime) { auditLogs(filter: { occurredAt: { lessThan: $t } }) { totalCount } }", { t: bad }, "INVALID_DATETIME", message);
    }
    await refused("query ($t: Datetime) { auditLogs(filter: { occurredAt: { lessThan: $t } }) { totalCount } }", { t: 1709251200 }, "INVALID_DATETIME", message);
    await refused(`{ auditLogs(condition: { occurredAt: "2026-02-29" }) { totalCount } }`, undefined, "INVALID_DATETIME", message); // not a leap year
    // What ISO 8601 allows is read as such: all of these are 2026-03-02T00:00:00Z.
    const want = (await idsWhere(db.owner, "tenant_id = $1 and occurred_at < '2026-03-02T00:00:00Z'", [w.a.tenantId])).length;
    expect(want).toBeGreaterThan(0);
    for (const good of ["2026-03-02", "2026-03-02T00:00:00Z", "2026-03-02T05:30:00+05:30", "2026-03-02 00:00:00.000000Z", "2026-03-01T19:00:00-0500", "2026-03-02T00:00"]) {
      const d = await data(server, token, `{ auditLogs(filter: { occurredAt: { lessThan: "${good}" } }) { totalCount } }`);
      expect(d.auditLogs.totalCount, good).toBe(want);
    }
  });

  it("bad big integers: INVALID_BIGINT", async () => {
    const message = /BigInt values must be whole numbers between -9223372036854775808 and 9223372036854775807/;
    for (const bad of ["abc", "1e3", "1.5", "9223372036854775808", " 1"]) {
      await refused(`{ auditLogs(filter: { transactionId: { equalTo: ${JSON.stringify(bad)} } }) { totalCount } }`, undefined, "INVALID_BIGINT", message);
    }
    for (const bad of [1.5, true, "0x10", 2 ** 60]) {
      await refused("query ($t: BigInt) { auditLogs(filter: { transactionId: { equalTo: $t } }) { totalCount } }", { t: bad }, "INVALID_BIGINT", message);
    }
    const { rows } = await db.owner.query<{ t: string }>("select transaction_id::text as t from audit.log where tenant_id = $1 limit 1", [w.a.tenantId]);
    const tx = rows[0]!.t;
    const byString = await data(server, token, `{ auditLogs(filter: { transactionId: { equalTo: "${tx}" } }) { totalCount } }`);
    const byNumber = await data(server, token, "query ($t: BigInt) { auditLogs(filter: { transactionId: { equalTo: $t } }) { totalCount } }", { t: Number(tx) });
    expect(byString.auditLogs.totalCount).toBeGreaterThan(0);
    expect(byNumber).toEqual(byString);
  });

  it("an actor type other than user, api_key, system or database_role: INVALID_ACTOR_TYPE, in a filter or a condition, whichever field reads it", async () => {
    // (a String restricted by a database domain: unchecked, PostgreSQL refuses the cast, which reads as a server fault)
    const message = (where: string, value: string) =>
      new RegExp(`^actorType must be one of user, api_key, system or database_role; the ${where.replaceAll(".", "\\.")} has "${value}", which is not an actor type\\.$`);
    const FILTERS: [unknown, string, string][] = [
      [{ actorType: { equalTo: "robot" } }, "filter's actorType.equalTo", "robot"],
      [{ actorType: { in: ["user", "robot"] } }, "filter's actorType.in", "robot"],
      [{ actorType: { notIn: ["USER"] } }, "filter's actorType.notIn", "USER"],
      [{ actorType: { notEqualTo: "" } }, "filter's actorType.notEqualTo", ""],
      [{ or: [{ action: { equalTo: "update" } }, { not: { actorType: { equalTo: "api-key" } } }] }, "filter's actorType.equalTo", "api-key"],
    ];
    for (const [filter, where, value] of FILTERS) {
      await refused(`{ auditLogs(filter: ${literal(filter)}) { nodes { id } } }`, undefined, "INVALID_ACTOR_TYPE", message(where, value));
      await refused("query ($f: AuditLogFilter) { auditLogs(filter: $f) { nodes { id } } }", { f: filter }, "INVALID_ACTOR_TYPE", message(where, value));
    }
    await refused(`{ auditLogs(condition: { actorType: "robot" }) { nodes { id } } }`, undefined, "INVALID_ACTOR_TYPE", message("condition's actorType", "robot"));
    await refused("query ($t: String) { auditLogs(condition: { actorType: $t }) { nodes { id } } }", { t: "admin" }, "INVALID_ACTOR_TYPE", message("condition's actorType", "admin"));
    for (const selection of ["totalCount", "cappedCount { count }", "aggregates { count }", "groupedAggregates(groupBy: [ACTOR_TYPE]) { keys count }", "pageInfo { hasNextPage }"]) {
      await refused(`{ auditLogs(first: 0, filter: { actorType: { in: ["robot"] } }) { ${selection} } }`, undefined, "INVALID_ACTOR_TYPE", message("filter's actorType.in", "robot"));
      await refused(`{ auditLogs(first: 0, condition: { actorType: "robot" }) { ${selection} } }`, undefined, "INVALID_ACTOR_TYPE", message("condition's actorType", "robot"));
    }
    // Operators that build a pattern would be cast to the domain too: refused as well, when strings have any.
    const stringOperators = (await data(server, token, `{ __type(name: "StringFilter") { inputFields { name } } }`)).__type.inputFields.map((f: { name: string }) => f.name);
    for (const operator of stringOperators.filter((name: string) => !["equalTo", "notEqualTo", "in", "notIn", "isNull"].includes(name))) {
      await refused(`{ auditLogs(filter: { actorType: { ${operator}: "user" } }) { totalCount } }`, undefined, "INVALID_ACTOR_TYPE",
        new RegExp(`^actorType takes whole values \\(equalTo, notEqualTo, in, notIn, isNull\\), not ${operator}: its values are user, api_key, system or database_role\\.$`));
    }
    // The four kinds are values, in any combination; a condition's null is "no value" (none here: actor_type is required).
    const all = await idsWhere(db.owner, "tenant_id = $1", [w.a.tenantId]);
    const d = await data(server, token, `{ auditLogs(first: 500, filter: { actorType: { in: ["user", "api_key", "system", "database_role"] } }) { nodes { id } } }`);
    expect(d.auditLogs.nodes.map((n: { id: string }) => n.id)).toEqual(all);
    for (const kind of ["user", "api_key", "system", "database_role"]) {
      const want = await idsWhere(db.owner, "tenant_id = $1 and actor_type = $2", [w.a.tenantId, kind]);
      const byCondition = await data(server, token, `{ auditLogs(first: 500, condition: { actorType: "${kind}" }) { nodes { id } } }`);
      const byFilter = await data(server, token, `{ auditLogs(first: 500, filter: { actorType: { notEqualTo: "${kind}" } }) { totalCount } }`);
      expect(byCondition.auditLogs.nodes.map((n: { id: string }) => n.id), kind).toEqual(want);
      expect(byFilter.auditLogs.totalCount, kind).toBe(all.length - want.length);
    }
    expect((await data(server, token, "{ auditLogs(condition: { actorType: null }) { totalCount } }")).auditLogs.totalCount).toBe(0);
  });
});

describe("cursors", () => {
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64");
  const afterQuery = "query ($a: Cursor, $o: [AuditLogOrderBy!]) { auditLogs(first: 3, after: $a, orderBy: $o) { nodes { id } } }";
  let real: unknown[];

  beforeAll(async () => {
    const d = await data(server, token, "{ auditLogs(first: 2) { pageInfo { endCursor } } }");
    real = JSON.parse(Buffer.from(d.auditLogs.pageInfo.endCursor, "base64").toString("utf8")) as unknown[];
    expect(real).toHaveLength(3); // [digest, occurredAt, id]
  });

  it("garbage, forged values and forged digests: INVALID_CURSOR, before any SQL", async () => {
    const [digest, occurredAt, id] = real;
    const forged = [
      "garbage!",
      "",
      encode("not a list"),
      encode({ a: 1 }),
      Buffer.from("not json").toString("base64"),
      encode([digest, occurredAt]),
      encode([digest, "not a date", id]),
      encode([digest, "2026-02-30T00:00:00Z", id]),
      encode([digest, occurredAt, "abc"]),
      encode([digest, occurredAt, "99999999999999999999"]),
      encode([digest, { $gt: "" }, id]),
    ];
    const message = /^(Variable "\$a" got invalid value .*; )?Invalid cursor: pass pageInfo\.endCursor of an earlier page of the same query \(same orderBy\), or null\./;
    for (const cursor of forged) {
      await refused(afterQuery, { a: cursor }, "INVALID_CURSOR", message);
      await refused(`{ auditLogs(after: ${JSON.stringify(cursor)}) { nodes { id } } }`, undefined, "INVALID_CURSOR", message);
    }
    // Well-formed, but not from this ordering: @dataplan/pg's check.
    await refused(afterQuery, { a: encode(["0000000000", occurredAt, id]) }, "INVALID_CURSOR", /^Invalid 'after' cursor - a cursor is only valid within a specific ordering/);
  });

  it("a cursor of the other direction is the same position: paging turns around there", async () => {
    // (Both orders sort on (occurredAt, id): their cursors share the digest.)
    const asc = await data(server, token, "{ auditLogs(first: 2, orderBy: [OCCURRED_AT_ASC]) { nodes { id } pageInfo { endCursor } } }");
    const back = await data(server, token, afterQuery, { a: asc.auditLogs.pageInfo.endCursor, o: ["OCCURRED_AT_DESC"] });
    expect(back.auditLogs.nodes.map((n: { id: string }) => n.id)).toEqual([asc.auditLogs.nodes[0].id]);
  });

  it("a real cursor with a made-up position only moves within the admin's own entries", async () => {
    const [digest, , id] = real;
    const d = await data(server, token, afterQuery, { a: encode([digest, "2999-01-01T00:00:00Z", id]) });
    expect(d.auditLogs.nodes.map((n: { id: string }) => n.id)).toEqual((await idsWhere(db.owner, "tenant_id = $1", [w.a.tenantId])).slice(0, 3));
    // (another tenant's real cursor: test/server/isolation.test.ts, "a cursor taken from B's pages")
  });
});

describe("sizes, page sizes and orderings", () => {
  it("a huge `in` list up to the body limit works (and narrows); past it the body is refused", async () => {
    const ids = Array.from({ length: 2_000 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`);
    const d = await data(server, token, "query ($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount } }", { f: { actorId: { in: [...ids, w.a.adminId] } } });
    expect(d.auditLogs.totalCount).toBe((await idsWhere(db.owner, "tenant_id = $1 and actor_id = $2", [w.a.tenantId, w.a.adminId])).length);
    const mark = faults.mark();
    const tooBig = await gql(server, token, "query ($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount } }", { f: { actorId: { in: [...ids, ...ids] } } });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.errors?.[0]?.extensions?.code).toBe("REQUEST_TOO_LARGE");
    expect(faults.faultsSince(mark)).toEqual([]);
  });

  it("a document of more than 5,000 tokens: GRAPHQL_PARSE_FAILED", async () => {
    const values = Array.from({ length: 5_000 }, (_, i) => `"e${i}"`).join(",");
    const res = await refused(`{ auditLogs(filter: { entityId: { in: [${values}] } }) { totalCount } }`, undefined, "GRAPHQL_PARSE_FAILED", /^Syntax Error: Document contains more tha[nt] 5000 tokens\. Parsing aborted\.$/);
    expect(res.status).toBe(400);
  });

  it("page sizes: negative or over 500 is PAGE_SIZE_TOO_LARGE, a non-integer is a type error", async () => {
    for (const first of [-1, 501, 1_000_000]) {
      await refused("query ($n: Int) { auditLogs(first: $n) { nodes { id } } }", { n: first }, "PAGE_SIZE_TOO_LARGE", /^first must be between 0 and 500/);
    }
    await refused("{ auditLogs(first: 2147483648) { totalCount } }", undefined, "GRAPHQL_VALIDATION_FAILED", /^Int cannot represent non 32-bit signed integer value: 2147483648/);
    await refused(`{ auditLogs(first: "10") { totalCount } }`, undefined, "GRAPHQL_VALIDATION_FAILED", /^Int cannot represent non-integer value: "10"/);
    await refused("query ($n: Int) { auditLogs(first: $n) { totalCount } }", { n: 1e12 }, "BAD_USER_INPUT", /^Variable "\$n" got invalid value 1000000000000; Int cannot represent non 32-bit signed integer value/);
    await refused("query ($n: Int) { auditLogs(first: $n) { totalCount } }", { n: "10" }, "BAD_USER_INPUT", /^Variable "\$n" got invalid value "10"; Int cannot represent non-integer value/);
  });

  it("first: 0 is an empty page whose hasNextPage says whether any entry follows (the Relay rule), after the cursor too", async () => {
    const query = `query ($n: Int, $f: AuditLogFilter, $c: AuditLogCondition, $a: Cursor, $o: [AuditLogOrderBy!]) {
      auditLogs(first: $n, filter: $f, condition: $c, after: $a, orderBy: $o) { nodes { id } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } totalCount } }`;
    const page = async (variables: Record<string, unknown>) => (await data(server, token, query, { n: 0, ...variables })).auditLogs;
    const all = await idsWhere(db.owner, "tenant_id = $1", [w.a.tenantId]);
    expect(await page({})).toEqual({ nodes: [], pageInfo: { hasNextPage: true, hasPreviousPage: false, startCursor: null, endCursor: null }, totalCount: all.length });
    expect((await data(server, token, "{ auditLogs(first: 0) { pageInfo { hasNextPage } } }")).auditLogs.pageInfo.hasNextPage).toBe(true);
    // Only when something matches: the filter and the condition count.
    expect((await page({ f: { actorId: { in: [] } } })).pageInfo.hasNextPage).toBe(false);
    expect((await page({ f: { actorType: { equalTo: "system" } } })).pageInfo.hasNextPage).toBe(true);
    expect((await page({ c: { entityId: "no-such-entity" } })).pageInfo.hasNextPage).toBe(false);
    expect((await page({ c: { accountId: null } })).pageInfo.hasNextPage).toBe(true);
    // After a cursor: whether entries follow it, in either order.
    for (const order of ["OCCURRED_AT_DESC", "OCCURRED_AT_ASC"]) {
      const full = (await data(server, token, query, { n: 500, o: [order] })).auditLogs;
      expect(full.nodes).toHaveLength(all.length);
      expect(full.pageInfo.hasNextPage, order).toBe(false);
      const one = (await data(server, token, query, { n: 1, o: [order] })).auditLogs;
      expect((await page({ a: one.pageInfo.endCursor, o: [order] })).pageInfo.hasNextPage, order).toBe(true);
      expect((await page({ a: full.pageInfo.endCursor, o: [order] })).pageInfo.hasNextPage, order).toBe(false);
    }
    // Other page sizes answer as before.
    expect((await page({ n: all.length })).pageInfo.hasNextPage).toBe(false);
    expect((await page({ n: all.length - 1 })).pageInfo.hasNextPage).toBe(true);
  });

  it("a capped count's cap out of range: CAPPED_COUNT_MAX_OUT_OF_RANGE", async () => {
    for (const max of [0, -5, 100_001]) {
      await refused(`{ auditLogs { cappedCount(max: ${max}) { count } } }`, undefined, "CAPPED_COUNT_MAX_OUT_OF_RANGE", /^max must be between 1 and 100000/);
    }
  });

  it("more than one ordering: INVALID_ORDER_BY", async () => {
    await refused("{ auditLogs(orderBy: [OCCURRED_AT_DESC, OCCURRED_AT_ASC]) { nodes { id } } }", undefined, "INVALID_ORDER_BY",
      /^orderBy takes one ordering, OCCURRED_AT_DESC or OCCURRED_AT_ASC \(both break ties by id\); got 2\.$/);
    await refused("query ($o: [AuditLogOrderBy!]) { auditLogs(orderBy: $o) { totalCount } }", { o: ["OCCURRED_AT_ASC", "OCCURRED_AT_ASC"] }, "INVALID_ORDER_BY", /got 2/);
  });

  it("grouping by nothing: a type error (groupBy is required) or one group of everything", async () => {
    await refused("{ auditLogs { groupedAggregates(groupBy: null) { count } } }", undefined, "GRAPHQL_VALIDATION_FAILED", /Expected value of type "\[AuditLogGroupBy!\]!", found null/);
    await refused("{ auditLogs { groupedAggregates { count } } }", undefined, "GRAPHQL_VALIDATION_FAILED", /argument "groupBy" of type "\[AuditLogGroupBy!\]!" is required/);
    const all = await data(server, token, "{ auditLogs { totalCount groupedAggregates(groupBy: []) { keys count } } }");
    expect(all.auditLogs.groupedAggregates).toEqual([{ keys: null, count: String(all.auditLogs.totalCount) }]);
  });
});

describe("documents and inputs", () => {
  it("syntax errors: GRAPHQL_PARSE_FAILED with the location", async () => {
    const res = await refused("{ auditLogs { totalCount }", undefined, "GRAPHQL_PARSE_FAILED", /^Syntax Error: Expected Name, found <EOF>\.$/);
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]).toMatchObject({ locations: [{ line: 1, column: 27 }] });
  });

  it("the operation to run is unclear, or a required variable is missing: BAD_USER_INPUT", async () => {
    const two = "query A { auditLogs { totalCount } } query B { auditEvents { event } }";
    const res = await refused(two, undefined, "BAD_USER_INPUT", /^Must provide operation name if query contains multiple operations\.$/);
    expect(res.status).toBe(400);
    const named = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: two, operationName: "C" }),
    });
    expect(await named.json()).toMatchObject({ errors: [{ message: 'Unknown operation named "C".', extensions: { code: "BAD_USER_INPUT" } }] });
    await refused("query ($n: Int!) { auditLogs(first: $n) { totalCount } }", {}, "BAD_USER_INPUT", /^Variable "\$n" of required type "Int!" was not provided\.$/);
  });

  it("subscriptions: OPERATION_NOT_SUPPORTED; mutations over the log do not exist (the log is read-only)", async () => {
    await refused("subscription { auditLogs { totalCount } }", undefined, "OPERATION_NOT_SUPPORTED", /^This API has no subscription operations\.$/);
    await refused("mutation { deleteAuditLog(id: 1) { id } }", undefined, "GRAPHQL_VALIDATION_FAILED", /^Cannot query field "deleteAuditLog" on type "Mutation"\.$/);
  });

  it("more than 500 selections: QUERY_TOO_EXPENSIVE, before validation (whose overlap check would give up without a code)", async () => {
    await refused(`{ ${"__typename ".repeat(501)}}`, undefined, "QUERY_TOO_EXPENSIVE", /^The GraphQL document has more than 500 selections \(fields and fragments\); split it into several requests\.$/);
    await refused(`{ auditLogs { ${"...F ".repeat(501)}} } fragment F on AuditLogConnection { totalCount }`, undefined, "QUERY_TOO_EXPENSIVE", /more than 500 selections/);
    // 500 are validated, and GraphiQL's whole introspection query is far below the limits.
    expect(Object.keys((await data(server, token, `{ ${"__typename ".repeat(500)}}`)))).toEqual(["__typename"]);
    expect((await data(server, token, getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, inputValueDeprecation: true }))).__schema.queryType.name).toBe("Query");
  });

  it("more than 99 validation errors: the first 99, then one saying there are more, each GRAPHQL_VALIDATION_FAILED", async () => {
    // (graphql-js takes 100 and, at the 101st, adds "Too many validation errors..." without a code)
    const unknownFields = (n: number) => `{ ${Array.from({ length: n }, (_, i) => `f${i}: nope${i}`).join(" ")} }`;
    const cannot = (n: number) => Array.from({ length: n }, (_, i) => `Cannot query field "nope${i}" on type "Query".`);
    for (const [n, accept] of [[100, undefined], [101, undefined], [300, undefined], [150, "application/json"]] as const) {
      const mark = faults.mark();
      const res = await gql(server, token, unknownFields(n), undefined, accept ? { accept } : {});
      expect(res.status).toBe(accept ? 200 : 400);
      expect(res.body.data).toBeUndefined();
      const errors = res.body.errors ?? [];
      expect(errors).toHaveLength(100);
      expect(errors.map((e) => e.extensions?.code)).toEqual(Array(100).fill("GRAPHQL_VALIDATION_FAILED"));
      expect(errors.slice(0, 99).map((e) => e.message)).toEqual(cannot(99));
      expect(errors[99]!.message).toBe("Too many validation errors: only the first 99 are listed. Fix them and send the document again.");
      expect(faults.faultsSince(mark)).toEqual([]);
    }
    // Up to 99 errors, each is listed.
    const some = await gql(server, token, unknownFields(99));
    expect(some.body.errors?.map((e) => e.message)).toEqual(cannot(99));
    expect(some.body.errors?.every((e) => e.extensions?.code === "GRAPHQL_VALIDATION_FAILED")).toBe(true);
  });

  it("selections nested more than 100 levels: QUERY_TOO_DEEP, before validation", async () => {
    const deep = `{ ${"a { ".repeat(101)}b${" }".repeat(101)} }`;
    await refused(deep, undefined, "QUERY_TOO_DEEP", /^The GraphQL document nests selections more than 100 levels deep\.$/);
    // (within 100 levels, GRAPHQL_MAX_DEPTH applies: test/server/hardening.test.ts, "operation limits")
  });

  it("inputs nested more than 32 levels, as literals, variables or JSON values: INPUT_TOO_DEEP", async () => {
    const nest = (depth: number): unknown => (depth === 0 ? { action: { equalTo: "update" } } : { not: nest(depth - 1) });
    const message = /^Arguments and variables may nest objects and lists at most 32 levels deep\.$/;
    await refused(`{ auditLogs(filter: ${literal(nest(40))}) { totalCount } }`, undefined, "INPUT_TOO_DEEP", message);
    await refused("query ($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount } }", { f: nest(40) }, "INPUT_TOO_DEEP", message);
    let json: unknown = 1;
    for (let i = 0; i < 1_000; i++) json = [json];
    await refused("query ($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount } }", { f: { newValues: { contains: json } } }, "INPUT_TOO_DEEP", message);
    // Ten levels of logic still work.
    expect((await data(server, token, "query ($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount } }", { f: nest(10) })).auditLogs.totalCount).toBe(
      (await idsWhere(db.owner, "tenant_id = $1 and action = 'update'", [w.a.tenantId])).length,
    );
  });

  it("a document is judged alike every time (the verdict is kept per text), its variables at every request", async () => {
    for (let i = 0; i < 3; i++) {
      const res = await refused("{ auditLogs { totalCount }", undefined, "GRAPHQL_PARSE_FAILED", /^Syntax Error: Expected Name, found <EOF>\.$/);
      expect(res.body.errors?.[0]).toMatchObject({ locations: [{ line: 1, column: 27 }] });
    }
    const query = "query ($e: String) { auditLogs(filter: { entityId: { equalTo: $e } }) { totalCount } }";
    expect((await data(server, token, query, { e: "none" })).auditLogs.totalCount).toBe(0);
    await refused(query, { e: "a\0b" }, "INVALID_CHARACTER", /^Strings in the request must not contain NUL characters/);
    expect((await data(server, token, query, { e: "none" })).auditLogs.totalCount).toBe(0);
  });

  it("NUL characters, which PostgreSQL text cannot hold: INVALID_CHARACTER", async () => {
    const message = /^Strings in the request must not contain NUL characters/;
    await refused(`{ auditLogs(filter: { entityId: { equalTo: "a\\u0000b" } }) { totalCount } }`, undefined, "INVALID_CHARACTER", message);
    await refused("query ($e: String) { auditLogs(filter: { entityId: { equalTo: $e } }) { totalCount } }", { e: "a\0b" }, "INVALID_CHARACTER", message);
    await refused("query ($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount } }", { f: { newValues: { contains: { "k\0": 1 } } } }, "INVALID_CHARACTER", message);
    await refused(`{ auditLogs(condition: { entityId: "\\u0000" }) { totalCount } }`, undefined, "INVALID_CHARACTER", message);
  });
});

describe("after all of the above", () => {
  it("no data changed, and nothing was logged as a server fault", () => watched.expectUnharmed());
});
