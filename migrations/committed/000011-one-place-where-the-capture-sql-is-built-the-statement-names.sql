--! Previous: sha1:b39ac4f1663a3619002e4c2157885be8c6280e0e
--! Hash: sha1:015eb3fe3e25a454ffcfe60f1d6892b6ee8bff13
--! Message: One place where the capture SQL is built: the statement names the actor variables, the function body wraps it, capture validated by firing it; track_table and install_capture idempotent; redact() dropped

--------------------------------------------------------------------------------
-- One place where the capture SQL is built; tracking applied idempotently
--------------------------------------------------------------------------------
-- Until now the compiled capture function of a table and operation was the
-- output of build_capture_statement (000005) patched by text replacement in
-- define_capture_function (000007), and its validation ran EXPLAIN on the
-- statement with placeholders. Now:
--
-- * build_capture_statement builds the INSERT exactly as the compiled
--   function runs it (the actor variables named directly, no placeholders to
--   replace), laid out one clause per line so that the compiled function in
--   db/schema/audit-capture-compiled.sql reads as SQL;
-- * capture_function_body wraps that statement in the function body (the
--   actor read inline), and define_capture_function only executes it;
-- * install_capture validates a capture by compiling it and firing it on an
--   empty statement of its table (the real trigger, the real transition
--   tables), and leaves a table alone when its compiled capture is already
--   what the configuration produces: migrations/tracking.sql, applied after
--   every migration, is a no-op (no lock on a business table) unless it or
--   the builder changed;
-- * track_table writes its configuration rows only when they differ.
--
-- The compiled functions run the same SQL as before (only the layout of the
-- statement changed): bench/README.md has the figures before and after.

--------------------------------------------------------------------------------
-- The statement
--------------------------------------------------------------------------------
create or replace function audit_private.build_capture_statement(tbl regclass, op text) returns text
  language plpgsql stable
  set search_path = pg_catalog, pg_temp
  as $$
declare
  cfg audit.tracked_tables;
  src text := case op when 'DELETE' then 'old' else 'new' end;
  -- continuation lines of the select list inside the derived table
  nl constant text := E'\n                 ';
  event_case text := '';
  action_case text := '';
  rule record;
  cond text;
  col record;
  pairs text[] := '{}';
  old_parts text[] := '{}';
  new_parts text[] := '{}';
  changes text[] := '{}';
  changed text;
  old_expr text;
  new_expr text;
  from_clause text;
  where_clause text;
  account_expr text;
  i integer;
