// Section 2: one statement inserting N processes and one updating the same N,
// as app_user with an actor context. Sides, rotated run by run:
//   statement  the capture as installed (statement-level, transition tables)
//   row        its row-level twin (bench/sql/row-level-capture.sql)
//   unaudited  capture triggers disabled, foreign keys on
//   floor      unaudited statement plus one direct INSERT ... SELECT of the
//              same audit rows (staged from a warm-up audited run) into
//              audit.log as the owner, in the same transaction
// Every run starts from the same state: no bulk rows, an empty audit.log,
// vacuumed, checkpointed.
import pg from "pg";
import type { Logger } from "../src/log.ts";
import type { BenchServer } from "./server.ts";
import { median, medianRatio, round } from "./stats.ts";
import { setCaptureMode, type CaptureMode, type WriteDatabase } from "./write-database.ts";

export type BulkSide = "statement" | "row" | "unaudited" | "floor";
const SIDES: BulkSide[] = ["statement", "unaudited", "floor", "row"];

export interface BulkOperationResult {
  /** Milliseconds per run, in run order, per side. */
  runsMs: Record<BulkSide, number[]>;
  medianMs: Record<BulkSide, number>;
  ratios: {
    auditedToFloor: number;
    auditedToUnaudited: number;
    rowToUnaudited: number;
    rowToStatement: number;
  };
}

export interface BulkResult {
  variant: string;
  rows: number;
  pairs: number;
  insert: BulkOperationResult;
  update: BulkOperationResult;
}

const BULK_ACCOUNT = "md5('bulk-account')::uuid";
const BULK_TENANT = "md5('tenant:0')::uuid";
const CONTEXT = "select audit.set_context(jsonb_build_object('actor_id', md5('user:0:1')::uuid, 'request_id', 'bulk-import', 'ip', '10.1.2.3'))";
const LOG_COLUMNS = "tenant_id, account_id, actor_type, actor_id, actor_email, actor_name, action, resource_type, entity_id, entity_label, event, old_values, new_values, context";

function insertSql(rows: number): string {
  return `insert into app.processes (tenant_id, account_id, name, description)
          select ${BULK_TENANT}, ${BULK_ACCOUNT}, 'Imported process ' || g, 'Imported from the legacy scheduler, batch entry ' || g
            from generate_series(1, ${rows}) g`;
}
const UPDATE_SQL = `update app.processes set description = description || ' (reviewed)'
                     where tenant_id = ${BULK_TENANT} and account_id = ${BULK_ACCOUNT}`;

async function clean(owner: pg.ClientBase): Promise<void> {
  await owner.query("set session_replication_role = replica");
  try {
    await owner.query(`delete from app.processes where account_id = ${BULK_ACCOUNT}`);
  } finally {
    await owner.query("reset session_replication_role");
  }
  await owner.query("begin; set local audit.maintenance = 'on'; truncate audit.log; commit");
  await owner.query("vacuum (analyze) app.processes");
  await owner.query("checkpoint");
}

/** One timed transaction as app_user (set role on the owner's connection); the floor adds its direct insert as the owner. */
async function timedStatement(owner: pg.ClientBase, sql: string, floorTable: string | null): Promise<number> {
  const t0 = performance.now();
  await owner.query("begin");
  try {
    await owner.query("set local role app_user");
    await owner.query(CONTEXT);
    await owner.query(sql);
    if (floorTable) {
      await owner.query("reset role");
      await owner.query(`insert into audit.log (${LOG_COLUMNS}) select ${LOG_COLUMNS} from ${floorTable}`);
    }
    await owner.query("commit");
  } catch (err) {
    await owner.query("rollback");
    throw err;
  }
  return performance.now() - t0;
}

function modeOf(side: BulkSide): CaptureMode {
  return side === "statement" ? "statement" : side === "row" ? "row" : "off";
}

function summarize(runs: Record<BulkSide, number[]>): BulkOperationResult {
  const medianMs = Object.fromEntries(SIDES.map((s) => [s, round(median(runs[s]), 1)])) as Record<BulkSide, number>;
  return {
    runsMs: runs,
    medianMs,
    ratios: {
      auditedToFloor: round(medianRatio(runs.statement, runs.floor), 3),
      auditedToUnaudited: round(medianRatio(runs.statement, runs.unaudited), 3),
      rowToUnaudited: round(medianRatio(runs.row, runs.unaudited), 3),
      rowToStatement: round(medianRatio(runs.row, runs.statement), 3),
    },
  };
}

