// What the API exposes of security monitoring, and nothing more: the schema's
// new root fields and mutations (none over the log, none generic over the
// new tables, no node interface), and the webhook endpoints with their
// deliveries and attempts, scoped to the tenant's admins, without payloads
// or secrets. Deliveries and attempts are inserted as the owner, as the
// detector and the delivery worker write them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../../src/server/app.ts";
import { createTestDatabase, type TestDatabase } from "../../support/database.ts";
import { accountAdmin, data, gql, seedWorld, startTestServer, tenantAdmin, type World } from "../helpers.ts";
import { insertAlert, logIds } from "./support.ts";

let db: TestDatabase;
let server: RunningServer;
let w: World;
/** Endpoints of tenant A (two) and B (one), and the secrets they were created with. */
const endpoints = { a1: "", a2: "", b: "" };
const secrets: string[] = [];
const MARKER = "payload-marker-7f3a";

const CREATE = `mutation ($url: String!) { createWebhookEndpoint(input: { url: $url }) { webhookEndpoint { id secret } } }`;

async function createEndpoint(token: string, url: string): Promise<string> {
  const d = await data(server, token, CREATE, { url });
  secrets.push(d.createWebhookEndpoint.webhookEndpoint.secret);
  return d.createWebhookEndpoint.webhookEndpoint.id;
}

async function insertDeliveries(tenantId: string, endpointId: string, alertId: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const status = ["pending", "delivered", "failed"][i % 3]!;
    const { rows } = await db.owner.query<{ id: string }>(
      `insert into audit.webhook_deliveries (tenant_id, endpoint_id, alert_id, event_type, payload, status, attempts, last_attempt_at, last_status_code, last_error, delivered_at)
       values ($1, $2, $3, $4, $5, $6, $7, case when $7 > 0 then now() end, $8, $9, case when $6 = 'delivered' then now() end)
       returning id::text`,
      [tenantId, endpointId, alertId, i === 0 ? "alert.opened" : "alert.escalated", JSON.stringify({ marker: MARKER, i }), status, i % 4,
        i % 4 > 0 ? (status === "delivered" ? 200 : 503) : null, status === "failed" ? "HTTP 503" : null],
    );
    const id = rows[0]!.id;
    for (let attempt = 1; attempt <= i % 4; attempt++) {
      await db.owner.query(
        `insert into audit.webhook_attempts (tenant_id, delivery_id, attempt, attempted_at, duration_ms, status_code, error)
         values ($1, $2, $3, now() - make_interval(mins => 10 - $3), $4, $5, $6)`,
        [tenantId, id, attempt, 100 + attempt, attempt === 2 ? null : 503, attempt === 2 ? "connect ECONNREFUSED" : null],
      );
    }
    ids.push(id);
  }
  return ids;
}