begin
  select * into strict cfg from audit.tracked_tables where table_name = tbl;

  -- The rules, in order, become one CASE for the event and one for its
  -- action: the first rule whose condition holds names the row's event; a
  -- row no rule matches has no event and writes no entry.
  for rule in
    select r.condition, r.event, e.action
      from audit.event_rules r join audit.events e using (event)
     where r.table_name = tbl and r.operation = op
     order by r.position
  loop
    cond := coalesce(nullif(btrim(rule.condition), ''), 'true');
    event_case := event_case || format('%s  when (%s) then %L', nl, cond, rule.event);
    action_case := action_case || format('%s  when (%s) then %L', nl, cond, rule.action);
  end loop;
  if event_case = '' then
    return null;
  end if;

  -- One value expression per recorded column and side: secrets as
  -- "[redacted]" (null stays null), JSON searched for secret keys.
  for col in
    select a.attname::text as name, a.atttypid,
           a.attname = any(cfg.redacted_columns) as secret,
           a.atttypid in ('json'::regtype, 'jsonb'::regtype) as is_json
      from pg_attribute a
     where a.attrelid = tbl and a.attnum > 0 and not a.attisdropped
       and not (a.attname = any(cfg.ignored_columns))
       -- the id never changes (refuse_id_change) and pairs old with new rows
       and not (op = 'UPDATE' and a.attname = 'id')
     order by a.attnum
  loop
    if op = 'UPDATE' then
      -- a column-wise diff: typed comparison where equality means identical
      -- text, text comparison otherwise (compares_as_text)
      changed := case when audit_private.compares_as_text(col.atttypid)
                      then format('new.%1$I::text is distinct from old.%1$I::text', col.name)
                      else format('new.%1$I is distinct from old.%1$I', col.name) end;
      changes := changes || changed;
      old_parts := old_parts || format('case when %s then jsonb_build_object(%L, %s) else ''{}''::jsonb end',
                                       changed, col.name, audit_private.capture_value('old', col.name, col.secret, col.is_json, cfg.redacted_keys, cfg.secret_key_column));
      new_parts := new_parts || format('case when %s then jsonb_build_object(%L, %s) else ''{}''::jsonb end',
                                       changed, col.name, audit_private.capture_value('new', col.name, col.secret, col.is_json, cfg.redacted_keys, cfg.secret_key_column));
    else
      pairs := pairs || format('%L, %s', col.name, audit_private.capture_value(src, col.name, col.secret, col.is_json, cfg.redacted_keys, cfg.secret_key_column));
    end if;
  end loop;

  if op = 'UPDATE' then
    if cardinality(old_parts) = 0 then
      old_expr := '''{}''::jsonb';
      new_expr := '''{}''::jsonb';
    else
      old_expr := array_to_string(old_parts, nl || '  || ');
      new_expr := array_to_string(new_parts, nl || '  || ');
    end if;
    from_clause := 'old_rows as old join new_rows as new on new.id = old.id';
    -- an update that changes only noise (ignored) columns writes no entry
    where_clause := case when cardinality(changes) = 0 then 'false'
                         else '(' || array_to_string(changes, E'\n                  or ') || ')' end;
  else
    -- jsonb_build_object takes at most 100 arguments: 50 columns per call
    new_expr := null;
    i := 1;
    while i <= cardinality(pairs) loop
      new_expr := concat_ws(nl || '  || ', new_expr, format('jsonb_build_object(%s)', array_to_string(pairs[i:i + 49], ', ')));
      i := i + 50;
    end loop;
    new_expr := coalesce(new_expr, '''{}''::jsonb');
    if op = 'INSERT' then
      old_expr := 'null::jsonb';
      from_clause := 'new_rows as new';
    else
      old_expr := new_expr;
      new_expr := 'null::jsonb';
      from_clause := 'old_rows as old';
    end if;
    where_clause := 'true';
  end if;

  account_expr := case when cfg.account_column is null then 'null::uuid' else format('%I.%I', src, cfg.account_column) end;

  -- The actor is read once per statement into the compiled function's
  -- variables (capture_function_body); the statement names them directly.
  return format(
    E'insert into audit.log (tenant_id, account_id, actor_type, actor_id, actor_email, actor_name,\n'
    || E'                         action, resource_type, entity_id, event, old_values, new_values, context)\n'
    || E'  select tenant_id, account_id, _actor_type, _actor_id, _actor_email, _actor_name,\n'
    || E'         action, %L, entity_id, event, old_values, new_values, _context\n'
    || E'    from (select %s.%I as tenant_id,'
    || '%s%s as account_id,'
    || '%s%s.id::text as entity_id,'
    || '%scase%s%send as event,'
    || '%scase%s%send as action,'
    || '%s%s as old_values,'
    || '%s%s as new_values'
    || E'\n            from %s'
    || E'\n           where %s) e'
    || E'\n   where e.event is not null',
    cfg.resource_type,
    src, cfg.tenant_column,
    nl, account_expr,
    nl, src,
    nl, event_case, nl,
    nl, action_case, nl,
    nl, old_expr,
    nl, new_expr,
    from_clause,
    where_clause);
end
$$;
comment on function audit_private.build_capture_statement(regclass, text) is 'Generates the capture INSERT of one table and operation from audit.tracked_tables and audit.event_rules: the rules as a CASE, column-wise values and diff, inline redaction, the actor from the compiled function''s variables.';

--------------------------------------------------------------------------------
-- The compiled function around it
--------------------------------------------------------------------------------
-- The body of the compiled capture function of a table and operation: the
-- actor read inline, then the statement. Without a statement, a body that
-- refuses the write.
create or replace function audit_private.capture_function_body(tbl regclass, op text, stmt text) returns text
  language plpgsql immutable
  set search_path = pg_catalog, pg_temp
  as $def$
begin
  if stmt is null then
    return format($b$
begin
  raise exception 'audit: %s on %s has no capture statement; run audit.track_table() again';
end
$b$, op, replace(tbl::text, '''', ''''''));
  end if;
  if position('$capture$' in stmt) > 0 then
    raise exception 'audit: the capture statement of % % contains "$capture$"', tbl, op using errcode = '22023';
  end if;
  return format($b$
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
end
$def$;
comment on function audit_private.capture_function_body(regclass, text, text) is 'The plpgsql body of the compiled capture function of a table and operation: the actor read once, then the capture statement (or, without one, a refusal of the write).';

-- (Re)defines the compiled capture function of a table and operation when its
-- source differs from what capture_function_body produces.
create or replace function audit_private.define_capture_function(tbl regclass, op text, stmt text) returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $def$
declare
  fn text := audit_private.capture_function_name(tbl, op);
  body text := audit_private.capture_function_body(tbl, op, stmt);
begin
  if exists (select from pg_proc p
              where p.pronamespace = 'audit_private'::regnamespace and p.proname = fn
                and p.pronargs = 0 and p.prosrc = body) then
    return;
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
comment on function audit_private.define_capture_function(regclass, text, text) is 'Compiles a capture statement into the static plpgsql trigger function of its table and operation (nothing to do when it is compiled already).';

--------------------------------------------------------------------------------
-- Installing: triggers, and validation by firing the compiled function
--------------------------------------------------------------------------------
create or replace function audit_private.install_capture(tbl regclass) returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  op text;
  stmt text;
  fn text;
  trigger_name text;
  trigger_def text;
  probe text;
begin
  foreach op in array array['INSERT', 'UPDATE', 'DELETE'] loop
    trigger_name := '_900_audit_' || lower(op);
    fn := audit_private.capture_function_name(tbl, op);
    stmt := audit_private.build_capture_statement(tbl, op);
    if stmt is null then
      -- no rule for this operation: no trigger, no function (dropped only
      -- when present: DROP TRIGGER IF EXISTS locks the table all the same)
      if exists (select from pg_trigger t where t.tgrelid = tbl and t.tgname = trigger_name) then
        execute format('drop trigger %I on %s', trigger_name, tbl);
      end if;
      delete from audit_private.capture_statements s where s.table_name = tbl and s.operation = op;
      if exists (select from pg_proc p where p.pronamespace = 'audit_private'::regnamespace and p.proname = fn and p.pronargs = 0) then
        execute format('drop function audit_private.%I()', fn);
      end if;
      continue;
    end if;
    trigger_def := format(
      'create trigger %I after %s on %s referencing %s for each statement execute function audit_private.%I()',
      trigger_name, op, tbl,
      case op when 'INSERT' then 'new table as new_rows'
              when 'DELETE' then 'old table as old_rows'
              else 'old table as old_rows new table as new_rows' end,
      fn);
    -- Already installed as the configuration says: touch nothing (no lock
    -- on the business table).
    continue when exists (select from audit_private.capture_statements s
                           where s.table_name = tbl and s.operation = op and s.statement = stmt)
              and exists (select from pg_proc p
                           where p.pronamespace = 'audit_private'::regnamespace and p.proname = fn
                             and p.pronargs = 0 and p.prosrc = audit_private.capture_function_body(tbl, op, stmt))
              and exists (select from pg_trigger t
                           where t.tgrelid = tbl and t.tgname = trigger_name and t.tgenabled = 'O'
                             and t.tgfoid = to_regprocedure(format('audit_private.%I()', fn)));

    -- The statement (its row's trigger compiles the function), then the trigger.
    insert into audit_private.capture_statements as s (table_name, operation, statement) values (tbl, op, stmt)
      on conflict (table_name, operation) do update set statement = excluded.statement
      where s.statement is distinct from excluded.statement;
    perform audit_private.define_capture_function(tbl, op, stmt);
    execute format('drop trigger if exists %I on %s', trigger_name, tbl);
    execute trigger_def;

    -- Validate by running the compiled function: an empty statement of this
    -- operation fires the trigger with empty transition tables, so every
    -- rule condition and column is resolved and planned now, not at the
    -- first write. Its effects (none: no rows) are undone either way.
    probe := case op
      when 'INSERT' then format('insert into %1$s (id) overriding system value select id from %1$s where false', tbl)
      when 'UPDATE' then format('update %1$s set id = id where false', tbl)
      else format('delete from %1$s where false', tbl) end;
    begin
      execute probe;
      raise exception using errcode = 'AT000';  -- undo the probe
    exception
      when sqlstate 'AT000' then null;
      when others then
        raise exception 'audit.track_table: % % rule of % is not valid: %', case op when 'DELETE' then 'a' else 'an' end, lower(op), tbl, sqlerrm
          using errcode = '22023';
    end;
  end loop;

  if not exists (select from pg_trigger where tgrelid = tbl and tgname = '_900_audit_truncate') then
    execute format('create trigger _900_audit_truncate before truncate on %s for each statement execute function audit_private.refuse_truncate()', tbl);
  end if;
  if not exists (select from pg_trigger where tgrelid = tbl and tgname = '_010_audit_immutable_id') then
    execute format('create trigger _010_audit_immutable_id before update of id on %s for each row when (old.id is distinct from new.id) execute function audit_private.refuse_id_change()', tbl);
  end if;
end
$$;
comment on function audit_private.install_capture(regclass) is 'Generates, compiles, attaches and validates the capture of a tracked table from its configuration; leaves a table whose capture is already current untouched.';

--------------------------------------------------------------------------------
-- track_table: the configuration rows written only when they differ
--------------------------------------------------------------------------------
create or replace function audit.track_table(
  table_name regclass,
  resource_type text,
  rules jsonb,
  ignored_columns text[] default '{updated_at}',
  redacted_columns text[] default '{}',
  redacted_keys text default '(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential_value)',
  tenant_column name default 'tenant_id',
  account_column name default 'account_id',
  secret_key_column name default null
) returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  tbl alias for table_name;
  rule jsonb;
  op text;
  col text;
  wanted jsonb := '[]';
begin
  if not exists (select from pg_attribute where attrelid = tbl and attname = 'id' and not attisdropped) then
    raise exception 'audit.track_table: % has no id column', tbl using errcode = '22023';
  end if;
  if not exists (select from pg_attribute where attrelid = tbl and attname = tenant_column and not attisdropped) then
    raise exception 'audit.track_table: % has no tenant column %', tbl, tenant_column using errcode = '22023';
  end if;
  if account_column is not null
     and not exists (select from pg_attribute where attrelid = tbl and attname = account_column and not attisdropped) then
    -- tables without an account column are tenant-level
    account_column := null;
  end if;
  if secret_key_column is not null
     and not exists (select from pg_attribute where attrelid = tbl and attname = secret_key_column and not attisdropped) then
    raise exception 'audit.track_table: % has no column % (secret_key_column)', tbl, secret_key_column using errcode = '22023';
  end if;
  foreach col in array ignored_columns || redacted_columns loop
    if not exists (select from pg_attribute where attrelid = tbl and attname = col and not attisdropped) then
      raise exception 'audit.track_table: % has no column %', tbl, col using errcode = '22023';
    end if;
  end loop;
  if rules is null or jsonb_typeof(rules) <> 'array' or jsonb_array_length(rules) = 0 then
    raise exception 'audit.track_table: rules must be a non-empty JSON array of {"on", "event", "when"?}' using errcode = '22023';
  end if;
  for rule in select * from jsonb_array_elements(rules) loop
    op := upper(rule->>'on');
    if op is null or op not in ('INSERT', 'UPDATE', 'DELETE') then
      raise exception 'audit.track_table: rule % must say "on": insert, update or delete', rule using errcode = '22023';
    end if;
    if not exists (select from audit.events e where e.event = rule->>'event') then
      raise exception 'audit.track_table: rule % names an event missing from audit.events', rule using errcode = '22023';
    end if;
    wanted := wanted || jsonb_build_array(jsonb_build_object(
      'operation', op, 'position', jsonb_array_length(wanted) + 1, 'condition', rule->>'when', 'event', rule->>'event'));
  end loop;

  if not exists (select from audit.tracked_tables t
                  where t.table_name = tbl
                    and (t.resource_type, t.tenant_column, t.account_column, t.ignored_columns, t.redacted_columns,
                         t.redacted_keys, t.secret_key_column)
                        is not distinct from
                        (track_table.resource_type, track_table.tenant_column, track_table.account_column,
                         track_table.ignored_columns, track_table.redacted_columns, track_table.redacted_keys,
                         track_table.secret_key_column)) then
    insert into audit.tracked_tables as t
           (table_name, resource_type, tenant_column, account_column, ignored_columns, redacted_columns, redacted_keys, secret_key_column)
    values (tbl, track_table.resource_type, track_table.tenant_column, track_table.account_column, track_table.ignored_columns,
            track_table.redacted_columns, track_table.redacted_keys, track_table.secret_key_column)
    on conflict on constraint tracked_tables_pkey do update
       set resource_type = excluded.resource_type, tenant_column = excluded.tenant_column,
           account_column = excluded.account_column, ignored_columns = excluded.ignored_columns,
           redacted_columns = excluded.redacted_columns, redacted_keys = excluded.redacted_keys,
           secret_key_column = excluded.secret_key_column,
           updated_at = now();
  end if;

  if wanted is distinct from (
       select coalesce(jsonb_agg(jsonb_build_object('operation', r.operation, 'position', r.position,
                                                    'condition', r.condition, 'event', r.event) order by r.position), '[]')
         from audit.event_rules r where r.table_name = tbl) then
    delete from audit.event_rules r where r.table_name = tbl;
    insert into audit.event_rules (table_name, operation, position, condition, event)
    select tbl, w->>'operation', (w->>'position')::integer, w->>'condition', w->>'event'
      from jsonb_array_elements(wanted) w;
  end if;

  perform audit_private.install_capture(tbl);
end
$$;
comment on function audit.track_table(regclass, text, jsonb, text[], text[], text, name, name, name) is
E'Starts (or reconfigures) auditing of a table. rules: an ordered JSON array of {"on": "insert"|"update"|"delete", "event": "<catalogued event>", "when": "<SQL condition over old and new>"}; the first matching rule names the event, unmatched rows are not recorded. ignored_columns are left out of values and updates touching only them are not recorded; redacted_columns and JSON keys matching redacted_keys are stored as "[redacted]"; in key/value tables, secret_key_column names the key column, and the JSON columns of rows whose key matches redacted_keys are stored as "[redacted]" whole. Idempotent: a call that changes nothing touches nothing. The project''s configuration lives in migrations/tracking.sql.';

--------------------------------------------------------------------------------
-- Superseded
--------------------------------------------------------------------------------
-- No caller since 000003 (redaction is generated inline by capture_value).
drop function if exists audit_private.redact(jsonb, text[], text[], text);

-- Recompile every tracked table with the builder above.
do $$
declare
  t regclass;
begin
  for t in select table_name from audit.tracked_tables order by table_name::text loop
    perform audit_private.install_capture(t);
  end loop;
end
$$;
