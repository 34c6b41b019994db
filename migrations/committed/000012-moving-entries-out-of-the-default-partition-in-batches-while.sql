--! Previous: sha1:015eb3fe3e25a454ffcfe60f1d6892b6ee8bff13
--! Hash: sha1:9b3101abc099c21e14de745674cce67d8778320f
--! Message: Moving entries out of the default partition in batches while serving: staged partitions, newest first, attached in one short transaction

--------------------------------------------------------------------------------
-- Moving entries out of the default partition in batches, while serving
--------------------------------------------------------------------------------
-- Entries land in audit.log_default when no partition covers their instant:
-- history imported before its years' partitions existed, or a clock far
-- off. audit.ensure_partitions() moved them into their partition in one
-- transaction (inside create_log_partition) and start-up waited for it: at
-- 5 million entries the first `npm start` was not healthy after 90 s.
--
-- The batched path, driven by the server in the background after it listens
-- and by `npm run migrate` in the foreground (src/db/migrate.ts):
--
-- 1. audit_private.move_default_batch(batch_size, cursor), each call its
--    own transaction: the next entries of the default partition are deleted
--    from it and inserted, in the same statement, into the table that will
--    become their partition (created on first use, "staged": a standalone
--    table, no indexes yet, with a CHECK constraint "staged_partition_range"
--    on its bounds). Row locks only: audited writes, readers and new entries
--    landing in the default partition do not wait. The walk follows the
--    primary key from the cursor the previous batch returned, newest entries
--    first, for the readers' sake: a moved entry stays in the default
--    partition's indexes until VACUUM, and the first read through audit.log
--    to pass it checks it in the heap (1.5 s a million on two busy cores).
--    Newest first, the entries a read passes are those moved since the read
--    before, at the top of its tenant's range; walked by block, the top
--    stayed live until the last batches, and then one read met them all
--    (5.2 s after a million). Where the role may (superusers), the batch
--    sets session_replication_role = replica for itself: the append-only
--    guard would only confirm, entry by entry, the maintenance mode the
--    batch is in, and took half of a batch's time.
-- 2. VACUUM of the default partition (by the driver, which cannot run it in
--    a function; also every million entries during the walk), then
--    audit_private.index_log_partition() builds each staged table's indexes
--    in one go: maintained entry by entry, they made a batch take 2.6 times
--    as long as without them, and more than building them at the end.
-- 3. audit_private.attach_staged_partitions(), one short transaction: takes
--    the parent (SHARE UPDATE EXCLUSIVE, which writers and readers do not
--    conflict with) and the default partition (ACCESS EXCLUSIVE, so no entry
--    can land in a staged range meanwhile), moves what was written into the
--    default partition during the walk, attaches each staged table and
--    drops its CHECK constraint. PostgreSQL refuses to attach a range that
--    still has rows in the default partition and scans the default
--    partition to make sure, under that lock: the VACUUM has made it small.
--    The CHECK constraint spares the scan of the staged table itself, and
--    its indexes, built before, are adopted instead of built under the lock.
--    Only readers of audit.log (and entries that would land in the default
--    partition) wait for this transaction; the driver sets lock_timeout and
--    retries, so that it never queues them behind a long reader. An entry
--    routed to the default partition just before the attach, into a range
--    being attached, is refused once it gets the lock (PostgreSQL re-checks
--    the default partition's bounds): only imports write into past ranges,
--    and retry; if a staged range is still being written (the current
--    year's partition was missing), writers wait for the attach instead.
--
-- Until step 3, entries already moved are in the staged table, which
-- audit.log does not read yet: they are missing from reads for the duration
-- of the move (the driver logs each step's time; test/db/default-partition.test.ts
-- measures the move against audited writes).
-- An interrupted move loses nothing: every batch is atomic, staged tables
-- keep their entries, and the next run (or audit.ensure_partitions()) goes on.
--
-- Every function here that creates or attaches a partition takes the same
-- transaction-level advisory lock, so that two of them never race to
-- create one table or deadlock over the default partition.

-- The partition an instant belongs in: its year's, or its month's in a year
-- that earlier versions partitioned by month (000006).
create or replace function audit_private.log_partition_for(t timestamptz, out part_name text, out range_start timestamptz, out range_end timestamptz)
  language plpgsql stable
  set search_path = pg_catalog, pg_temp
  as $$
declare
  month_start constant timestamptz := date_trunc('month', t at time zone 'UTC') at time zone 'UTC';
  year_start constant timestamptz := date_trunc('year', t at time zone 'UTC') at time zone 'UTC';
begin
  if exists (select from pg_inherits i join pg_class c on c.oid = i.inhrelid
              where i.inhparent = 'audit.log'::regclass
                and c.relname like 'log\_' || to_char(year_start at time zone 'UTC', 'YYYY') || '\_%') then
    part_name := 'log_' || to_char(month_start at time zone 'UTC', 'YYYY_MM');
    range_start := month_start;
    range_end := (month_start at time zone 'UTC' + interval '1 month') at time zone 'UTC';
  else
    part_name := 'log_' || to_char(year_start at time zone 'UTC', 'YYYY');
    range_start := year_start;
    range_end := (year_start at time zone 'UTC' + interval '1 year') at time zone 'UTC';
  end if;
end
$$;
comment on function audit_private.log_partition_for(timestamptz) is 'The partition of audit.log the instant t belongs in (name and bounds): its year''s, or its month''s in a year partitioned by month.';

-- The tables a batched move has filled and not yet attached.
create or replace function audit_private.staged_log_partitions(out part_name text, out range_start timestamptz, out range_end timestamptz)
  returns setof record
  language sql stable
  set search_path = pg_catalog, pg_temp
  as $$
    select c.relname::text,
           make_timestamptz(substr(c.relname, 5, 4)::int, coalesce(nullif(substr(c.relname, 10, 2), '')::int, 1), 1, 0, 0, 0, 'UTC'),
           (make_timestamp(substr(c.relname, 5, 4)::int, coalesce(nullif(substr(c.relname, 10, 2), '')::int, 1), 1, 0, 0, 0)
             + case when length(c.relname) = 8 then interval '1 year' else interval '1 month' end) at time zone 'UTC'
      from pg_class c
     where c.relnamespace = 'audit'::regnamespace and c.relkind = 'r' and not c.relispartition
       and c.relname ~ '^log_[0-9]{4}(_[0-9]{2})?$'
       and exists (select from pg_constraint k where k.conrelid = c.oid and k.conname = 'staged_partition_range')
     order by c.relname
  $$;
comment on function audit_private.staged_log_partitions() is 'The tables a batched move out of the default partition has filled and not yet attached to audit.log (marked by their CHECK constraint staged_partition_range).';

-- The partition's table before it is attached: also what a batched move
-- stages entries in. A table left by an interrupted move is reused; any
-- other table of that name (a partition a DBA detached) is not touched.
create or replace function audit_private.create_log_partition_table(part_name text, range_start timestamptz, range_end timestamptz)
  returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  existing regclass := to_regclass(format('audit.%I', part_name));
  col record;
begin
  if existing is not null then
    if exists (select from pg_constraint k where k.conrelid = existing and k.conname = 'staged_partition_range')
       and not (select relispartition from pg_class where oid = existing) then
      return;
    end if;
    raise exception 'audit.%: a table of that name exists and is not a partition being staged', part_name
      using errcode = '42P07', hint = 'A detached partition? Rename it, or attach it to audit.log yourself.';
  end if;
  -- A standalone table attached afterwards: ATTACH PARTITION takes SHARE
  -- UPDATE EXCLUSIVE on audit.log (CREATE TABLE ... PARTITION OF would take
  -- ACCESS EXCLUSIVE and queue every writer behind any open reader). The
  -- attach builds its indexes (index_log_partition, when it holds entries).
  execute format('create table audit.%I (like audit.log including defaults including constraints)', part_name);
  -- Its bounds, checked: the attach then need not scan it (dropped once attached).
  execute format('alter table audit.%I add constraint staged_partition_range check (occurred_at >= %L and occurred_at < %L)',
                 part_name, range_start, range_end);
  execute format('create trigger _000_append_only_truncate before truncate on audit.%I for each statement execute function audit_private.refuse_log_truncate()', part_name);
  execute format('comment on table audit.%I is %L', part_name,
    format('Audit entries from %s to %s (partition of audit.log; read through audit.log).',
           to_char(range_start at time zone 'UTC', 'YYYY-MM-DD'), to_char(range_end at time zone 'UTC', 'YYYY-MM-DD')));
  -- the planner's estimate of "tenant and account" (migration 000003, section 5)
  execute format('create statistics audit.%I on tenant_id, account_id from audit.%I', part_name || '_tenant_account_stats', part_name);
  -- and of "tenant and actor" (migration 000008)
  execute format('create statistics audit.%I on tenant_id, actor_id from audit.%I', part_name || '_tenant_actor_stats', part_name);
  -- the statistics targets of audit.log's columns (-1 before PostgreSQL 17, null since: the default)
  for col in
    select a.attname, a.attstattarget from pg_attribute a
     where a.attrelid = 'audit.log'::regclass and a.attnum > 0 and not a.attisdropped and coalesce(a.attstattarget, -1) >= 0
  loop
    execute format('alter table audit.%I alter column %I set statistics %s', part_name, col.attname, col.attstattarget);
  end loop;
end
$$;
comment on function audit_private.create_log_partition_table(text, timestamptz, timestamptz) is 'Creates the table of a partition of audit.log for [range_start, range_end), not yet attached (or reuses one a batched move staged).';

-- The indexes of audit.log on a staged table, built in one go before the
-- attach (which then adopts them instead of building them while it holds
-- the default partition). Index definitions are read from the catalog, so
-- that they are audit.log's exactly.
create or replace function audit_private.index_log_partition(part_name text) returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  staged constant regclass := format('audit.%I', part_name)::regclass;
  idx record;
begin
  if exists (select from pg_index where indrelid = staged) then
    return;
  end if;
  if (select setting::bigint from pg_settings where name = 'maintenance_work_mem') < 262144 then
    perform set_config('maintenance_work_mem', '256MB', true);
  end if;
  -- One core: this runs beside the server, whose audited writes waited for
  -- CPU (up to 0.7 s on two cores) while parallel workers built indexes.
  perform set_config('max_parallel_maintenance_workers', '0', true);
  for idx in
    select i.indisunique as is_unique, pg_get_indexdef(i.indexrelid) as def, k.oid as constraint_oid
      from pg_index i left join pg_constraint k on k.conindid = i.indexrelid and k.conrelid = i.indrelid
     where i.indrelid = 'audit.log'::regclass
     order by k.oid nulls last, i.indexrelid
  loop
    if idx.constraint_oid is not null then
      execute format('alter table %s add %s', staged, pg_get_constraintdef(idx.constraint_oid));
    else
      execute format('create %sindex on %s using %s', case when idx.is_unique then 'unique ' else '' end, staged,
                     substring(idx.def from ' USING (.*)$'));
    end if;
  end loop;
end
$$;
comment on function audit_private.index_log_partition(text) is 'Builds the indexes of audit.log on a staged table (one not yet attached) that has none.';

create or replace function audit_private.create_log_partition(part_name text, range_start timestamptz, range_end timestamptz)
  returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
begin
  perform pg_advisory_xact_lock(hashtextextended('audit.log partitions', 0));
  perform audit_private.create_log_partition_table(part_name, range_start, range_end);
  if exists (select from audit.log_default where occurred_at >= range_start and occurred_at < range_end) then
    -- Move the range's rows out of the default partition (in this one
    -- transaction: the batched path is move_default_batch), then attach.
    perform set_config('audit.maintenance', 'on', true);
    execute format(
      'with moved as (delete from audit.log_default where occurred_at >= %L and occurred_at < %L returning *)'
      || ' insert into audit.%I overriding system value select * from moved', range_start, range_end, part_name);
    perform set_config('audit.maintenance', '', true);
  end if;
  execute format('alter table audit.log attach partition audit.%I for values from (%L) to (%L)', part_name, range_start, range_end);
  execute format('alter table audit.%I drop constraint staged_partition_range', part_name);
end
$$;
comment on function audit_private.create_log_partition(text, timestamptz, timestamptz) is 'Creates one partition of audit.log for [range_start, range_end), moving the range''s rows out of the default partition in this transaction, without blocking writers.';

create or replace function audit.ensure_partitions(months_ahead integer default 3) returns integer
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  target record;
  created integer := 0;
begin
  if months_ahead < 0 or months_ahead > 120 then
    raise exception 'audit.ensure_partitions: months_ahead must be between 0 and 120' using errcode = '22023';
  end if;
  perform pg_advisory_xact_lock(hashtextextended('audit.log partitions', 0));
  -- the months ahead, every month that has rows in the default partition,
  -- and the ranges a batched move has staged
  for target in
    select distinct p.part_name, p.range_start, p.range_end from (
      select date_trunc('month', now() at time zone 'UTC') at time zone 'UTC' + make_interval(months => g) as m
        from generate_series(0, months_ahead) g
      union
      select date_trunc('month', occurred_at at time zone 'UTC') at time zone 'UTC' from audit.log_default
    ) months
    cross join lateral audit_private.log_partition_for(months.m) p
    where not audit_private.partition_covers(months.m)
    union
    select s.part_name, s.range_start, s.range_end from audit_private.staged_log_partitions() s
    order by 2
  loop
    perform audit_private.create_log_partition(target.part_name, target.range_start, target.range_end);
    created := created + 1;
  end loop;
  return created;
end
$$;
comment on function audit.ensure_partitions(integer) is 'Creates the partitions of audit.log (one a year) covering this month and months_ahead more, and moves rows that landed in the default partition into their partition, in this one transaction (for many rows, the server and `npm run migrate` move them in batches instead: audit_private.move_default_batch). Returns the number of partitions created. Safe to run at any time, also under write load: a new partition is attached without blocking writers or readers of audit.log.';

create or replace function audit_private.move_default_batch(
    batch_size integer, before_tenant uuid default null, before_time timestamptz default null, before_id bigint default null,
    out moved bigint, out last_tenant uuid, out last_time timestamptz, out last_id bigint)
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  tids tid[];
  months timestamptz[];
  target record;
  n bigint;
  replication_role text;
begin
  if batch_size is null or batch_size < 1 then
    raise exception 'audit_private.move_default_batch: batch_size must be positive' using errcode = '22023';
  end if;
  perform pg_advisory_xact_lock(hashtextextended('audit.log partitions', 0));
  moved := 0;
  -- The next batch_size entries in the primary key's order, newest first,
  -- from the cursor on (from the top without one).
  with k as materialized (
    select d.ctid, d.tenant_id, d.occurred_at, d.id from audit.log_default d
     where (d.tenant_id, d.occurred_at, d.id) < (coalesce(before_tenant, 'ffffffff-ffff-ffff-ffff-ffffffffffff'),
                                                  coalesce(before_time, 'infinity'), coalesce(before_id, 9223372036854775807))
     order by d.tenant_id desc, d.occurred_at desc, d.id desc
     limit batch_size)
  select (select array_agg(k.ctid) from k),
         (select array_agg(distinct date_trunc('month', k.occurred_at at time zone 'UTC') at time zone 'UTC') from k),
         l.tenant_id, l.occurred_at, l.id
    into tids, months, last_tenant, last_time, last_id
    from (select k.tenant_id, k.occurred_at, k.id from k order by k.tenant_id, k.occurred_at, k.id limit 1) l;
  if last_tenant is null then
    return; -- nothing left after the cursor
  end if;
  perform set_config('audit.maintenance', 'on', true);
  -- The guard's verdict is known (maintenance): spare asking it per entry.
  -- Restored below, so that a caller's transaction goes on as it was.
  if has_parameter_privilege('session_replication_role', 'SET') then
    replication_role := current_setting('session_replication_role');
    perform set_config('session_replication_role', 'replica', true);
  end if;
  for target in
    select distinct p.part_name, p.range_start, p.range_end
      from unnest(months) m cross join lateral audit_private.log_partition_for(m) p
  loop
    perform audit_private.create_log_partition_table(target.part_name, target.range_start, target.range_end);
    execute format(
      'with moved as (delete from audit.log_default where ctid = any($1) and occurred_at >= $2 and occurred_at < $3 returning *)'
      || ' insert into audit.%I overriding system value select * from moved', target.part_name)
      using tids, target.range_start, target.range_end;
    get diagnostics n = row_count;
    moved := moved + n;
  end loop;
  if replication_role is not null then
    perform set_config('session_replication_role', replication_role, true);
  end if;
  perform set_config('audit.maintenance', '', true);
end
$$;
comment on function audit_private.move_default_batch(integer, uuid, timestamptz, bigint) is 'One batch of a move out of the default partition: moves the next batch_size entries of audit.log_default, newest first in the order of its primary key (tenant_id, occurred_at, id) from the cursor on (from the top when null), into their partitions'' staged tables, in this transaction. Returns how many it moved and the key of the last one, the cursor of the next batch (null when none was left). Waits for no writer or reader; audit_private.attach_staged_partitions() ends the move.';

create or replace function audit_private.attach_staged_partitions() returns setof text
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  staged record;
begin
  perform pg_advisory_xact_lock(hashtextextended('audit.log partitions', 0));
  if not exists (select from audit_private.staged_log_partitions()) then
    return;
  end if;
  -- The parent, then the default partition: the order ATTACH PARTITION
  -- takes them in, so that this cannot deadlock with another attach.
  -- An insert routed to the default partition before the attach, and
  -- checked against its bounds after it (when it gets the lock), fails:
  -- PostgreSQL re-checks the default partition's constraint. Past ranges
  -- only see such inserts from imports (retried by whoever imports); when a
  -- staged range is still being written (the current year's partition was
  -- missing), writers wait for this transaction instead (SHARE ROW EXCLUSIVE
  -- on the parent keeps them before their routing).
  if exists (select from audit_private.staged_log_partitions() s where s.range_end > now() - interval '1 day') then
    lock table only audit.log in share row exclusive mode;
  else
    lock table only audit.log in share update exclusive mode;
  end if;
  lock table audit.log_default in access exclusive mode;
  perform set_config('audit.maintenance', 'on', true);
  for staged in select * from audit_private.staged_log_partitions() loop
    -- entries written into the default partition since the batches passed
    execute format(
      'with moved as (delete from audit.log_default where occurred_at >= $1 and occurred_at < $2 returning *)'
      || ' insert into audit.%I overriding system value select * from moved', staged.part_name)
      using staged.range_start, staged.range_end;
    -- (built before by the driver; here only if it did not)
    perform audit_private.index_log_partition(staged.part_name);
    execute format('alter table audit.log attach partition audit.%I for values from (%L) to (%L)',
                   staged.part_name, staged.range_start, staged.range_end);
    execute format('alter table audit.%I drop constraint staged_partition_range', staged.part_name);
    return next staged.part_name;
  end loop;
  perform set_config('audit.maintenance', '', true);
end
$$;
comment on function audit_private.attach_staged_partitions() is 'Ends a batched move out of the default partition: moves what is left of the staged ranges and attaches their tables to audit.log, in one short transaction that holds the default partition (set lock_timeout: it waits for readers of audit.log). Returns the partitions attached.';