export async function measureBulk(
  server: BenchServer,
  db: WriteDatabase,
  opts: { rows: number; pairs: number },
  logger: Logger,
): Promise<BulkResult> {
  const owner = new pg.Client({ connectionString: server.url(db.name) });
  await owner.connect();
  try {
    await owner.query(`insert into app.accounts (id, tenant_id, name) values (${BULK_ACCOUNT}, ${BULK_TENANT}, 'Bulk imports') on conflict do nothing`);

    // Prime this session as an application's would be: single-row audited
    // statements first, so that the capture's cached plans were made for
    // one-row transition tables when the bulk statements arrive.
    await setCaptureMode(owner, "statement");
    for (let i = 0; i < 8; i++) {
      await timedStatement(owner, `update app.processes set description = 'primed ${i}' where id = md5('process:${i}')::uuid`, null);
      await timedStatement(owner, `insert into app.processes (tenant_id, account_id, name) values (${BULK_TENANT}, ${BULK_ACCOUNT}, 'primer ${i}')`, null);
    }
    // Warm-up audited run; its audit rows become the floor's staged rows.
    await clean(owner);
    await timedStatement(owner, insertSql(opts.rows), null);
    await timedStatement(owner, UPDATE_SQL, null);
    await owner.query("drop table if exists bench.staged_insert, bench.staged_update");
    await owner.query(`create table bench.staged_insert as select ${LOG_COLUMNS} from audit.log where event = 'process.created' and account_id = ${BULK_ACCOUNT}`);
    await owner.query(`create table bench.staged_update as select ${LOG_COLUMNS} from audit.log where event = 'process.updated' and account_id = ${BULK_ACCOUNT}`);
    const staged = await owner.query<{ i: string; u: string }>("select (select count(*) from bench.staged_insert) as i, (select count(*) from bench.staged_update) as u");
    if (Number(staged.rows[0]!.i) !== opts.rows || Number(staged.rows[0]!.u) !== opts.rows) {
      throw new Error(`the audited warm-up wrote ${staged.rows[0]!.i} insert and ${staged.rows[0]!.u} update entries for ${opts.rows} rows`);
    }
    await owner.query("vacuum analyze bench.staged_insert, bench.staged_update");

    const insertRuns = Object.fromEntries(SIDES.map((s) => [s, [] as number[]])) as Record<BulkSide, number[]>;
    const updateRuns = Object.fromEntries(SIDES.map((s) => [s, [] as number[]])) as Record<BulkSide, number[]>;
    for (let pair = 0; pair < opts.pairs; pair++) {
      const order = SIDES.map((_, i) => SIDES[(i + pair) % SIDES.length]!);
      for (const side of order) {
        await setCaptureMode(owner, modeOf(side));
        await clean(owner);
        const ins = await timedStatement(owner, insertSql(opts.rows), side === "floor" ? "bench.staged_insert" : null);
        await owner.query("checkpoint");
        const upd = await timedStatement(owner, UPDATE_SQL, side === "floor" ? "bench.staged_update" : null);
        const written = Number((await owner.query<{ n: string }>("select count(*) as n from audit.log")).rows[0]!.n);
        const expected = side === "unaudited" ? 0 : 2 * opts.rows;
        if (written !== expected) throw new Error(`bulk ${side} run wrote ${written} audit entries, expected ${expected}`);
        insertRuns[side].push(round(ins, 1));
        updateRuns[side].push(round(upd, 1));
        logger.info({ variant: db.variant, pair: pair + 1, side, insertMs: round(ins, 1), updateMs: round(upd, 1) }, "bulk run");
      }
    }
    await setCaptureMode(owner, "statement");
    await clean(owner);
    return { variant: db.variant, rows: opts.rows, pairs: opts.pairs, insert: summarize(insertRuns), update: summarize(updateRuns) };
  } finally {
    await owner.end();
  }
}
