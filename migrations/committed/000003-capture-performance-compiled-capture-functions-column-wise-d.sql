--! Previous: sha1:f45cbea1f0f1dff34377933c421ece0c13d85b18
--! Hash: sha1:d7b039b1701b152b18b226d6f28f48bfa7c0be31
--! Message: Capture performance: compiled capture functions, column-wise diff, non-blocking partitions, resource-type index

-- Capture performance (issue 4), measured in bench/README.md:
--
-- 1. Compiled capture. The statement-level trigger no longer EXECUTEs the
--    generated INSERT ... SELECT (planned again for every statement: about
--    0.3 ms of CPU, most of a single-row write's overhead). Every row of
--    audit_private.capture_statements is compiled, by a trigger on that
--    table, into a per-table, per-operation plpgsql function holding the
--    statement as static SQL, whose plan is cached per session.
--    capture_statements stays the source of truth: deleting a row turns its
--    function into one that refuses the write ("has no capture statement").
-- 2. Column-wise diff. Updates compare the columns one by one in generated
--    SQL (typed comparison where equality means identical text, text
--    comparison otherwise, as the hstore diff did) and build old_values /
--    new_values from the changed columns only, instead of hstore(new) -
--    hstore(old) and two to_jsonb(row) per row (the lateral subqueries were
--    also flattened into every reference and evaluated up to 7 times).
--    Inserts and deletes build the row with jsonb_build_object. Redaction is
--    generated inline (secret columns) or calls redact_keys only on JSON
--    columns. Same values, same events, same noise rules.
-- 3. Non-blocking partition creation. audit.ensure_partitions creates a new
--    month as a standalone table and ATTACHes it (SHARE UPDATE EXCLUSIVE on
--    audit.log, which writers and readers never wait for) instead of
--    CREATE TABLE ... PARTITION OF (ACCESS EXCLUSIVE on audit.log: behind
--    any open read transaction it queued every writer).

--------------------------------------------------------------------------------
-- 1. Compiled capture functions
--------------------------------------------------------------------------------
create or replace function audit_private.capture_function_name(tbl regclass, op text) returns text
  language sql stable
  set search_path = pg_catalog, pg_temp
  as $$
    select case when length(base) <= 55 then base else left(base, 46) || '_' || left(md5(base), 8) end || '_' || lower(op)
      from (select 'capture_' || n.nspname || '_' || c.relname as base
              from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where c.oid = tbl) b
  $$;
comment on function audit_private.capture_function_name(regclass, text) is 'The name (in audit_private) of the compiled capture function of a table and operation, e.g. capture_app_processes_update.';

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
                          'select tenant_id, account_id, _actor.actor_type, _actor.actor_id, _actor.actor_email, _actor.actor_name, action,');
    stmt := replace(stmt, 'old_values, new_values, $5 from (', 'old_values, new_values, _actor.context from (');
    body := format($b$
#variable_conflict use_column
declare
  _actor record;
begin
  _actor := audit_private.current_actor();
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

create or replace function audit_private.compile_capture() returns trigger
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
begin
  if tg_op = 'DELETE' or (tg_op = 'UPDATE' and (old.table_name, old.operation) is distinct from (new.table_name, new.operation)) then
    perform audit_private.define_capture_function(old.table_name, old.operation, null);
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    perform audit_private.define_capture_function(new.table_name, new.operation, new.statement);
  end if;
  return null;
end
$$;
comment on function audit_private.compile_capture() is 'Keeps the compiled capture functions in step with audit_private.capture_statements.';

drop trigger if exists _100_compile on audit_private.capture_statements;
create trigger _100_compile after insert or update or delete on audit_private.capture_statements
  for each row execute function audit_private.compile_capture();

--------------------------------------------------------------------------------
-- 2. The generated statement: a column-wise diff
--------------------------------------------------------------------------------
-- Types whose equality means identical text output (and jsonb, whose
-- equality is JSON equality): compared as they are. Any other type is
-- compared as text, exactly as the hstore diff did.
create or replace function audit_private.compares_as_text(type_oid oid) returns boolean
  language sql immutable parallel safe
  as $$
    select type_oid not in ('text'::regtype, 'character varying'::regtype, 'character'::regtype, 'uuid'::regtype,
                            'smallint'::regtype, 'integer'::regtype, 'bigint'::regtype, 'boolean'::regtype,
                            'date'::regtype, 'timestamp without time zone'::regtype, 'timestamp with time zone'::regtype,
                            'bytea'::regtype, 'oid'::regtype, '"char"'::regtype, 'name'::regtype, 'jsonb'::regtype)
  $$;
comment on function audit_private.compares_as_text(oid) is 'Whether the capture detects changes of a column of this type by its text output (types whose equality is looser than their text, e.g. numeric, citext, or that have none, e.g. json).';

create or replace function audit_private.build_capture_statement(tbl regclass, op text) returns text
  language plpgsql stable
  set search_path = pg_catalog, pg_temp
  as $$
declare
  cfg audit.tracked_tables;
  src text := case op when 'DELETE' then 'old' else 'new' end;
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

  for rule in
    select r.condition, r.event, e.action
      from audit.event_rules r join audit.events e using (event)
     where r.table_name = tbl and r.operation = op
     order by r.position
  loop
    cond := coalesce(nullif(btrim(rule.condition), ''), 'true');
    event_case := event_case || format(' when (%s) then %L', cond, rule.event);
    action_case := action_case || format(' when (%s) then %L', cond, rule.action);
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
      changed := case when audit_private.compares_as_text(col.atttypid)
                      then format('new.%1$I::text is distinct from old.%1$I::text', col.name)
                      else format('new.%1$I is distinct from old.%1$I', col.name) end;
      changes := changes || changed;
      old_parts := old_parts || format('case when %s then jsonb_build_object(%L, %s) else ''{}''::jsonb end',
                                       changed, col.name, audit_private.capture_value('old', col.name, col.secret, col.is_json, cfg.redacted_keys));
      new_parts := new_parts || format('case when %s then jsonb_build_object(%L, %s) else ''{}''::jsonb end',
                                       changed, col.name, audit_private.capture_value('new', col.name, col.secret, col.is_json, cfg.redacted_keys));
    else
      pairs := pairs || format('%L, %s', col.name, audit_private.capture_value(src, col.name, col.secret, col.is_json, cfg.redacted_keys));
    end if;
  end loop;

  if op = 'UPDATE' then
    old_expr := coalesce(array_to_string(old_parts, ' || '), '''{}''::jsonb');
    new_expr := coalesce(array_to_string(new_parts, ' || '), '''{}''::jsonb');
    if cardinality(old_parts) = 0 then
      old_expr := '''{}''::jsonb';
      new_expr := '''{}''::jsonb';
    end if;
    from_clause := 'old_rows as old join new_rows as new on new.id = old.id';
    -- an update that changes only noise (ignored) columns writes no entry
    where_clause := case when cardinality(changes) = 0 then 'false' else '(' || array_to_string(changes, ' or ') || ')' end;
  else
    -- jsonb_build_object takes at most 100 arguments: 50 columns per call
    new_expr := null;
    i := 1;
    while i <= cardinality(pairs) loop
      new_expr := concat_ws(' || ', new_expr, format('jsonb_build_object(%s)', array_to_string(pairs[i:i + 49], ', ')));
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

  return format(
    'insert into audit.log (tenant_id, account_id, actor_type, actor_id, actor_email, actor_name,'
    || ' action, resource_type, entity_id, event, old_values, new_values, context)'
    || ' select tenant_id, account_id, $1, $2, $3, $4, action, %L, entity_id, event, old_values, new_values, $5'
    || ' from (select %s.%I as tenant_id, %s as account_id, %s.id::text as entity_id,'
    || ' case%s end as event, case%s end as action, %s as old_values, %s as new_values'
    || ' from %s where %s) e where e.event is not null',
    cfg.resource_type, src, cfg.tenant_column, account_expr, src,
    event_case, action_case, old_expr, new_expr, from_clause, where_clause);
end
$$;
comment on function audit_private.build_capture_statement(regclass, text) is 'Generates the capture INSERT of one table and operation from audit.tracked_tables and audit.event_rules: column-wise values and diff, inline redaction.';

create or replace function audit_private.capture_value(side text, col text, secret boolean, is_json boolean, redacted_keys text) returns text
  language sql immutable parallel safe
  as $$
    select case
             when secret then format('case when %s.%I is null then null::jsonb else ''"[redacted]"''::jsonb end', side, col)
             -- a JSON object's own keys are redacted inline (a subquery, no
             -- function call per row); nested objects and arrays by redact_keys
             when is_json then format(
               'case jsonb_typeof(to_jsonb(%1$s.%2$I))'
               || ' when ''object'' then (select coalesce(jsonb_object_agg(e.key, case when e.key ~* %3$L and e.value <> ''null''::jsonb then ''"[redacted]"''::jsonb'
               || ' when jsonb_typeof(e.value) in (''object'', ''array'') then audit_private.redact_keys(e.value, %3$L) else e.value end), ''{}''::jsonb)'
               || ' from jsonb_each(to_jsonb(%1$s.%2$I)) e)'
               || ' when ''array'' then audit_private.redact_keys(to_jsonb(%1$s.%2$I), %3$L)'
               || ' else to_jsonb(%1$s.%2$I) end',
               side, col, redacted_keys)
             else format('%s.%I', side, col)
           end
  $$;
comment on function audit_private.capture_value(text, text, boolean, boolean, text) is 'The SQL expression of one recorded column''s value in a capture statement, redacted as configured.';

-- plpgsql instead of SQL: a SQL function with subqueries is planned again at
-- every call (about 0.1 ms per JSON value); plpgsql keeps its plans. Scalars
-- inside objects and arrays are no longer sent through a call each.
create or replace function audit_private.redact_keys(value jsonb, pattern text) returns jsonb
  language plpgsql immutable parallel safe
  as $$
begin
  case jsonb_typeof(value)
    when 'object' then
      return (select coalesce(jsonb_object_agg(e.key,
                       case when e.key ~* pattern and e.value <> 'null'::jsonb then '"[redacted]"'::jsonb
                            when jsonb_typeof(e.value) in ('object', 'array') then audit_private.redact_keys(e.value, pattern)
                            else e.value end), '{}'::jsonb)
                from jsonb_each(value) e);
    when 'array' then
      return (select coalesce(jsonb_agg(case when jsonb_typeof(x.value) in ('object', 'array') then audit_private.redact_keys(x.value, pattern)
                                             else x.value end order by x.ordinality), '[]'::jsonb)
                from jsonb_array_elements(value) with ordinality x);
    else
      return value;
  end case;
end
$$;
comment on function audit_private.redact_keys(jsonb, text) is 'Replaces the values of JSON keys matching pattern (case-insensitive), at any depth, by "[redacted]".';

-- The compiled capture functions pin search_path already; a SET clause of
-- its own costs every audited statement a GUC save and restore.
alter function audit_private.current_actor() reset search_path;

--------------------------------------------------------------------------------
-- Installing the capture of a table: statements (compiled by the trigger
-- above) and the triggers that call the compiled functions.
--------------------------------------------------------------------------------
create or replace function audit_private.install_capture(tbl regclass) returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  op text;
  stmt text;
  trigger_name text;
begin
  delete from audit_private.capture_statements s where s.table_name = tbl;
  foreach op in array array['INSERT', 'UPDATE', 'DELETE'] loop
    trigger_name := '_900_audit_' || lower(op);
    execute format('drop trigger if exists %I on %s', trigger_name, tbl);
    stmt := audit_private.build_capture_statement(tbl, op);
    if stmt is null then
      execute format('drop function if exists audit_private.%I()', audit_private.capture_function_name(tbl, op));
      continue;
    end if;
    -- Fail now, not at the first write, when a condition is not valid SQL.
    begin
      execute 'explain ' || replace(replace(stmt, 'old_rows', format('(select * from %s limit 0)', tbl)),
                                    'new_rows', format('(select * from %s limit 0)', tbl))
        using null::text, null::uuid, null::text, null::text, null::jsonb;
    exception when others then
      raise exception 'audit.track_table: a % rule of % is not valid: %', lower(op), tbl, sqlerrm using errcode = '22023';
    end;
    insert into audit_private.capture_statements (table_name, operation, statement) values (tbl, op, stmt);
    execute format(
      'create trigger %I after %s on %s referencing %s for each statement execute function audit_private.%I()',
      trigger_name, op, tbl,
      case op when 'INSERT' then 'new table as new_rows'
              when 'DELETE' then 'old table as old_rows'
              else 'old table as old_rows new table as new_rows' end,
      audit_private.capture_function_name(tbl, op));
  end loop;

  execute format('drop trigger if exists _900_audit_truncate on %s', tbl);
  execute format('create trigger _900_audit_truncate before truncate on %s for each statement execute function audit_private.refuse_truncate()', tbl);
  execute format('drop trigger if exists _010_audit_immutable_id on %s', tbl);
  execute format('create trigger _010_audit_immutable_id before update of id on %s for each row when (old.id is distinct from new.id) execute function audit_private.refuse_id_change()', tbl);
end
$$;
comment on function audit_private.install_capture(regclass) is 'Generates, compiles and attaches the capture of a tracked table from its configuration.';

create or replace function audit.track_table(
  table_name regclass,
  resource_type text,
  rules jsonb,
  ignored_columns text[] default '{updated_at}',
  redacted_columns text[] default '{}',
  redacted_keys text default '(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential_value)',
  tenant_column name default 'tenant_id',
  account_column name default 'account_id'
) returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  tbl alias for table_name;
  rule jsonb;
  op text;
  pos integer := 0;
  col text;
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
  foreach col in array ignored_columns || redacted_columns loop
    if not exists (select from pg_attribute where attrelid = tbl and attname = col and not attisdropped) then
      raise exception 'audit.track_table: % has no column %', tbl, col using errcode = '22023';
    end if;
  end loop;
  if jsonb_typeof(rules) <> 'array' or jsonb_array_length(rules) = 0 then
    raise exception 'audit.track_table: rules must be a non-empty JSON array of {"on", "event", "when"?}' using errcode = '22023';
  end if;

  insert into audit.tracked_tables as t
         (table_name, resource_type, tenant_column, account_column, ignored_columns, redacted_columns, redacted_keys)
  values (tbl, resource_type, tenant_column, account_column, ignored_columns, redacted_columns, redacted_keys)
  on conflict on constraint tracked_tables_pkey do update
     set resource_type = excluded.resource_type, tenant_column = excluded.tenant_column,
         account_column = excluded.account_column, ignored_columns = excluded.ignored_columns,
         redacted_columns = excluded.redacted_columns, redacted_keys = excluded.redacted_keys,
         updated_at = now();
  delete from audit.event_rules r where r.table_name = tbl;

  for rule in select * from jsonb_array_elements(rules) loop
    op := upper(rule->>'on');
    if op is null or op not in ('INSERT', 'UPDATE', 'DELETE') then
      raise exception 'audit.track_table: rule % must say "on": insert, update or delete', rule using errcode = '22023';
    end if;
    if not exists (select from audit.events e where e.event = rule->>'event') then
      raise exception 'audit.track_table: rule % names an event missing from audit.events', rule using errcode = '22023';
    end if;
    pos := pos + 1;
    insert into audit.event_rules (table_name, operation, position, condition, event)
    values (tbl, op, pos, rule->>'when', rule->>'event');
  end loop;

  perform audit_private.install_capture(tbl);
end
$$;
comment on function audit.track_table(regclass, text, jsonb, text[], text[], text, name, name) is
E'Starts (or reconfigures) auditing of a table. rules: an ordered JSON array of {"on": "insert"|"update"|"delete", "event": "<catalogued event>", "when": "<SQL condition over old and new>"}; the first matching rule names the event, unmatched rows are not recorded. ignored_columns are left out of values and updates touching only them are not recorded; redacted_columns and JSON keys matching redacted_keys are stored as "[redacted]".';

create or replace function audit.untrack_table(table_name regclass) returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  tbl alias for table_name;
  trigger_name text;
  op text;
begin
  foreach trigger_name in array array['_900_audit_insert', '_900_audit_update', '_900_audit_delete', '_900_audit_truncate', '_010_audit_immutable_id'] loop
    execute format('drop trigger if exists %I on %s', trigger_name, tbl);
  end loop;
  delete from audit.tracked_tables t where t.table_name = tbl;
  foreach op in array array['INSERT', 'UPDATE', 'DELETE'] loop
    execute format('drop function if exists audit_private.%I()', audit_private.capture_function_name(tbl, op));
  end loop;
end
$$;
comment on function audit.untrack_table(regclass) is 'Stops auditing a table (owner only). Existing entries stay.';

-- Recompile the capture of every tracked table.
do $$
declare
  t regclass;
begin
  for t in select table_name from audit.tracked_tables order by table_name::text loop
    perform audit_private.install_capture(t);
  end loop;
end
$$;

--------------------------------------------------------------------------------
-- 3. Partitions created without blocking writers
--------------------------------------------------------------------------------
create or replace function audit.ensure_partitions(months_ahead integer default 3) returns integer
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  month_start timestamptz;
  month_end timestamptz;
  part_name text;
  created integer := 0;
  wanted timestamptz[];
begin
  if months_ahead < 0 or months_ahead > 120 then
    raise exception 'audit.ensure_partitions: months_ahead must be between 0 and 120' using errcode = '22023';
  end if;
  -- the months ahead, plus every month that has rows in the default partition
  select array_agg(distinct m order by m) into wanted from (
    select date_trunc('month', now() at time zone 'UTC') at time zone 'UTC' + make_interval(months => g) as m
      from generate_series(0, months_ahead) g
    union
    select date_trunc('month', occurred_at at time zone 'UTC') at time zone 'UTC' from audit.log_default
  ) months;

  foreach month_start in array wanted loop
    month_end := (month_start at time zone 'UTC' + interval '1 month') at time zone 'UTC';
    part_name := 'log_' || to_char(month_start at time zone 'UTC', 'YYYY_MM');
    continue when exists (select from pg_class c where c.relnamespace = 'audit'::regnamespace and c.relname = part_name);

    -- A standalone table attached afterwards: ATTACH PARTITION takes SHARE
    -- UPDATE EXCLUSIVE on audit.log (CREATE TABLE ... PARTITION OF would take
    -- ACCESS EXCLUSIVE and queue every writer behind any open reader).
    execute format('create table audit.%I (like audit.log including defaults including constraints)', part_name);
    execute format('create trigger _000_append_only_truncate before truncate on audit.%I for each statement execute function audit_private.refuse_log_truncate()', part_name);
    execute format('comment on table audit.%I is %L', part_name, format('Audit entries of %s (partition of audit.log; read through audit.log).', to_char(month_start at time zone 'UTC', 'YYYY-MM')));
    -- the planner's estimate of "tenant and account" (section 5 below)
    execute format('create statistics audit.%I on tenant_id, account_id from audit.%I', part_name || '_tenant_account_stats', part_name);
    if exists (select from audit.log_default where occurred_at >= month_start and occurred_at < month_end) then
      -- Move the month's rows out of the default partition, then attach.
      perform set_config('audit.maintenance', 'on', true);
      execute format(
        'with moved as (delete from audit.log_default where occurred_at >= %L and occurred_at < %L returning *)'
        || ' insert into audit.%I overriding system value select * from moved', month_start, month_end, part_name);
      perform set_config('audit.maintenance', '', true);
    end if;
    execute format('alter table audit.log attach partition audit.%I for values from (%L) to (%L)', part_name, month_start, month_end);
    created := created + 1;
  end loop;
  return created;
end
$$;
comment on function audit.ensure_partitions(integer) is 'Creates the monthly partitions of audit.log for this month and months_ahead more, and moves rows that landed in the default partition into their month. Returns the number of partitions created. Safe to run at any time, also under write load: a new month is attached without blocking writers or readers of audit.log.';

--------------------------------------------------------------------------------
-- 4. Indexes for the admin page's filters
--------------------------------------------------------------------------------
-- A resource-type filter (the spec's "Who changed the RPA credentials?") and
-- its capped count otherwise scan the tenant's newest entries until enough
-- match: a rare type in a large tenant read millions of rows. Tenant first,
-- then time, like the others.
create index if not exists log_tenant_resource_time_idx on audit.log (tenant_id, resource_type, occurred_at, id);

-- (A hash index on entity_id alone measured smaller, 3.8 vs 5.4 ms p95 for an
-- entity's history at 10M entries, but every index of audit.log leads with
-- tenant_id so that the table can be distributed by tenant unchanged: the
-- btree (tenant_id, entity_id, occurred_at) stays.)

--------------------------------------------------------------------------------
-- 5. Statistics on tenant and account together
--------------------------------------------------------------------------------
-- An account belongs to one tenant, but the planner multiplies the two
-- selectivities: for a small tenant it expects one row per partition where
-- there are hundreds, and sorts all of an account's entries instead of
-- reading the newest from an index (or filters the wrong index). Extended
-- statistics per partition (the planner reads a partition's own) fix the
-- estimate; autovacuum's ANALYZE keeps them. Matters as soon as account
-- admins' queries carry the account as an index condition.
do $$
declare
  p record;
begin
  for p in
    select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'audit.log'::regclass
  loop
    execute format('create statistics if not exists audit.%I on tenant_id, account_id from audit.%I', p.relname || '_tenant_account_stats', p.relname);
  end loop;
end
$$;

--------------------------------------------------------------------------------
-- The generic EXECUTE-based trigger function is replaced by the compiled ones.
--------------------------------------------------------------------------------
drop function if exists audit_private.capture();
