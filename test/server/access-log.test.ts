// The audit log's own access log (src/server/access-log.ts): exports are
// recorded when they start and when they end (completed, cancelled or
// failed), in the exporting admin's scope; with ACCESS_LOG=all, reads are
// recorded once per admin, filter and minute, after the response, and a
// failing write never fails the read; shutdown waits for pending writes.
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readKey } from "../../src/server/access-log.ts";
import type { RunningServer, ServerOptions } from "../../src/server/app.ts";
import { claimsFromPayload } from "../../src/server/auth.ts";
import { webRoutes } from "../../src/server/routes/web-routes.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { lastEntryId, type LogEntry } from "../support/fixtures.ts";
import { accountAdmin, data, gql, seedWorld, startTestServer, tenantAdmin, type World } from "./helpers.ts";

let db: TestDatabase;
let w: World;
const servers: RunningServer[] = [];
/** One server per ACCESS_LOG mode, and a second "all" server (other memory, same database). */
let exportsServer: RunningServer;
let allServer: RunningServer;
let allServer2: RunningServer;
let offServer: RunningServer;

async function serve(options: Partial<ServerOptions>): Promise<RunningServer> {
  const server = await startTestServer(db, { routes: webRoutes({ demoTokens: null, exportBatchSize: 5 }), ...options });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  db = await createTestDatabase();
  w = await seedWorld(db);
  [exportsServer, allServer, allServer2, offServer] = await Promise.all([
    serve({ accessLog: "exports" }), serve({ accessLog: "all" }), serve({ accessLog: "all" }), serve({ accessLog: "off" }),
  ]);
});
afterAll(async () => {
  for (const server of servers) await server.close();
  await db?.drop();
});


/** Access-log entries written after `mark`, oldest first (read as the owner). */
async function accessEntries(mark: string): Promise<LogEntry[]> {
  const { rows } = await db.owner.query<LogEntry>(
    "select *, id::text as id from audit.log l where resource_type = 'audit_log' and l.id > $1 order by l.id",
    [mark],
  );
  return rows;
}

const exportOf = (server: RunningServer, query: string, token: string, signal?: AbortSignal) =>
  fetch(`${server.url}/export?${query}`, { headers: { authorization: `Bearer ${token}` }, ...(signal ? { signal } : {}) });

// (the entries: not the header, seal, proof and end lines of the file's proof, which carry a "type")
const jsonlIds = (text: string) =>
  text.split("\n").filter(Boolean).map((line) => JSON.parse(line) as { id: string; type?: string }).filter((l) => !("type" in l)).map((l) => l.id);

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > until) return value;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Reads of the log as each admin sees them (GraphQL, on a server that records no reads). */
async function visibleAccessEvents(token: string): Promise<string[]> {
  const d = await data(exportsServer, token, `{ auditLogs(first: 500, filter: { resourceType: { equalTo: "audit_log" } }) { nodes { event entityId } } }`);
  return d.auditLogs.nodes.map((n: { event: string; entityId: string }) => `${n.event} ${n.entityId}`);
}

