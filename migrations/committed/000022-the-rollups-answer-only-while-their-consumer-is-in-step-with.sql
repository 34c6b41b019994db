--! Previous: sha1:fc89df17b79bafb05b66af7bfae2682876317ec6
--! Hash: sha1:76b5da9f35ed7575aabfcdfe1874ae6e29406ba0
--! Message: The rollups answer only while their consumer is in step with the log (audit.rollups_in_step), and their primary keys carry the count for index-only charts

-- The rollups answer only while their consumer keeps up with the log. A
-- consumer that never ran since the upgrade to the rollups (watermark 0), or
-- was stopped for a long time, leaves every newer entry to be counted live by
-- activity_counts, through the index on transaction_id across all tenants:
-- at 10M entries and a watermark of 0, a 30-day chart took 190 ms that way
-- against ~50 ms counting the tenant's range from the log. How far behind is
-- measured in transaction ids up to the horizon (constant time; the consumer
-- moves its watermark to the horizon every round, entries or not).
-- Security definer: the consumers' table is private.
create or replace function audit.rollups_in_step(within_xids bigint default 100000)
  returns boolean
  language sql
  stable
  security definer
  set search_path = pg_catalog, pg_temp
as $$
  select coalesce((select audit_private.current_horizon() - c.watermark <= within_xids
                     from audit_private.log_consumers c
                    where c.consumer = 'rollups'), false)
$$;
comment on function audit.rollups_in_step(within_xids bigint) is E'@behavior -*\nFor audit.activity_counts(): whether the rollups consumer''s watermark is within within_xids transaction ids of the xmin horizon (how far it could go now); false without a consumer. While it is not, ranges are counted from the log.';
revoke all on function audit.rollups_in_step(within_xids bigint) from public;
grant execute on function audit.rollups_in_step(within_xids bigint) to audit_reader, audit_viewer;

-- activity_counts: the rollups only while their consumer is in step (above).
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
  -- account's hours: those count the log. So does everything while the
  -- consumer is far behind the log (it never ran since the upgrade, or was
  -- stopped): what it has not counted would all be counted live, through
  -- the index on transaction_id and every tenant's entries.
  if actor_ids is null and pos.watermark is not null and not (per_account and bucket = 'hour')
     and audit.rollups_in_step() then
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


-- The rollups' primary keys carry the count (INCLUDE (entries)): a chart
-- reads a tenant's or an account's rows for a range from the index alone
-- (index-only, on pages all-visible since their day ended). Each row is
-- updated by many rounds, often from pages elsewhere than its neighbours':
-- through the heap, a 30-day chart of the largest tenant at 10M entries read
-- one page per row (736 pages for 638 rows); from the index, 13. The
-- consumer's updates of a count are no longer HOT (the index holds it).
do $$
begin
  if not exists (select from pg_index where indexrelid = 'audit.tenant_rollups_pkey'::regclass and indnatts > indnkeyatts) then
    alter table audit.tenant_rollups
      drop constraint tenant_rollups_pkey,
      add constraint tenant_rollups_pkey primary key (tenant_id, period, period_start, resource_type, action, event) include (entries);
  end if;
  if not exists (select from pg_index where indexrelid = 'audit.account_rollups_pkey'::regclass and indnatts > indnkeyatts) then
    alter table audit.account_rollups
      drop constraint account_rollups_pkey,
      add constraint account_rollups_pkey primary key (tenant_id, account_id, day, resource_type, action, event) include (entries);
  end if;
end
$$;
