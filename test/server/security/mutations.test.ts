// The API's mutations, all of security monitoring (the audit log itself stays
// read-only): detector settings, acknowledging and resolving alerts, webhook
// endpoints. Each goes through the same token, role and row-level security
// path as the queries; a tenant admin's change is recorded in the log as an
// admin event, an account admin's or another tenant's admin's attempt is
// refused with the database's own message and a code, and changes nothing;
// bad input gets its message.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { RunningServer } from "../../../src/server/app.ts";
import { createTestDatabase, type TestDatabase } from "../../support/database.ts";
import { entriesAfter, lastEntryId, type LogEntry } from "../../support/fixtures.ts";
import { accountAdmin, data, gql, seedWorld, startTestServer, tenantAdmin, type GraphQLResponse, type World } from "../helpers.ts";
import { insertAlert, logIds } from "./support.ts";

let db: TestDatabase;
/** webhookAllowPrivate: true, as the tests of the project run it. */
let server: RunningServer;
/** The production default: https and public addresses only. */
let strict: RunningServer;
let w: World;
let alertX: string;
let alertY: string;
let alertB: string;

/** The admin's token, with the email and name claims the admin events name them by. */
const adaA = () => tenantAdmin(w.a, { email: "ada@acme.test", name: "Ada Admin" });

beforeAll(async () => {
  db = await createTestDatabase();
  w = await seedWorld(db);
  const x = await logIds(db.owner, "tenant_id = $1 and account_id = $2", [w.a.tenantId, w.a.accountId]);
  const y = await logIds(db.owner, "tenant_id = $1 and account_id = $2", [w.a.tenantId, w.a.otherAccountId]);
  const b = await logIds(db.owner, "tenant_id = $1", [w.b.tenantId]);
  alertX = await insertAlert(db.owner, { tenantId: w.a.tenantId, accountId: w.a.accountId, entryIds: x.slice(0, 5), summary: "Alert of X" });
  alertY = await insertAlert(db.owner, { tenantId: w.a.tenantId, accountId: w.a.otherAccountId, entryIds: y, summary: "Alert of Y" });
  alertB = await insertAlert(db.owner, { tenantId: w.b.tenantId, entryIds: b.slice(0, 3), summary: "Alert of B" });
  [server, strict] = await Promise.all([startTestServer(db, { webhookAllowPrivate: true }), startTestServer(db)]);
});
afterAll(async () => {
  await Promise.all([server?.close(), strict?.close()]);
  await db?.drop();
});

let before: string;
beforeEach(async () => {
  before = await lastEntryId(db.owner);
});

/** The entries written since the test started. */
const written = (): Promise<LogEntry[]> => entriesAfter(db.owner, before);

/** A refused mutation: no data for the field, one error with this code and message, nothing written to the log. */
async function expectRefused(res: GraphQLResponse, field: string, code: string, message: RegExp | string) {
  expect(res.status).toBe(200);
  expect(res.body.data?.[field] ?? null, JSON.stringify(res.body)).toBeNull();
  expect(res.body.errors).toHaveLength(1);
  expect(res.body.errors?.[0]).toMatchObject({ message: typeof message === "string" ? message : expect.stringMatching(message), extensions: { code } });
  expect(res.body.errors?.[0]?.extensions?.errorId).toBeUndefined();
  expect(await written()).toEqual([]);
}

