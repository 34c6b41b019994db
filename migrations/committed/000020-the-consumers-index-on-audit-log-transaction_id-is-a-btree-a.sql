--! Previous: sha1:bb58adef222a29f11b215b14c8c7f5569af26b0e
--! Hash: sha1:3f1c6a860d656e8a1a7e5be1b10a5d0d9193ae39
--! Message: The consumers' index on audit.log.transaction_id is a btree: a chart's live part reads the newest entries exactly, and a range that ends now takes its last hour from the rollups

-- The consumers' index on audit.log.transaction_id becomes a btree. Through
-- the BRIN index (000014) a chart's count of what the rollups have not
-- counted yet read every page range the newest entries had landed in (they
-- land in the free space of hundreds to thousands of pages), rechecking every
-- entry there, and every partition's whole summary: 20 of a 30-day chart's
-- 35 ms at 10M entries; through the btree, 2 to 5 ms. The rounds of every
-- consumer (detectors, seals, streams, rollups) read their range through it
-- exactly too, and no longer need the BRIN ranges summarized.
--
-- Building it takes a lock that makes audited writes wait (about 1.5 s per
-- million entries). On a large log, build it beforehand partition by
-- partition without blocking (README, "Upgrading a large log"): an index
-- already there is attached, not built again.
drop index if exists audit.log_transaction_id_brin_idx;
create index if not exists log_transaction_id_idx on audit.log using btree (transaction_id);

-- activity_counts: the entries above the rollups' watermark are read with the
-- range, through the new index (one path for tenants and accounts); a range
-- that ends now takes its last hour from the rollups whole.
create or replace function audit.activity_counts(from_time timestamp with time zone, to_time timestamp with time zone default null::timestamp with time zone, bucket text default 'day'::text, tenant_ids uuid[] default null::uuid[], account_ids uuid[] default null::uuid[], resource_types text[] default null::text[], actions text[] default null::text[], events text[] default null::text[], actor_ids uuid[] default null::uuid[], by_kind boolean default true)
 returns table(period_start timestamp with time zone, resource_type text, action text, event text, entries bigint)
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
    -- At the end, the part of the period outside the range is only what
    -- occurred before now: a range that ends now (the page's) takes its
    -- last period whole and counts out an empty rest.
    edge := date_trunc(grain, hi, 'UTC');
    if edge = hi then r2 := hi;
    elsif greatest(least(edge + step, now()) - hi, interval '0') < hi - edge then r2 := edge + step;
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
    -- (through the index on transaction_id, or an account's own index, with
    -- the range: partitions outside it are not read)
    parts := parts || format('select %s as b, %s, count(*) as n from audit.log l where occurred_at >= $10 and occurred_at < $13 and transaction_id >= $14 and not (date_trunc(''day'', occurred_at, ''UTC'') = any($15))%s group by 1, 2, 3, 4',
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

-- Rounds no longer summarize BRIN ranges: nothing reads through them.
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
  return counted;
end
$function$;

drop function if exists audit_private.summarize_new_log_ranges();

comment on function audit_private.round_entries(from_xid bigint, to_xid bigint) is 'The entries of a consumer''s round: transaction_id in [from_xid, to_xid), read through the index on transaction_id.';
