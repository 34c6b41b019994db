// Loads the demo into an empty database, the honest way: every entry is
// written by the capture triggers while the demo writes the business tables
// as app_user with audit.set_context, one transaction per action.
//
// Only the dates are arranged afterwards. A transaction's now() cannot lie
// in the past, so each transaction's entries get their planned date in one
// documented maintenance transaction of the owner (`set local
// audit.maintenance = 'on'`, the path the append-only trigger allows), and
// audit.ensure_partitions() then moves the backdated rows out of the default
// partition into their year's partition. The created_at values captured inside
// old/new values are aligned with those dates too. The business rows
// themselves keep the real created_at of the load.
import pg from "pg";
import type { Logger } from "../log.ts";
import { ACME, DEMO_TENANTS } from "./cast.ts";
import { lit } from "./sql-literal.ts";
import { writeTimeline, type DemoTransaction } from "./timeline.ts";

/** empty: no tenants and no entries; loaded: the demo is there; other: someone else's data. */
export type DemoState = "empty" | "loaded" | "other";

export async function demoState(ownerUrl: string): Promise<DemoState> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ demo: boolean; tenants: boolean; entries: boolean }>(
      `select exists (select from app.tenants where id = $1) as demo,
              exists (select from app.tenants) as tenants,
              exists (select from audit.log) as entries`,
      [ACME.id],
    );
    const r = rows[0]!;
    return r.demo ? "loaded" : r.tenants || r.entries ? "other" : "empty";
  } finally {
    await client.end();
  }
}

export interface DemoSummary {
  tenants: number;
  transactions: number;
  entries: number;
  oldest: Date;
  newest: Date;
  partitions: number;
  /** app_user normally; the owner itself when it may not switch to app_user. */
  writer: string;
  ms: number;
}

export interface LoadDemoOptions {
  /** The story ends just before this instant (default: now). */
  now?: Date;
  /** Transactions sent per round trip. */
  batchSize?: number;
}

function transactionSql(tx: DemoTransaction, asAppUser: boolean): string {
  const parts = ["begin"];
  if (asAppUser && !tx.asOwner) parts.push("set local role app_user");
  for (const step of tx.steps) {
    parts.push(`select audit.set_context(${lit({ json: { ...step.actor, ...step.context } })})`);
    parts.push(...step.sql);
  }
  parts.push("select txid_current()::text as demo_txid", "commit");
  return parts.join(";\n") + ";\n";
}

async function canActAsAppUser(client: pg.Client): Promise<boolean> {
  try {
    await client.query("begin; set local role app_user; rollback");
    return true;
  } catch {
    await client.query("rollback").catch(() => undefined);
    return false;
  }
}

export async function loadDemo(ownerUrl: string, logger: Logger, options: LoadDemoOptions = {}): Promise<DemoSummary> {
  const log = logger.child({ component: "demo" });
  const started = Date.now();
  const timeline = writeTimeline(DEMO_TENANTS, options.now ?? new Date());
  const batchSize = options.batchSize ?? 40;
  const client = new pg.Client({ connectionString: ownerUrl, application_name: "audit-trail-demo" });
  await client.connect();
  try {
    const asAppUser = await canActAsAppUser(client);
    if (!asAppUser) log.warn("the owner may not SET ROLE app_user; writing the demo as the owner (the triggers record it the same way)");
    const { rows: who } = await client.query<{ writer: string }>(asAppUser ? "select 'app_user' as writer" : "select current_user::text as writer");

    // 1. The writes, in order, so that ids grow with the planned dates.
    const txids: string[] = [];
    const dates: string[] = [];
    for (let i = 0; i < timeline.length; i += batchSize) {
      const batch = timeline.slice(i, i + batchSize);
      let results: pg.QueryResult | pg.QueryResult[];
      try {
        results = await (client.query(batch.map((tx) => transactionSql(tx, asAppUser)).join("")) as Promise<pg.QueryResult | pg.QueryResult[]>);
      } catch (err) {
        await client.query("rollback").catch(() => undefined);
        throw new Error(`loading the demo failed near transaction ${i + 1} of ${timeline.length}: ${(err as Error).message}`, { cause: err });
      }
      const found = (Array.isArray(results) ? results : [results]).flatMap((r) =>
        r.fields?.[0]?.name === "demo_txid" ? [String(r.rows[0].demo_txid)] : [],
      );
      if (found.length !== batch.length) throw new Error(`demo: expected ${batch.length} transaction ids, got ${found.length}`);
      txids.push(...found);
      dates.push(...batch.map((tx) => tx.at.toISOString()));
    }

    // 2. The planned dates, in one maintenance transaction.
    const tenantIds = DEMO_TENANTS.map((t) => t.id);
    await client.query("begin");
    try {
      await client.query("set local audit.maintenance = 'on'");
      // journaled (audit.maintenance_journal) under this reason, like any maintenance
      await client.query("set local audit.maintenance_reason = 'demo: the planned dates of the demo story'");
      const moved = await client.query(
        `update audit.log l set occurred_at = p.at
           from unnest($1::bigint[], $2::timestamptz[]) as p(txid, at)
          where l.transaction_id = p.txid and l.tenant_id = any($3::uuid[])`,
        [txids, dates, tenantIds],
      );
      // Captured created_at values: inserts were created when they occurred; deleted rows when their creation occurred.
      await client.query(
        `update audit.log l set new_values = jsonb_set(l.new_values, '{created_at}', to_jsonb(l.occurred_at))
          where l.tenant_id = any($1::uuid[]) and l.old_values is null and l.new_values ? 'created_at'`,
        [tenantIds],
      );
      await client.query(
        `update audit.log l set old_values = jsonb_set(l.old_values, '{created_at}', to_jsonb(c.occurred_at))
           from audit.log c
          where l.tenant_id = any($1::uuid[]) and l.new_values is null and l.old_values ? 'created_at'
            and c.tenant_id = l.tenant_id and c.resource_type = l.resource_type and c.entity_id = l.entity_id
            and c.old_values is null`,
        [tenantIds],
      );
      await client.query("commit");
      log.debug({ entries: moved.rowCount }, "demo entries dated");
    } catch (err) {
      await client.query("rollback").catch(() => undefined);
      throw err;
    }

    // 3. Partitions for the past years (moves rows out of the default partition).
    const { rows: parts } = await client.query<{ created: number }>("select audit.ensure_partitions() as created");
    const { rows: stats } = await client.query<{ entries: string; oldest: Date; newest: Date; in_default: string }>(
      `select count(*)::text as entries, min(occurred_at) as oldest, max(occurred_at) as newest,
              (select count(*) from audit.log_default)::text as in_default
         from audit.log where tenant_id = any($1::uuid[])`,
      [tenantIds],
    );
    const s = stats[0]!;
    if (s.in_default !== "0") log.warn({ rows: s.in_default }, "demo: rows left in the default partition");
    const summary: DemoSummary = {
      tenants: DEMO_TENANTS.length,
      transactions: timeline.length,
      entries: Number(s.entries),
      oldest: s.oldest,
      newest: s.newest,
      partitions: parts[0]?.created ?? 0,
      writer: who[0]!.writer,
      ms: Date.now() - started,
    };
    log.info(summary, "demo data loaded");
    return summary;
  } finally {
    await client.end();
  }
}
