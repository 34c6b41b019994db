// migrations/tracking.sql is the one place that says what gets logged. The
// migrate path applies it after every migration; these tests check that the
// database matches it, that applying it again changes nothing (and so locks
// no business table), and that an edit to it reaches the compiled capture.
import { readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { applyTrackingConfiguration, TRACKING_FILE } from "../../src/db/migrate.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asUser, createLandscape, entriesAfter, lastEntryId, type Landscape } from "../support/fixtures.ts";

let db: TestDatabase;
let l: Landscape;
let file: string;

beforeAll(async () => {
  db = await createTestDatabase();
  l = await createLandscape(db.app);
  file = await readFile(TRACKING_FILE, "utf8");
});
afterAll(async () => {
  await db?.drop();
});

/** Row versions and object ids of everything applying the file could change. */
async function fingerprint(): Promise<string> {
  const { rows } = await db.owner.query<{ f: string }>(`
    select string_agg(x, ',' order by x) as f from (
      select 'proc ' || p.oid || ' ' || p.xmin::text as x from pg_proc p where p.pronamespace = 'audit_private'::regnamespace
      union all select 'trigger ' || t.oid || ' ' || t.xmin::text from pg_trigger t where t.tgrelid::regclass::text like 'app.%'
      union all select 'table ' || t.table_name::text || ' ' || t.xmin::text from audit.tracked_tables t
      union all select 'rule ' || r.table_name::text || r.position || ' ' || r.xmin::text from audit.event_rules r
      union all select 'event ' || e.event || ' ' || e.xmin::text from audit.events e
      union all select 'statement ' || s.table_name::text || s.operation || ' ' || s.xmin::text from audit_private.capture_statements s
    ) s`);
  return rows[0]!.f;
}

describe("migrations/tracking.sql", () => {
  it("names exactly the tables and events the database tracks", async () => {
    const declaredTables = [...file.matchAll(/audit\.track_table\('([a-z_.]+)'/g)].map((m) => m[1]).sort();
    const declaredEvents = [...file.matchAll(/^\s*\('([a-z_]+\.[a-z_]+)', '([a-z_]+)', '([a-z_]+)', '((?:[^']|'')+)', '([a-z]+)'\)/gm)]
      .map((m) => [m[1], m[2], m[3], m[4]!.replace(/''/g, "'"), m[5]]).sort();
    const tables = await db.owner.query<{ t: string }>("select table_name::text as t from audit.tracked_tables order by 1");
    const events = await db.owner.query<{ event: string; action: string; resource_type: string; description: string; kind: string }>(
      "select event, action, resource_type, description, kind from audit.events order by event");
    expect(tables.rows.map((r) => r.t)).toEqual(declaredTables);
    expect(events.rows.map((e) => [e.event, e.action, e.resource_type, e.description, e.kind])).toEqual(declaredEvents);
  });

  it("every compiled capture is what the builder makes of the configuration", async () => {
    const { rows } = await db.owner.query<{ fn: string; current: boolean }>(`
      select s.table_name::text || ' ' || s.operation as fn,
             p.prosrc = audit_private.capture_function_body(s.table_name, s.operation, audit_private.build_capture_statement(s.table_name, s.operation))
             and s.statement = audit_private.build_capture_statement(s.table_name, s.operation) as current
        from audit_private.capture_statements s
        join pg_proc p on p.proname = audit_private.capture_function_name(s.table_name, s.operation)
                      and p.pronamespace = 'audit_private'::regnamespace`);
    expect(rows.length).toBeGreaterThanOrEqual(11);
    expect(rows.filter((r) => !r.current)).toEqual([]);
  });

  it("applied again, changes nothing: no function, trigger or row is rewritten", async () => {
    const before = await fingerprint();
    await applyTrackingConfiguration(db.ownerUrl);
    expect(await fingerprint()).toBe(before);
  });

  it("applied again, takes no lock on a business table", async () => {
    // A transaction holding a lock that conflicts with any DDL on app.jobs.
    const holder = await db.owner.connect();
    try {
      await holder.query("begin");
      await holder.query("lock table app.jobs in row exclusive mode");
      const applied = applyTrackingConfiguration(db.ownerUrl.replace(/\?.*$/, "") + "?options=-c%20lock_timeout%3D2000");
      await expect(applied).resolves.toBeUndefined();
    } finally {
      await holder.query("rollback");
      holder.release();
    }
  });

  it("an edit reaches the compiled capture, and reverting it restores the original", async () => {
    const original = (await db.owner.query<{ src: string }>("select prosrc as src from pg_proc where proname = 'capture_app_jobs_update'")).rows[0]!.src;
    const edited = file.replace(
      `{"on": "update", "when": "new.status in (''completed'', ''failed'', ''cancelled'') and old.status not in (''completed'', ''failed'', ''cancelled'')", "event": "job.completed"}`,
      `{"on": "update", "when": "new.status = ''failed'' and old.status <> ''failed''", "event": "job.completed"}`);
    expect(edited).not.toBe(file);
    const scratch = path.join(tmpdir(), `tracking-${process.pid}-${Date.now()}.sql`);
    await writeFile(scratch, edited);
    try {
      await applyTrackingConfiguration(db.ownerUrl, scratch);
      const { rows } = await db.owner.query<{ src: string }>("select prosrc as src from pg_proc where proname = 'capture_app_jobs_update'");
      expect(rows[0]!.src).toContain("when (new.status = 'failed' and old.status <> 'failed') then 'job.completed'");

      const { rows: jobs } = await db.app.query<{ id: string }>(
        "insert into app.jobs (tenant_id, account_id, process_id, status) values ($1, $2, $3, 'running') returning id",
        [l.tenantId, l.accountId, l.processId]);
      const mark = await lastEntryId(db.owner);
      await asUser(db.app, l.adminId, (c) => c.query("update app.jobs set status = 'completed' where id = $1", [jobs[0]!.id]));
      expect(await entriesAfter(db.owner, mark)).toEqual([]); // completed is no longer recorded
    } finally {
      await applyTrackingConfiguration(db.ownerUrl);
      await rm(scratch, { force: true });
    }
    const { rows } = await db.owner.query<{ src: string }>("select prosrc as src from pg_proc where proname = 'capture_app_jobs_update'");
    expect(rows[0]!.src).toBe(original);
  });

  it("a file that does not apply is refused whole, naming the file", async () => {
    const before = await fingerprint();
    const scratch = path.join(tmpdir(), `tracking-bad-${process.pid}-${Date.now()}.sql`);
    await writeFile(scratch, file.replace(`'job.completed', 'complete', 'job', 'Job completed'`, `'job.completed', 'complete', 'job', 'Job done'`)
      + "\nselect audit.track_table('app.jobs', 'job', '[{\"on\": \"update\", \"when\": \"new.no_such_column\", \"event\": \"job.completed\"}]');\n");
    try {
      await expect(applyTrackingConfiguration(db.ownerUrl, scratch)).rejects.toThrow(/could not be applied: audit\.track_table: an update rule of app\.jobs is not valid/);
    } finally {
      await rm(scratch, { force: true });
    }
    expect(await fingerprint()).toBe(before);
  });
});