const SETTINGS = "mutation ($patch: JSON!) { updateDetectorSettings(input: { patch: $patch }) { detectorSettings } }";
const ACK = "mutation ($id: BigInt!) { acknowledgeSecurityAlert(input: { id: $id }) { securityAlert { id status acknowledgedAt acknowledgedBy } } }";
const RESOLVE = "mutation ($id: BigInt!, $note: String) { resolveSecurityAlert(input: { id: $id, note: $note }) { securityAlert { id status resolvedAt resolvedBy resolutionNote } } }";
const CREATE = `mutation ($url: String!, $severities: [String], $description: String) {
  createWebhookEndpoint(input: { url: $url, severities: $severities, description: $description }) {
    webhookEndpoint { id url severities enabled description createdAt secret }
  }
}`;
const UPDATE = `mutation ($id: UUID!, $url: String, $severities: [String], $enabled: Boolean, $description: String) {
  updateWebhookEndpoint(input: { id: $id, url: $url, severities: $severities, enabled: $enabled, description: $description }) {
    webhookEndpoint { id url severities enabled description createdAt updatedAt createdBy }
  }
}`;
const DELETE = "mutation ($id: UUID!) { deleteWebhookEndpoint(input: { id: $id }) { webhookEndpoint { id url } } }";

async function settingsRow(tenantId: string): Promise<unknown> {
  const { rows } = await db.owner.query("select settings from audit.detector_settings where tenant_id = $1", [tenantId]);
  return rows[0]?.settings ?? null;
}

