// Security alerts through the API: who sees which alerts (securityAlerts),
// their order, pages and filters, an alert's entries (SecurityAlert.entries
// and auditLogs' alertId filter) through both tables' row-level security,
// compared with the migration's own reading of them, and the cost of
// nested connections. Alerts are inserted as the owner, as audit.detect()
// writes them, over entries the seed wrote through the business tables.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../../src/server/app.ts";
import { webRoutes } from "../../../src/server/routes/web-routes.ts";
import { createTestDatabase, type TestDatabase } from "../../support/database.ts";
import { lastEntryId, type LogEntry } from "../../support/fixtures.ts";
import { accountAdmin, data, gql, seedWorld, sign, startTestServer, tenantAdmin, type World } from "../helpers.ts";
import { claimsOfAccountAdmin, claimsOfTenantAdmin, entriesInScope, insertAlert, logIds, newestFirst } from "./support.ts";

let db: TestDatabase;
let server: RunningServer;
let authPool: pg.Pool;
let w: World;

/** Alerts of tenant A (and one of B), by role in the tests. */
const alert = {} as {
  x: string; // account X, found by its ids
  y: string; // account Y
  tenantLevel: string; // account_id null, tenant-level and X entries
  leaky: string; // account X, but its ids include one of Y's entries
  descriptorTenant: string; // found by its descriptor (5 entries, 2 ids kept), tenant-wide
  descriptorX: string; // the same descriptor, account X
  b: string; // tenant B
};
/** Alert ids of tenant A, newest first by (detected_at, id). */
let aNewestFirst: string[];
/** The entries of each alert as the owner sees them (oldest first by id). */
const entriesOf: Record<string, string[]> = {};

const ALERTS_QUERY = `query ($first: Int, $after: Cursor, $filter: SecurityAlertFilter, $orderBy: [SecurityAlertOrderBy!]) {
  securityAlerts(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
}`;

async function alertIds(token: string, variables: Record<string, unknown> = {}): Promise<{ ids: string[]; totalCount: number }> {
  const d = await data(server, token, ALERTS_QUERY, { first: 100, ...variables });
  return { ids: d.securityAlerts.nodes.map((n: { id: string }) => n.id), totalCount: d.securityAlerts.totalCount };
}

/** Every entry of an alert through `entries`, page by page. */
async function entriesPaged(token: string, alertId: string, first: number): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (let i = 0; i < 100; i++) {
    const d: any = await data(server, token, `query ($id: BigInt!, $after: Cursor) {
      securityAlerts(first: 1, filter: { id: { equalTo: $id } }) { nodes { entries(first: ${first}, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }
    }`, { id: alertId, after });
    const node = d.securityAlerts.nodes[0];
    if (!node) return ids;
    ids.push(...node.entries.nodes.map((n: { id: string }) => n.id));
    if (!node.entries.pageInfo.hasNextPage) return ids;
    after = node.entries.pageInfo.endCursor;
  }
  throw new Error("pagination does not end");
}

/** The alert's entries through auditLogs' alertId filter (newest first), with more filter parts when given. */
async function entriesFiltered(token: string, alertId: string, more: Record<string, unknown> = {}): Promise<{ ids: string[]; totalCount: number }> {
  const d = await data(server, token, `query ($filter: AuditLogFilter) { auditLogs(first: 500, filter: $filter) { totalCount nodes { id } } }`, {
    filter: { alertId: { equalTo: alertId }, ...more },
  });
  return { ids: d.auditLogs.nodes.map((n: { id: string }) => n.id), totalCount: d.auditLogs.totalCount };
}

