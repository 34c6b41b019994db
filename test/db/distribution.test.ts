// What docs/architecture.md claims about distributing the log by tenant
// (Citus), checked against the catalog rather than left to prose.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/**
 * Indexes of audit.log that may lead with another column: each one a declared,
 * measured exception to the tenant-first rule.
 * - log_transaction_id_idx: the consumers of the log in commit order
 *   (detectors, seals, streams, rollups) and the charts' live part read every
 *   tenant's newest entries by transaction id (a btree since migration 000020,
 *   a BRIN index before it; what each costs a write: bench writes,bulk against
 *   bench/variants/, figures in bench/results-writes-000014.md and
 *   bench/results-writes-000020.md), and a distributed log keeps one per shard.
 */
const NOT_TENANT_LED: string[] = ["log_transaction_id_idx"];

describe("distribution by tenant", () => {
  it("every index of audit.log leads with tenant_id, and every unique one contains it", async () => {
    const { rows } = await db.owner.query<{ name: string; first: string; is_unique: boolean; columns: string[] }>(`
      select c.relname as name, a.attname as first, i.indisunique as is_unique,
             array(select att.attname::text from unnest(i.indkey) k join pg_attribute att on att.attrelid = i.indrelid and att.attnum = k) as columns
        from pg_index i join pg_class c on c.oid = i.indexrelid
        join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
       where i.indrelid = 'audit.log'::regclass`);
    expect(rows.length).toBeGreaterThanOrEqual(7);
    const offenders = rows.filter((r) => r.first !== "tenant_id" && !NOT_TENANT_LED.includes(r.name));
    expect(offenders.map((r) => r.name)).toEqual([]);
    expect(rows.filter((r) => r.is_unique && !r.columns.includes("tenant_id")).map((r) => r.name)).toEqual([]);
  });

  it("every primary key and unique index of a tenant-scoped table outside app contains tenant_id", async () => {
    // Tables of the audit schemas with a tenant_id column: the log today, and
    // whatever tenant-scoped table comes next (alerts, seals, streams ...).
    const { rows } = await db.owner.query<{ tbl: string; idx: string }>(`
      select i.indrelid::regclass::text as tbl, i.indexrelid::regclass::text as idx
        from pg_index i join pg_class t on t.oid = i.indrelid
       where t.relnamespace in ('audit'::regnamespace, 'audit_private'::regnamespace)
         and t.relkind in ('r', 'p') and not t.relispartition
         and exists (select from pg_attribute a where a.attrelid = t.oid and a.attname = 'tenant_id' and not a.attisdropped)
         and i.indisunique
         and not exists (select from unnest(i.indkey) k join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k
                          where a.attname = 'tenant_id')`);
    expect(rows).toEqual([]);
  });

  it("every business table carries its tenant (the distribution column), and their keys are (id) today", async () => {
    const { rows } = await db.owner.query<{ tbl: string; has_tenant: boolean; pkey: string[] }>(`
      select t.oid::regclass::text as tbl,
             exists (select from pg_attribute a where a.attrelid = t.oid and a.attname = 'tenant_id' and not a.attisdropped) as has_tenant,
             array(select a.attname::text from pg_index i cross join unnest(i.indkey) k
                     join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k
                    where i.indrelid = t.oid and i.indisprimary) as pkey
        from pg_class t where t.relnamespace = 'app'::regnamespace and t.relkind = 'r' order by 1`);
    expect(rows.length).toBe(11);
    // app.tenants is the tenant: its id is the distribution value.
    expect(rows.filter((r) => !r.has_tenant).map((r) => r.tbl)).toEqual(["app.tenants"]);
    // docs/architecture.md says what distributing them would change: these
    // keys would become (tenant_id, id).
    expect(rows.filter((r) => r.pkey.join(",") !== "id").map((r) => r.tbl)).toEqual([]);
  });
});
