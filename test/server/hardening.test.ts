// Hardening: depth and cost limits, introspection and GraphiQL switches,
// request size, HTTP method and body errors, errors that never leak SQL or
// internals (timeouts and unexpected database errors), and the health check.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withDatabase } from "../../src/config.ts";
import type { RunningServer } from "../../src/server/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createLandscape, type Landscape } from "../support/fixtures.ts";
import { gql, tenantAdmin, startTestServer } from "./helpers.ts";

let db: TestDatabase;
let l: Landscape;
let open: RunningServer; // introspection and GraphiQL on
let closed: RunningServer; // production-like: both off, tight limits

beforeAll(async () => {
  db = await createTestDatabase();
  l = await createLandscape(db.app);
  [open, closed] = await Promise.all([
    startTestServer(db, { introspection: true, graphiql: true }),
    startTestServer(db, { introspection: false, graphiql: false, maxDepth: 3, maxCost: 1_000, statementTimeoutMs: 300 }),
  ]);
});
afterAll(async () => {
  await Promise.all([open?.close(), closed?.close()]);
  await db?.drop();
});

describe("operation limits", () => {
  it("refuses operations nested deeper than the limit, before running them", async () => {
    const ok = await gql(closed, tenantAdmin(l), "{ auditLogs { nodes { id } } }");
    expect(ok.body.errors).toBeUndefined();
    const deep = await gql(closed, tenantAdmin(l), "{ auditLogs { groupedAggregates(groupBy: [ACTION]) { latest { occurredAt } } } }");
    expect(deep.status).toBe(400);
    expect(deep.body.errors?.[0]).toMatchObject({ message: "The operation is nested 4 levels deep; the limit is 3.", extensions: { code: "QUERY_TOO_DEEP" } });
    // Fragments do not hide depth.
    const viaFragment = await gql(closed, tenantAdmin(l), "{ auditLogs { ...G } } fragment G on AuditLogConnection { groupedAggregates(groupBy: [ACTION]) { latest { occurredAt } } }");
    expect(viaFragment.body.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_DEEP");
  });

  it("refuses operations whose estimated cost is over the limit (aliases add up)", async () => {
    const one = await gql(closed, tenantAdmin(l), "{ auditLogs(first: 500) { totalCount nodes { id } } }");
    expect(one.body.errors).toBeUndefined(); // 10 + 500 + 100
    const aliases = Array.from({ length: 3 }, (_, i) => `a${i}: auditLogs(first: 500) { totalCount nodes { id } }`).join(" ");
    const many = await gql(closed, tenantAdmin(l), `{ ${aliases} }`);
    expect(many.status).toBe(400);
    expect(many.body.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/^The operation is too expensive: estimated cost 1830, limit 1000/),
      extensions: { code: "QUERY_TOO_EXPENSIVE", cost: 1830, maxCost: 1000 },
    });
    // A page size given by a variable counts as the largest page.
    const variable = await gql(closed, tenantAdmin(l), "query ($n: Int) { a: auditLogs(first: $n) { nodes { id } } b: auditLogs(first: $n) { nodes { id } } }", { n: 5 });
    expect(variable.body.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_EXPENSIVE");
    const grouped = await gql(closed, tenantAdmin(l), "{ auditLogs { x: groupedAggregates(groupBy: [ACTION]) { count } y: groupedAggregates(groupBy: [EVENT]) { count } } }");
    expect(grouped.body.errors?.[0]?.extensions?.code).toBe("QUERY_TOO_EXPENSIVE");
  });

  it("introspection can be switched off", async () => {
    const res = await gql(closed, tenantAdmin(l), "{ __schema { types { name } } }");
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.message).toMatch(/introspection has been disabled/i);
    // Without introspection, anonymous schema requests are no exception to authentication.
    expect((await gql(closed, null, "{ __schema { queryType { name } } }")).status).toBe(401);
  });

  it("GraphiQL (Ruru) is served at /graphiql when on, and absent when off", async () => {
    const on = await fetch(`${open.url}/graphiql`);
    expect(on.status).toBe(200);
    expect(on.headers.get("content-type")).toMatch(/text\/html/);
    expect(await on.text()).toMatch(/ruru/i);
    const off = await fetch(`${closed.url}/graphiql`);
    expect(off.status).toBe(404);
  });
});