describe("detector settings", () => {
  it("detectorSettings: a tenant admin reads its tenant's complete settings (the defaults until changed)", async () => {
    const d = await data(server, tenantAdmin(w.a), "{ detectorSettings }");
    const { rows } = await db.owner.query("select audit_private.default_detector_settings() as d");
    expect(d.detectorSettings).toEqual(rows[0].d);
    expect(Object.keys(d.detectorSettings.detectors).sort()).toEqual(
      ["after_hours_settings_change", "mass_change", "member_addition_burst", "role_escalation", "unexpected_api_key_creator"]);
  });

  it("detectorSettings: an account admin gets the clear permission error", async () => {
    const res = await gql(server, accountAdmin(w.a), "{ detectorSettings }");
    expect(res.body.data?.detectorSettings ?? null).toBeNull();
    expect(res.body.errors?.[0]).toMatchObject({
      message: "detectorSettings: only tenant admins can read the detector settings; this token is an account admin's",
      extensions: { code: "FORBIDDEN" },
      path: ["detectorSettings"],
    });
  });

  it("updateDetectorSettings merges a patch, stores it, returns the whole document and records security_policy.updated", async () => {
    const patch = { detectors: { mass_change: { threshold: 30 } }, business_hours: { time_zone: "Europe/Berlin" } };
    const d = await data(server, adaA(), SETTINGS, { patch });
    expect(d.updateDetectorSettings.detectorSettings.detectors.mass_change).toEqual({ enabled: true, threshold: 30, window_minutes: 10 });
    expect(d.updateDetectorSettings.detectorSettings.business_hours).toEqual({ time_zone: "Europe/Berlin", days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" });
    expect(await settingsRow(w.a.tenantId)).toEqual(d.updateDetectorSettings.detectorSettings);
    expect((await data(server, tenantAdmin(w.a), "{ detectorSettings }")).detectorSettings).toEqual(d.updateDetectorSettings.detectorSettings);
    const entries = await written();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      tenant_id: w.a.tenantId, account_id: null, event: "security_policy.updated", action: "update", resource_type: "security_policy",
      actor_type: "user", actor_id: w.a.adminId, actor_email: "ada@acme.test", actor_name: "Ada Admin", entity_id: w.a.tenantId,
      context: { source: "api" },
    });
    expect((entries[0]!.old_values as any).detectors.mass_change.threshold).toBe(50);
    expect((entries[0]!.new_values as any).detectors.mass_change.threshold).toBe(30);
    // the other tenant's settings are untouched
    expect(await settingsRow(w.b.tenantId)).toBeNull();
    // The entry is in the API like any other, for the admins of the tenant
    const seen = await data(server, tenantAdmin(w.a), `{ auditLogs(first: 1, filter: { event: { equalTo: "security_policy.updated" } }) { nodes { id actorEmail description } } }`);
    expect(seen.auditLogs.nodes).toEqual([{ id: entries[0]!.id, actorEmail: "ada@acme.test", description: "Detector settings updated" }]);
  });

  it("bad settings get their message (BAD_USER_INPUT) and change nothing", async () => {
    const stored = await settingsRow(w.a.tenantId);
    const cases: [unknown, string][] = [
      [{ detectors: { nope: { enabled: true } } }, 'detectors: unknown detector "nope" (known: role_escalation, member_addition_burst, unexpected_api_key_creator, after_hours_settings_change, mass_change)'],
      [{ detectors: { mass_change: { threshold: 1 } } }, "detectors.mass_change.threshold must be a whole number between 2 and 100000, got 1"],
      [{ detectors: { member_addition_burst: { threshold: 100001 } } }, "detectors.member_addition_burst.threshold must be a whole number between 2 and 100000, got 100001"],
      [{ detectors: { role_escalation: { window_minutes: 0 } } }, "detectors.role_escalation.window_minutes must be a whole number of minutes between 1 and 1440, got 0"],
      [{ business_hours: { time_zone: "Mars/Base" } }, 'business_hours.time_zone: unknown time zone "Mars/Base"; use an IANA name such as "Europe/Berlin", "America/New_York" or "UTC"'],
      [{ business_hours: { time_zone: "UTC+5" } }, 'business_hours.time_zone: unknown time zone "UTC+5"; use an IANA name such as "Europe/Berlin", "America/New_York" or "UTC"'],
      [{ business_hours: { start: "18:00", end: "08:00" } }, "business_hours: start (18:00) must be before end (08:00)"],
      [{ colour: "red" }, 'detector settings: unknown key "colour" (expected business_hours, role_ranking, detectors)'],
      [[1, 2], "updateDetectorSettings: patch must be a JSON object, got array"],
    ];
    for (const [patch, message] of cases) {
      await expectRefused(await gql(server, adaA(), SETTINGS, { patch }), "updateDetectorSettings", "BAD_USER_INPUT", message);
    }
    expect(await settingsRow(w.a.tenantId)).toEqual(stored);
  });

  it("an account admin cannot change the settings; another tenant's admin changes only its own tenant's", async () => {
    const stored = await settingsRow(w.a.tenantId);
    await expectRefused(
      await gql(server, accountAdmin(w.a), SETTINGS, { patch: { detectors: { mass_change: { enabled: false } } } }),
      "updateDetectorSettings", "FORBIDDEN",
      "updateDetectorSettings: only tenant admins can change the detector settings; this token is an account admin's",
    );
    expect(await settingsRow(w.a.tenantId)).toEqual(stored);
    const d = await data(server, tenantAdmin(w.b), SETTINGS, { patch: { detectors: { mass_change: { enabled: false } } } });
    expect(d.updateDetectorSettings.detectorSettings.detectors.mass_change.enabled).toBe(false);
    expect(await settingsRow(w.a.tenantId)).toEqual(stored);
    expect((await written()).map((e) => [e.tenant_id, e.event])).toEqual([[w.b.tenantId, "security_policy.updated"]]);
  });
});

