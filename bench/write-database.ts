// The databases the write sections run on: a copy of the migrated template
// per capture configuration, the variant's SQL applied, the business
// fixture loaded, and a row-level twin of the capture installed (disabled).
import { readFile } from "node:fs/promises";
import pg from "pg";
import type { Logger } from "../src/log.ts";
import { benchDir, cloneDatabase, type BenchServer } from "./server.ts";
import type { FixtureSize } from "./workload.ts";

/** The product's capture (statement triggers), its row-level twin, the floor trigger (bench/sql/floor-trigger.sql), or none. */
export type CaptureMode = "statement" | "row" | "floor" | "off";

export function fixtureSize(quick: boolean): FixtureSize {
  // processes and jobs are multiples of tenants * accounts (see write-fixtures.sql)
  return quick
    ? { tenants: 4, accounts: 8, users: 200, processes: 3_200, jobs: 12_800 }
    : { tenants: 8, accounts: 16, users: 1_000, processes: 64_000, jobs: 128_000 };
}

async function sqlFile(name: string, fill: Record<string, string | number> = {}): Promise<string> {
  let text = await readFile(`${benchDir}${name}`, "utf8");
  for (const [k, v] of Object.entries(fill)) text = text.replaceAll(`{{${k}}}`, String(v));
  const missing = /\{\{(\w+)\}\}/.exec(text);
  if (missing) throw new Error(`${name}: no value for {{${missing[1]}}}`);
  return text;
}

/** The name under which a peer of bench/peers/ runs as a capture configuration. */
export const peerVariant = (peer: string) => `peer:${peer}`;

/** The peer a capture configuration names ("peer:NAME"), or null for the product's own. */
export const peerOf = (variant: string): string | null => (variant.startsWith("peer:") ? variant.slice(5) : null);

/**
 * Applies a capture configuration: "migrated" (nothing), a file of
 * bench/variants/, several joined by "+", or "peer:NAME", a file of
 * bench/peers/ that replaces the product's capture triggers.
 */
export async function applyVariant(client: pg.ClientBase, variant: string): Promise<void> {
  if (variant === "migrated") return;
  const peer = peerOf(variant);
  if (peer !== null) {
    await client.query(await sqlFile("sql/peer-triggers.sql"));
    await client.query(await sqlFile(`peers/${peer}.sql`));
    return;
  }
  for (const part of variant.split("+")) await client.query(await sqlFile(`variants/${part}.sql`));
}

export async function variantSql(variant: string): Promise<string> {
  if (variant === "migrated") return "";
  return (await Promise.all(variant.split("+").map((part) => sqlFile(`variants/${part}.sql`)))).join("\n");
}

export interface WriteDatabase {
  name: string;
  variant: string;
  fixture: FixtureSize;
}

/** The business fixture of the single-row workload (bench/sql/write-fixtures.sql), loaded without firing triggers. */
export async function loadFixture(client: pg.ClientBase, fixture: FixtureSize): Promise<void> {
  await client.query(await sqlFile("sql/write-fixtures.sql", { ...fixture }));
  await client.query("vacuum analyze app.tenants, app.accounts, app.users, app.processes, app.jobs, app.settings, app.memberships");
}

export async function prepareWriteDatabase(
  server: BenchServer,
  template: string,
  variant: string,
  fixture: FixtureSize,
  logger: Logger,
): Promise<WriteDatabase> {
  const name = `audit_bench_w_${variant.replace(/[^a-z0-9]+/g, "_")}`;
  await cloneDatabase(server, template, name);
  const client = new pg.Client({ connectionString: server.url(name) });
  await client.connect();
  try {
    await applyVariant(client, variant);
    await loadFixture(client, fixture);
    await client.query(await sqlFile("sql/row-level-capture.sql"));
    // the floor is measured beside the product's capture, not beside a peer
    if (peerOf(variant) === null) await client.query(await sqlFile("sql/floor-trigger.sql"));
  } finally {
    await client.end();
  }
  logger.debug({ name, variant }, "write database ready");
  return { name, variant, fixture };
}

/** Switches the capture of every audited table: statement triggers (as installed), their row-level twin, the floor, or none. */
export async function setCaptureMode(owner: pg.ClientBase, mode: CaptureMode): Promise<void> {
  await owner.query(`
    do $$
    declare t record;
    begin
      for t in
        select c.oid::regclass as tbl, g.tgname, g.tgenabled <> 'D' as enabled
          from pg_trigger g join pg_class c on c.oid = g.tgrelid
         where c.relnamespace = 'app'::regnamespace
           and g.tgname ~ '^_90[012]_audit_(row_|floor_)?(insert|update|delete)$'
      loop
        if (t.tgname like '_900_%' and '${mode}' = 'statement') or (t.tgname like '_901_%' and '${mode}' = 'row')
           or (t.tgname like '_902_%' and '${mode}' = 'floor') then
          if not t.enabled then execute format('alter table %s enable trigger %I', t.tbl, t.tgname); end if;
        elsif t.enabled then
          execute format('alter table %s disable trigger %I', t.tbl, t.tgname);
        end if;
      end loop;
    end
    $$`);
}

/**
 * Puts the single-row workload back to its starting state, unaudited, then
 * vacuums, analyzes and checkpoints. The audit log is vacuumed and analyzed
 * too: otherwise autovacuum, reacting to the entries an audited run wrote,
 * fires at a random moment of a later run, often an unaudited one.
 */
export async function resetWorkload(owner: pg.ClientBase): Promise<void> {
  await owner.query("set session_replication_role = replica");
  try {
    await owner.query("update app.jobs set status = 'running', finished_at = null where status <> 'running'");
    await owner.query("delete from app.memberships");
  } finally {
    await owner.query("reset session_replication_role");
  }
  await owner.query("alter sequence bench.job_seq restart; alter sequence bench.membership_seq restart");
  await owner.query("vacuum (analyze) app.jobs, app.memberships, app.processes, app.settings, audit.log");
  await owner.query("checkpoint");
}

/** How many pool jobs the last run consumed (it must not exceed the pool). */
export async function jobsConsumed(owner: pg.ClientBase): Promise<number> {
  const { rows } = await owner.query<{ n: string }>("select case when is_called then last_value else 0 end as n from bench.job_seq");
  return Number(rows[0]!.n);
}

export async function walLsn(owner: pg.ClientBase): Promise<string> {
  return (await owner.query<{ lsn: string }>("select pg_current_wal_lsn()::text as lsn")).rows[0]!.lsn;
}

export async function walBytesSince(owner: pg.ClientBase, lsn: string): Promise<number> {
  const { rows } = await owner.query<{ d: string }>("select pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::bigint as d", [lsn]);
  return Number(rows[0]!.d);
}
