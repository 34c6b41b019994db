// The committed schema snapshot (db/schema/*.sql) is what the migrations
// produce: a schema change that was not regenerated fails here, with the
// command that regenerates it. Compared on the embedded server's major
// version only: catalog output differs between versions.
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EMBEDDED_PG_MAJOR } from "../../src/db/embedded.ts";
import { compareSnapshot, describeDifferences, DUMP_COMMAND, SCHEMA_DIR, writeSnapshot } from "../../src/db/schema-files.ts";
import { SECTIONS } from "../../src/db/schema-sections.ts";
import { takeSnapshot } from "../../src/db/schema-snapshot.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

let db: TestDatabase;
let serverMajor = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  const { rows } = await db.owner.query<{ major: number }>("select current_setting('server_version_num')::int / 10000 as major");
  serverMajor = rows[0]!.major;
});
afterAll(async () => {
  await db?.drop();
});

describe("the committed schema snapshot", () => {
  it("matches what the migrations produce", async (t) => {
    if (serverMajor !== EMBEDDED_PG_MAJOR) {
      t.skip(`the snapshot is generated on PostgreSQL ${EMBEDDED_PG_MAJOR} (embedded); this server is ${serverMajor}`);
    }
    const client = await db.owner.connect();
    try {
      const differences = await compareSnapshot(await takeSnapshot(client));
      expect(differences, differences.length ? describeDifferences(differences) : "").toEqual([]);
    } finally {
      client.release();
    }
  });

  it("has one file per concern, and nothing else", async () => {
    const files = (await readdir(SCHEMA_DIR)).filter((f) => f.endsWith(".sql")).sort();
    expect(files).toEqual(SECTIONS.map((s) => s.file).sort());
  });

  it("fails on a change that was not regenerated, naming the file and the command, and passes once regenerated", async () => {
    const scratch = await mkdtemp(path.join(tmpdir(), "audit-trail-schema-test-"));
    const client = await db.owner.connect();
    try {
      await writeSnapshot(await takeSnapshot(client), scratch);
      expect(await compareSnapshot(await takeSnapshot(client), scratch)).toEqual([]);

      await client.query("begin");
      await client.query("comment on table app.jobs is 'A run of a process (changed without regenerating).'");
      const stale = await compareSnapshot(await takeSnapshot(client), scratch);
      expect(stale.map((d) => [d.file, d.problem])).toEqual([["app.sql", "stale"]]);
      expect(stale[0]!.generated).toContain("changed without regenerating");
      expect(describeDifferences(stale)).toContain(DUMP_COMMAND);

      await writeSnapshot(await takeSnapshot(client), scratch);
      expect(await compareSnapshot(await takeSnapshot(client), scratch)).toEqual([]);
      await client.query("rollback");
    } finally {
      client.release();
      await rm(scratch, { recursive: true, force: true });
    }
  });

  it("refuses an object that has no file, so that new SQL is placed on purpose", async () => {
    const client = await db.owner.connect();
    try {
      await client.query("begin");
      await client.query("create function audit.unplaced() returns integer language sql immutable as 'select 1'");
      await expect(takeSnapshot(client)).rejects.toThrow(/no file for function audit\.unplaced.*src\/db\/schema-sections\.ts/);
      await client.query("rollback");
    } finally {
      client.release();
    }
  });

  it("leads `git grep job.completed` from the rule to the SQL it compiles to", async () => {
    const { readFile } = await import("node:fs/promises");
    const compiled = await readFile(path.join(SCHEMA_DIR, "audit-capture-compiled.sql"), "utf8");
    const jobsUpdate = compiled.slice(compiled.indexOf("function audit_private.capture_app_jobs_update()"));
    expect(jobsUpdate.slice(0, jobsUpdate.indexOf("$function$;"))).toMatch(/then 'job\.completed'/);
  });
});
