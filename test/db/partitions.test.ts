// Yearly partitions: created ahead, a write outside them lands in the
// default partition, and ensure_partitions moves it into its year.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asUser, createLandscape, type Landscape } from "../support/fixtures.ts";

let db: TestDatabase;
let l: Landscape;

beforeAll(async () => {
  db = await createTestDatabase();
  l = await createLandscape(db.app);
});
afterAll(async () => {
  await db?.drop();
});

async function partitions(): Promise<string[]> {
  const { rows } = await db.owner.query<{ name: string }>(
    `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = 'audit.log'::regclass order by 1`);
  return rows.map((r) => r.name);
}

/** The partition that holds an instant: one a year. */
function yearPartition(d: Date): string {
  return `log_${d.getUTCFullYear()}`;
}

describe("partitions", () => {
  it("has yearly partitions covering this month and the next three, plus the default", async () => {
    const now = new Date();
    const expected = [0, 1, 2, 3].map((k) => yearPartition(new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + k, 1))));
    const names = await partitions();
    for (const name of expected) expect(names).toContain(name);
    expect(names).toContain("log_default");
    // no monthly partitions left over from earlier versions on a fresh database
    expect(names.filter((n) => /^log_\d{4}_\d{2}$/.test(n))).toEqual([]);
    // an entry written now lands in this year's partition
    const { rows } = await db.owner.query("select tableoid::regclass::text as part from audit.log order by id desc limit 1");
    if (rows[0]) expect(rows[0].part).toBe(`audit.${yearPartition(now)}`);
  });

  it("each partition carries the planner's statistics on tenant and account, and on tenant and actor", async () => {
    await db.owner.query("select audit_private.create_log_partition('log_2045', '2045-01-01T00:00:00Z', '2046-01-01T00:00:00Z')");
    const { rows } = await db.owner.query<{ part: string; stats: string[] }>(
      `select c.relname as part, array(select s.stxname::text from pg_statistic_ext s where s.stxrelid = c.oid order by 1) as stats
         from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = 'audit.log'::regclass`);
    expect(rows.length).toBeGreaterThan(1);
    for (const r of rows) expect(r.stats, r.part).toEqual([`${r.part}_tenant_account_stats`, `${r.part}_tenant_actor_stats`]);
  });

  it("no partition keeps statistics on the JSON documents or the actor's snapshot, new ones included", async () => {
    await db.owner.query("select audit_private.create_log_partition('log_2046', '2046-01-01T00:00:00Z', '2047-01-01T00:00:00Z')");
    const { rows } = await db.owner.query<{ part: string; col: string; target: number | null }>(
      `select c.relname as part, a.attname as col, a.attstattarget as target
         from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_attribute a on a.attrelid = c.oid
        where i.inhparent = 'audit.log'::regclass and a.attnum > 0 and not a.attisdropped`);
    const skipped = ["actor_email", "actor_name", "context", "new_values", "old_values"];
    const parts = new Set(rows.map((r) => r.part));
    expect(parts).toContain("log_2046");
    for (const r of rows) {
      if (skipped.includes(r.col)) expect(r.target, `${r.part}.${r.col}`).toBe(0);
      else expect(r.target ?? -1, `${r.part}.${r.col}`).toBe(-1); // the default: what the plans use is analyzed
    }
    // ANALYZE of the partition holding this year's entries then stores nothing for them, and still the scope columns
    const current = yearPartition(new Date());
    await db.owner.query(`analyze audit.${current}`);
    const { rows: stats } = await db.owner.query<{ col: string }>(
      "select attname as col from pg_stats where schemaname = 'audit' and tablename = $1 order by 1", [current]);
    const analyzed = stats.map((s) => s.col);
    for (const col of skipped) expect(analyzed).not.toContain(col);
    for (const col of ["tenant_id", "account_id", "actor_id", "resource_type", "occurred_at"]) expect(analyzed).toContain(col);
  });

  it("is idempotent", async () => {
    const before = await partitions();
    const { rows } = await db.owner.query("select audit.ensure_partitions() as created");
    expect(rows[0].created).toBe(0);
    expect(await partitions()).toEqual(before);
  });

  it("a write dated outside the partitions lands in the default one and is moved into its year's partition", async () => {
    // A transaction's now() is its start: a clock far in the future is
    // simulated by writing in a transaction whose timestamp we pin.
    const client = await db.owner.connect();
    try {
      await client.query("begin");
      await client.query(
        `insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_name, action, resource_type, entity_id, event, new_values)
         values ('2031-05-17T12:00:00Z', $1, $2, 'system', 'importer', 'create', 'process', 'p-2031', 'process.created', '{"name": "Future"}')`,
        [l.tenantId, l.accountId]);
      await client.query("commit");
    } finally {
      client.release();
    }
    const inDefault = await db.owner.query("select count(*)::int as n from audit.log_default");
    expect(inDefault.rows[0].n).toBe(1);
    expect(await partitions()).not.toContain("log_2031");

    const { rows } = await db.owner.query("select audit.ensure_partitions() as created");
    expect(rows[0].created).toBe(1);
    expect(await partitions()).toContain("log_2031");
    expect((await db.owner.query("select count(*)::int as n from audit.log_default")).rows[0].n).toBe(0);
    const moved = await db.owner.query("select entity_id, new_values from audit.log_2031");
    expect(moved.rows).toEqual([{ entity_id: "p-2031", new_values: { name: "Future" } }]);
    // the moved partition is protected like the others
    await expect(db.owner.query("truncate audit.log_2031")).rejects.toThrow(/append-only/);
    await expect(db.owner.query("delete from audit.log_2031")).rejects.toThrow(/append-only/);
  });

  it("a year an earlier version partitioned by month keeps monthly partitions", async () => {
    // as 000001-000005 left them: a monthly partition of a year with entries
    await db.owner.query("select audit_private.create_log_partition('log_2040_03', '2040-03-01T00:00:00Z', '2040-04-01T00:00:00Z')");
    const client = await db.owner.connect();
    try {
      await client.query(
        `insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_name, action, resource_type, entity_id, event, new_values)
         values ('2040-07-04T09:00:00Z', $1, $2, 'system', 'importer', 'create', 'process', 'p-2040', 'process.created', '{}')`,
        [l.tenantId, l.accountId]);
    } finally {
      client.release();
    }
    const { rows } = await db.owner.query("select audit.ensure_partitions() as created");
    expect(rows[0].created).toBe(1);
    const names = await partitions();
    expect(names).toContain("log_2040_07");
    expect(names).not.toContain("log_2040");
    const moved = await db.owner.query("select tableoid::regclass::text as part from audit.log where entity_id = 'p-2040'");
    expect(moved.rows).toEqual([{ part: "audit.log_2040_07" }]);
  });

  it("business writes never fail for a missing partition", async () => {
    await db.owner.query("select audit.ensure_partitions(0)");
    await asUser(db.app, l.adminId, (c) => c.query("update app.processes set description = 'still fine' where id = $1", [l.processId]));
    const { rows } = await db.owner.query("select count(*)::int as n from audit.log where entity_id = $1 and event = 'process.updated'", [l.processId]);
    expect(rows[0].n).toBe(1);
  });

  it("refuses an unreasonable horizon", async () => {
    await expect(db.owner.query("select audit.ensure_partitions(-1)")).rejects.toThrow(/between 0 and 120/);
  });
});
