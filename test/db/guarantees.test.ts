// The capture's guarantees: atomic with the change, noise-free, set-based for
// bulk statements, append-only, and impossible for app_user to bypass.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

describe("atomicity", () => {
  it("a rolled-back change leaves no entry", async () => {
    const mark = await lastEntryId(db.owner);
    await expect(
      asUser(db.app, l.adminId, async (c) => {
        await c.query("update app.processes set description = 'rolled back' where id = $1", [l.processId]);
        throw new Error("application failure after the write");
      }),
    ).rejects.toThrow("application failure");
    expect(await entriesAfter(db.owner, mark)).toEqual([]);
  });

  it("a failing audit write rolls the business change back with it", async () => {
    // An invalid rule condition cannot be installed, so break capture the way a
    // DBA might: remove the generated statement. The write must then fail whole.
    const client = await db.owner.connect();
    try {
      await client.query("begin");
      await client.query("delete from audit_private.capture_statements where table_name = 'app.accounts'::regclass and operation = 'UPDATE'");
      await expect(client.query("update app.accounts set name = 'No audit, no change' where id = $1", [l.accountId]))
        .rejects.toThrow(/has no capture statement/);
      await client.query("rollback");
    } finally {
      client.release();
    }
    const { rows } = await db.owner.query("select name from app.accounts where id = $1", [l.accountId]);
    expect(rows[0].name).toBe("Operations");
  });

  it("entries of one transaction share its transaction id and instant", async () => {
    const mark = await lastEntryId(db.owner);
    await asUser(db.app, l.adminId, async (c) => {
      await c.query("update app.processes set description = 'one' where id = $1", [l.processId]);
      await c.query("insert into app.settings (tenant_id, key, value) values ($1, 'ui.theme', '\"dark\"')", [l.tenantId]);
    });
    const entries = await entriesAfter(db.owner, mark);
    expect(entries).toHaveLength(2);
    expect(entries[0]!.transaction_id).toBe(entries[1]!.transaction_id);
    expect(entries[0]!.occurred_at.getTime()).toBe(entries[1]!.occurred_at.getTime());
  });
});

describe("noise", () => {
  it("an update that changes only noise columns writes nothing", async () => {
    const mark = await lastEntryId(db.owner);
    await asUser(db.app, l.adminId, async (c) => {
      await c.query("update app.users set last_seen_at = now() where id = $1", [l.memberId]);
      await c.query("update app.processes set name = name where id = $1", [l.processId]); // no change at all (updated_at moves)
    });
    expect(await entriesAfter(db.owner, mark)).toEqual([]);
  });

  it("noise columns are left out of the values of a real change", async () => {
    const mark = await lastEntryId(db.owner);
    await asUser(db.app, l.adminId, (c) =>
      c.query("update app.users set name = 'Max M.', last_seen_at = now() where id = $1", [l.memberId]));
    const [e] = await entriesAfter(db.owner, mark);
    expect(e!.old_values).toEqual({ name: "Max Member" });
    expect(e!.new_values).toEqual({ name: "Max M." });
  });
});

describe("bulk statements", () => {
  it("one statement changing 10,000 rows writes 10,000 entries", async () => {
    const mark = await lastEntryId(db.owner);
    await asUser(db.app, l.adminId, (c) =>
      c.query(
        "insert into app.processes (tenant_id, account_id, name) select $1, $2, 'bulk ' || g from generate_series(1, 10000) g",
        [l.tenantId, l.accountId],
      ));
    await asUser(db.app, l.adminId, (c) =>
      c.query("update app.processes set description = 'bulk edit' where name like 'bulk %'"));
    await asUser(db.app, l.adminId, (c) =>
      c.query("update app.processes set deleted_at = now() where name like 'bulk %'"));
    const { rows } = await db.owner.query(
      `select event, count(*)::int as n, count(distinct entity_id)::int as entities,
              count(*) filter (where actor_id = $2)::int as attributed
         from audit.log where id > $1 group by event order by event`,
      [mark, l.adminId]);
    expect(rows).toEqual([
      { event: "process.created", n: 10000, entities: 10000, attributed: 10000 },
      { event: "process.deleted", n: 10000, entities: 10000, attributed: 10000 },
      { event: "process.updated", n: 10000, entities: 10000, attributed: 10000 },
    ]);
  });

  it("a cascading delete records every removed row", async () => {
    const tenant = randomUUID();
    const account = randomUUID();
    const user = randomUUID();
    await asUser(db.app, l.adminId, async (c) => {
      await c.query("insert into app.tenants (id, name) values ($1, 'Short-lived')", [tenant]);
      await c.query("insert into app.accounts (id, tenant_id, name) values ($1, $2, 'A')", [account, tenant]);
      await c.query("insert into app.users (id, tenant_id, email, name) values ($1, $2, 'x@short.test', 'X')", [user, tenant]);
      await c.query("insert into app.memberships (tenant_id, account_id, user_id, role) values ($1, $2, $3, 'admin')", [tenant, account, user]);
    });
    const mark = await lastEntryId(db.owner);
    await asUser(db.app, l.adminId, (c) => c.query("delete from app.tenants where id = $1", [tenant]));
    const events = (await entriesAfter(db.owner, mark)).map((e) => e.event).sort();
    expect(events).toEqual(["account.deleted", "member.removed", "tenant.deleted", "user.deleted"]);
  });
});

