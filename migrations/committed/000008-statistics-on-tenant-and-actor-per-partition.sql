--! Previous: sha1:2ec57dfbc1f8dbf2e3b828094b721a1685d001fd
--! Hash: sha1:6498569cc630f2747d82133e84f1e51701ef3b74
--! Message: Statistics on tenant and actor per partition

--------------------------------------------------------------------------------
-- Statistics on tenant and actor together
--------------------------------------------------------------------------------
-- A user acts in one tenant, but the planner multiplied the two
-- selectivities: for a mid-size tenant it expected a handful of a busy
-- user's entries where there are thousands, and sorted all of them instead
-- of reading the newest from the actor index (47-134 ms instead of 0.4 ms
-- at 10M entries; bench/README.md I9). The same per-partition extended
-- statistics as for tenant and account (migration 000003, I5) fix the
-- estimate; ANALYZE fills them now, autovacuum keeps them.
create or replace function audit_private.create_log_partition(part_name text, range_start timestamptz, range_end timestamptz)
  returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
begin
  -- A standalone table attached afterwards: ATTACH PARTITION takes SHARE
  -- UPDATE EXCLUSIVE on audit.log (CREATE TABLE ... PARTITION OF would take
  -- ACCESS EXCLUSIVE and queue every writer behind any open reader).
  execute format('create table audit.%I (like audit.log including defaults including constraints)', part_name);
  execute format('create trigger _000_append_only_truncate before truncate on audit.%I for each statement execute function audit_private.refuse_log_truncate()', part_name);
  execute format('comment on table audit.%I is %L', part_name,
    format('Audit entries from %s to %s (partition of audit.log; read through audit.log).',
           to_char(range_start at time zone 'UTC', 'YYYY-MM-DD'), to_char(range_end at time zone 'UTC', 'YYYY-MM-DD')));
  -- the planner's estimate of "tenant and account" (migration 000003, section 5)
  execute format('create statistics audit.%I on tenant_id, account_id from audit.%I', part_name || '_tenant_account_stats', part_name);
  -- and of "tenant and actor" (migration 000008)
  execute format('create statistics audit.%I on tenant_id, actor_id from audit.%I', part_name || '_tenant_actor_stats', part_name);
  if exists (select from audit.log_default where occurred_at >= range_start and occurred_at < range_end) then
    -- Move the range's rows out of the default partition, then attach.
    perform set_config('audit.maintenance', 'on', true);
    execute format(
      'with moved as (delete from audit.log_default where occurred_at >= %L and occurred_at < %L returning *)'
      || ' insert into audit.%I overriding system value select * from moved', range_start, range_end, part_name);
    perform set_config('audit.maintenance', '', true);
  end if;
  execute format('alter table audit.log attach partition audit.%I for values from (%L) to (%L)', part_name, range_start, range_end);
end
$$;
comment on function audit_private.create_log_partition(text, timestamptz, timestamptz) is 'Creates one partition of audit.log for [range_start, range_end), moving the range''s rows out of the default partition, without blocking writers.';

do $$
declare
  p record;
begin
  for p in
    select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'audit.log'::regclass
  loop
    if not exists (select from pg_statistic_ext where stxname = p.relname || '_tenant_actor_stats' and stxnamespace = 'audit'::regnamespace) then
      execute format('create statistics audit.%I on tenant_id, actor_id from audit.%I', p.relname || '_tenant_actor_stats', p.relname);
      execute format('analyze audit.%I', p.relname);
    end if;
  end loop;
end
$$;
