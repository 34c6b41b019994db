// Who did it: the application's context, PostGraphile-style JWT claims, or
// the database role; snapshots that survive renames and deletions.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withAuditContext } from "../../src/application/audit-context.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asUser, createLandscape, entriesAfter, lastEntryId, type Landscape } from "../support/fixtures.ts";

let db: TestDatabase;
let l: Landscape;

beforeAll(async () => {
  db = await createTestDatabase();
  l = await createLandscape(db.app);
});
afterAll(async () => {
  await db?.drop();
});

async function touchProcess(client: pg.PoolClient | pg.Pool, text: string) {
  await client.query("update app.processes set description = $2 where id = $1", [l.processId, text]);
}

describe("actor", () => {
  it("snapshots the user's email and name, which stay after a rename and a deletion", async () => {
    const user = randomUUID();
    await asUser(db.app, l.adminId, (c) =>
      c.query("insert into app.users (id, tenant_id, email, name) values ($1, $2, 'temp@acme.test', 'Tempo Rary')", [user, l.tenantId]));
    const mark = await lastEntryId(db.owner);
    await asUser(db.app, user, (c) => touchProcess(c, "by temp"));
    await asUser(db.app, l.adminId, (c) => c.query("update app.users set name = 'Renamed', email = 'renamed@acme.test' where id = $1", [user]));
    await asUser(db.app, l.adminId, (c) => c.query("delete from app.users where id = $1", [user]));
    const [byTemp] = await entriesAfter(db.owner, mark);
    expect(byTemp).toMatchObject({ actor_type: "user", actor_id: user, actor_email: "temp@acme.test", actor_name: "Tempo Rary" });
    const { rows } = await db.owner.query("select actor_email, actor_name from audit.log where id = $1", [byTemp!.id]);
    expect(rows[0]).toEqual({ actor_email: "temp@acme.test", actor_name: "Tempo Rary" });
  });

  it("records an API key actor by its name", async () => {
    const key = randomUUID();
    await asUser(db.app, l.adminId, (c) =>
      c.query("insert into app.api_keys (id, tenant_id, account_id, name, key_hash) values ($1, $2, $3, 'Deploy bot', 'h')",
        [key, l.tenantId, l.accountId]));
    const mark = await lastEntryId(db.owner);
    await withAuditContext(db.app, { actor_type: "api_key", actor_id: key, request_id: "r-1" }, (c) => touchProcess(c, "by key"));
    const [e] = await entriesAfter(db.owner, mark);
    expect(e).toMatchObject({ actor_type: "api_key", actor_id: key, actor_name: "Deploy bot", actor_email: null, context: { request_id: "r-1" } });
  });

  it("records a system actor", async () => {
    const mark = await lastEntryId(db.owner);
    await withAuditContext(db.app, { actor_type: "system", actor_name: "nightly-sync", reason: "scheduled" }, (c) => touchProcess(c, "by system"));
    const [e] = await entriesAfter(db.owner, mark);
    expect(e).toMatchObject({ actor_type: "system", actor_id: null, actor_name: "nightly-sync", context: { reason: "scheduled" } });
  });

  it("falls back to PostGraphile-style jwt.claims.sub", async () => {
    const mark = await lastEntryId(db.owner);
    const client = await db.app.connect();
    try {
      await client.query("begin");
      await client.query("select set_config('jwt.claims.sub', $1, true)", [l.memberId]);
      await touchProcess(client, "by jwt");
      await client.query("commit");
    } finally {
      client.release();
    }
    const [e] = await entriesAfter(db.owner, mark);
    expect(e).toMatchObject({ actor_type: "user", actor_id: l.memberId, actor_email: "max@acme.test", actor_name: "Max Member" });
  });

  it("with no context at all, keeps the database session's role name", async () => {
    const mark = await lastEntryId(db.owner);
    const client = new pg.Client({ connectionString: db.appUrl, application_name: "psql-by-hand" });
    await client.connect();
    try {
      await touchProcess(client as unknown as pg.Pool, "manual SQL");
    } finally {
      await client.end();
    }
    const [e] = await entriesAfter(db.owner, mark);
    expect(e).toMatchObject({ actor_type: "database_role", actor_id: null, actor_name: "app_user" });
    expect(e!.context).toMatchObject({ application_name: "psql-by-hand" });
  });

  it("with no context, names the role a session switched to with SET ROLE, and the login in the context", async () => {
    const mark = await lastEntryId(db.owner);
    const client = new pg.Client({ connectionString: db.ownerUrl, application_name: "dba-console" });
    await client.connect();
    try {
      const login = (await client.query<{ u: string }>("select session_user::text as u")).rows[0]!.u;
      await client.query("set role app_user");
      await touchProcess(client as unknown as pg.Pool, "as app_user by a DBA");
      await client.query("reset role");
      await client.query("begin");
      await client.query("set local role app_user");
      await touchProcess(client as unknown as pg.Pool, "as app_user in a transaction");
      await client.query("commit");
      await touchProcess(client as unknown as pg.Pool, "as the login itself");
      const entries = await entriesAfter(db.owner, mark);
      expect(entries.map((e) => e.actor_name)).toEqual(["app_user", "app_user", login]);
      for (const e of entries) expect(e).toMatchObject({ actor_type: "database_role", actor_id: null });
      expect(entries[0]!.context).toMatchObject({ session_user: login, application_name: "dba-console" });
      expect(entries[1]!.context).toMatchObject({ session_user: login });
      // the login acting as itself needs no separate session_user
      expect(entries[2]!.context).not.toHaveProperty("session_user");
    } finally {
      await client.end();
    }
  });

  it("the context ends with its transaction", async () => {
    const client = await db.app.connect();
    const mark = await lastEntryId(db.owner);
    try {
      await client.query("begin");
      await client.query("select audit.set_context($1)", [{ actor_id: l.adminId }]);
      await client.query("commit");
      await touchProcess(client as unknown as pg.Pool, "after the context");
    } finally {
      client.release();
    }
    const [e] = await entriesAfter(db.owner, mark);
    expect(e!.actor_type).toBe("database_role");
  });

  it("rejects a bad context with a specific error, and the transaction writes nothing", async () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ actor_id: "not-a-uuid" }, /actor_id must be a uuid/],
      [{ actor_type: "root", actor_id: l.adminId }, /actor_type must be user, api_key or system/],
      [{ actor_type: "user" }, /actor_id is required/],
      [{ actor_id: randomUUID() }, /no user with id/],
      [{ actor_type: "api_key", actor_id: randomUUID() }, /no API key with id/],
      [["not", "an", "object"], /expects a JSON object/],
    ];
    const mark = await lastEntryId(db.owner);
    for (const [context, message] of cases) {
      await expect(
        withAuditContext(db.app, context as never, (c) => touchProcess(c, "never")),
      ).rejects.toThrow(message);
    }
    expect(await entriesAfter(db.owner, mark)).toEqual([]);
  });
});