beforeAll(async () => {
  db = await createTestDatabase();
  w = await seedWorld(db);
  const { a, b } = w;
  const owner = db.owner;
  authPool = new pg.Pool({ connectionString: db.authUrl, max: 2 });
  authPool.on("error", () => undefined); // (see test/support/database.ts: the drop may end a closing socket)

  entriesOf.x = await logIds(owner, "tenant_id = $1 and account_id = $2 and actor_id = $3", [a.tenantId, a.accountId, a.adminId]);
  entriesOf.y = await logIds(owner, "tenant_id = $1 and account_id = $2", [a.tenantId, a.otherAccountId]);
  const tenantLevel = await logIds(owner, "tenant_id = $1 and account_id is null", [a.tenantId]);
  entriesOf.tenantLevel = [...tenantLevel, ...entriesOf.x.slice(0, 2)];
  entriesOf.leaky = [...entriesOf.x.slice(0, 3), entriesOf.y[0]!];
  // Tenant A's admin created P1, P2 (X), P3 (Y) and deleted P1, P2: five entries
  entriesOf.descriptor = await logIds(owner, "tenant_id = $1 and actor_id = $2 and event in ('process.created', 'process.deleted')", [a.tenantId, a.adminId]);
  entriesOf.b = await logIds(owner, "tenant_id = $1 and account_id = $2", [b.tenantId, b.accountId]);
  for (const list of Object.values(entriesOf)) expect(list.length).toBeGreaterThan(0);
  expect(entriesOf.descriptor).toHaveLength(5);

  const at = (hour: number) => `2026-04-01T${String(hour).padStart(2, "0")}:00:00Z`;
  alert.x = await insertAlert(owner, { tenantId: a.tenantId, accountId: a.accountId, entryIds: entriesOf.x, detector: "mass_change", severity: "high", detectedAt: at(1) });
  alert.y = await insertAlert(owner, { tenantId: a.tenantId, accountId: a.otherAccountId, entryIds: entriesOf.y, detector: "role_escalation", severity: "high", detectedAt: at(2) });
  alert.tenantLevel = await insertAlert(owner, { tenantId: a.tenantId, accountId: null, entryIds: entriesOf.tenantLevel, detector: "after_hours_settings_change", severity: "low", status: "acknowledged", detectedAt: at(3) });
  // the same instant as tenantLevel: the tie is broken by id
  alert.leaky = await insertAlert(owner, { tenantId: a.tenantId, accountId: a.accountId, entryIds: entriesOf.leaky, detector: "mass_change", severity: "medium", status: "resolved", detectedAt: at(3) });
  const descriptor = (accountOnly: boolean) => ({
    tenantId: a.tenantId,
    accountId: accountOnly ? a.accountId : null,
    entryIds: entriesOf.descriptor!,
    keepIds: 2,
    entryCount: 5,
    detector: "mass_change",
    severity: "medium" as const,
    descriptor: { actor_type: "user", actor_id: a.adminId, actor_name: null, events: ["process.created", "process.deleted"], resource_types: ["process"] },
  });
  alert.descriptorTenant = await insertAlert(owner, { ...descriptor(false), detectedAt: at(4) });
  alert.descriptorX = await insertAlert(owner, { ...descriptor(true), detectedAt: at(5) });
  alert.b = await insertAlert(owner, { tenantId: b.tenantId, accountId: b.accountId, entryIds: entriesOf.b, detectedAt: at(6) });

  const { rows } = await owner.query<{ id: string }>("select id::text from audit.alerts where tenant_id = $1 order by detected_at desc, id desc", [a.tenantId]);
  aNewestFirst = rows.map((r) => r.id);
  // (with the page's routes: the export filters by alert too)
  server = await startTestServer(db, { routes: webRoutes({ demoTokens: null }) });
});
afterAll(async () => {
  await server?.close();
  await authPool?.end();
  await db?.drop();
});

