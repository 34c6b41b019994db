// The OCSF mapping: every event of the catalogue (read from the schema dump,
// so that a new event fails here until it is mapped) becomes a 1.3.0 event
// of Account Change, Authentication, User Access Management or API
// Activity with the class's required attributes; a few mappings in full;
// events outside the catalogue by their action; jsonb numbers as stored.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { OCSF_CLASS_INFO, OCSF_CLASSES, OCSF_VERSION, ocsfEvent, ocsfMapping, type OcsfClassUid } from "../../src/streams/ocsf.ts";
import type { StreamEntry } from "../../src/streams/stream-types.ts";

const TENANT = "0b3c1a52-51a8-4a3e-9d6c-2f1f0d7c9e11";
const ACCOUNT = "5d7e2f10-8c41-4f0e-a3b2-6a9c1e4d2b33";
const ADA = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d";

/** The catalogue's rows as db/schema/events-and-tracking.sql inserts them. */
function catalogue(): { event: string; action: string; resourceType: string; description: string }[] {
  const sql = readFileSync(new URL("../../db/schema/events-and-tracking.sql", import.meta.url), "utf8");
  const insert = sql.slice(sql.indexOf("insert into audit.events"), sql.indexOf(";", sql.indexOf("insert into audit.events")));
  return [...insert.matchAll(/\('([a-z_]+\.[a-z_]+)', '([a-z_]+)', '([a-z_]+)', '((?:[^']|'')*)', '[a-z]+'\)/g)].map((m) => ({
    event: m[1]!,
    action: m[2]!,
    resourceType: m[3]!,
    description: m[4]!.replace(/''/g, "'"),
  }));
}

function entry(over: Partial<StreamEntry> = {}): StreamEntry {
  return {
    id: "4211",
    occurredAt: "2025-03-04T05:06:07.123456Z",
    tenantId: TENANT,
    accountId: ACCOUNT,
    actorType: "user",
    actorId: ADA,
    actorEmail: "ada@example.com",
    actorName: "Ada Lovelace",
    action: "update",
    resourceType: "settings",
    entityId: "rpa.timeout",
    entityLabel: "rpa.timeout",
    event: "settings.updated",
    description: "Settings updated",
    oldValues: null,
    newValues: null,
    context: '{"ip": "203.0.113.7", "request_id": "req-1", "user_agent": "Mozilla/5.0"}',
    transactionId: "987",
    ...over,
  };
}

const events = catalogue();

describe("the mapping table", () => {
  it("names every catalogued event, and nothing else", () => {
    expect(events.length).toBeGreaterThan(40);
    expect(Object.keys(OCSF_CLASSES).sort()).toEqual(events.map((e) => e.event).sort());
  });

  it.each(events)("$event: a class of the mapping with the class's required attributes", (row) => {
    const e = ocsfEvent(entry({ event: row.event, action: row.action, resourceType: row.resourceType, description: row.description }));
    const classUid = e.class_uid as OcsfClassUid;
    expect([3001, 3002, 3005, 6003]).toContain(classUid);
    const info = OCSF_CLASS_INFO[classUid];
    expect(e).toMatchObject({
      class_name: info.class_name,
      category_uid: info.category_uid,
      category_name: info.category_name,
      type_uid: classUid * 100 + (e.activity_id as number),
      type_name: `${info.class_name}: ${e.activity_name as string}`,
      time: Date.parse("2025-03-04T05:06:07.123Z"),
      severity_id: 1,
      severity: "Informational",
      message: row.description,
      metadata: { version: OCSF_VERSION, product: { name: "Audit Trail", vendor_name: "Audit Trail" }, uid: "4211" },
    });
    expect(info.activities[e.activity_id as number]).toBe(e.activity_name);
    expect(e.status_id).toBe(row.event === "user.sign_in_failed" ? 2 : 1);
    const user = e.user as { uid?: string; name?: string } | undefined;
    if (classUid !== 6003) expect(user?.uid ?? user?.name).toBeTruthy();
    if (classUid === 3002) expect(e.service ?? e.dst_endpoint).toBeTruthy();
    if (classUid === 3005) expect(e.privileges).toEqual([expect.any(String)]);
    if (classUid === 6003) {
      expect(e.api).toMatchObject({ operation: row.event });
      expect(e.actor).toMatchObject({ user: { uid: ADA } });
      expect(e.src_endpoint).toEqual({ ip: "203.0.113.7" });
      expect(e.resources).toEqual([expect.objectContaining({ uid: "rpa.timeout", type: row.resourceType })]);
    }
    // a JSON document
    expect(JSON.parse(JSON.stringify(e))).toMatchObject({ class_uid: classUid });
  });
});

