// Helpers of the rollup tests (migrations/current.sql: audit.tenant_rollups,
// audit.account_rollups, audit.refresh_rollups, audit.activity_counts): entries
// written straight into the log by the owner, activity_counts compared with a
// direct count of the log in one statement (one snapshot), and the rollup
// tables compared with what counting the log below the watermark gives.
import type pg from "pg";
import { until } from "../security/support/security.ts";

/** One entry written by the owner straight into audit.log. */
export interface RawEntry {
  occurred_at: string;
  tenant_id: string;
  account_id: string | null;
  actor_id: string | null;
  action: string;
  resource_type: string;
  event: string;
  entity_id?: string;
}

/** Inserts `entries` into audit.log on `c` (in its transaction, if any), as the owner. Returns their ids. */
export async function insertEntries(c: pg.ClientBase | pg.Pool, entries: RawEntry[]): Promise<string[]> {
  if (entries.length === 0) return [];
  const rows = entries.map((e, i) => ({
    ...e,
    actor_type: e.actor_id ? "user" : "system",
    entity_id: e.entity_id ?? `entity-${i}`,
  }));
  const { rows: ids } = await c.query<{ id: string }>(
    `insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_id, action, resource_type, entity_id, event)
     select x.occurred_at, x.tenant_id, x.account_id, x.actor_type, x.actor_id, x.action, x.resource_type, x.entity_id, x.event
       from jsonb_to_recordset($1::jsonb) as x(occurred_at timestamptz, tenant_id uuid, account_id uuid, actor_type text, actor_id uuid,
                                                action text, resource_type text, entity_id text, event text)
     returning id::text as id`,
    [JSON.stringify(rows)]);
  return ids.map((r) => r.id);
}

/** An activity_counts() call; null fields are left to the function's defaults (to_time null: open-ended). */
export interface CountQuery {
  from: string | null;
  to: string | null;
  bucket: string | null;
  tenantIds?: string[] | null;
  accountIds?: string[] | null;
  resourceTypes?: string[] | null;
  actions?: string[] | null;
  events?: string[] | null;
  actorIds?: string[] | null;
  byKind?: boolean;
}

/** Runs one statement (as some role, with some claims). */
export type Runner = <T extends pg.QueryResultRow>(sql: string, params: unknown[]) => Promise<pg.QueryResult<T>>;

export type CountRow = [period: string | null, resourceType: string | null, action: string | null, event: string | null, entries: string];

export function countParams(q: CountQuery): unknown[] {
  return [q.from, q.to, q.bucket, q.tenantIds ?? null, q.accountIds ?? null, q.resourceTypes ?? null, q.actions ?? null,
    q.events ?? null, q.actorIds ?? null, q.byKind ?? true];
}

export const CALL_ACTIVITY_COUNTS = `audit.activity_counts(from_time => $1::timestamptz, to_time => $2::timestamptz, bucket => $3::text,
    tenant_ids => $4::uuid[], account_ids => $5::uuid[], resource_types => $6::text[], actions => $7::text[], events => $8::text[],
    actor_ids => $9::uuid[], by_kind => $10::boolean)`;

/** What activity_counts() returns, in its order, as [period, resource_type, action, event, entries]. */
export async function activityCounts(run: Runner, q: CountQuery): Promise<CountRow[]> {
  const { rows } = await run<{ rows: CountRow[] }>(
    `select coalesce(json_agg(json_build_array(a.period_start, a.resource_type, a.action, a.event, a.entries::text) order by a.ord), '[]') as rows
       from ${CALL_ACTIVITY_COUNTS} with ordinality a(period_start, resource_type, action, event, entries, ord)`,
    countParams(q));
  return rows[0]!.rows;
}

/**
 * activity_counts() and the direct count of audit.log it must equal, in one
 * statement (one snapshot), as whoever `run` runs as.
 */
export async function countBoth(run: Runner, q: CountQuery): Promise<{ got: CountRow[]; want: CountRow[] }> {
  const { rows } = await run<{ got: CountRow[]; want: CountRow[] }>(
    `with got as (
       select coalesce(json_agg(json_build_array(a.period_start, a.resource_type, a.action, a.event, a.entries::text) order by a.ord), '[]') as rows
         from ${CALL_ACTIVITY_COUNTS} with ordinality a(period_start, resource_type, action, event, entries, ord)
     ), want as (
       select coalesce(json_agg(json_build_array(w.p, w.rt, w.ac, w.ev, w.n::text) order by w.p nulls first, w.rt, w.ac, w.ev), '[]') as rows
         from (select case when $3 = 'total' then null else date_trunc($3, l.occurred_at, 'UTC') end as p,
                      case when $10 then l.resource_type end as rt,
                      case when $10 then l.action end as ac,
                      case when $10 then l.event end as ev,
                      count(*) as n
                 from audit.log l
                where l.occurred_at >= $1 and ($2 is null or l.occurred_at < $2)
                  and ($4 is null or l.tenant_id = any($4))
                  and ($5 is null or l.account_id = any($5))
                  and ($6 is null or l.resource_type = any($6))
                  and ($7 is null or l.action = any($7))
                  and ($8 is null or l.event = any($8))
                  and ($9 is null or l.actor_id = any($9))
                group by 1, 2, 3, 4) w
     )
     select got.rows as got, want.rows as want from got, want`,
    countParams(q));
  return rows[0]!;
}

/** Sums the entries column of count rows. */
export function total(rows: CountRow[]): number {
  return rows.reduce((n, r) => n + Number(r[4]), 0);
}

export interface Position {
  watermark: bigint;
  recountDays: string[] | null;
}