describe("securityAlerts: scope", () => {
  it("a tenant admin sees every alert of the tenant, newest first, and none of another tenant", async () => {
    const got = await alertIds(tenantAdmin(w.a));
    expect(got.ids).toEqual(aNewestFirst);
    expect(got.totalCount).toBe(6);
    expect(got.ids).not.toContain(alert.b);
    const ofB = await alertIds(tenantAdmin(w.b));
    expect(ofB.ids).toEqual([alert.b]);
  });

  it("an account admin sees only its account's alerts: no tenant-level alert, none of another account", async () => {
    const x = await alertIds(accountAdmin(w.a, w.a.accountId));
    expect(new Set(x.ids)).toEqual(new Set([alert.x, alert.leaky, alert.descriptorX]));
    expect(x.totalCount).toBe(3);
    const y = await alertIds(accountAdmin(w.a, w.a.otherAccountId));
    expect(y.ids).toEqual([alert.y]);
    // asking by id for what it cannot see finds nothing, and says nothing of it
    for (const id of [alert.tenantLevel, alert.y, alert.b]) {
      const res = await alertIds(accountAdmin(w.a, w.a.accountId), { filter: { id: { equalTo: id } } });
      expect(res, id).toEqual({ ids: [], totalCount: 0 });
    }
    expect((await alertIds(accountAdmin(w.a), { filter: { accountId: { isNull: true } } })).ids).toEqual([]);
  });

  it("returns every field of an alert in camelCase, without the tenant or the incident key", async () => {
    const d = await data(server, tenantAdmin(w.a), `query ($id: BigInt!) { securityAlerts(filter: { id: { equalTo: $id } }) { nodes {
      id accountId detector severity status summary actorType actorId actorEmail actorName firstAt lastAt entryCount entryIds
      entriesDescriptor details detectedAt updatedAt acknowledgedAt acknowledgedBy resolvedAt resolvedBy resolutionNote
    } } }`, { id: alert.x });
    const { rows } = await db.owner.query("select * from audit.alerts where id = $1", [alert.x]);
    const r = rows[0];
    expect(d.securityAlerts.nodes[0]).toEqual({
      id: alert.x, accountId: w.a.accountId, detector: "mass_change", severity: "high", status: "open", summary: r.summary,
      actorType: r.actor_type, actorId: r.actor_id, actorEmail: r.actor_email, actorName: r.actor_name,
      firstAt: expect.stringMatching(/\+00:00$/), lastAt: expect.stringMatching(/\+00:00$/), entryCount: String(entriesOf.x!.length),
      entryIds: entriesOf.x, entriesDescriptor: r.entries_descriptor, details: { test: true },
      detectedAt: expect.stringMatching(/^2026-04-01T01:00:00(\.0+)?\+00:00$/), updatedAt: expect.any(String),
      acknowledgedAt: null, acknowledgedBy: null, resolvedAt: null, resolvedBy: null, resolutionNote: null,
    });
    expect(Date.parse(d.securityAlerts.nodes[0].firstAt)).toBe(r.first_at.getTime());
    const type = await data(server, tenantAdmin(w.a), `{ __type(name: "SecurityAlert") { fields { name } } }`);
    const names = type.__type.fields.map((f: { name: string }) => f.name);
    expect(names).not.toContain("tenantId");
    expect(names).not.toContain("incidentKey");
  });
});