describe("full mappings", () => {
  it("settings.updated: API Activity Update, the values as stored", () => {
    const row = entry({
      oldValues: '{"value": 1.5, "limit": 7}',
      newValues: '{"value": 1.50, "limit": 12345678901234567890}',
      context: '{"ip": "203.0.113.7", "reason": "ticket 42", "request_id": "req-1", "user_agent": "Mozilla/5.0"}',
    });
    const e = ocsfEvent(row);
    expect(JSON.parse(JSON.stringify(e))).toEqual({
      class_uid: 6003,
      class_name: "API Activity",
      category_uid: 6,
      category_name: "Application Activity",
      activity_id: 3,
      activity_name: "Update",
      type_uid: 600303,
      type_name: "API Activity: Update",
      time: 1741064767123,
      timezone_offset: 0,
      severity_id: 1,
      severity: "Informational",
      status_id: 1,
      status: "Success",
      message: "Settings updated",
      metadata: {
        version: "1.3.0",
        product: { name: "Audit Trail", vendor_name: "Audit Trail" },
        uid: "4211",
        correlation_uid: "987",
        tenant_uid: TENANT,
        event_code: "settings.updated",
        log_name: "audit.log",
        original_time: "2025-03-04T05:06:07.123456Z",
      },
      actor: { user: { uid: ADA, name: "Ada Lovelace", email_addr: "ada@example.com", type_id: 1, type: "User" } },
      api: { operation: "settings.updated", request: { uid: "req-1" } },
      resources: [
        {
          uid: "rpa.timeout",
          type: "settings",
          name: "rpa.timeout",
          data: { old_values: { value: 1.5, limit: 7 }, new_values: { value: 1.5, limit: 12345678901234567000 } },
        },
      ],
      src_endpoint: { ip: "203.0.113.7" },
      http_request: { user_agent: "Mozilla/5.0" },
      unmapped: {
        event: "settings.updated",
        action: "update",
        resource_type: "settings",
        account_id: ACCOUNT,
        actor_type: "user",
        request_id: "req-1",
        context: { reason: "ticket 42" },
      },
    });
    // the text keeps the numbers as PostgreSQL stored them
    expect(JSON.stringify(e)).toContain('"new_values":{"value":1.50,"limit":12345678901234567890}');
  });

  it("user.sign_in_failed: Authentication Logon, Failure, the tenant as the service", () => {
    const e = ocsfEvent(
      entry({
        event: "user.sign_in_failed",
        action: "sign_in_fail",
        resourceType: "user",
        entityId: ADA,
        entityLabel: "ada@example.com",
        description: "Sign-in failed",
        actorType: "system",
        actorId: null,
        actorEmail: null,
        actorName: "system",
        context: '{"ip": "2001:db8::7", "reason": "INVALID_CREDENTIALS"}',
      }),
    );
    expect(e).toMatchObject({
      class_uid: 3002,
      class_name: "Authentication",
      category_uid: 3,
      category_name: "Identity & Access Management",
      activity_id: 1,
      activity_name: "Logon",
      type_uid: 300201,
      type_name: "Authentication: Logon",
      status_id: 2,
      status: "Failure",
      status_detail: "INVALID_CREDENTIALS",
      user: { uid: ADA, name: "ada@example.com", email_addr: "ada@example.com" },
      service: { uid: TENANT },
      actor: { user: { name: "system", type_id: 3, type: "System" } },
      src_endpoint: { ip: "2001:db8::7" },
      unmapped: { event: "user.sign_in_failed", action: "sign_in_fail", entity_id: ADA, context: { reason: "INVALID_CREDENTIALS" } },
    });
    expect(e).not.toHaveProperty("resources");
    expect(e).not.toHaveProperty("api");
  });

  it("member.role_updated by an API key: User Access Management, the new role", () => {
    const key = "3f4e5d6c-7b8a-4c9d-8e0f-1a2b3c4d5e6f";
    const e = ocsfEvent(
      entry({
        event: "member.role_updated",
        resourceType: "member",
        entityId: "c0ffee00-0000-4000-8000-000000000001",
        entityLabel: "grace@example.com",
        description: "Member role updated",
        actorType: "api_key",
        actorId: key,
        actorEmail: null,
        actorName: "CI key",
        oldValues: '{"role": "viewer"}',
        newValues: '{"role": "admin"}',
        context: "{}",
      }),
    );
    expect(JSON.parse(JSON.stringify(e))).toMatchObject({
      class_uid: 3005,
      activity_id: 1,
      activity_name: "Assign Privileges",
      type_uid: 300501,
      user: { name: "grace@example.com", email_addr: "grace@example.com" },
      privileges: ["admin"],
      resource: { uid: ACCOUNT, type: "account" },
      actor: { user: { uid: key, name: "CI key", type_id: 99, type: "API Key", credential_uid: key } },
      unmapped: { entity_id: "c0ffee00-0000-4000-8000-000000000001", old_values: { role: "viewer" }, new_values: { role: "admin" } },
    });
    expect((e.user as object)).not.toHaveProperty("uid"); // the membership's id is not the user's
    expect(e).not.toHaveProperty("src_endpoint");
  });

  it("member.added tenant-wide and process_member.removed: who, which role, to what", () => {
    const added = ocsfEvent(
      entry({
        event: "member.added", action: "assign", resourceType: "member", accountId: null, entityLabel: "grace@example.com",
        newValues: `{"id": "m-1", "role": "viewer", "user_id": "${ADA}", "account_id": null}`,
      }),
    );
    expect(added).toMatchObject({ class_uid: 3005, activity_id: 1, user: { uid: ADA }, privileges: ["viewer"], resource: { uid: TENANT, type: "tenant" } });
    const removed = ocsfEvent(
      entry({
        event: "process_member.removed", action: "unassign", resourceType: "process_member", entityLabel: "grace@example.com",
        oldValues: `{"id": "pm-1", "user_id": "${ADA}", "process_id": "p-9"}`,
      }),
    );
    expect(removed).toMatchObject({
      class_uid: 3005, activity_id: 2, activity_name: "Revoke Privileges", type_uid: 300502,
      user: { uid: ADA }, privileges: ["process_member"], resource: { uid: "p-9", type: "process" },
    });
  });

  it("user.updated by a database role: Account Change Other, the session's address", () => {
    const e = ocsfEvent(
      entry({
        event: "user.updated", resourceType: "user", entityId: ADA, entityLabel: "ada@example.com", description: "User updated",
        actorType: "database_role", actorId: null, actorEmail: null, actorName: "migrations",
        context: '{"client_addr": "10.1.2.3/32", "application_name": "psql"}',
      }),
    );
    expect(e).toMatchObject({
      class_uid: 3001, activity_id: 99, activity_name: "Other", type_uid: 300199, type_name: "Account Change: Other",
      user: { uid: ADA, email_addr: "ada@example.com" },
      actor: { user: { name: "migrations", type_id: 99, type: "Database Role" }, app_name: "psql" },
      src_endpoint: { ip: "10.1.2.3" },
      unmapped: { context: { client_addr: "10.1.2.3/32", application_name: "psql" } },
    });
  });
});