export async function rollupPosition(c: pg.ClientBase | pg.Pool): Promise<Position> {
  const { rows } = await c.query<{ w: string; d: string[] | null }>(
    "select watermark::text as w, (select array_agg(to_char(x at time zone 'UTC', 'YYYY-MM-DD') order by x) from unnest(recount_days) x) as d from audit.rollup_position()");
  return { watermark: BigInt(rows[0]!.w), recountDays: rows[0]!.d };
}

/** One refresh_rollups() round; its result (null: another runner held the lock). */
export async function refresh(c: pg.ClientBase | pg.Pool, maxXids?: number): Promise<number | null> {
  const { rows } = maxXids === undefined
    ? await c.query<{ n: string | null }>("select audit.refresh_rollups()::text as n")
    : await c.query<{ n: string | null }>("select audit.refresh_rollups($1)::text as n", [maxXids]);
  return rows[0]!.n === null ? null : Number(rows[0]!.n);
}

/** Runs refresh_rollups() until the watermark has passed `xid` (within a deadline: the xmin horizon is cluster-wide). */
export async function refreshUntil(owner: pg.ClientBase | pg.Pool, xid: bigint): Promise<void> {
  await until(`the rollups to pass transaction ${xid}`, async () => {
    await refresh(owner);
    const { watermark } = await rollupPosition(owner);
    return watermark > xid ? true : undefined;
  });
}

/** The transaction id of the client's transaction. */
export async function xidOf(c: pg.ClientBase): Promise<bigint> {
  const { rows } = await c.query<{ xid: string }>("select txid_current()::text as xid");
  return BigInt(rows[0]!.xid);
}

export interface RollupTables {
  tenant: string[];
  account: string[];
}

const TENANT_ROWS = `select t.tenant_id || ' ' || t.period || ' ' || to_char(t.period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24') || ' ' || t.resource_type || ' ' || t.action || ' ' || t.event || ' ' || t.entries as r
                       from audit.tenant_rollups t order by 1`;
const ACCOUNT_ROWS = `select a.tenant_id || ' ' || a.account_id || ' ' || to_char(a.day at time zone 'UTC', 'YYYY-MM-DD') || ' ' || a.resource_type || ' ' || a.action || ' ' || a.event || ' ' || a.entries as r
                        from audit.account_rollups a order by 1`;

/** The rollup tables as sorted lines, in one snapshot (read as the owner, or whoever `c` is). */
export async function rollupTables(c: pg.ClientBase | pg.Pool): Promise<RollupTables> {
  const { rows } = await c.query<{ tenant: string[] | null; account: string[] | null }>(
    `select (select array_agg(r order by r) from (${TENANT_ROWS}) x) as tenant, (select array_agg(r order by r) from (${ACCOUNT_ROWS}) y) as account`);
  return { tenant: rows[0]!.tenant ?? [], account: rows[0]!.account ?? [] };
}

/**
 * In one snapshot: the rollup tables, and what they must hold: the log's
 * entries below the rollups' watermark, grouped per tenant and hour / day
 * (and per account and day), formatted alike.
 */
export async function rollupsAndLog(c: pg.ClientBase | pg.Pool): Promise<{ tables: RollupTables; expected: RollupTables; watermark: bigint; recountDays: string[] | null }> {
  const { rows } = await c.query<{ tenant: string[] | null; account: string[] | null; want_tenant: string[] | null; want_account: string[] | null; w: string; d: string[] | null }>(
    `with pos as (select * from audit.rollup_position()),
     below as (select l.* from audit.log l, pos where l.transaction_id < pos.watermark),
     want_tenant as (
       select g.tenant_id || ' ' || g.period || ' ' || to_char(g.period_start at time zone 'UTC', 'YYYY-MM-DD"T"HH24') || ' ' || g.resource_type || ' ' || g.action || ' ' || g.event || ' ' || g.entries as r
         from (select tenant_id, 'hour' as period, date_trunc('hour', occurred_at, 'UTC') as period_start, resource_type, action, event, count(*) as entries
                 from below group by 1, 2, 3, 4, 5, 6
               union all
               select tenant_id, 'day', date_trunc('day', occurred_at, 'UTC'), resource_type, action, event, count(*)
                 from below group by 1, 2, 3, 4, 5, 6) g
        order by 1),
     want_account as (
       select g.tenant_id || ' ' || g.account_id || ' ' || to_char(g.day at time zone 'UTC', 'YYYY-MM-DD') || ' ' || g.resource_type || ' ' || g.action || ' ' || g.event || ' ' || g.entries as r
         from (select tenant_id, account_id, date_trunc('day', occurred_at, 'UTC') as day, resource_type, action, event, count(*) as entries
                 from below where account_id is not null group by 1, 2, 3, 4, 5, 6) g
        order by 1)
     select (select array_agg(r order by r) from (${TENANT_ROWS}) x) as tenant, (select array_agg(r order by r) from (${ACCOUNT_ROWS}) y) as account,
            (select array_agg(r order by r) from want_tenant) as want_tenant, (select array_agg(r order by r) from want_account) as want_account,
            (select watermark::text from pos) as w,
            (select array_agg(to_char(x at time zone 'UTC', 'YYYY-MM-DD') order by x) from pos, unnest(pos.recount_days) x) as d`);
  const r = rows[0]!;
  return {
    tables: { tenant: r.tenant ?? [], account: r.account ?? [] },
    expected: { tenant: r.want_tenant ?? [], account: r.want_account ?? [] },
    watermark: BigInt(r.w),
    recountDays: r.d,
  };
}