describe("acknowledging and resolving alerts", () => {
  it("refused for an account admin (even of the alert's account) and for another tenant's admin; nothing changes", async () => {
    const status = async () => (await db.owner.query("select status from audit.alerts where id = $1", [alertX])).rows[0].status;
    await expectRefused(await gql(server, accountAdmin(w.a, w.a.accountId), ACK, { id: alertX }), "acknowledgeSecurityAlert", "FORBIDDEN",
      "acknowledgeSecurityAlert: only tenant admins can acknowledge security alerts; this token is an account admin's");
    await expectRefused(await gql(server, accountAdmin(w.a, w.a.accountId), RESOLVE, { id: alertX }), "resolveSecurityAlert", "FORBIDDEN",
      "resolveSecurityAlert: only tenant admins can resolve security alerts; this token is an account admin's");
    // another tenant's alert is no alert at all
    await expectRefused(await gql(server, tenantAdmin(w.b), ACK, { id: alertX }), "acknowledgeSecurityAlert", "NOT_FOUND",
      `acknowledgeSecurityAlert: no security alert with id ${alertX} in this tenant`);
    await expectRefused(await gql(server, tenantAdmin(w.b), RESOLVE, { id: alertX, note: "not mine" }), "resolveSecurityAlert", "NOT_FOUND",
      `resolveSecurityAlert: no security alert with id ${alertX} in this tenant`);
    await expectRefused(await gql(server, adaA(), ACK, { id: "987654321" }), "acknowledgeSecurityAlert", "NOT_FOUND",
      "acknowledgeSecurityAlert: no security alert with id 987654321 in this tenant");
    expect(await status()).toBe("open");
  });

  it("acknowledgeSecurityAlert: open to acknowledged, by the admin, recorded as alert.acknowledged in the alert's account; again changes nothing", async () => {
    const d = await data(server, adaA(), ACK, { id: alertX });
    expect(d.acknowledgeSecurityAlert.securityAlert).toMatchObject({ id: alertX, status: "acknowledged", acknowledgedBy: "ada@acme.test" });
    expect(Date.parse(d.acknowledgeSecurityAlert.securityAlert.acknowledgedAt)).toBeGreaterThan(Date.now() - 60_000);
    const entries = await written();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      tenant_id: w.a.tenantId, account_id: w.a.accountId, event: "alert.acknowledged", action: "acknowledge", resource_type: "alert",
      entity_id: alertX, entity_label: "Alert of X", actor_id: w.a.adminId, actor_email: "ada@acme.test",
      old_values: { status: "open" }, new_values: { status: "acknowledged" },
    });
    // again: the same alert, no new entry
    before = await lastEntryId(db.owner);
    const again = await data(server, adaA(), ACK, { id: alertX });
    expect(again.acknowledgeSecurityAlert.securityAlert.acknowledgedAt).toBe(d.acknowledgeSecurityAlert.securityAlert.acknowledgedAt);
    expect(await written()).toEqual([]);
    // the account admin of X sees the alert acknowledged, and the entry
    const seen = await data(server, accountAdmin(w.a, w.a.accountId), `{ securityAlerts(filter: { status: { equalTo: "acknowledged" } }) { nodes { id } }
      auditLogs(filter: { event: { equalTo: "alert.acknowledged" } }) { nodes { entityId } } }`);
    expect(seen).toEqual({ securityAlerts: { nodes: [{ id: alertX }] }, auditLogs: { nodes: [{ entityId: alertX }] } });
  });

  it("resolveSecurityAlert: resolved with a note, recorded as alert.resolved; again changes nothing; a resolved alert cannot be acknowledged", async () => {
    await expectRefused(await gql(server, adaA(), RESOLVE, { id: alertX, note: "x".repeat(2001) }), "resolveSecurityAlert", "BAD_USER_INPUT",
      "resolveSecurityAlert: note is 2001 characters long; at most 2000");
    const d = await data(server, adaA(), RESOLVE, { id: alertX, note: "  Planned clean-up  " });
    expect(d.resolveSecurityAlert.securityAlert).toMatchObject({ id: alertX, status: "resolved", resolvedBy: "ada@acme.test", resolutionNote: "Planned clean-up" });
    const entries = await written();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      account_id: w.a.accountId, event: "alert.resolved", entity_id: alertX,
      old_values: { status: "acknowledged" }, new_values: { status: "resolved", resolution_note: "Planned clean-up" },
    });
    before = await lastEntryId(db.owner);
    expect((await data(server, adaA(), RESOLVE, { id: alertX, note: "other" })).resolveSecurityAlert.securityAlert.resolutionNote).toBe("Planned clean-up");
    await expectRefused(await gql(server, adaA(), ACK, { id: alertX }), "acknowledgeSecurityAlert", "BAD_USER_INPUT",
      `acknowledgeSecurityAlert: alert ${alertX} is already resolved`);
  });

  it("the payload's alert is a whole SecurityAlert, entries included; an open alert resolves directly", async () => {
    const d = await data(server, adaA(), `mutation ($id: BigInt!) { resolveSecurityAlert(input: { id: $id }) {
      clientMutationId securityAlert { id status summary accountId entryCount entries(first: 2) { totalCount nodes { id } } }
    } }`, { id: alertY });
    const alert = d.resolveSecurityAlert.securityAlert;
    expect(alert).toMatchObject({ id: alertY, status: "resolved", summary: "Alert of Y", accountId: w.a.otherAccountId });
    expect(alert.entries.totalCount).toBe(Number(alert.entryCount));
    expect(alert.entries.nodes).toHaveLength(2);
    expect((await written()).map((e) => [e.event, e.old_values])).toEqual([["alert.resolved", { status: "open" }]]);
  });

  it("ids are required and checked before any SQL", async () => {
    for (const [query, variables] of [
      ["mutation { acknowledgeSecurityAlert(input: {}) { clientMutationId } }", undefined],
      ["mutation ($id: BigInt!) { acknowledgeSecurityAlert(input: { id: $id }) { clientMutationId } }", { id: "12x" }],
      ['mutation { deleteWebhookEndpoint(input: { id: "nope" }) { clientMutationId } }', undefined],
    ] as const) {
      const res = await gql(server, adaA(), query, variables);
      expect(res.status, query).toBe(400);
      expect(res.body.errors?.[0]?.extensions?.code, query).toMatch(/^(GRAPHQL_VALIDATION_FAILED|INVALID_BIGINT|INVALID_UUID|BAD_USER_INPUT)$/);
    }
    expect(await written()).toEqual([]);
  });
});

