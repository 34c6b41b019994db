--! Previous: sha1:aec9d1731214f88e0591b0f17d3ccaf06407522a
--! Hash: sha1:3debcb6ad6190aef1d232bbce2d225755dada138
--! Message: Rollups: per-tenant hour and day and per-account day counts kept by the log consumer 'rollups' (journaled maintenance recounted), audit.activity_counts from the rollups and the log in one snapshot, audit.rebuild_rollups

-- Rollups: counts of the log per tenant (and account), UTC day and hour,
-- resource type, action and event, kept by a consumer of the log in commit
-- order ('rollups', the mechanism of log-consumers.sql), off the write path.
-- audit.activity_counts() answers a chart or a count from them for whole
-- periods below the consumer's watermark and counts the rest live from the
-- log, in one snapshot: always exactly what counting the log gives.
--
-- Why two tables: a tenant's chart sums a few hundred rows a month at the
-- tenant's grain (22 events a day for the largest bench tenant), where the
-- per-account grain holds ~20 times as many (41 accounts). Hours are kept at
-- the tenant's grain only: they serve the partial days at a range's edges and
-- the hourly charts; an account's day (tens of entries) is counted live.

-- 1. The maintenance journal remembers when a changed entry occurred, so that
-- the consumer recounts its day (the entry itself may be gone).
alter table audit.maintenance_journal add column if not exists entry_occurred_at timestamptz;
alter table audit.maintenance_journal add column if not exists new_occurred_at timestamptz;
comment on column audit.maintenance_journal.entry_occurred_at is 'The changed entry''s occurred_at before the change (null in rows journaled before migration 000018): the rollups recount its UTC day.';
comment on column audit.maintenance_journal.new_occurred_at is 'The entry''s occurred_at after an update that changed it.';

create or replace function audit_private.refuse_log_change()
 returns trigger
 language plpgsql
as $function$
declare
  changed text[];
begin
  if audit_private.in_maintenance() then
    -- A move between partitions (create_log_partition, attach_staged_partitions)
    -- keeps every value: nothing to journal.
    if coalesce(current_setting('audit.moving_partitions', true), '') = 'on' then
      return case tg_op when 'DELETE' then old else new end;
    end if;
    if tg_op = 'UPDATE' then
      select array_agg(n.key order by n.key) into changed
        from jsonb_each(to_jsonb(new)) n
       where n.value is distinct from to_jsonb(old) -> n.key;
      if changed is not null then
        insert into audit.maintenance_journal (tenant_id, entry_id, entry_transaction_id, new_tenant_id, new_transaction_id,
                                               operation, changed_columns, reason, entry_occurred_at, new_occurred_at)
        values (old.tenant_id, old.id, old.transaction_id,
                nullif(new.tenant_id, old.tenant_id), nullif(new.transaction_id, old.transaction_id),
                'update', changed, audit_private.maintenance_reason(),
                old.occurred_at, nullif(new.occurred_at, old.occurred_at));
        -- An update that moves the entry to another partition is also a
        -- delete there (PostgreSQL fires its BEFORE DELETE triggers): one row.
        perform set_config('audit.journaled_entry', old.id::text, true);
      end if;
      return new;
    end if;
    if current_setting('audit.journaled_entry', true) = old.id::text then
      perform set_config('audit.journaled_entry', '', true);
    else
      insert into audit.maintenance_journal (tenant_id, entry_id, entry_transaction_id, operation, reason, entry_occurred_at)
      values (old.tenant_id, old.id, old.transaction_id, 'delete', audit_private.maintenance_reason(), old.occurred_at);
    end if;
    return old;
  end if;
  raise exception 'audit.log is append-only: % of audit entries is not allowed', tg_op
    using errcode = '42501',
          hint = 'Maintenance (e.g. erasing a deleted tenant) runs as the owner with: set local audit.maintenance = ''on'' and set local audit.maintenance_reason = ''why''';
end
$function$;
comment on function audit_private.refuse_log_change() is 'Keeps audit.log append-only; in the owner''s maintenance, journals each changed or deleted entry in audit.maintenance_journal (moves between partitions aside), with when it occurred (before and after) so that the rollups recount its day.';

