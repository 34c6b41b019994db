// Application events through recordEvent (audit.record_event) as app_user:
// every application event of the catalogue, the refusals (each writing
// nothing), who the actor is, rollback, and the failed sign-in recorded in
// a transaction of its own.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withAuditContext } from "../../src/application/audit-context.ts";
import {
  recordEvent, RecordEventError, RecordEventInputError, RecordEventPermissionError, type RecordEventInput,
} from "../../src/application/record-event.ts";
import { inTransaction } from "../../src/db/transaction.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { createLandscape, lastEntryId, type Landscape, type LogEntry } from "../support/fixtures.ts";

let db: TestDatabase;
let a: Landscape;
let b: Landscape;

beforeAll(async () => {
  db = await createTestDatabase();
  a = await createLandscape(db.app, "Acme");
  b = await createLandscape(db.app, "Globex");
});
afterAll(async () => {
  await db?.drop();
});


async function entry(id: string): Promise<LogEntry | undefined> {
  const { rows } = await db.owner.query<LogEntry>("select *, id::text as id from audit.log where id = $1", [id]);
  return rows[0];
}

const REQUEST = { request_id: "req-7", ip: "203.0.113.7", user_agent: "vitest" };

/** The application's usual call: in a transaction whose audit context names the user. */
const asAdmin = (input: RecordEventInput) =>
  withAuditContext(db.app, { actor_id: a.adminId, actor_type: "user", ...REQUEST }, (c) => recordEvent(c, input));

describe("recordEvent records", () => {
  it("every application event of the catalogue, with its action and resource type, as app_user", async () => {
    const { rows: catalogue } = await db.owner.query<{ event: string; action: string; resource_type: string }>(
      "select event, action, resource_type from audit.events where kind = 'application' order by event",
    );
    expect(catalogue.map((e) => e.event)).toEqual(expect.arrayContaining([
      "user.signed_in", "user.sign_in_failed", "user.signed_out", "settings.viewed", "data.exported", "process.run_requested",
    ]));
    for (const e of catalogue) {
      const id = await asAdmin({
        event: e.event, tenantId: a.tenantId, accountId: a.accountId, entityId: a.memberId, label: "max@acme.test",
        context: { method: "password", password: "hunter2" },
      });
      expect(id).toMatch(/^\d+$/);
      expect(await entry(id), e.event).toMatchObject({
        tenant_id: a.tenantId, account_id: a.accountId, event: e.event, action: e.action, resource_type: e.resource_type,
        entity_id: a.memberId, entity_label: "max@acme.test", old_values: null, new_values: null,
        actor_type: "user", actor_id: a.adminId, actor_email: "ada@acme.test", actor_name: "Ada Admin",
        // the request context, with the event's own context over it; secret keys redacted
        context: { ...REQUEST, method: "password", password: "[redacted]" },
      });
    }
  });

  it("a tenant-level entry when no account is given", async () => {
    const id = await asAdmin({ event: "settings.viewed", tenantId: a.tenantId, entityId: "security.mfa_required" });
    expect(await entry(id)).toMatchObject({ tenant_id: a.tenantId, account_id: null, entity_label: null, event: "settings.viewed" });
  });
});

