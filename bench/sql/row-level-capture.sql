-- A row-level twin of the installed capture, for side-by-side measurement
-- only: for every tracked table and operation, an AFTER ... FOR EACH ROW
-- trigger (created disabled, named _901_audit_row_<op>) whose plpgsql
-- function runs the very statement the statement-level trigger runs, with the
-- transition tables replaced by the trigger's NEW / OLD row (static SQL, so
-- its plan is cached per session; the actor is read for every row).
create schema if not exists bench;

do $do$
declare
  s record;
  stmt text;
  fn text;
begin
  for s in select c.table_name, c.operation, c.statement from audit_private.capture_statements c loop
    stmt := s.statement;
    -- the compiled function's actor variables become fields of the record read per row
    stmt := regexp_replace(stmt, '\m_actor_(type|id|email|name)\M', 'actor.actor_\1', 'g');
    stmt := regexp_replace(stmt, '\m_context\M', 'actor.context', 'g');
    stmt := replace(stmt, 'from old_rows as old join new_rows as new on new.id = old.id', 'from (select) as _row');
    stmt := replace(stmt, 'from new_rows as new', 'from (select) as _row');
    stmt := replace(stmt, 'from old_rows as old', 'from (select) as _row');
    if stmt ~ '(old|new)_rows' then
      raise exception 'row-level-capture.sql: cannot turn the capture statement of % % into a row-level one: %', s.table_name, s.operation, s.statement;
    end if;
    fn := format('bench.capture_row_%s_%s', s.table_name::oid, lower(s.operation));
    execute format($f$
      create or replace function %s() returns trigger
        language plpgsql volatile security definer
        set search_path = pg_catalog, pg_temp
        as $body$
      #variable_conflict use_variable
      declare
        actor record;
      begin
        actor := audit_private.current_actor();
        %s;
        return null;
      end
      $body$ $f$, fn, stmt);
    execute format('drop trigger if exists %I on %s', '_901_audit_row_' || lower(s.operation), s.table_name);
    execute format('create trigger %I after %s on %s for each row execute function %s()',
                   '_901_audit_row_' || lower(s.operation), s.operation, s.table_name, fn);
    execute format('alter table %s disable trigger %I', s.table_name, '_901_audit_row_' || lower(s.operation));
  end loop;
end
$do$;
