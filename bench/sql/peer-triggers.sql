-- Run before a file of bench/peers/: how a peer takes the product's place.
-- bench.install_peer(fn, required_columns) drops the product's capture
-- triggers (_900_audit_insert|update|delete) on every business table and
-- creates, under the same names, AFTER ROW triggers calling fn on the tables
-- that have every required column (a peer reading new.tenant_id cannot run
-- on app.tenants). Same names, so the bench's switches turn the peer on and
-- off as they do the product's capture.
create schema if not exists bench;

create or replace procedure bench.install_peer(fn regprocedure, required_columns text[] default '{}')
  language plpgsql
  set search_path = pg_catalog, pg_temp
  as $$
declare
  t record;
  op text;
begin
  for t in
    select c.oid::regclass as tbl,
           (select count(distinct a.attname) from pg_attribute a
             where a.attrelid = c.oid and a.attname = any (required_columns) and not a.attisdropped) = cardinality(required_columns) as fits
      from pg_class c where c.relnamespace = 'app'::regnamespace and c.relkind = 'r'
  loop
    foreach op in array array['insert', 'update', 'delete'] loop
      execute format('drop trigger if exists %I on %s', '_900_audit_' || op, t.tbl);
      if t.fits then
        execute format('create trigger %I after %s on %s for each row execute function %s()', '_900_audit_' || op, op, t.tbl, fn::oid::regproc);
      end if;
    end loop;
  end loop;
end
$$;