describe("webhook endpoints", () => {
  let endpointId: string;
  let secret: string;

  it("createWebhookEndpoint: registers the endpoint, shows its secret once, records webhook_endpoint.created with the secret redacted", async () => {
    const d = await data(server, adaA(), CREATE, { url: "https://hooks.example.com/audit", severities: ["high", "medium", "high"], description: " SIEM " });
    const e = d.createWebhookEndpoint.webhookEndpoint;
    expect(e).toMatchObject({ url: "https://hooks.example.com/audit", severities: ["high", "medium"], enabled: true, description: "SIEM" });
    expect(e.secret).toMatch(/^whsec_[0-9a-f]{64}$/);
    endpointId = e.id;
    secret = e.secret;
    const entries = await written();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      tenant_id: w.a.tenantId, account_id: null, event: "webhook_endpoint.created", action: "create", resource_type: "webhook_endpoint",
      entity_id: endpointId, entity_label: "https://hooks.example.com/audit", actor_email: "ada@acme.test",
      new_values: { url: "https://hooks.example.com/audit", severities: ["high", "medium"], enabled: true, description: "SIEM", secret: "[redacted]" },
    });
    // the secret is nowhere in the log, and the API never shows it again
    const { rows } = await db.owner.query("select count(*)::int as n from audit.log l where l::text like $1", [`%${secret}%`]);
    expect(rows[0].n).toBe(0);
    const listed = await gql(server, tenantAdmin(w.a), "{ webhookEndpoints { id url severities enabled description createdAt updatedAt createdBy } }");
    expect(listed.body.data.webhookEndpoints).toEqual([
      { id: endpointId, url: e.url, severities: ["high", "medium"], enabled: true, description: "SIEM", createdAt: e.createdAt, updatedAt: expect.any(String), createdBy: "ada@acme.test" },
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(secret);
    expect((await gql(server, tenantAdmin(w.a), "{ webhookEndpoints { secret } }")).body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });

  it("updateWebhookEndpoint changes what is given, records webhook_endpoint.updated with the changed values", async () => {
    // (The URL is given unchanged: see the next test.)
    const d = await data(server, adaA(), UPDATE, { id: endpointId, url: "https://hooks.example.com/audit", enabled: false, severities: ["low"] });
    expect(d.updateWebhookEndpoint.webhookEndpoint).toMatchObject({
      id: endpointId, url: "https://hooks.example.com/audit", severities: ["low"], enabled: false, description: "SIEM", createdBy: "ada@acme.test",
    });
    const entries = await written();
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      event: "webhook_endpoint.updated", entity_id: endpointId,
      old_values: { enabled: true, severities: ["high", "medium"] }, new_values: { enabled: false, severities: ["low"] },
    });
  });

  it("updateWebhookEndpoint without a url keeps the URL", async () => {
    const d = await data(server, adaA(), UPDATE, { id: endpointId, description: "SIEM (prod)" });
    expect(d.updateWebhookEndpoint.webhookEndpoint).toMatchObject({ url: "https://hooks.example.com/audit", description: "SIEM (prod)" });
  });

  it("refused for an account admin and for another tenant's admin, with a clear error; nothing changes", async () => {
    const row = async () => (await db.owner.query("select * from audit.webhook_endpoints where id = $1", [endpointId])).rows[0];
    const stored = await row();
    const x = accountAdmin(w.a, w.a.accountId);
    await expectRefused(await gql(server, x, CREATE, { url: "https://hooks.example.com/x" }), "createWebhookEndpoint", "FORBIDDEN",
      "createWebhookEndpoint: only tenant admins can register webhook endpoints; this token is an account admin's");
    await expectRefused(await gql(server, x, UPDATE, { id: endpointId, enabled: true }), "updateWebhookEndpoint", "FORBIDDEN",
      "updateWebhookEndpoint: only tenant admins can change webhook endpoints; this token is an account admin's");
    await expectRefused(await gql(server, x, DELETE, { id: endpointId }), "deleteWebhookEndpoint", "FORBIDDEN",
      "deleteWebhookEndpoint: only tenant admins can delete webhook endpoints; this token is an account admin's");
    await expectRefused(await gql(server, tenantAdmin(w.b), UPDATE, { id: endpointId, enabled: true }), "updateWebhookEndpoint", "NOT_FOUND",
      `updateWebhookEndpoint: no webhook endpoint with id ${endpointId} in this tenant`);
    await expectRefused(await gql(server, tenantAdmin(w.b), DELETE, { id: endpointId }), "deleteWebhookEndpoint", "NOT_FOUND",
      `deleteWebhookEndpoint: no webhook endpoint with id ${endpointId} in this tenant`);
    expect(await row()).toEqual(stored);
    // and they cannot list them: account admins are refused, another tenant sees its own (none)
    const listed = await gql(server, x, "{ webhookEndpoints { id } }");
    expect(listed.body.data?.webhookEndpoints ?? null).toBeNull();
    expect(listed.body.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect((await data(server, tenantAdmin(w.b), "{ webhookEndpoints { id } }")).webhookEndpoints).toEqual([]);
  });

  it("bad URLs, severities and descriptions get their message and register nothing", async () => {
    const count = async () => (await db.owner.query("select count(*)::int as n from audit.webhook_endpoints")).rows[0].n;
    const n = await count();
    const cases: [RunningServer, Record<string, unknown>, string][] = [
      [server, { url: "not a url" }, 'createWebhookEndpoint: "not a url" is not an absolute URL (https://host/path)'],
      [server, { url: "   " }, "createWebhookEndpoint: url is required"],
      [server, { url: "ftp://files.example.com/x" }, "createWebhookEndpoint: the URL must use https (got ftp://)"],
      [server, { url: "https://user:pw@hooks.example.com/x" }, "createWebhookEndpoint: the URL must not carry credentials (user:password@); the endpoint's secret signs every request"],
      [server, { url: `https://hooks.example.com/${"x".repeat(2000)}` }, "createWebhookEndpoint: url is 2026 characters long; at most 2000"],
      [server, { url: "https://hooks.example.com/x", severities: ["critical"] }, "createWebhookEndpoint: unknown severity in {critical} (expected low, medium, high)"],
      [server, { url: "https://hooks.example.com/x", severities: [] }, "createWebhookEndpoint: severities must list at least one of low, medium, high"],
      [server, { url: "https://hooks.example.com/x", description: "d".repeat(501) }, "createWebhookEndpoint: description is 501 characters long; at most 500"],
      // without WEBHOOK_ALLOW_PRIVATE: https only, public addresses only
      [strict, { url: "http://hooks.example.com/audit" }, "createWebhookEndpoint: the URL must use https (got http://)"],
      [strict, { url: "https://127.0.0.1/hook" }, "createWebhookEndpoint: 127.0.0.1 is a loopback, link-local, private or unspecified address; webhooks go to public addresses"],
      [strict, { url: "https://10.1.2.3:8443/hook" }, "createWebhookEndpoint: 10.1.2.3 is a loopback, link-local, private or unspecified address; webhooks go to public addresses"],
      [strict, { url: "https://192.168.0.10/hook" }, "createWebhookEndpoint: 192.168.0.10 is a loopback, link-local, private or unspecified address; webhooks go to public addresses"],
      [strict, { url: "https://169.254.169.254/latest/meta-data" }, "createWebhookEndpoint: 169.254.169.254 is a loopback, link-local, private or unspecified address; webhooks go to public addresses"],
      [strict, { url: "https://[fe80::1]/hook" }, "createWebhookEndpoint: fe80::1 is a loopback, link-local, private or unspecified address; webhooks go to public addresses"],
      [strict, { url: "https://[::ffff:127.0.0.1]/hook" }, "createWebhookEndpoint: ::ffff:127.0.0.1 is a loopback, link-local, private or unspecified address; webhooks go to public addresses"],
      [strict, { url: "https://0.0.0.0/hook" }, "createWebhookEndpoint: 0.0.0.0 is a loopback, link-local, private or unspecified address; webhooks go to public addresses"],
      [strict, { url: "https://localhost:3000/hook" }, "createWebhookEndpoint: localhost is a loopback address; webhooks go to public addresses"],
    ];
    for (const [on, variables, message] of cases) {
      await expectRefused(await gql(on, adaA(), CREATE, variables), "createWebhookEndpoint", "BAD_USER_INPUT", message);
    }
    await expectRefused(await gql(strict, adaA(), UPDATE, { id: endpointId, url: "http://127.0.0.1:9000/hook" }), "updateWebhookEndpoint", "BAD_USER_INPUT",
      "updateWebhookEndpoint: the URL must use https (got http://)");
    expect(await count()).toBe(n);
    // A public https URL is fine without it; with it (the test server), http and private addresses are too
    const ok = await data(strict, adaA(), CREATE, { url: "https://203.0.113.10/hook", severities: ["high"] });
    expect(ok.createWebhookEndpoint.webhookEndpoint.url).toBe("https://203.0.113.10/hook");
    const local = await data(server, adaA(), CREATE, { url: "http://127.0.0.1:9999/hook" });
    expect(local.createWebhookEndpoint.webhookEndpoint).toMatchObject({ url: "http://127.0.0.1:9999/hook", severities: ["high", "medium"] });
    expect(await count()).toBe(n + 2);
  });

  it("the IPv6 loopback and unspecified addresses, and numeric IPv4 shorthands, are refused without allowPrivate", async () => {
    for (const host of ["127.1", "2130706433", "0x7f000001"]) {
      await expectRefused(await gql(strict, adaA(), CREATE, { url: `https://${host}/hook` }), "createWebhookEndpoint", "BAD_USER_INPUT",
        `createWebhookEndpoint: "${host}" is a numeric host that is not a dotted IPv4 address; write the address as a.b.c.d or use a host name`);
    }
    for (const host of ["::1", "::"]) {
      await expectRefused(await gql(strict, adaA(), CREATE, { url: `https://[${host}]:8443/hook` }), "createWebhookEndpoint", "BAD_USER_INPUT",
        `createWebhookEndpoint: ${host} is a loopback, link-local, private or unspecified address; webhooks go to public addresses`);
    }
  });

  it("deleteWebhookEndpoint deletes it, returns what was deleted and records webhook_endpoint.deleted; deleting again is NOT_FOUND", async () => {
    const d = await data(server, adaA(), DELETE, { id: endpointId });
    expect(d.deleteWebhookEndpoint.webhookEndpoint).toEqual({ id: endpointId, url: "https://hooks.example.com/audit" });
    expect((await written()).map((e) => [e.event, e.entity_id, e.new_values])).toEqual([["webhook_endpoint.deleted", endpointId, null]]);
    expect((await db.owner.query("select count(*)::int as n from audit.webhook_endpoints where id = $1", [endpointId])).rows[0].n).toBe(0);
    before = await lastEntryId(db.owner);
    await expectRefused(await gql(server, adaA(), DELETE, { id: endpointId }), "deleteWebhookEndpoint", "NOT_FOUND",
      `deleteWebhookEndpoint: no webhook endpoint with id ${endpointId} in this tenant`);
  });
});

