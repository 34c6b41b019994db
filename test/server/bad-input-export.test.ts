// Bad parameters of GET /export (docs/errors.md): the export is strict, so a
// file never holds something other than what was asked for. Unknown,
// repeated or empty parameters, values of the wrong shape and dates that
// are not ISO 8601 are each a 400 with INVALID_EXPORT_PARAMETER and a
// message naming the parameter, before any SQL; none is logged as a server
// fault, and the good requests around them still export.
import { beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server/app.ts";
import { webRoutes } from "../../src/server/routes/web-routes.ts";
import type { TestDatabase } from "../support/database.ts";
import { watchedServer, type FaultWatch } from "./fault-watch.ts";
import { idsWhere, seedWorld, sign, tenantAdmin, type World } from "./helpers.ts";

const watched = watchedServer(seedWorld, { routes: webRoutes({ demoTokens: null }) });
let db: TestDatabase;
let server: RunningServer;
let w: World;
let faults: FaultWatch;

beforeAll(() => {
  ({ db, server, seeded: w, faults } = watched);
});

const exportOf = (query: string, token: string | null = tenantAdmin(w.a)) =>
  fetch(`${server.url}/export?${query}`, { headers: token === null ? {} : { authorization: `Bearer ${token}` } });

async function refused(query: string, message: RegExp, status = 400, code = "INVALID_EXPORT_PARAMETER", token?: string | null) {
  const mark = faults.mark();
  const res = await exportOf(query, token);
  expect(res.status, query).toBe(status);
  expect(res.headers.get("content-disposition"), query).toBeNull();
  const body = (await res.json()) as { error?: string; errors: { message: string; extensions: { code: string } }[] };
  expect(body.errors[0]?.extensions.code, query).toBe(code);
  expect(body.errors[0]?.message, query).toMatch(message);
  expect(faults.faultsSince(mark), query).toEqual([]);
}

describe("GET /export refuses", () => {
  it("unknown parameters, also the tenant's or an account's", async () => {
    for (const name of ["tenant", "tenant_id", "account", "range", "limit", "sql"]) {
      await refused(`${name}=x`, new RegExp(`^Bad export request: unknown parameter "${name}"$`));
    }
  });

  it("a parameter given twice (which would count is a guess)", async () => {
    await refused("action=update&action=delete", /^Bad export request: parameter "action" is given more than once$/);
    await refused("format=csv&format=jsonl", /parameter "format" is given more than once/);
  });

  it("an empty parameter (a filter lost on the way)", async () => {
    for (const name of ["from", "to", "user", "entity", "action", "resource"]) {
      await refused(`${name}=`, new RegExp(`^Bad export request: parameter "${name}" is empty: give it a value or leave it out$`));
      await refused(`${name}=%20%20`, /is empty/);
    }
  });

  it("a format other than csv or jsonl", async () => {
    for (const format of ["xlsx", "CSV", "json"]) await refused(`format=${format}`, new RegExp(`^Bad export request: format must be csv or jsonl, got "${format}"$`));
  });

  it("values of the wrong shape", async () => {
    await refused("user=not-a-uuid", /^Bad export request: user must be a uuid, got "not-a-uuid"$/);
    await refused("action=a;b", /^Bad export request: action must be an action such as "update"/);
    await refused("action=DROP%20TABLE", /action must be an action/);
    await refused("resource=api-key", /^Bad export request: resource must be a resource type such as "api_key"/);
    await refused(`entity=${"x".repeat(201)}`, /^Bad export request: entity must be at most 200 characters$/);
    await refused("entity=a%00b", /^Bad export request: entity must not contain NUL characters$/);
  });

  it("dates that are not ISO 8601 date-times (Date.parse would read some of them its own way)", async () => {
    for (const bad of ["soon", "1", "2026-02-30T00:00:00Z", "March%201%2C%202026", "2026-03-01T25:00:00Z"]) {
      await refused(`from=${bad}`, /^Bad export request: from must be an ISO 8601 date-time such as 2026-03-01T00:00:00Z, got "/);
      await refused(`to=${bad}`, /^Bad export request: to must be an ISO 8601 date-time/);
    }
  });

  it("requests without a valid token, with 401 (every kind of bad token: test/server/auth.test.ts)", async () => {
    await refused("format=csv", /^Authentication required/, 401, "UNAUTHENTICATED", null);
    const expired = sign({ sub: w.a.adminId, tenant_id: w.a.tenantId, role: "tenant_admin", exp: Math.floor(Date.now() / 1000) - 60 });
    await refused("format=csv", /^Token expired at/, 401, "TOKEN_EXPIRED", expired);
  });
});

describe("GET /export accepts", () => {
  it("the same filters written well, exporting exactly them", async () => {
    const res = await exportOf("format=jsonl&from=2026-03-02&to=2026-03-04T05:30:00%2B05:30&action=update");
    expect(res.status).toBe(200);
    const [header, ...lines] = (await res.text()).trimEnd().split("\n").filter(Boolean).map((line) => JSON.parse(line) as { type?: string; id: string });
    expect(header).toMatchObject({ type: "header", completeness: "filtered", filter: { from: "2026-03-02", to: "2026-03-04T05:30:00+05:30", action: "update" } });
    expect(lines.at(-1)).toMatchObject({ type: "end" });
    // the entries: the lines without a type (the proof lines after them have one)
    const ids = lines.filter((line) => line.type === undefined).map((line) => line.id);
    const want = await idsWhere(db.owner, "tenant_id = $1 and action = 'update' and occurred_at >= '2026-03-02T00:00:00Z' and occurred_at < '2026-03-04T00:00:00Z'", [w.a.tenantId]);
    expect(want.length).toBeGreaterThan(0);
    expect(ids).toEqual(want);
  });
});

describe("after all of the above", () => {
  it("no data changed, and nothing was logged as a server fault", () => watched.expectUnharmed());
});