describe("securityAlerts: order, pages and filters", () => {
  it("pages with first/after through every alert, newest first, ties by id, without skipping or repeating", async () => {
    for (const first of [1, 2, 4]) {
      const ids: string[] = [];
      let after: string | null = null;
      for (;;) {
        const d: any = await data(server, tenantAdmin(w.a), ALERTS_QUERY, { first, after });
        ids.push(...d.securityAlerts.nodes.map((n: { id: string }) => n.id));
        if (!d.securityAlerts.pageInfo.hasNextPage) break;
        after = d.securityAlerts.pageInfo.endCursor;
      }
      expect(ids, `first: ${first}`).toEqual(aNewestFirst);
    }
    const oldest = await alertIds(tenantAdmin(w.a), { orderBy: ["DETECTED_AT_ASC"] });
    expect(oldest.ids).toEqual([...aNewestFirst].reverse());
    const schema = await data(server, tenantAdmin(w.a), `{ __type(name: "SecurityAlertOrderBy") { enumValues { name } } }`);
    expect(schema.__type.enumValues.map((v: { name: string }) => v.name).sort()).toEqual(["DETECTED_AT_ASC", "DETECTED_AT_DESC"]);
  });

  it("filters by detector, severity, status, account, detection and last entry times, id, and their combinations", async () => {
    const t = tenantAdmin(w.a);
    const expectFilter = async (filter: unknown, where: string, params: unknown[] = []) => {
      const { rows } = await db.owner.query<{ id: string }>(
        `select id::text from audit.alerts where tenant_id = $1 and (${where}) order by detected_at desc, id desc`, [w.a.tenantId, ...params]);
      const want = rows.map((r) => r.id);
      expect(want.length, JSON.stringify(filter)).toBeGreaterThan(0);
      expect(want.length, JSON.stringify(filter)).toBeLessThan(aNewestFirst.length);
      expect(await alertIds(t, { filter }), JSON.stringify(filter)).toEqual({ ids: want, totalCount: want.length });
    };
    await expectFilter({ detector: { equalTo: "mass_change" } }, "detector = 'mass_change'");
    await expectFilter({ detector: { in: ["role_escalation", "after_hours_settings_change"] } }, "detector in ('role_escalation', 'after_hours_settings_change')");
    await expectFilter({ severity: { equalTo: "high" } }, "severity = 'high'");
    await expectFilter({ severity: { in: ["low", "medium"] } }, "severity in ('low', 'medium')");
    await expectFilter({ status: { equalTo: "open" } }, "status = 'open'");
    await expectFilter({ status: { in: ["acknowledged", "resolved"] } }, "status in ('acknowledged', 'resolved')");
    await expectFilter({ accountId: { equalTo: w.a.accountId } }, "account_id = $2", [w.a.accountId]);
    await expectFilter({ accountId: { isNull: true } }, "account_id is null");
    await expectFilter({ detectedAt: { greaterThanOrEqualTo: "2026-04-01T03:00:00Z" } }, "detected_at >= '2026-04-01T03:00:00Z'");
    await expectFilter({ detectedAt: { greaterThan: "2026-04-01T03:00:00Z", lessThan: "2026-04-01T05:00:00Z" } },
      "detected_at > '2026-04-01T03:00:00Z' and detected_at < '2026-04-01T05:00:00Z'");
    await expectFilter({ detectedAt: { lessThanOrEqualTo: "2026-04-01T02:00:00+00:00" } }, "detected_at <= '2026-04-01T02:00:00Z'");
    const { rows } = await db.owner.query<{ last_at: Date }>("select last_at from audit.alerts where id = $1", [alert.y]);
    const lastAtY = rows[0]!.last_at.toISOString();
    await expectFilter({ lastAt: { lessThanOrEqualTo: lastAtY } }, "last_at <= $2", [lastAtY]);
    await expectFilter({ lastAt: { greaterThan: lastAtY } }, "last_at > $2", [lastAtY]);
    await expectFilter({ id: { equalTo: alert.leaky } }, "id = $2", [alert.leaky]);
    await expectFilter({ detector: { equalTo: "mass_change" }, status: { in: ["open"] }, accountId: { equalTo: w.a.accountId } },
      "detector = 'mass_change' and status = 'open' and account_id = $2", [w.a.accountId]);
    await expectFilter({ or: [{ severity: { equalTo: "low" } }, { detector: { equalTo: "role_escalation" } }] }, "severity = 'low' or detector = 'role_escalation'");
  });

  it("refuses bad filter and page values clearly, as for auditLogs", async () => {
    const t = tenantAdmin(w.a);
    const bad = async (variables: Record<string, unknown>, code: string) => {
      const res = await gql(server, t, ALERTS_QUERY, variables);
      expect(res.body.errors?.[0]?.extensions?.code, JSON.stringify(variables)).toBe(code);
      expect(res.body.data?.securityAlerts ?? null).toBeNull();
    };
    await bad({ first: 501 }, "PAGE_SIZE_TOO_LARGE");
    await bad({ filter: { severity: { equalTo: null } } }, "FILTER_NULL_VALUE");
    await bad({ filter: { detectedAt: { greaterThan: "yesterday" } } }, "INVALID_DATETIME");
    await bad({ after: "not a cursor" }, "INVALID_CURSOR");
    // an auditLogs cursor is no securityAlerts cursor
    const d = await data(server, t, "{ auditLogs(first: 1) { pageInfo { endCursor } } }");
    await bad({ after: d.auditLogs.pageInfo.endCursor }, "INVALID_CURSOR");
    // No other filter fields, no condition, no aggregates
    const res = await gql(server, t, `{ securityAlerts(filter: { summary: { equalTo: "x" } }) { totalCount } }`);
    expect(res.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    for (const q of ["{ securityAlerts(condition: { status: \"open\" }) { totalCount } }", "{ securityAlerts { aggregates { count } } }", "{ securityAlerts(last: 1) { totalCount } }"]) {
      expect((await gql(server, t, q)).body.errors?.[0]?.extensions?.code, q).toBe("GRAPHQL_VALIDATION_FAILED");
    }
  });
});

describe("an alert's entries", () => {
  it("entries: the alert's ids while it holds them all, newest first, paged with first/after", async () => {
    const t = tenantAdmin(w.a);
    for (const [key, id] of [["x", alert.x], ["y", alert.y], ["tenantLevel", alert.tenantLevel], ["leaky", alert.leaky]] as const) {
      const want = await newestFirst(db.owner, entriesOf[key]!);
      expect(await entriesPaged(t, id, 2), key).toEqual(want);
      expect(await entriesPaged(t, id, 500), key).toEqual(want);
      expect(await entriesInScope(authPool, claimsOfTenantAdmin(w.a), id), key).toEqual(want);
    }
  });

  it("entries: beyond its ids, the descriptor finds them (the actor's entries of its events and resource types in its span)", async () => {
    const want = await newestFirst(db.owner, entriesOf.descriptor!);
    expect(await entriesPaged(tenantAdmin(w.a), alert.descriptorTenant, 2)).toEqual(want);
    expect(await entriesInScope(authPool, claimsOfTenantAdmin(w.a), alert.descriptorTenant)).toEqual(want);
    const { rows } = await db.owner.query<{ n: number }>("select cardinality(entry_ids) as n from audit.alerts where id = $1", [alert.descriptorTenant]);
    expect(rows[0]!.n).toBe(2);
  });

  it("entries pass audit.log's row-level security: an account admin never sees another account's entries through an alert", async () => {
    const x = accountAdmin(w.a, w.a.accountId);
    const visible = new Set(await logIds(db.owner, "tenant_id = $1 and account_id = $2", [w.a.tenantId, w.a.accountId]));
    // the leaky alert holds one of Y's entries: the account admin of X gets the others
    const leakyForX = (await newestFirst(db.owner, entriesOf.leaky!)).filter((id) => visible.has(id));
    expect(leakyForX).toHaveLength(entriesOf.leaky!.length - 1);
    expect(await entriesPaged(x, alert.leaky, 2)).toEqual(leakyForX);
    expect(await entriesInScope(authPool, claimsOfAccountAdmin(w.a), alert.leaky)).toEqual(leakyForX);
    // the descriptor alert of X: the admin's process entries of X only (P3 is Y's)
    const descriptorForX = (await newestFirst(db.owner, entriesOf.descriptor!)).filter((id) => visible.has(id));
    expect(descriptorForX).toHaveLength(4);
    expect(await entriesPaged(x, alert.descriptorX, 3)).toEqual(descriptorForX);
    expect(await entriesInScope(authPool, claimsOfAccountAdmin(w.a), alert.descriptorX)).toEqual(descriptorForX);
  });

  it("entries carry their own fields and counts (totalCount, aggregates) and cost what nested pages cost", async () => {
    const d = await data(server, tenantAdmin(w.a), `query ($id: BigInt!) { securityAlerts(first: 1, filter: { id: { equalTo: $id } }) { nodes {
      entryCount
      entries(first: 1) { totalCount aggregates { count } nodes { id event description occurredAt } pageInfo { hasNextPage } }
    } } }`, { id: alert.x });
    const node = d.securityAlerts.nodes[0];
    expect(node.entries.totalCount).toBe(Number(node.entryCount));
    expect(node.entries.aggregates.count).toBe(node.entryCount);
    expect(node.entries.nodes[0].id).toBe((await newestFirst(db.owner, entriesOf.x!))[0]);
    expect(node.entries.pageInfo.hasNextPage).toBe(true);
    // an empty page still says whether entries follow (empty-page.ts)
    const empty = await data(server, tenantAdmin(w.a), `query ($id: BigInt!) { securityAlerts(first: 1, filter: { id: { equalTo: $id } }) { nodes {
      entries(first: 0) { nodes { id } pageInfo { hasNextPage } }
    } } }`, { id: alert.x });
    expect(empty.securityAlerts.nodes[0].entries).toEqual({ nodes: [], pageInfo: { hasNextPage: true } });
    // 50 alerts x (10 + 100) entries: over the 5,000 limit; a page of 10 entries each is not
    const tooMuch = await gql(server, tenantAdmin(w.a), "{ securityAlerts(first: 50) { nodes { entries(first: 100) { nodes { id } } } } }");
    expect(tooMuch.status).toBe(400);
    expect(tooMuch.body.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_EXPENSIVE", cost: 60 + 50 * 110 });
    const fine = await gql(server, tenantAdmin(w.a), "{ securityAlerts(first: 50) { nodes { entries(first: 10) { nodes { id } } } } }");
    expect(fine.body.errors).toBeUndefined();
    // totalCount of each alert's entries counts once per alert too
    const counts = await gql(server, tenantAdmin(w.a), "{ securityAlerts(first: 50) { nodes { entries(first: 0) { totalCount } } } }");
    expect(counts.body.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_EXPENSIVE", cost: 60 + 50 * 110 });
    // entries takes first and after only
    for (const arg of ['filter: { event: { equalTo: "x" } }', "orderBy: [OCCURRED_AT_ASC]", "last: 1", "offset: 1"]) {
      const res = await gql(server, tenantAdmin(w.a), `{ securityAlerts(first: 1) { nodes { entries(${arg}) { totalCount } } } }`);
      expect(res.body.errors?.[0]?.extensions?.code, arg).toBe("GRAPHQL_VALIDATION_FAILED");
    }
  });

  it("auditLogs' alertId filter returns the same entries, and nothing for an alert outside the caller's scope", async () => {
    const t = tenantAdmin(w.a);
    for (const key of ["x", "y", "tenantLevel", "leaky", "descriptorTenant", "descriptorX"] as const) {
      const want = await entriesInScope(authPool, claimsOfTenantAdmin(w.a), alert[key]);
      expect(want.length, key).toBeGreaterThan(0);
      expect(await entriesFiltered(t, alert[key]), key).toEqual({ ids: want, totalCount: want.length });
    }
    const x = accountAdmin(w.a, w.a.accountId);
    expect((await entriesFiltered(x, alert.leaky)).ids).toEqual(await entriesInScope(authPool, claimsOfAccountAdmin(w.a), alert.leaky));
    // an alert of another account, a tenant-level alert (with entries of X in it), another tenant's alert, an unknown id
    for (const id of [alert.y, alert.tenantLevel, alert.b, "999999999"]) {
      expect(await entriesFiltered(x, id), id).toEqual({ ids: [], totalCount: 0 });
    }
    expect(await entriesFiltered(t, alert.b)).toEqual({ ids: [], totalCount: 0 });
    expect(await entriesFiltered(tenantAdmin(w.b), alert.x)).toEqual({ ids: [], totalCount: 0 });
    // the same through entries: another tenant's admin cannot reach the alert at all
    expect(await entriesPaged(tenantAdmin(w.b), alert.x, 10)).toEqual([]);
  });

  it("alertId combines with the other filters, and / or / not, counts and aggregates", async () => {
    const t = tenantAdmin(w.a);
    const all = await newestFirst(db.owner, entriesOf.descriptor!);
    const { rows } = await db.owner.query<{ id: string }>(
      "select id::text from audit.log where id = any($1::bigint[]) and event = 'process.deleted' order by occurred_at desc, id desc", [entriesOf.descriptor]);
    const deleted = rows.map((r) => r.id);
    expect(deleted).toHaveLength(2);
    expect(await entriesFiltered(t, alert.descriptorTenant, { event: { equalTo: "process.deleted" } })).toEqual({ ids: deleted, totalCount: 2 });
    expect((await entriesFiltered(t, alert.descriptorTenant, { not: { event: { equalTo: "process.deleted" } } })).ids).toEqual(all.filter((id) => !deleted.includes(id)));
    // or: the entries of either alert
    const either = await data(server, t, `query ($f: AuditLogFilter) { auditLogs(first: 500, filter: $f) { totalCount nodes { id } } }`, {
      f: { or: [{ alertId: { equalTo: alert.y } }, { alertId: { equalTo: alert.leaky } }] },
    });
    const want = await newestFirst(db.owner, [...new Set([...entriesOf.y!, ...entriesOf.leaky!])]);
    expect(either.auditLogs.nodes.map((n: { id: string }) => n.id)).toEqual(want);
    // and with a time bound; cappedCount and aggregates agree with totalCount
    const d = await data(server, t, `query ($id: BigInt!) {
      auditLogs(filter: { alertId: { equalTo: $id }, occurredAt: { greaterThanOrEqualTo: "2000-01-01T00:00:00Z" } }) {
        totalCount cappedCount { count isCapped } aggregates { count } groupedAggregates(groupBy: [EVENT]) { keys count }
      }
    }`, { id: alert.descriptorTenant });
    expect(d.auditLogs).toMatchObject({ totalCount: 5, cappedCount: { count: 5, isCapped: false }, aggregates: { count: "5" } });
    expect(Object.fromEntries(d.auditLogs.groupedAggregates.map((g: { keys: string[]; count: string }) => [g.keys[0], g.count]))).toEqual({
      "process.created": "3", "process.deleted": "2",
    });
  });

  it("refuses a bad alertId clearly", async () => {
    const t = tenantAdmin(w.a);
    for (const [filter, code] of [
      ["{ alertId: { equalTo: \"12x\" } }", "INVALID_BIGINT"],
      ["{ alertId: {} }", "GRAPHQL_VALIDATION_FAILED"],
      ["{ alertId: { in: [\"1\"] } }", "GRAPHQL_VALIDATION_FAILED"],
    ] as const) {
      const res = await gql(server, t, `{ auditLogs(filter: ${filter}) { totalCount } }`);
      expect(res.body.errors?.[0]?.extensions?.code, filter).toBe(code);
      expect(res.body.data?.auditLogs ?? null).toBeNull();
    }
    const res = await gql(server, t, "query ($f: AuditLogFilter) { auditLogs(filter: $f) { totalCount } }", { f: { alertId: null } });
    expect(res.body.errors?.[0]?.extensions?.code).toBe("FILTER_NULL_VALUE");
  });

  it("cappedCount of an alert's entries is refused clearly (totalCount and entryCount count them)", async () => {
    const res = await gql(server, tenantAdmin(w.a), `{ securityAlerts(first: 1) { nodes { entries { cappedCount { count } } } } }`);
    expect(res.body.errors?.[0]).toMatchObject({ message: expect.stringMatching(/cappedCount/), extensions: { code: "CAPPED_COUNT_UNSUPPORTED" } });
  });

  it("a token that is not an admin's gets nothing", async () => {
    const res = await gql(server, sign({ sub: w.a.adminId, tenant_id: w.a.tenantId, role: "viewer" }), "{ securityAlerts { totalCount } }");
    expect(res.status).toBe(401);
    expect(res.body.data).toBeUndefined();
  });
});

describe("the access log (ACCESS_LOG=all) records entries read through alerts", () => {
  let all: RunningServer;
  beforeAll(async () => {
    all = await startTestServer(db, { accessLog: "all" });
  });
  afterAll(async () => {
    await all?.close();
  });

  async function views(mark: string): Promise<LogEntry[]> {
    await all.accessLog.flush();
    const { rows } = await db.owner.query<LogEntry>("select *, l.id::text as id from audit.log l where l.event = 'audit_log.viewed' and l.id > $1 order by l.id", [mark]);
    return rows;
  }

  it("securityAlerts with entries, and the alertId filter, are reads of the log; alerts alone are not", async () => {
    // (once per admin, filter and minute: keep within one minute)
    const seconds = new Date().getUTCSeconds();
    if (seconds >= 50) await new Promise((r) => setTimeout(r, (61 - seconds) * 1000));
    const mark = await lastEntryId(db.owner);
    const x = accountAdmin(w.a, w.a.accountId);
    await data(all, x, "{ securityAlerts(first: 5) { nodes { id summary } } }");
    await data(all, x, `{ securityAlerts(first: 5, filter: { severity: { equalTo: "high" } }) { nodes { ...E } } } fragment E on SecurityAlert { entries(first: 3) { nodes { id } } }`);
    await data(all, x, `query ($id: BigInt!) { auditLogs(filter: { alertId: { equalTo: $id } }) { totalCount } }`, { id: alert.leaky });
    const got = await views(mark);
    expect(got.map((v) => [v.actor_id, v.account_id, v.context.filter, v.context.first])).toEqual([
      [w.a.adminId, w.a.accountId, { securityAlerts: { severity: { equalTo: "high" } } }, 5],
      [w.a.adminId, w.a.accountId, { alertId: { equalTo: alert.leaky } }, null],
    ]);
  });

  it("a mutation whose alert's entries are read is a read of that alert's entries", async () => {
    const mark = await lastEntryId(db.owner);
    await data(all, tenantAdmin(w.b), `mutation ($id: BigInt!) { acknowledgeSecurityAlert(input: { id: $id }) { securityAlert { entries(first: 1) { nodes { id } } } } }`, { id: alert.b });
    const got = await views(mark);
    expect(got.map((v) => [v.tenant_id, v.context.filter])).toEqual([[w.b.tenantId, { alertId: { equalTo: alert.b } }]]);
  });
});

describe("GET /export?alert=: the alert's entries, exported", () => {
  const exported = async (token: string, query: string): Promise<{ status: number; ids: string[]; body: string }> => {
    const res = await fetch(`${server.url}/export?format=jsonl&${query}`, { headers: { authorization: `Bearer ${token}` } });
    const body = await res.text();
    // the entries: not the lines of the file's proof (header, seals, proofs, end), which carry a "type"
    const ids = res.status === 200
      ? body.split("\n").filter(Boolean).map((line) => JSON.parse(line) as { id: string }).filter((l) => !("type" in l)).map((l) => l.id)
      : [];
    return { status: res.status, ids, body };
  };

  it("exports exactly what the database reads as the alert's entries, in each admin's scope, by ids and by descriptor", async () => {
    const cases: [string, string, ReturnType<typeof claimsOfTenantAdmin>][] = [
      [tenantAdmin(w.a), alert.x, claimsOfTenantAdmin(w.a)],
      [tenantAdmin(w.a), alert.tenantLevel, claimsOfTenantAdmin(w.a)],
      [tenantAdmin(w.a), alert.descriptorTenant, claimsOfTenantAdmin(w.a)],
      [accountAdmin(w.a, w.a.accountId), alert.leaky, claimsOfAccountAdmin(w.a)],
      [accountAdmin(w.a, w.a.accountId), alert.descriptorX, claimsOfAccountAdmin(w.a)],
    ];
    for (const [token, id, claims] of cases) {
      const got = await exported(token, `alert=${id}`);
      expect(got.status, id).toBe(200);
      const want = await entriesInScope(authPool, claims, id);
      expect(want.length, id).toBeGreaterThan(0);
      expect(got.ids, id).toEqual(want);
    }
    // combined with another filter
    const narrowed = await exported(tenantAdmin(w.a), `alert=${alert.descriptorTenant}&action=process.deleted`);
    expect(narrowed.ids.length).toBeGreaterThan(0);
    expect(narrowed.ids.length).toBeLessThan((await entriesInScope(authPool, claimsOfTenantAdmin(w.a), alert.descriptorTenant)).length);
  });

  it("an alert out of the admin's scope exports nothing: another tenant's, another account's, a tenant-level one for an account admin", async () => {
    expect((await exported(tenantAdmin(w.a), `alert=${alert.b}`)).ids).toEqual([]);
    expect((await exported(accountAdmin(w.a, w.a.otherAccountId), `alert=${alert.x}`)).ids).toEqual([]);
    expect((await exported(accountAdmin(w.a, w.a.accountId), `alert=${alert.tenantLevel}`)).ids).toEqual([]);
    expect((await exported(tenantAdmin(w.a), "alert=999999999")).ids).toEqual([]);
  });

  it("refuses an alert that is not an id, with a clear message", async () => {
    for (const bad of ["abc", "0", "-1", "1.5", "99999999999999999999"]) {
      const got = await exported(tenantAdmin(w.a), `alert=${encodeURIComponent(bad)}`);
      expect(got.status, bad).toBe(400);
      expect(got.body, bad).toContain("alert must be the id of a security alert");
    }
  });
});