beforeAll(async () => {
  db = await createTestDatabase();
  w = await seedWorld(db);
  server = await startTestServer(db, { webhookAllowPrivate: true });
  endpoints.a1 = await createEndpoint(tenantAdmin(w.a), "https://siem.acme.test/hook");
  endpoints.a2 = await createEndpoint(tenantAdmin(w.a), "http://127.0.0.1:9/hook");
  endpoints.b = await createEndpoint(tenantAdmin(w.b), "https://siem.globex.test/hook");
  const alertA = await insertAlert(db.owner, { tenantId: w.a.tenantId, entryIds: (await logIds(db.owner, "tenant_id = $1", [w.a.tenantId])).slice(0, 3) });
  const alertB = await insertAlert(db.owner, { tenantId: w.b.tenantId, entryIds: (await logIds(db.owner, "tenant_id = $1", [w.b.tenantId])).slice(0, 3) });
  await insertDeliveries(w.a.tenantId, endpoints.a1, alertA, 7);
  await insertDeliveries(w.a.tenantId, endpoints.a2, alertA, 1);
  await insertDeliveries(w.b.tenantId, endpoints.b, alertB, 2);
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

const names = (list: { name: string }[] | null | undefined) => (list ?? []).map((f) => f.name).sort();

describe("schema", () => {
  it("adds securityAlerts, detectorSettings, webhookEndpoints and logStreams to the queries, the six monitoring and six log stream mutations; none over the log", async () => {
    const d = await data(server, tenantAdmin(w.a), `{
      __schema { queryType { fields { name } } mutationType { name fields { name } } subscriptionType { name } types { name kind } }
    }`);
    // (and tamper evidence's three read-only fields: test/server/seals-api.test.ts)
    expect(names(d.__schema.queryType.fields)).toEqual([
      "activityCounts", "auditEvents", "auditLogs", "detectorSettings", "logStreams", "sealStatus", "sealVerifications", "seals", "securityAlerts", "webhookEndpoints",
    ]);
    expect(d.__schema.mutationType.name).toBe("Mutation");
    expect(names(d.__schema.mutationType.fields)).toEqual([
      "acknowledgeSecurityAlert", "createLogStream", "createWebhookEndpoint", "deleteLogStream", "deleteWebhookEndpoint", "pauseLogStream",
      "replayLogStream", "resolveSecurityAlert", "resumeLogStream", "updateDetectorSettings", "updateLogStream", "updateWebhookEndpoint",
    ]);
    expect(d.__schema.subscriptionType).toBeNull();
    const types: string[] = d.__schema.types.map((t: { name: string }) => t.name);
    // No generic inputs or payloads of the tables, no settings table, no secrets, no node interface.
    for (const hidden of [
      "DetectorSetting", "WebhookSecret", "Node", "AuditLogInput", "AuditLogPatch", "SecurityAlertInput", "SecurityAlertPatch", "SecurityAlertCondition",
      "WebhookEndpointInput", "WebhookEndpointPatch", "WebhookDeliveryInput", "WebhookAttemptInput", "CreateAuditLogPayload", "CreateSecurityAlertPayload",
      "LogConsumer", "TrackedTable", "EventRule", "LogStreamSecret", "LogStreamInput", "LogStreamPatch", "LogStreamCondition",
      "TenantRollup", "AccountRollup", "TenantRollupsConnection", "RollupPositionRecord",
    ]) {
      expect(types, hidden).not.toContain(hidden);
    }
    expect(types.filter((t) => /^(Create|Update|Delete)(AuditLog|AuditEvent|SecurityAlert|WebhookDelivery|WebhookAttempt|DetectorSetting(?!s))/.test(t))).toEqual([]);
    // A stream's fields: no lease, no tenant, no secret (test/streams/stream-worker.test.ts has its behaviour).
    const stream = await data(server, tenantAdmin(w.a), `{ __type(name: "LogStream") { fields { name } } }`);
    const streamFields = names(stream.__type.fields);
    for (const hidden of ["tenantId", "leaseToken", "leaseUntil", "secret"]) expect(streamFields, hidden).not.toContain(hidden);
  });

  it("the new types have exactly the contract's fields", async () => {
    const d = await data(server, tenantAdmin(w.a), `{
      endpoint: __type(name: "WebhookEndpoint") { fields { name } }
      delivery: __type(name: "WebhookDelivery") { fields { name } }
      attempt: __type(name: "WebhookAttempt") { fields { name } }
      created: __type(name: "CreatedWebhookEndpoint") { fields { name } }
      alert: __type(name: "SecurityAlert") { fields { name args { name } } }
      alertFilter: __type(name: "SecurityAlertFilter") { inputFields { name } }
      logFilter: __type(name: "AuditLogFilter") { inputFields { name } }
      ack: __type(name: "AcknowledgeSecurityAlertPayload") { fields { name } }
      settings: __type(name: "UpdateDetectorSettingsPayload") { fields { name } }
      query: __type(name: "Query") { fields { name args { name } type { name kind ofType { name } } } }
    }`);
    expect(names(d.endpoint.fields)).toEqual(["createdAt", "createdBy", "deliveries", "description", "enabled", "id", "severities", "updatedAt", "url"]);
    expect(names(d.delivery.fields)).toEqual([
      "alertId", "attemptLog", "attempts", "createdAt", "deliveredAt", "eventId", "eventType", "id", "lastAttemptAt", "lastError", "lastStatusCode", "nextAttemptAt", "status",
    ]);
    expect(names(d.attempt.fields)).toEqual(["attempt", "attemptedAt", "durationMs", "error", "statusCode"]);
    expect(names(d.created.fields)).toEqual(["createdAt", "description", "enabled", "id", "secret", "severities", "url"]);
    expect(names(d.alert.fields)).toEqual([
      "accountId", "acknowledgedAt", "acknowledgedBy", "actorEmail", "actorId", "actorName", "actorType", "details", "detectedAt", "detector", "entries",
      "entriesDescriptor", "entryCount", "entryIds", "firstAt", "id", "lastAt", "resolutionNote", "resolvedAt", "resolvedBy", "severity", "status", "summary", "updatedAt",
    ]);
    expect(names(d.alert.fields.find((f: { name: string }) => f.name === "entries").args)).toEqual(["after", "first"]);
    expect(names(d.alertFilter.inputFields)).toEqual(["accountId", "and", "detectedAt", "detector", "id", "lastAt", "not", "or", "severity", "status"]);
    expect(names(d.logFilter.inputFields)).toContain("alertId");
    expect(names(d.ack.fields)).toEqual(["clientMutationId", "securityAlert"]);
    expect(names(d.settings.fields)).toEqual(["clientMutationId", "detectorSettings"]);
    const query = Object.fromEntries(d.query.fields.map((f: any) => [f.name, f]));
    expect(query.detectorSettings.type.name).toBe("JSON");
    expect(names(query.securityAlerts.args)).toEqual(["after", "filter", "first", "orderBy"]);
    expect(names(query.webhookEndpoints.args)).toEqual([]);
  });

  it("mutations over the log, or generic ones over the new tables, are unknown", async () => {
    for (const query of [
      'mutation { deleteAuditLog(input: { id: "1" }) { clientMutationId } }',
      'mutation { createAuditLog(input: { auditLog: { event: "x" } }) { clientMutationId } }',
      'mutation { updateSecurityAlert(input: { id: "1", patch: { status: "resolved" } }) { clientMutationId } }',
      'mutation { createWebhookDelivery(input: {}) { clientMutationId } }',
      "mutation { setDetectorSettings(input: {}) { clientMutationId } }",
      '{ securityAlert(id: "1") { id } }',
      '{ webhookEndpointByTenantIdAndId(tenantId: "x", id: "y") { id } }',
      "{ detectorSettingByTenantId(tenantId: \"x\") { settings } }",
    ]) {
      const res = await gql(server, tenantAdmin(w.a), query);
      expect(res.status, query).toBe(400);
      expect(res.body.errors?.[0]?.extensions?.code, query).toBe("GRAPHQL_VALIDATION_FAILED");
    }
  });

  it("mutations count in the operation's cost (100 each), nested lists and connections by their rows", async () => {
    const many = Array.from({ length: 51 }, (_, i) => `m${i}: updateDetectorSettings(input: { patch: {} }) { clientMutationId }`).join(" ");
    const res = await gql(server, tenantAdmin(w.a), `mutation { ${many} }`);
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_EXPENSIVE", cost: 5100 });
    const wide = await gql(server, tenantAdmin(w.a), "{ webhookEndpoints { deliveries(first: 500) { nodes { id } } } }");
    expect(wide.body.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_EXPENSIVE", cost: 10 + 20 * 510 });
    // 20 endpoints x (10 + 100 deliveries + a count), and an attempt list (1) per delivery
    const counted = await gql(server, tenantAdmin(w.a), "{ webhookEndpoints { deliveries(first: 100) { totalCount nodes { attemptLog { attempt } } } } }");
    expect(counted.body.errors?.[0]?.extensions).toMatchObject({ code: "QUERY_TOO_EXPENSIVE", cost: 10 + 20 * (110 + 100) + 20 * 100 * 1 });
    const fine = await gql(server, tenantAdmin(w.a), "{ webhookEndpoints { deliveries(first: 20) { totalCount nodes { attemptLog { attempt } } } } }");
    expect(fine.body.errors).toBeUndefined(); // 10 + 20 x (30 + 100) + 400 = 3010
  });
});

describe("webhook endpoints, deliveries and attempts", () => {
  // (first as a literal: a page size given by a variable counts as the largest page)
  const query = (first: number) => `query ($after: Cursor) { webhookEndpoints {
    id url severities enabled description createdAt updatedAt createdBy
    deliveries(first: ${first}, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes {
        id alertId eventId eventType status attempts nextAttemptAt lastAttemptAt lastStatusCode lastError deliveredAt createdAt
        attemptLog { attempt attemptedAt durationMs statusCode error }
      }
    }
  } }`;

  it("a tenant admin lists its endpoints (oldest first), each with its deliveries newest first and their attempts in order, as stored", async () => {
    const d = await data(server, tenantAdmin(w.a), query(20));
    expect(d.webhookEndpoints.map((e: { id: string }) => e.id)).toEqual([endpoints.a1, endpoints.a2]);
    for (const e of d.webhookEndpoints) {
      const { rows } = await db.owner.query("select * from audit.webhook_deliveries where endpoint_id = $1 order by id desc", [e.id]);
      expect(e.deliveries.totalCount).toBe(rows.length);
      expect(e.deliveries.nodes.map((n: { id: string }) => n.id)).toEqual(rows.map((r) => String(r.id)));
      for (const [i, n] of e.deliveries.nodes.entries()) {
        const r = rows[i];
        expect(n).toMatchObject({
          alertId: String(r.alert_id), eventId: r.event_id, eventType: r.event_type, status: r.status, attempts: r.attempts,
          lastStatusCode: r.last_status_code, lastError: r.last_error,
        });
        expect(n.deliveredAt === null).toBe(r.delivered_at === null);
        expect(Date.parse(n.nextAttemptAt)).toBe(r.next_attempt_at.getTime());
        const attempts = (await db.owner.query("select * from audit.webhook_attempts where delivery_id = $1 order by attempt", [r.id])).rows;
        expect(n.attemptLog).toEqual(attempts.map((a) => ({
          attempt: a.attempt, attemptedAt: expect.any(String), durationMs: a.duration_ms, statusCode: a.status_code, error: a.error,
        })));
      }
    }
    expect(d.webhookEndpoints[0].deliveries.nodes.some((n: { attemptLog: unknown[] }) => n.attemptLog.length === 3)).toBe(true);
  });

  it("pages through an endpoint's deliveries with first/after, newest first, without skipping or repeating", async () => {
    const { rows } = await db.owner.query<{ id: string }>("select id::text from audit.webhook_deliveries where endpoint_id = $1 order by id desc", [endpoints.a1]);
    const ids: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 20; page++) {
      const d: any = await data(server, tenantAdmin(w.a), query(3), { after });
      const e = d.webhookEndpoints.find((x: { id: string }) => x.id === endpoints.a1);
      ids.push(...e.deliveries.nodes.map((n: { id: string }) => n.id));
      if (!e.deliveries.pageInfo.hasNextPage) break;
      after = e.deliveries.pageInfo.endCursor;
    }
    expect(ids).toEqual(rows.map((r) => r.id));
    const bad = await gql(server, tenantAdmin(w.a), "query ($n: Int = 2) { webhookEndpoints { deliveries(first: $n) { totalCount } } }", { n: 501 });
    expect(bad.body.errors?.[0]?.extensions?.code).toBe("PAGE_SIZE_TOO_LARGE");
  });

  it("another tenant's admin sees only its own; account admins are refused; payloads and secrets never appear", async () => {
    const b = await gql(server, tenantAdmin(w.b), query(20));
    expect(b.body.data.webhookEndpoints.map((e: { id: string }) => e.id)).toEqual([endpoints.b]);
    expect(b.body.data.webhookEndpoints[0].deliveries.totalCount).toBe(2);
    expect(JSON.stringify(b.body)).not.toContain(endpoints.a1);
    const x = await gql(server, accountAdmin(w.a), query(20));
    expect(x.body.data?.webhookEndpoints ?? null).toBeNull();
    expect(x.body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const a = await gql(server, tenantAdmin(w.a), query(20));
    const text = JSON.stringify(a.body);
    expect(text).not.toContain(MARKER);
    for (const secret of secrets) expect(text).not.toContain(secret);
    for (const q of [
      "{ webhookEndpoints { secret } }",
      "{ webhookEndpoints { tenantId } }",
      "{ webhookEndpoints { deliveries { nodes { payload } } } }",
      "{ webhookEndpoints { deliveries { nodes { giveUpAt } } } }",
      "{ webhookEndpoints { deliveries { nodes { endpointId tenantId } } } }",
      "{ webhookEndpoints { deliveries(filter: {}) { totalCount } } }",
      "{ webhookEndpoints(first: 1) { id } }",
    ]) {
      expect((await gql(server, tenantAdmin(w.a), q)).body.errors?.[0]?.extensions?.code, q).toBe("GRAPHQL_VALIDATION_FAILED");
    }
  });
});