describe("exports (ACCESS_LOG=exports, the default of npm start)", () => {
  it("an account admin's export: started, then finished (completed, with the count), seen by the tenant's and that account's admins only", async () => {
    const mark = await lastEntryId(db.owner);
    // A token with email and name claims: they name the admin.
    const token = accountAdmin(w.a, w.a.accountId, { sub: w.a.memberId, email: "max@idp.example", name: "Max from the IdP" });
    const res = await exportOf(exportsServer, "format=jsonl&resource=process&action=update", token);
    expect(res.status).toBe(200);
    const sent = jsonlIds(await res.text()).length;
    expect(sent).toBeGreaterThan(0);

    const entries = await accessEntries(mark);
    expect(entries.map((e) => e.event)).toEqual(["audit_log.exported", "audit_log.export_finished"]);
    const [started, finished] = entries as [LogEntry, LogEntry];
    const admin = { tenant_id: w.a.tenantId, account_id: w.a.accountId, actor_type: "user", actor_id: w.a.memberId, actor_email: "max@idp.example", actor_name: "Max from the IdP" };
    expect(started).toMatchObject({ ...admin, action: "export", entity_label: "JSON Lines export", context: { format: "jsonl", filter: { resource: "process", action: "update" } } });
    expect(started.entity_id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(finished).toMatchObject({ ...admin, entity_id: started.entity_id, entity_label: "JSON Lines export", context: { format: "jsonl", status: "completed", entries: sent } });

    const both = [`audit_log.exported ${started.entity_id}`, `audit_log.export_finished ${started.entity_id}`];
    expect(await visibleAccessEvents(tenantAdmin(w.a))).toEqual(expect.arrayContaining(both));
    expect(await visibleAccessEvents(accountAdmin(w.a, w.a.accountId))).toEqual(expect.arrayContaining(both));
    expect(await visibleAccessEvents(accountAdmin(w.a, w.a.otherAccountId))).toEqual([]);
    expect(await visibleAccessEvents(tenantAdmin(w.b))).toEqual([]);
  });

  it("a tenant admin's export is a tenant-level entry, named from the user without name claims, and never holds its own start", async () => {
    const before = (await db.owner.query<{ id: string }>("select id::text from audit.log where tenant_id = $1 order by occurred_at desc, id desc", [w.a.tenantId])).rows.map((r) => r.id);
    const mark = await lastEntryId(db.owner);
    const res = await exportOf(exportsServer, "format=jsonl", tenantAdmin(w.a));
    expect(res.status).toBe(200);
    expect(jsonlIds(await res.text())).toEqual(before);
    const entries = await accessEntries(mark);
    expect(entries.map((e) => [e.event, e.account_id, e.actor_id, e.actor_email, e.actor_name])).toEqual([
      ["audit_log.exported", null, w.a.adminId, "ada@acme.test", "Ada Admin"],
      ["audit_log.export_finished", null, w.a.adminId, "ada@acme.test", "Ada Admin"],
    ]);
    expect(entries[0]).toMatchObject({ entity_label: "JSON Lines export", context: { format: "jsonl", filter: {} } });
    expect(entries[1]).toMatchObject({ context: { status: "completed", entries: before.length } });
  });

  it("an export the client abandons half-way is recorded as cancelled, with what was sent so far", async () => {
    // Enough entries (in tenant B) that the export is still running when the client goes away.
    await db.owner.query(
      `insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_id, actor_email, actor_name, action, resource_type, entity_id, event, new_values, context)
       select '2026-02-01T00:00:00Z'::timestamptz + n * interval '1 second', $1, null, 'system', null, null, 'bulk', 'update', 'process', 'p' || n, 'process.updated', '{}', '{}'
         from generate_series(1, 5000) n`,
      [w.b.tenantId],
    );
    const mark = await lastEntryId(db.owner);
    const abort = new AbortController();
    const res = await exportOf(exportsServer, "format=csv", tenantAdmin(w.b), abort.signal);
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    await reader.read();
    abort.abort();
    await reader.cancel().catch(() => undefined);

    const entries = await eventually(() => accessEntries(mark), (rows) => rows.length >= 2);
    expect(entries.map((e) => e.event)).toEqual(["audit_log.exported", "audit_log.export_finished"]);
    expect(entries[0]).toMatchObject({ tenant_id: w.b.tenantId, account_id: null, entity_label: "CSV export", context: { format: "csv", filter: {} } });
    const finished = entries[1]!;
    expect(finished.entity_id).toBe(entries[0]!.entity_id);
    expect(finished.context.status).toBe("cancelled");
    expect(finished.context.entries).toBeGreaterThan(0);
    expect(finished.context.entries).toBeLessThan(5000);
  });

  it("records no reads", async () => {
    const mark = await lastEntryId(db.owner);
    await data(exportsServer, tenantAdmin(w.a), `{ auditLogs(first: 3) { nodes { id } } }`);
    await exportsServer.accessLog.flush();
    expect(await accessEntries(mark)).toEqual([]);
  });
});

describe("ACCESS_LOG=off", () => {
  it("records neither exports nor reads", async () => {
    const mark = await lastEntryId(db.owner);
    const res = await exportOf(offServer, "format=csv", tenantAdmin(w.a));
    expect(res.status).toBe(200);
    await res.text();
    await data(offServer, tenantAdmin(w.a), `{ auditLogs(first: 3) { nodes { id } } }`);
    await offServer.accessLog.flush();
    expect(await accessEntries(mark)).toEqual([]);
    expect(offServer.accessLog.pool).toBeNull();
  });
});

/** Waits, when needed, so that what follows stays within one minute (once_per_minute counts per clock minute). */
async function awayFromMinuteEdge(): Promise<void> {
  const seconds = new Date().getUTCSeconds();
  if (seconds >= 45) await new Promise((r) => setTimeout(r, (61 - seconds) * 1000));
}

describe("reads (ACCESS_LOG=all)", () => {
  const SETTINGS = `query Page($filter: AuditLogFilter, $first: Int = 10, $after: Cursor) {
    entries: auditLogs(filter: $filter, first: $first, after: $after) { nodes { id } pageInfo { endCursor } }
  }`;
  const settings = { resourceType: { equalTo: "settings" } };

  it("one entry per admin and filter within a minute, across servers; another filter, another entry", async () => {
    await awayFromMinuteEdge();
    const mark = await lastEntryId(db.owner);
    const admin = tenantAdmin(w.a);
    const first = await data(allServer, admin, SETTINGS, { filter: settings });
    expect(first.entries.nodes.length).toBeGreaterThan(0);
    // The same filter again, other pages, on this server and on another (the SQL's guarantee, not this server's memory).
    await data(allServer, admin, SETTINGS, { filter: settings });
    await data(allServer, admin, SETTINGS, { filter: settings, first: 1, after: first.entries.pageInfo.endCursor });
    await data(allServer2, admin, SETTINGS, { filter: settings });
    await data(allServer2, admin, `{ auditLogs(filter: { resourceType: { equalTo: "settings" } }) { totalCount } }`);
    // Another filter; another admin with the first filter.
    await data(allServer, admin, SETTINGS, { filter: { action: { equalTo: "update" } } });
    const member = accountAdmin(w.a, w.a.accountId, { sub: w.a.memberId });
    await data(allServer, member, SETTINGS, { filter: settings });
    await Promise.all([allServer.accessLog.flush(), allServer2.accessLog.flush()]);

    const views = await accessEntries(mark);
    expect(views.map((v) => [v.event, v.actor_id, v.account_id, v.entity_id, v.context.filter])).toEqual([
      ["audit_log.viewed", w.a.adminId, null, w.a.tenantId, settings],
      ["audit_log.viewed", w.a.adminId, null, w.a.tenantId, { action: { equalTo: "update" } }],
      ["audit_log.viewed", w.a.memberId, w.a.accountId, w.a.accountId, settings],
    ]);
    expect(views[0]).toMatchObject({
      action: "view", entity_label: "Audit log", actor_email: "ada@acme.test",
      context: { filter: settings, first: 10, after: null, orderBy: null, once_per_minute: expect.any(String) },
    });
    expect(views[0]!.context.once_per_minute).not.toBe(views[1]!.context.once_per_minute);
    expect(allServer.accessLog.stats().skipped + allServer2.accessLog.stats().skipped).toBeGreaterThanOrEqual(3);
  });

  it("not for introspection, the event catalogue or refused queries", async () => {
    const mark = await lastEntryId(db.owner);
    const admin = tenantAdmin(w.a);
    await data(allServer, admin, `{ __schema { queryType { name } } }`);
    await data(allServer, admin, `{ auditEvents { event description } }`);
    const refused = await gql(allServer, admin, `{ auditLogs(first: 100000) { nodes { id } } }`);
    expect(refused.body.errors?.length).toBeGreaterThan(0);
    const invalid = await gql(allServer, admin, `{ auditLogs(filter: { nope: { equalTo: 1 } }) { nodes { id } } }`);
    expect(invalid.status).toBe(400);
    await allServer.accessLog.flush();
    expect(await accessEntries(mark)).toEqual([]);
  });

  it("counts fragments and aliases, with variables and their defaults resolved", async () => {
    await awayFromMinuteEdge();
    const mark = await lastEntryId(db.owner);
    const query = `query ($since: Datetime = "2026-03-02T00:00:00Z") {
      ...Both
    }
    fragment Both on Query {
      recent: auditLogs(filter: { occurredAt: { greaterThanOrEqualTo: $since } }, orderBy: [OCCURRED_AT_ASC], first: 2) { nodes { id } }
      ... on Query { jobs: auditLogs(condition: { resourceType: "job" }) { totalCount } }
    }`;
    await data(allServer, tenantAdmin(w.a), query);
    await allServer.accessLog.flush();
    const views = await accessEntries(mark);
    expect(views.map((v) => v.context)).toEqual([
      expect.objectContaining({ filter: { occurredAt: { greaterThanOrEqualTo: "2026-03-02T00:00:00Z" } }, orderBy: ["OCCURRED_AT_ASC"], first: 2 }),
      expect.objectContaining({ filter: null, condition: { resourceType: "job" }, first: null }),
    ]);
  });

  it("a failing access-log write fails nothing of the read: counted and logged as a warning", async () => {
    const lines: { level: number; msg?: string; failures?: number }[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(JSON.parse(line));
        done();
      },
    });
    const broken = await serve({ accessLog: "all", logger: pino({ level: "info" }, stream) });
    // A real failure: the access log's own pool is gone (the reads' pool is not).
    await broken.accessLog.pool!.end();
    const mark = await lastEntryId(db.owner);

    const res = await gql(broken, tenantAdmin(w.a), `{ auditLogs(first: 2, filter: { action: { equalTo: "delete" } }) { nodes { id } } }`);
    expect(res.status).toBe(200);
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data.auditLogs.nodes.length).toBeGreaterThan(0);
    await broken.accessLog.flush();
    expect(broken.accessLog.stats()).toMatchObject({ failed: 1, written: 0 });
    expect(lines.filter((l) => l.level === 40 && l.msg === "access-log entry not written")).toEqual([
      expect.objectContaining({ failures: 1, event: "audit_log.viewed", component: "access-log" }),
    ]);

    // An export that cannot be recorded is not sent.
    const exported = await exportOf(broken, "format=csv", tenantAdmin(w.a));
    expect(exported.status).toBe(503);
    expect(exported.headers.get("content-disposition")).toBeNull();
    expect(((await exported.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code).toBe("SERVICE_UNAVAILABLE");
    expect(await accessEntries(mark)).toEqual([]);
  });

  it("shutdown waits for the reads' pending entries", async () => {
    await awayFromMinuteEdge();
    const server = await serve({ accessLog: "all" });
    const mark = await lastEntryId(db.owner);
    const entities = ["e-1", "e-2", "e-3", "e-4", "e-5", "e-6"];
    await Promise.all(entities.map((e) => data(server, tenantAdmin(w.a), `{ auditLogs(filter: { entityId: { equalTo: "${e}" } }) { nodes { id } } }`)));
    await server.close();
    // Written by the time close() resolves, not merely later.
    expect(server.accessLog.stats()).toMatchObject({ queued: 0, written: entities.length, failed: 0 });
    const views = await accessEntries(mark);
    expect(views.map((v) => (v.context.filter as { entityId: { equalTo: string } }).entityId.equalTo).sort()).toEqual(entities);
  });
});

