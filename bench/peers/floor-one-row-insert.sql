-- Not a design: the floor of the single-row section. The least any audit
-- trigger writing into this audit.log can do per write: one AFTER ROW
-- trigger per table that inserts one row of the same shape into the same
-- partitioned table, with the same seven indexes, the same key distribution
-- (tenant, account and entity from the row, the actor from the context) and
-- values of typical size, but no diff, no events, no redaction and no
-- fallbacks. What separates the product's capture from this row is the cost
-- of its logic; what separates this row from the unaudited side is the cost
-- of storing an audit entry at all. It replaces the product's capture
-- triggers (_900_audit_*) under the same names, so that the bench's
-- switches turn it on and off.
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
                           entity_id, event, old_values, new_values, context)
    values (old.tenant_id, old.account_id, 'user', (ctx->>'actor_id')::uuid, ctx->>'actor_email', ctx->>'actor_name',
            'delete', tg_table_name, old.id::text, tg_table_name || '.deleted',
            '{"description": "Reviewed in request 878817464"}', null, coalesce(ctx->'context', '{}'));
  else
    insert into audit.log (tenant_id, account_id, actor_type, actor_id, actor_email, actor_name, action, resource_type,
                           entity_id, event, old_values, new_values, context)
    values (new.tenant_id, new.account_id, 'user', (ctx->>'actor_id')::uuid, ctx->>'actor_email', ctx->>'actor_name',
            lower(tg_op), tg_table_name, new.id::text, tg_table_name || '.' || lower(tg_op),
            '{"description": "Reviewed in request 878817464"}', '{"description": "Reviewed in request 372956805"}',
            coalesce(ctx->'context', '{}'));
  end if;
  return null;
end
$$;

-- The product's capture off; the floor's triggers on, under the same names
-- (bench/sql/peer-triggers.sql), on every table with a tenant and an account
-- column (the bench's workload writes only such tables).
call bench.install_peer('bench_floor.insert_one_row()', '{tenant_id,account_id}');