-- 2. The rollups.
create table if not exists audit.tenant_rollups (
  tenant_id uuid not null,
  period text not null,
  period_start timestamptz not null,
  resource_type text not null,
  action text not null,
  event text not null,
  entries bigint not null,
  constraint tenant_rollups_pkey primary key (tenant_id, period, period_start, resource_type, action, event),
  constraint tenant_rollups_period_check check (period in ('day', 'hour')),
  constraint tenant_rollups_entries_check check (entries > 0)
);
comment on table audit.tenant_rollups is 'How many entries of audit.log each tenant has per UTC day and per UTC hour, resource type, action and event: every entry committed below the rollups consumer''s watermark (audit.log_consumers(), consumer ''rollups''), counted once, with the owner''s journaled maintenance applied. Kept by audit.refresh_rollups(); read through audit.activity_counts(), which counts what is newer live.';
comment on column audit.tenant_rollups.period is 'day or hour: the length of the period the row counts.';
comment on column audit.tenant_rollups.period_start is 'The start of the UTC day or hour.';
comment on column audit.tenant_rollups.entries is 'How many entries of the tenant occurred in the period with this resource type, action and event.';

create table if not exists audit.account_rollups (
  tenant_id uuid not null,
  account_id uuid not null,
  day timestamptz not null,
  resource_type text not null,
  action text not null,
  event text not null,
  entries bigint not null,
  constraint account_rollups_pkey primary key (tenant_id, account_id, day, resource_type, action, event),
  constraint account_rollups_entries_check check (entries > 0)
);
comment on table audit.account_rollups is 'How many entries of audit.log each account has per UTC day, resource type, action and event (entries without an account are in audit.tenant_rollups only). Kept with audit.tenant_rollups by the same consumer.';
comment on column audit.account_rollups.day is 'The start of the UTC day.';
comment on column audit.account_rollups.entries is 'How many entries of the account occurred that day with this resource type, action and event.';

-- Every round updates the current hour's and day's rows: room on their pages
-- for the new versions keeps those updates HOT (no index entry per update).
alter table audit.tenant_rollups set (fillfactor = 70);
alter table audit.account_rollups set (fillfactor = 70);

-- Row-level security as on audit.log: a tenant admin reads the tenant's rows,
-- an account admin only the account's (and no tenant-wide row), DBAs all.
alter table audit.tenant_rollups enable row level security;
alter table audit.tenant_rollups force row level security;
alter table audit.account_rollups enable row level security;
alter table audit.account_rollups force row level security;
drop policy if exists tenant_rollups_owner_all on audit.tenant_rollups;
create policy tenant_rollups_owner_all on audit.tenant_rollups for all to current_user using (true) with check (true);
drop policy if exists tenant_rollups_reader_select on audit.tenant_rollups;
create policy tenant_rollups_reader_select on audit.tenant_rollups for select to audit_reader using (true);
drop policy if exists tenant_rollups_tenant_admin_select on audit.tenant_rollups;
create policy tenant_rollups_tenant_admin_select on audit.tenant_rollups for select to audit_tenant_admin
  using (tenant_id = audit.scoped_tenant_id('tenant_admin'));
drop policy if exists account_rollups_owner_all on audit.account_rollups;
create policy account_rollups_owner_all on audit.account_rollups for all to current_user using (true) with check (true);
drop policy if exists account_rollups_reader_select on audit.account_rollups;
create policy account_rollups_reader_select on audit.account_rollups for select to audit_reader using (true);
drop policy if exists account_rollups_tenant_admin_select on audit.account_rollups;
create policy account_rollups_tenant_admin_select on audit.account_rollups for select to audit_tenant_admin
  using (tenant_id = audit.scoped_tenant_id('tenant_admin'));
drop policy if exists account_rollups_account_admin_select on audit.account_rollups;
create policy account_rollups_account_admin_select on audit.account_rollups for select to audit_account_admin
  using (tenant_id = audit.scoped_tenant_id('account_admin') and account_id = audit.current_account_id());
grant select on audit.tenant_rollups to audit_reader, audit_viewer;
grant select on audit.account_rollups to audit_reader, audit_viewer;