describe("the same path as queries", () => {
  it("without a valid token a mutation is answered 401 and runs nothing", async () => {
    const anonymous = await gql(server, null, ACK, { id: alertY });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const expired = await gql(server, tenantAdmin(w.a, { exp: Math.floor(Date.now() / 1000) - 60 }), SETTINGS, { patch: {} });
    expect(expired.status).toBe(401);
    expect(await written()).toEqual([]);
  });

  it("several mutations in one request run in order, each in the admin's scope; one refused does not undo the others", async () => {
    const res = await gql(server, adaA(), `mutation ($b: BigInt!) {
      first: updateDetectorSettings(input: { patch: { detectors: { role_escalation: { window_minutes: 30 } } } }) { detectorSettings }
      refused: acknowledgeSecurityAlert(input: { id: $b }) { securityAlert { id } }
      second: updateDetectorSettings(input: { patch: { detectors: { role_escalation: { window_minutes: 45 } } } }) { detectorSettings }
    }`, { b: alertB });
    expect(res.body.data.first.detectorSettings.detectors.role_escalation.window_minutes).toBe(30);
    expect(res.body.data.refused).toBeNull();
    expect(res.body.data.second.detectorSettings.detectors.role_escalation.window_minutes).toBe(45);
    expect(res.body.errors).toMatchObject([{ path: ["refused"], extensions: { code: "NOT_FOUND" } }]);
    expect((await written()).map((e) => e.event)).toEqual(["security_policy.updated", "security_policy.updated"]);
  });

  it("a 21st webhook endpoint is refused with LIMIT_EXCEEDED and the function's message, and changes nothing", async () => {
    // A tenant has at most 20 endpoints (SQLSTATE 54000 from the function).
    const { rows } = await db.owner.query<{ n: number }>("select count(*)::int as n from audit.webhook_endpoints where tenant_id = $1", [w.a.tenantId]);
    for (let i = rows[0]!.n; i < 20; i++) await data(server, adaA(), CREATE, { url: `https://hooks.example.com/${i}` });
    before = await lastEntryId(db.owner);
    const res = await gql(server, adaA(), CREATE, { url: "https://hooks.example.com/21" });
    expect(res.body.data.createWebhookEndpoint).toBeNull();
    expect(res.body.errors?.[0]).toMatchObject({
      message: "createWebhookEndpoint: a tenant has at most 20 webhook endpoints",
      extensions: { code: "LIMIT_EXCEEDED" },
    });
    expect(await written()).toEqual([]);
  });
});