describe("HTTP", () => {
  it("refuses bodies over 100 kB with 413", async () => {
    const res = await fetch(`${open.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${tenantAdmin(l)}` },
      body: JSON.stringify({ query: `{ auditLogs { totalCount } } # ${"x".repeat(120_000)}` }),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toEqual({ errors: [{ message: "The request body is larger than 100000 bytes", extensions: { code: "REQUEST_TOO_LARGE" } }] });
  });

  it("answers invalid JSON with 400, other methods with 405, unknown paths with 404, all as JSON", async () => {
    const bad = await fetch(`${open.url}/graphql`, { method: "POST", headers: { "content-type": "application/json" }, body: "{nope" });
    expect(bad.status).toBe(400);
    expect((await bad.json()).errors[0].extensions.code).toBe("BAD_REQUEST");
    const get = await fetch(`${open.url}/graphql?query={auditLogs{totalCount}}`);
    expect(get.status).toBe(405);
    expect(get.headers.get("allow")).toBe("POST");
    const missing = await fetch(`${open.url}/nowhere`);
    expect(missing.status).toBe(404);
    expect((await missing.json()).errors[0].extensions.code).toBe("NOT_FOUND");
  });

  it("sets defensive headers and does not advertise its framework", async () => {
    const res = await fetch(`${open.url}/healthz`);
    expect(res.headers.get("x-powered-by")).toBeNull();
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("cache-control")).toBe("no-store");
  });
});

describe("errors never leak SQL or internals", () => {
  it("a statement over the timeout says so, nothing more", async () => {
    const locker = await db.owner.connect();
    try {
      await locker.query("begin");
      await locker.query("lock table audit.log in access exclusive mode");
      const res = await gql(closed, tenantAdmin(l), "{ auditLogs { totalCount } }");
      expect(res.body.errors?.[0]).toMatchObject({
        message: "The query took longer than the server allows; narrow it, for example with an occurredAt range.",
        extensions: { code: "QUERY_TIMEOUT", errorId: expect.any(String) },
      });
      expect(JSON.stringify(res.body)).not.toMatch(/statement|cancel|audit\.log|select/i);
    } finally {
      await locker.query("rollback");
      locker.release();
    }
  });

  it("an unexpected database error is masked with a reference", async () => {
    // Break the event catalogue the description reads under the running server.
    await db.owner.query("alter table audit.events rename to events_gone");
    try {
      const res = await gql(open, tenantAdmin(l), "{ auditLogs(first: 1) { nodes { id description } } }");
      const error = res.body.errors?.[0];
      expect(error?.message).toMatch(/^An unexpected error occurred; quote reference [0-9a-f]{12} to the operators\.$/);
      expect(error?.extensions).toEqual({ code: "INTERNAL_SERVER_ERROR", errorId: expect.stringMatching(/^[0-9a-f]{12}$/) });
      expect(JSON.stringify(res.body)).not.toMatch(/events|relation|does not exist|audit\./);
    } finally {
      await db.owner.query("alter table audit.events_gone rename to events");
    }
  });
});

describe("start-up", () => {
  it("refuses to start on a database that is not migrated, saying so", async () => {
    await expect(startTestServer({ ...db, authUrl: withDatabase(db.authUrl, "postgres") })).rejects.toThrow(
      /shows no audit\.log to audit_authenticator: is it migrated \(npm run migrate\)/,
    );
  });

  it("serves Ruru's own static assets (no CDN)", async () => {
    const html = await (await fetch(`${open.url}/graphiql`)).text();
    expect(html).toContain("/ruru-static/ruru.js");
    const asset = await fetch(`${open.url}/ruru-static/ruru.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("content-type")).toMatch(/javascript/);
  });
});

describe("health check", () => {
  it("reports ok while the database answers, 503 when it is gone", async () => {
    const ok = await fetch(`${open.url}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ status: "ok", database: "ok" });

    const spare = await createTestDatabase();
    const server = await startTestServer(spare);
    try {
      expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
      await spare.drop(); // drop database ... with (force): the server's connections die
      const down = await fetch(`${server.url}/healthz`);
      expect(down.status).toBe(503);
      expect(await down.json()).toEqual({ status: "unavailable", database: "unreachable" });
    } finally {
      await server.close();
    }
  });
});