-- The consumer starts at transaction 0: its first rounds count the log as it
-- stands (an upgraded database's whole history, in rounds of max_xids), and
-- audit.activity_counts() counts live whatever is above the watermark
-- meanwhile: exact from the start, fast once caught up.
insert into audit_private.log_consumers (consumer, watermark) values ('rollups', 0)
on conflict on constraint log_consumers_pkey do nothing;

-- 3. Counting: one function for a round's new entries and for recounting
-- whole days, so that both group exactly alike.
create or replace function audit_private.stage_rollup_counts(from_xid bigint, to_xid bigint)
 returns bigint
 language plpgsql
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  counted bigint := 0;
begin
  -- pg_temp.rollup_recount holds the (tenant, day) pairs to recount whole
  -- (their rows are deleted by the caller); pg_temp.rollup_counts receives
  -- counts per tenant, account, hour, resource type, action and event.
  if not exists (select from pg_temp.rollup_recount) then
    -- (the usual round: nothing to recount)
    insert into pg_temp.rollup_counts
    select l.tenant_id, l.account_id, date_trunc('hour', l.occurred_at, 'UTC'), l.resource_type, l.action, l.event, count(*)
      from audit.log l
     where l.transaction_id >= from_xid and l.transaction_id < to_xid
     group by 1, 2, 3, 4, 5, 6;
    select coalesce(sum(c.entries), 0) into counted from pg_temp.rollup_counts c;
    return counted;
  end if;
  analyze pg_temp.rollup_recount;
  -- The round's entries, except those of days recounted whole (counted there).
  insert into pg_temp.rollup_counts
  select l.tenant_id, l.account_id, date_trunc('hour', l.occurred_at, 'UTC'), l.resource_type, l.action, l.event, count(*)
    from audit.log l
   where l.transaction_id >= from_xid and l.transaction_id < to_xid
     and not exists (select from pg_temp.rollup_recount c
                      where c.tenant_id = l.tenant_id and c.day = date_trunc('day', l.occurred_at, 'UTC'))
   group by 1, 2, 3, 4, 5, 6;
  select coalesce(sum(c.entries), 0) into counted from pg_temp.rollup_counts c;
  -- Days recounted whole: every entry of the day below to_xid.
  insert into pg_temp.rollup_counts
  select l.tenant_id, l.account_id, date_trunc('hour', l.occurred_at, 'UTC'), l.resource_type, l.action, l.event, count(*)
    from pg_temp.rollup_recount c
    join audit.log l on l.tenant_id = c.tenant_id and l.occurred_at >= c.day and l.occurred_at < c.day + interval '24 hours'
   where l.transaction_id < to_xid
   group by 1, 2, 3, 4, 5, 6;
  return counted;
end
$function$;
comment on function audit_private.stage_rollup_counts(from_xid bigint, to_xid bigint) is 'Part of a rollup round: counts into pg_temp.rollup_counts the entries with transaction_id in [from_xid, to_xid) outside the days of pg_temp.rollup_recount, and every entry below to_xid of those days; returns how many entries of the first kind it counted.';

create or replace function audit_private.apply_rollup_counts()
 returns void
 language plpgsql
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
begin
  -- Days recounted whole lose their rows first (both grains, both tables).
  -- Most rounds recount nothing: then nothing is planned against the rollups
  -- (a join with the unanalyzed temporary table scanned them all).
  if exists (select from pg_temp.rollup_recount) then
    analyze pg_temp.rollup_recount;
    delete from audit.tenant_rollups t
     using pg_temp.rollup_recount c
     where t.tenant_id = c.tenant_id and t.period in ('day', 'hour')
       and t.period_start >= c.day and t.period_start < c.day + interval '24 hours';
    delete from audit.account_rollups a
     using pg_temp.rollup_recount c
     where a.tenant_id = c.tenant_id and a.day = c.day;
  end if;
  -- (in key order: two rounds never run at once, but a DBA's rebuild may wait on one)
  insert into audit.tenant_rollups as t (tenant_id, period, period_start, resource_type, action, event, entries)
  select s.tenant_id, 'hour', s.hour, s.resource_type, s.action, s.event, sum(s.entries)
    from pg_temp.rollup_counts s
   group by s.tenant_id, s.hour, s.resource_type, s.action, s.event
   order by 1, 3, 4, 5, 6
  on conflict on constraint tenant_rollups_pkey do update set entries = t.entries + excluded.entries;
  insert into audit.tenant_rollups as t (tenant_id, period, period_start, resource_type, action, event, entries)
  select s.tenant_id, 'day', date_trunc('day', s.hour, 'UTC'), s.resource_type, s.action, s.event, sum(s.entries)
    from pg_temp.rollup_counts s
   group by s.tenant_id, date_trunc('day', s.hour, 'UTC'), s.resource_type, s.action, s.event
   order by 1, 3, 4, 5, 6
  on conflict on constraint tenant_rollups_pkey do update set entries = t.entries + excluded.entries;
  insert into audit.account_rollups as a (tenant_id, account_id, day, resource_type, action, event, entries)
  select s.tenant_id, s.account_id, date_trunc('day', s.hour, 'UTC'), s.resource_type, s.action, s.event, sum(s.entries)
    from pg_temp.rollup_counts s
   where s.account_id is not null
   group by s.tenant_id, s.account_id, date_trunc('day', s.hour, 'UTC'), s.resource_type, s.action, s.event
   order by 1, 2, 3, 4, 5, 6
  on conflict on constraint account_rollups_pkey do update set entries = a.entries + excluded.entries;
end
$function$;
comment on function audit_private.apply_rollup_counts() is 'Part of a rollup round or rebuild: deletes the rows of the days in pg_temp.rollup_recount, then adds pg_temp.rollup_counts to audit.tenant_rollups (hours and days) and audit.account_rollups (days).';

create or replace function audit_private.rollup_work_tables()
 returns void
 language plpgsql
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
begin
  -- Created once per session, emptied at commit (as the detectors' are).
  if to_regclass('pg_temp.rollup_counts') is null then
    create temporary table if not exists rollup_recount (tenant_id uuid, day timestamptz, primary key (tenant_id, day)) on commit delete rows;
    create temporary table if not exists rollup_counts (
      tenant_id uuid, account_id uuid, hour timestamptz, resource_type text, action text, event text, entries bigint) on commit delete rows;
  end if;
  delete from pg_temp.rollup_recount;
  delete from pg_temp.rollup_counts;
end
$function$;
comment on function audit_private.rollup_work_tables() is 'The session''s working tables of rollup rounds (pg_temp.rollup_recount, pg_temp.rollup_counts), empty.';

create or replace function audit_private.summarize_new_log_ranges()
 returns integer
 language plpgsql
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  idx regclass;
  summarized integer := 0;
  lock_wait constant text := current_setting('lock_timeout');
begin
  -- What audit.activity_counts() counts live is found through the BRIN index
  -- on transaction_id, and a range of pages no summary covers matches every
  -- search: left to autovacuum (autosummarize, a minute or more behind), the
  -- newest pages of a log written at 1,000 transactions/s are thousands of
  -- pages read for every chart. Each rollup round summarizes them instead,
  -- waiting for no one (autovacuum or DDL on a partition: skipped this round).
  for idx in
    select i.indexrelid::regclass
      from pg_inherits p
      join pg_index i on i.indrelid = p.inhrelid
      join pg_class c on c.oid = i.indexrelid
      join pg_am a on a.oid = c.relam and a.amname = 'brin'
     where p.inhparent = 'audit.log'::regclass
  loop
    begin
      perform set_config('lock_timeout', '50ms', true);
      summarized := summarized + brin_summarize_new_values(idx);
    exception when lock_not_available then
      null;
    end;
  end loop;
  perform set_config('lock_timeout', lock_wait, true);
  return summarized;
end
$function$;
comment on function audit_private.summarize_new_log_ranges() is 'Summarizes the page ranges of audit.log''s BRIN indexes (transaction_id) that no summary covers yet, partition by partition, skipping a partition whose lock is held; returns how many ranges it summarized. Run by every rollup round, so that the entries above a consumer''s watermark are found by reading the newest pages only.';

create or replace function audit.refresh_rollups(max_xids bigint default 1000000)
 returns bigint
 language plpgsql
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  started constant timestamptz := clock_timestamp();
  r record;
  counted bigint;
begin
  select * into r from audit_private.begin_round('rollups', max_xids);
  if r.from_xid is null then
    return null; -- another run holds the lock
  end if;
  perform set_config('work_mem', '64MB', true);
  perform audit_private.rollup_work_tables();
  -- Maintenance journaled in this window that changed entries already
  -- counted (below the watermark), or moved one below it (rounds read by
  -- transaction id: it would never be read again): their days, before and
  -- after the change, are recounted whole. (Another change to an entry not
  -- counted yet needs nothing: the entry is counted as it now stands. Rows
  -- journaled before migration 000018 have no day: they predate every rollup.)
  insert into pg_temp.rollup_recount
  select distinct d.tenant_id, d.day
    from audit.maintenance_journal j
   cross join lateral (values (j.tenant_id, date_trunc('day', j.entry_occurred_at, 'UTC')),
                              (coalesce(j.new_tenant_id, j.tenant_id), date_trunc('day', coalesce(j.new_occurred_at, j.entry_occurred_at), 'UTC'))) d(tenant_id, day)
   where j.transaction_id >= r.from_xid and j.transaction_id < r.to_xid
     and (j.entry_transaction_id < r.from_xid or j.new_transaction_id < r.from_xid)
     and j.entry_occurred_at is not null
  on conflict do nothing;
  counted := audit_private.stage_rollup_counts(r.from_xid, r.to_xid);
  perform audit_private.apply_rollup_counts();
  perform audit_private.end_round('rollups', r.to_xid, least(counted, 2147483647)::integer, started);
  perform audit_private.summarize_new_log_ranges();
  return counted;
end
$function$;
comment on function audit.refresh_rollups(max_xids bigint) is 'Adds to the rollups (audit.tenant_rollups, audit.account_rollups) the entries of audit.log committed since the last run, in commit order (from the rollups consumer''s watermark up to the xmin horizon, at most max_xids transaction ids at a time), and recounts the days the owner''s journaled maintenance changed; returns how many new entries it counted, null when another run holds the lock. The server runs it every ROLLUP_INTERVAL_MS; progress and lag: audit.log_consumers().';

create or replace function audit.rebuild_rollups(tenant_id uuid default null, from_time timestamptz default null, to_time timestamptz default null)
 returns bigint
 language plpgsql
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  mark bigint;
  first_day timestamptz := date_trunc('day', from_time, 'UTC');
  -- the day that holds to_time's last instant (to_time is exclusive)
  last_day timestamptz := date_trunc('day', to_time - interval '1 microsecond', 'UTC');
  whole boolean := tenant_id is null and from_time is null and to_time is null;
  counted bigint;
begin
  if from_time is not null and to_time is not null and to_time <= from_time then
    raise exception 'audit.rebuild_rollups: to_time (%) must be after from_time (%)', to_time, from_time using errcode = '22023';
  end if;
  -- Waits for a running round (the same lock, taken blocking), then keeps
  -- rounds out until this transaction ends.
  perform pg_advisory_xact_lock(hashtextextended('audit-trail:log consumer:rollups', 0));
  perform audit_private.register_consumer('rollups');
  select c.watermark into mark from audit_private.log_consumers c where c.consumer = 'rollups' for update;
  if whole then
    -- Everything: up to the horizon now, which becomes the watermark.
    mark := greatest(mark, audit_private.current_horizon());
  end if;
  perform set_config('work_mem', '256MB', true);
  perform audit_private.rollup_work_tables();
  if whole then
    delete from audit.tenant_rollups;
    delete from audit.account_rollups;
  else
    -- The days in scope that have rows: emptied, then counted again.
    insert into pg_temp.rollup_recount
    select t.tenant_id, date_trunc('day', t.period_start, 'UTC')
      from audit.tenant_rollups t
     where t.period = 'day'
       and (rebuild_rollups.tenant_id is null or t.tenant_id = rebuild_rollups.tenant_id)
       and (from_time is null or t.period_start >= first_day)
       and (to_time is null or t.period_start <= last_day)
    union
    select a.tenant_id, a.day
      from audit.account_rollups a
     where (rebuild_rollups.tenant_id is null or a.tenant_id = rebuild_rollups.tenant_id)
       and (from_time is null or a.day >= first_day)
       and (to_time is null or a.day <= last_day);
  end if;
  -- Every entry in scope below the watermark, grouped as rounds group them.
  insert into pg_temp.rollup_counts
  select l.tenant_id, l.account_id, date_trunc('hour', l.occurred_at, 'UTC'), l.resource_type, l.action, l.event, count(*)
    from audit.log l
   where l.transaction_id < mark
     and (rebuild_rollups.tenant_id is null or l.tenant_id = rebuild_rollups.tenant_id)
     and (from_time is null or l.occurred_at >= first_day)
     and (to_time is null or l.occurred_at < last_day + interval '24 hours')
   group by 1, 2, 3, 4, 5, 6;
  select coalesce(sum(s.entries), 0) into counted from pg_temp.rollup_counts s;
  perform audit_private.apply_rollup_counts();
  if whole then
    perform audit_private.end_round('rollups', mark, 0, null);
  end if;
  return counted;
end
$function$;
comment on function audit.rebuild_rollups(tenant_id uuid, from_time timestamptz, to_time timestamptz) is 'For DBAs, after a restore or to check: recounts the rollups from audit.log, for one tenant (tenant_id), the UTC days that hold [from_time, to_time), or (no argument) everything, in one transaction, and returns how many entries it counted. It waits for a running round and keeps rounds out meanwhile. A partial rebuild counts the entries below the consumer''s watermark (rounds add the rest); a whole one counts up to the xmin horizon and moves the watermark there.';

-- 4. Reading: whole periods from the rollups, the rest live, one snapshot.
create or replace function audit.rollup_position(out watermark bigint, out recount_days timestamptz[])
 returns record
 language sql
 stable security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
  select c.watermark,
         -- Days whose entries journaled maintenance changed after the rollups
         -- counted them (the consumer has not recounted them yet): counted live.
         (select array_agg(distinct d.day)
            from audit.maintenance_journal j
           cross join lateral (values (date_trunc('day', j.entry_occurred_at, 'UTC')),
                                      (date_trunc('day', coalesce(j.new_occurred_at, j.entry_occurred_at), 'UTC'))) d(day)
           where j.transaction_id >= c.watermark and j.entry_occurred_at is not null)
    from audit_private.log_consumers c
   where c.consumer = 'rollups'
$function$;
comment on function audit.rollup_position(OUT watermark bigint, OUT recount_days timestamp with time zone[]) is '@behavior -*
For audit.activity_counts(): the rollups consumer''s watermark and the UTC days journaled maintenance changed since it (whose rollups are out of date until the next round), in the caller''s snapshot.';
grant execute on function audit.rollup_position(OUT watermark bigint, OUT recount_days timestamp with time zone[]) to audit_reader, audit_viewer;

create or replace function audit.activity_counts(
  from_time timestamptz,
  to_time timestamptz default null,
  bucket text default 'day',
  tenant_ids uuid[] default null,
  account_ids uuid[] default null,
  resource_types text[] default null,
  actions text[] default null,
  events text[] default null,
  actor_ids uuid[] default null,
  by_kind boolean default true)
 returns table (period_start timestamptz, resource_type text, action text, event text, entries bigint)
 language plpgsql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  upper_time timestamptz := coalesce(to_time, 'infinity');
  -- An open range: its whole periods end with the current hour (whole, as
  -- nothing after it is outside the range); later entries are counted live.
  hi timestamptz := coalesce(to_time, date_trunc('hour', now(), 'UTC') + interval '1 hour');
  per_account boolean := account_ids is not null or audit.current_account_id() is not null;
  -- The grain of the rows the range is cut into: hours for a tenant, days for accounts.
  grain text := case when per_account then 'day' else 'hour' end;
  step interval := case when per_account then interval '24 hours' else interval '1 hour' end;
  pos record;
  edge timestamptz;
  r1 timestamptz; r2 timestamptz;   -- the rolled range [r1, r2), whole periods of the grain
  d1 timestamptz; d2 timestamptz;   -- its whole days, for a tenant's day rows
  added text[] := '{}';             -- live ranges counted in
  taken text[] := '{}';             -- live ranges counted out (the rest of a rolled edge period)
  kind_cols text := case when by_kind then 'resource_type as rt, action as ac, event as ev' else 'null::text as rt, null::text as ac, null::text as ev' end;
  log_bucket text := case bucket when 'total' then 'null::timestamptz' else format('date_trunc(%L, l.occurred_at, %L)', bucket, 'UTC') end;
  filters text := '';
  parts text[] := '{}';
begin
  if from_time is null then
    raise exception 'audit.activity_counts: from_time is required (the start of the range, inclusive)' using errcode = '22023';
  end if;
  if bucket is null or bucket not in ('hour', 'day', 'total') then
    raise exception 'audit.activity_counts: bucket must be hour, day or total; got %', coalesce(bucket, 'null') using errcode = '22023';
  end if;
  if upper_time <= from_time then
    raise exception 'audit.activity_counts: to_time (%) must be after from_time (%)', to_time, from_time using errcode = '22023';
  end if;
  if bucket = 'hour' and coalesce(to_time, now()) - from_time > interval '400 days' then
    raise exception 'audit.activity_counts: hourly buckets cover at most 400 days; ask for daily ones' using errcode = '22023';
  end if;

  -- The same conditions on the log and on the rollups ($4.. in both).
  if tenant_ids is not null then filters := filters || ' and tenant_id = any($4)'; end if;
  if account_ids is not null then filters := filters || ' and account_id = any($5)'; end if;
  if resource_types is not null then filters := filters || ' and resource_type = any($6)'; end if;
  if actions is not null then filters := filters || ' and action = any($7)'; end if;
  if events is not null then filters := filters || ' and event = any($8)'; end if;

  pos := audit.rollup_position();
  -- The rollups answer whole periods; actors are not rolled up, nor are an
  -- account's hours: those count the log.
  if actor_ids is null and pos.watermark is not null and not (per_account and bucket = 'hour') then
    -- Each edge of the range falls inside a period of the grain. The period
    -- is either left to the log (the part inside the range counted in) or
    -- taken from the rollups whole (the part outside counted out), whichever
    -- leaves fewer entries to count: a range that ends now counts almost
    -- nothing at its end, and at most half a period at its start.
    edge := date_trunc(grain, from_time, 'UTC');
    if edge = from_time then r1 := from_time;
    elsif from_time - edge < edge + step - from_time then r1 := edge;
    else r1 := edge + step;
    end if;
    edge := date_trunc(grain, hi, 'UTC');
    if edge = hi then r2 := hi;
    elsif edge + step - hi < hi - edge then r2 := edge + step;
    else r2 := edge;
    end if;
    if r1 < r2 then
      if r1 < from_time then taken := taken || '(occurred_at >= $10 and occurred_at < $1)'::text; end if;
      if r1 > from_time then added := added || '(occurred_at >= $1 and occurred_at < $10)'::text; end if;
      if r2 > hi then taken := taken || '(occurred_at >= $2 and occurred_at < $13)'::text; end if;
      if r2 < hi then added := added || '(occurred_at >= $13 and occurred_at < $2)'::text; end if;
      if to_time is null then added := added || '(occurred_at >= $13)'::text; end if;
    else
      r1 := null; r2 := null;
    end if;
  end if;

  if r1 is null then
    parts := parts || format('select %s as b, %s, count(*) as n from audit.log l where occurred_at >= $1 and occurred_at < $2%s%s group by 1, 2, 3, 4',
                             log_bucket, kind_cols, filters, case when actor_ids is not null then ' and actor_id = any($9)' else '' end);
  else
    -- A tenant's whole days come from day rows, the hours around them from hour rows.
    d1 := date_trunc('day', r1, 'UTC');
    if d1 < r1 then d1 := d1 + interval '24 hours'; end if;
    d2 := date_trunc('day', r2, 'UTC');
    if per_account or bucket = 'hour' or d1 >= d2 then
      d1 := r2; d2 := r2;
    end if;
    if cardinality(added) > 0 then
      parts := parts || format('select %s as b, %s, count(*) as n from audit.log l where (%s)%s group by 1, 2, 3, 4',
                               log_bucket, kind_cols, array_to_string(added, ' or '), filters);
    end if;
    if cardinality(taken) > 0 then
      parts := parts || format('select %s as b, %s, -count(*) as n from audit.log l where (%s)%s group by 1, 2, 3, 4',
                               log_bucket, kind_cols, array_to_string(taken, ' or '), filters);
    end if;
    -- Entries the rollups have not counted yet: committed at or above the
    -- watermark, and the days journaled maintenance changed since.
    -- (read through the BRIN index on transaction_id alone: the fence keeps
    -- the planner from ANDing it with the tenant's whole range in the primary key)
    parts := parts || format('select %s as b, %s, count(*) as n from (select * from audit.log where transaction_id >= $14 offset 0) l where occurred_at >= $10 and occurred_at < $13 and not (date_trunc(''day'', occurred_at, ''UTC'') = any($15))%s group by 1, 2, 3, 4',
                             log_bucket, kind_cols, filters);
    if pos.recount_days is not null then
      parts := parts || format('select %s as b, %s, count(*) as n from audit.log l join unnest($15) r(day) on l.occurred_at >= r.day and l.occurred_at < r.day + interval ''24 hours'' where occurred_at >= $10 and occurred_at < $13%s group by 1, 2, 3, 4',
                               log_bucket, kind_cols, filters);
    end if;
    if per_account then
      parts := parts || format('select %s as b, %s, sum(entries) as n from audit.account_rollups where day >= $10 and day < $13 and not (day = any($15))%s group by 1, 2, 3, 4',
                               case bucket when 'total' then 'null::timestamptz' else 'day' end, kind_cols, filters);
    else
      parts := parts || format('select %s as b, %s, sum(entries) as n from audit.tenant_rollups where period = ''hour'' and ((period_start >= $10 and period_start < $11) or (period_start >= $12 and period_start < $13)) and not (date_trunc(''day'', period_start, ''UTC'') = any($15))%s group by 1, 2, 3, 4',
                               case bucket when 'total' then 'null::timestamptz' else format('date_trunc(%L, period_start, %L)', bucket, 'UTC') end, kind_cols, filters);
      if d1 < d2 then
        parts := parts || format('select %s as b, %s, sum(entries) as n from audit.tenant_rollups where period = ''day'' and period_start >= $11 and period_start < $12 and not (period_start = any($15))%s group by 1, 2, 3, 4',
                                 case bucket when 'total' then 'null::timestamptz' else 'period_start' end, kind_cols, filters);
      end if;
    end if;
  end if;

  return query execute
    'select b, rt, ac, ev, sum(n)::bigint from (' || array_to_string(parts, ' union all ') || ') p'
    || ' group by 1, 2, 3, 4 having sum(n) <> 0 order by 1 nulls first, 2, 3, 4'
    using from_time, upper_time, bucket, tenant_ids, account_ids, resource_types, actions, events, actor_ids,
          r1, d1, d2, r2, pos.watermark, coalesce(pos.recount_days, '{}'::timestamptz[]);
end
$function$;
comment on function audit.activity_counts(from_time timestamptz, to_time timestamptz, bucket text, tenant_ids uuid[], account_ids uuid[], resource_types text[], actions text[], events text[], actor_ids uuid[], by_kind boolean) is 'How many entries of the log you may read occurred in [from_time, to_time) (to_time null: up to now and on), per UTC hour or day (bucket hour, day, or total for one count) and, with by_kind, per resource type, action and event; optionally only of some accounts, resource types, actions, events or actors. Whole periods come from the rollups (audit.tenant_rollups, audit.account_rollups) below their consumer''s watermark, the rest is counted live from the log in the same snapshot, so the result is always exactly what counting audit.log gives (a filter on actors counts the log). Row-level security applies as on audit.log.';
grant execute on function audit.activity_counts(from_time timestamptz, to_time timestamptz, bucket text, tenant_ids uuid[], account_ids uuid[], resource_types text[], actions text[], events text[], actor_ids uuid[], by_kind boolean) to audit_reader, audit_viewer;

comment on table audit_private.log_consumers is 'One row per consumer of audit.log in commit order (the detectors, the seals, each log stream as stream_<id>, the rollups): its position, a transaction id below which every entry has been consumed (and, for streams, the entries of that transaction up to after_id), and what its rounds did. Advanced only by audit_private.end_round(), in the same transaction as the consumer''s output.';