describe("pieces", () => {
  it("a read's key: the same filter written in another key order is the same; another scope or filter is another", () => {
    const tenant = { role: "tenant_admin" as const, accountId: null };
    const account = { role: "account_admin" as const, accountId: "a3d9e2b4-5c6f-4a1b-8d7e-2f3a4b5c6d01" };
    const one = { filter: { action: { equalTo: "update" }, resourceType: { in: ["settings", "job"] } }, condition: null };
    const reordered = { filter: { resourceType: { in: ["settings", "job"] }, action: { equalTo: "update" } }, condition: undefined };
    expect(readKey(tenant, one)).toBe(readKey(tenant, reordered));
    expect(readKey(tenant, one)).not.toBe(readKey(account, one));
    expect(readKey(tenant, one)).not.toBe(readKey(tenant, { filter: { resourceType: { in: ["job", "settings"] }, action: { equalTo: "update" } }, condition: null }));
    expect(readKey(tenant, one)).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it("the token's email and name claims are kept when they are short plain strings, ignored otherwise", () => {
    const base = { sub: "0d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f01", tenant_id: "6f1c2a7e-3b8d-4c51-9e0a-4d2b8f7c1a01", role: "tenant_admin", exp: 2_000_000_000 };
    expect(claimsFromPayload(base)).not.toHaveProperty("email");
    expect(claimsFromPayload({ ...base, email: " ada@acme.example ", name: "Ada Lovelace" })).toMatchObject({ email: "ada@acme.example", name: "Ada Lovelace" });
    for (const odd of [42, "", "x".repeat(321), "line\nbreak", ["a@b"]]) {
      expect(claimsFromPayload({ ...base, email: odd, name: odd })).not.toHaveProperty("email");
    }
  });
});
