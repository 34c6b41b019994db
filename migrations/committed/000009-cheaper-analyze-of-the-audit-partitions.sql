--! Previous: sha1:6498569cc630f2747d82133e84f1e51701ef3b74
--! Hash: sha1:7b724c2db5e12434a9c5bce5796956a9bcff9365
--! Message: Cheaper ANALYZE of the audit partitions

--------------------------------------------------------------------------------
-- Cheaper ANALYZE of the audit partitions
--------------------------------------------------------------------------------
-- Autovacuum analyzes a partition each time a tenth of it is new. Half of
-- that work went into statistics nobody plans with: the histograms and
-- most-common values of the three jsonb documents (old_values, new_values,
-- context) and of the actor's name and email snapshot. No index covers
-- them, and the API filters on them only within a tenant's index range,
-- where the default estimates serve as well. Without them, ANALYZE of a
-- 274,000-entry partition takes 330 ms instead of 600-640 ms (bench/README.md
-- A2). The statistics the plans depend on (tenant, account, actor, resource
-- type, entity, time, and the extended statistics per partition) stay.
-- Set on the parent, the target reaches the existing partitions.
alter table audit.log
  alter column old_values set statistics 0,
  alter column new_values set statistics 0,
  alter column context set statistics 0,
  alter column actor_email set statistics 0,
  alter column actor_name set statistics 0;

-- A new partition is a standalone table attached afterwards, which does not
-- inherit per-column statistics targets: copy every target set on audit.log.
create or replace function audit_private.create_log_partition(part_name text, range_start timestamptz, range_end timestamptz)
  returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  col record;
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
  -- the statistics targets of audit.log's columns (-1 before PostgreSQL 17, null since: the default)
  for col in
    select a.attname, a.attstattarget from pg_attribute a
     where a.attrelid = 'audit.log'::regclass and a.attnum > 0 and not a.attisdropped and coalesce(a.attstattarget, -1) >= 0
  loop
    execute format('alter table audit.%I alter column %I set statistics %s', part_name, col.attname, col.attstattarget);
  end loop;
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
