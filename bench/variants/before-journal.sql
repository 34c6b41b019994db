-- The append-only guard as it was before migration 000015 (no maintenance
-- journal): what 000015 changed on audit.log's path, measured against the
-- migrated schema in the same run (npm run bench -- --only writes,bulk
-- --variants migrated,before-journal). Inserts never call this guard (it
-- fires on UPDATE and DELETE of entries only), so the figures of both should
-- be equal within the run's noise.
create or replace function audit_private.refuse_log_change()
 returns trigger
 language plpgsql
as $function$
begin
  if audit_private.in_maintenance() then
    return case tg_op when 'DELETE' then old else new end;
  end if;
  raise exception 'audit.log is append-only: % of audit entries is not allowed', tg_op
    using errcode = '42501',
          hint = 'Maintenance (e.g. erasing a deleted tenant) runs as the owner with: set local audit.maintenance = ''on''';
end
$function$;