describe("nobody bypasses the audit", () => {
  it("app_user cannot write, change, remove or truncate audit rows", async () => {
    const attempts = [
      `insert into audit.log (tenant_id, actor_type, action, resource_type, entity_id, event) values ('${l.tenantId}', 'system', 'create', 'user', 'x', 'user.created')`,
      "update audit.log set actor_name = 'someone else'",
      "delete from audit.log",
      "truncate audit.log",
      "truncate audit.log_default",
      "select * from audit.log_default",
      "delete from audit.log_default",
    ];
    for (const sql of attempts) {
      await expect(db.app.query(sql), sql).rejects.toThrow(/permission denied/);
    }
  });

  it("app_user cannot switch auditing off or reconfigure it", async () => {
    const attempts = [
      "alter table app.processes disable trigger _900_audit_update",
      "alter table app.processes disable trigger all",
      "drop trigger _900_audit_update on app.processes",
      "set session_replication_role = replica",
      "select audit.untrack_table('app.processes')",
      "select audit.track_table('app.processes', 'process', '[{\"on\": \"insert\", \"event\": \"process.created\"}]')",
      "delete from audit.tracked_tables",
      "update audit_private.capture_statements set statement = 'select 1'",
      "truncate app.jobs",
    ];
    for (const sql of attempts) {
      await expect(db.app.query(sql), sql).rejects.toThrow(/permission denied|must be owner|refused/);
    }
  });

  it("TRUNCATE of an audited table is refused even for its owner", async () => {
    await expect(db.owner.query("truncate app.jobs")).rejects.toThrow(/TRUNCATE of app\.jobs is refused/);
  });

  it("audit rows are append-only for the owner too", async () => {
    await expect(db.owner.query("update audit.log set actor_name = 'x'")).rejects.toThrow(/append-only/);
    await expect(db.owner.query("delete from audit.log")).rejects.toThrow(/append-only/);
    await expect(db.owner.query("truncate audit.log")).rejects.toThrow(/append-only/);
    await expect(db.owner.query("truncate audit.log_default")).rejects.toThrow(/append-only/);
    const { rows } = await db.owner.query<{ relname: string }>(
      "select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'audit.log'::regclass limit 1");
    await expect(db.owner.query(`truncate audit.${rows[0]!.relname}`)).rejects.toThrow(/append-only/);
  });

  it("no writer, the owner included, stores an unknown kind of actor, in any partition", async () => {
    const insert = (target: string) => db.owner.query(
      `insert into ${target} (occurred_at, tenant_id, actor_type, action, resource_type, entity_id, event)
       values (now(), $1, 'root', 'update', 'process', 'x', 'process.updated')`, [l.tenantId]);
    await expect(insert("audit.log")).rejects.toThrow(/actor_type_check/);
    const year = `log_${new Date().getUTCFullYear()}`;
    await expect(insert(`audit.${year}`)).rejects.toThrow(/actor_type_check/);
    await db.owner.query("select audit_private.create_log_partition('log_2047', '2047-01-01T00:00:00Z', '2048-01-01T00:00:00Z')");
    await expect(db.owner.query(
      `insert into audit.log (occurred_at, tenant_id, actor_type, action, resource_type, entity_id, event)
       values ('2047-06-01', $1, 'root', 'update', 'process', 'x', 'process.updated')`, [l.tenantId])).rejects.toThrow(/actor_type_check/);
    const { rows } = await db.owner.query<{ type: string }>(
      "select format_type(atttypid, atttypmod) as type from pg_attribute where attrelid = 'audit.log'::regclass and attname = 'actor_type'");
    expect(rows[0]!.type).toBe("audit.actor_type");
  });

  it("app_user cannot set the maintenance switch to its advantage", async () => {
    const client = await db.app.connect();
    try {
      await client.query("begin");
      await client.query("set local audit.maintenance = 'on'");
      await expect(client.query("delete from audit.log")).rejects.toThrow(/permission denied/);
      await client.query("rollback");
    } finally {
      client.release();
    }
  });

  it("the documented maintenance path lets the owner erase a tenant's entries", async () => {
    const tenant = randomUUID();
    await asUser(db.app, l.adminId, (c) => c.query("insert into app.tenants (id, name) values ($1, 'Erased')", [tenant]));
    const client = await db.owner.connect();
    try {
      await client.query("begin");
      await client.query("set local audit.maintenance = 'on'");
      const { rowCount } = await client.query("delete from audit.log where tenant_id = $1", [tenant]);
      expect(rowCount).toBe(1);
      await client.query("commit");
    } finally {
      client.release();
    }
    // and the switch does not outlive the transaction
    await expect(db.owner.query("delete from audit.log where tenant_id = $1", [l.tenantId])).rejects.toThrow(/append-only/);
  });

  it("ids of audited rows cannot change", async () => {
    await expect(
      db.owner.query("update app.processes set id = gen_random_uuid() where id = $1", [l.processId]),
    ).rejects.toThrow(/cannot change/);
  });
});
