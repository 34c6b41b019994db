--! Previous: sha1:6ad13a142c23eb2e4cbe155a1bf26b87f1c65896
--! Hash: sha1:2ec57dfbc1f8dbf2e3b828094b721a1685d001fd
--! Message: The actor read inline by the compiled capture functions

--------------------------------------------------------------------------------
-- The actor read inline by the compiled capture functions
--------------------------------------------------------------------------------
-- Calling audit_private.current_actor() and reading five fields of the
-- record it returns cost a single-row capture ~20 µs of its ~100 µs (bench
-- C18); reading the context into scalar variables inside the compiled
-- function halves that. current_actor() stays for the fallbacks.
-- (Re)defines the compiled capture function of a table and operation: the
-- statement as static SQL, or, when stmt is null, a function that refuses
-- the write because the capture statement is missing.
create or replace function audit_private.define_capture_function(tbl regclass, op text, stmt text) returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $def$
declare
  fn text := audit_private.capture_function_name(tbl, op);
  body text;
  tbl_name text := tbl::text;
begin
  if stmt is null then
    body := format($b$
begin
  raise exception 'audit: %s on %s has no capture statement; run audit.track_table() again';
end
$b$, op, replace(tbl_name, '''', ''''''));
  else
    if position('$capture$' in stmt) > 0 then
      raise exception 'audit: the capture statement of % % contains "$capture$"', tbl, op using errcode = '22023';
    end if;
    -- the actor comes from the function's variable instead of parameters $1..$5
    stmt := replace(stmt, 'select tenant_id, account_id, $1, $2, $3, $4, action,',
                          'select tenant_id, account_id, _actor_type, _actor_id, _actor_email, _actor_name, action,');
    stmt := replace(stmt, 'old_values, new_values, $5 from (', 'old_values, new_values, _context from (');
    body := format($b$
#variable_conflict use_column
declare
  _raw text := current_setting('audit.context', true);
  _ctx jsonb;
  _actor_type text;
  _actor_id uuid;
  _actor_email text;
  _actor_name text;
  _context jsonb;
begin
  -- The application's context, read inline (scalar variables, no function
  -- call); without one, current_actor() falls back to the JWT subject or
  -- the database role.
  if _raw is not null and _raw <> '' then
    _ctx := _raw::jsonb;
    _actor_type := _ctx->>'actor_type';
    _actor_id := (_ctx->>'actor_id')::uuid;
    _actor_email := _ctx->>'actor_email';
    _actor_name := _ctx->>'actor_name';
    _context := coalesce(_ctx->'context', '{}');
  else
    select a.actor_type, a.actor_id, a.actor_email, a.actor_name, a.context
      into _actor_type, _actor_id, _actor_email, _actor_name, _context
      from audit_private.current_actor() a;
  end if;
  %s;
  return null;
end
$b$, stmt);
  end if;
  -- enable_nestloop = off: the plan is cached, and was made for the size the
  -- transition tables had then; a nested loop planned for one row would pair
  -- the old and new rows of a 100,000-row update quadratically. A hash join
  -- costs nothing for one row and adapts to any size.
  execute format($f$create or replace function audit_private.%I() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  set enable_nestloop = off
  as $capture$%s$capture$$f$, fn, body);
  execute format('comment on function audit_private.%I() is %L', fn,
    format('Captures %s on %s into audit.log (compiled from audit_private.capture_statements by audit.track_table()).', op, tbl));
end
$def$;
comment on function audit_private.define_capture_function(regclass, text, text) is 'Compiles a capture statement into the static plpgsql trigger function of its table and operation.';


-- Recompile every capture function from its stored statement (the
-- _100_compile trigger of capture_statements calls define_capture_function).
update audit_private.capture_statements set statement = statement;