describe("recordEvent refuses, writing nothing", () => {
  const base = (): RecordEventInput => ({ event: "user.signed_in", tenantId: a.tenantId, accountId: a.accountId, entityId: a.adminId });
  const cases: [string, () => RecordEventInput, typeof RecordEventInputError | typeof RecordEventPermissionError, RegExp][] = [
    ["an unknown event", () => ({ ...base(), event: "user.teleported" }), RecordEventInputError, /^audit\.record_event: unknown event "user\.teleported"$/],
    ["a trigger event", () => ({ ...base(), event: "user.created" }), RecordEventPermissionError, /"user\.created" is a trigger event; only application events/],
    ["an access event", () => ({ ...base(), event: "audit_log.exported" }), RecordEventPermissionError, /"audit_log\.exported" is an access event; only application events/],
    ["a missing tenant", () => ({ ...base(), tenantId: null as unknown as string }), RecordEventInputError, /tenant_id is required/],
    ["an unknown tenant", () => ({ ...base(), tenantId: randomUUID(), accountId: null }), RecordEventInputError, /no tenant with id [0-9a-f-]{36}/],
    ["a tenant id that is not a uuid", () => ({ ...base(), tenantId: "acme" }), RecordEventInputError, /invalid input syntax for type uuid: "acme"/],
    ["an account of another tenant", () => ({ ...base(), accountId: b.accountId }), RecordEventInputError, /account [0-9a-f-]{36} is not an account of tenant/],
    ["a missing entity id", () => ({ ...base(), entityId: "" }), RecordEventInputError, /entity_id is required/],
    ["a blank entity id", () => ({ ...base(), entityId: "   " }), RecordEventInputError, /entity_id is required/],
    ["a context that is an array", () => ({ ...base(), context: ["x"] as unknown as Record<string, unknown> }), RecordEventInputError, /context must be a JSON object, got array/],
    ["a context that is a string", () => ({ ...base(), context: "x" as unknown as Record<string, unknown> }), RecordEventInputError, /context must be a JSON object, got string/],
    ["a context over 8 kB", () => ({ ...base(), context: { note: "x".repeat(8200) } }), RecordEventInputError, /context is \d+ bytes as JSON; at most 8192/],
  ];

  it.each(cases)("%s", async (_name, input, kind, message) => {
    const before = await lastEntryId(db.owner);
    const err = await asAdmin(input()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(kind);
    expect(err).toBeInstanceOf(RecordEventError);
    expect((err as Error).message).toMatch(message);
    expect((err as RecordEventError).sqlState).toMatch(kind === RecordEventPermissionError ? /^42501$/ : /^22(023|P02)$/);
    expect(await lastEntryId(db.owner)).toBe(before);
  });

  it("an unknown event with a hint to add it to the catalogue", async () => {
    const err = (await asAdmin({ ...base(), event: "user.teleported" }).catch((e: unknown) => e)) as RecordEventError;
    expect(err.sqlState).toBe("22023");
    expect(err.hint).toMatch(/migrations\/tracking\.sql with kind 'application'/);
  });

  it.each(["audit_tenant_admin", "audit_account_admin", "audit_reader"])("a call by %s (permission denied)", async (role) => {
    const before = await lastEntryId(db.owner);
    const err = await inTransaction(db.owner, async (c) => {
      await c.query(`set local role ${role}`);
      return recordEvent(c, base());
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RecordEventPermissionError);
    expect((err as RecordEventError).sqlState).toBe("42501");
    expect((err as Error).message).toMatch(/permission denied for function record_event/);
    expect(await lastEntryId(db.owner)).toBe(before);
  });
});

describe("the actor of an application event", () => {
  it("is the audit context's (audit.set_context), like the triggers'", async () => {
    const id = await withAuditContext(db.app, { actor_type: "system", actor_name: "nightly-sync", run_id: "r1" }, (c) =>
      recordEvent(c, { event: "process.run_requested", tenantId: a.tenantId, accountId: a.accountId, entityId: a.processId, label: "Invoice sync" }),
    );
    expect(await entry(id)).toMatchObject({ actor_type: "system", actor_id: null, actor_name: "nightly-sync", context: { run_id: "r1" } });
  });

  it("without a context, is the database role (app_user), in a transaction or in a pool's single statement", async () => {
    const inTx = await inTransaction(db.app, (c) => recordEvent(c, { event: "user.signed_out", tenantId: a.tenantId, entityId: a.adminId }));
    const single = await recordEvent(db.app, { event: "user.signed_out", tenantId: a.tenantId, entityId: a.adminId });
    for (const id of [inTx, single]) {
      expect(await entry(id)).toMatchObject({ actor_type: "database_role", actor_id: null, actor_name: "app_user", event: "user.signed_out" });
    }
  });
});

describe("transactions", () => {
  it("a rollback removes the event with the rest of the transaction", async () => {
    let id = "";
    await expect(
      withAuditContext(db.app, { actor_id: a.adminId }, async (c) => {
        id = await recordEvent(c, { event: "data.exported", tenantId: a.tenantId, entityId: "report-1" });
        throw new Error("the download failed");
      }),
    ).rejects.toThrow("the download failed");
    expect(id).not.toBe("");
    expect(await entry(id)).toBeUndefined();
  });

  it("a failed sign-in is recorded in a transaction of its own, which outlives the failed one", async () => {
    const signIn = async (c: pg.PoolClient, password: string) => {
      await c.query("update app.users set last_seen_at = now() where id = $1", [a.memberId]);
      if (password !== "right") throw new Error("bad password");
    };
    const before = await lastEntryId(db.owner);
    let failedId: string | null = null;
    try {
      await withAuditContext(db.app, { actor_id: a.memberId, ...REQUEST }, (c) => signIn(c, "wrong"));
    } catch {
      // The sign-in's transaction rolled back: the failure is recorded after it, on its own.
      failedId = await withAuditContext(db.app, { actor_type: "system", actor_name: "sign-in", ...REQUEST }, (c) =>
        recordEvent(c, {
          event: "user.sign_in_failed", tenantId: a.tenantId, entityId: a.memberId, label: "max@acme.test", context: { reason: "bad_password" },
        }),
      );
    }
    expect(failedId).not.toBeNull();
    const { rows } = await db.owner.query<{ id: string; event: string }>("select id::text, event from audit.log where id > $1 order by id", [before]);
    expect(rows).toEqual([{ id: failedId, event: "user.sign_in_failed" }]);
    expect(await entry(failedId!)).toMatchObject({
      actor_type: "system", actor_name: "sign-in", entity_id: a.memberId, entity_label: "max@acme.test",
      context: { ...REQUEST, reason: "bad_password" },
    });
  });
});