describe("events outside the catalogue", () => {
  it.each([
    ["invoice.created", "create", 1, "Create"],
    ["invoice.viewed", "view", 2, "Read"],
    ["invoice.read", "read", 2, "Read"],
    ["invoice.updated", "update", 3, "Update"],
    ["invoice.deleted", "delete", 4, "Delete"],
    ["invoice.paid", "pay", 99, "Other"],
  ])("%s (%s): API Activity %i", (event, action, activityId, name) => {
    expect(ocsfMapping(event, action)).toEqual({ class_uid: 6003, activity_id: activityId });
    const e = ocsfEvent(entry({ event, action, resourceType: "invoice", entityId: "inv-7", entityLabel: null, context: "{}" }));
    expect(e).toMatchObject({
      class_uid: 6003, activity_id: activityId, activity_name: name, type_uid: 600300 + activityId,
      api: { operation: event }, src_endpoint: { name: "unknown" }, resources: [{ uid: "inv-7", type: "invoice" }],
    });
    expect((e.resources as object[])[0]).not.toHaveProperty("name");
  });

  it("a name that is an Object property is not taken for a mapping", () => {
    expect(ocsfMapping("constructor", "update")).toEqual({ class_uid: 6003, activity_id: 3 });
    expect(ocsfMapping("toString", "frobnicate")).toEqual({ class_uid: 6003, activity_id: 99 });
    expect(ocsfMapping("invoice.checked", "constructor")).toEqual({ class_uid: 6003, activity_id: 99 });
    expect(ocsfEvent(entry({ actorType: "toString" })).actor).toEqual({ user: { uid: expect.any(String), name: "Ada Lovelace", email_addr: "ada@example.com", type_id: 99, type: "toString" } });
  });

  it("an ip that is not an address stays in the context; a context that is not an object is ignored", () => {
    const e = ocsfEvent(entry({ context: '{"ip": "somewhere, 10.0.0.1"}' }));
    expect(e.src_endpoint).toEqual({ name: "unknown" });
    expect(e.unmapped).toMatchObject({ context: { ip: "somewhere, 10.0.0.1" } });
    expect(ocsfEvent(entry({ context: null })).unmapped).not.toHaveProperty("context");
  });
});
