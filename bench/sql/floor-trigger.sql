-- Not a design: the floor of the single-row section, measured beside the
-- capture in every run (the third side of each alternation). The least any audit
-- trigger writing into this audit.log can do per write: one AFTER ROW
-- trigger per table that inserts one row of the same shape into the same
-- partitioned table, with the same seven indexes, the same key distribution
-- (tenant, account and entity from the row, the actor from the context) and
-- values of typical size (a label of a typical name's length), but no diff, no events, no redaction and no
-- fallbacks. What separates the product's capture from this row is the cost
-- of its logic; what separates this row from the unaudited side is the cost
-- of storing an audit entry at all. Installed disabled as _902_audit_floor_*
-- next to the product's capture; the bench's switch (setCaptureMode 'floor')
-- turns it on and the capture off.
create schema if not exists bench_floor;

create or replace function bench_floor.insert_one_row() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  ctx jsonb := current_setting('audit.context', true)::jsonb;
begin
  if tg_op = 'DELETE' then
    insert into audit.log (tenant_id, account_id, actor_type, actor_id, actor_email, actor_name, action, resource_type,
                           entity_id, entity_label, event, old_values, new_values, context)
    values (old.tenant_id, old.account_id, 'user', (ctx->>'actor_id')::uuid, ctx->>'actor_email', ctx->>'actor_name',
            'delete', tg_table_name, old.id::text, 'Invoice sync bot', tg_table_name || '.deleted',
            '{"description": "Reviewed in request 878817464"}', null, coalesce(ctx->'context', '{}'));
  else
    insert into audit.log (tenant_id, account_id, actor_type, actor_id, actor_email, actor_name, action, resource_type,
                           entity_id, entity_label, event, old_values, new_values, context)
    values (new.tenant_id, new.account_id, 'user', (ctx->>'actor_id')::uuid, ctx->>'actor_email', ctx->>'actor_name',
            lower(tg_op), tg_table_name, new.id::text, 'Invoice sync bot', tg_table_name || '.' || lower(tg_op),
            '{"description": "Reviewed in request 878817464"}', '{"description": "Reviewed in request 372956805"}',
            coalesce(ctx->'context', '{}'));
  end if;
  return null;
end
$$;

-- AFTER ROW triggers, disabled, on every table with a tenant and an account
-- column (the bench's workload writes only such tables).
do $$
declare
  t regclass;
  op text;
begin
  for t in
    select c.oid::regclass from pg_class c
     where c.relnamespace = 'app'::regnamespace and c.relkind = 'r'
       and (select count(*) from pg_attribute a
             where a.attrelid = c.oid and a.attname in ('tenant_id', 'account_id') and not a.attisdropped) = 2
  loop
    foreach op in array array['insert', 'update', 'delete'] loop
      execute format('drop trigger if exists %I on %s', '_902_audit_floor_' || op, t);
      execute format('create trigger %I after %s on %s for each row execute function bench_floor.insert_one_row()', '_902_audit_floor_' || op, op, t);
      execute format('alter table %s disable trigger %I', t, '_902_audit_floor_' || op);
    end loop;
  end loop;
end
$$;
