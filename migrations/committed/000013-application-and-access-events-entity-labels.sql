--! Previous: sha1:9b3101abc099c21e14de745674cce67d8778320f
--! Hash: sha1:b6f3e7024465f519eadab6cbf9791a30d5a6f20b
--! Message: Application and access events, entity labels

-- Who accessed what, and what was touched (issue 12): the event catalogue
-- says who may write each event (kind), applications record their own
-- events (audit.record_event), the API records reads and exports of the log
-- itself (audit.record_access), and every entry carries the affected
-- entity's human name (entity_label), captured like the actor.

--------------------------------------------------------------------------------
-- The catalogue: who writes each event
--------------------------------------------------------------------------------
alter table audit.events add column if not exists kind text not null default 'trigger';
do $$
begin
  if not exists (select from pg_constraint where conname = 'events_kind_check' and conrelid = 'audit.events'::regclass) then
    alter table audit.events add constraint events_kind_check check (kind in ('trigger', 'application', 'access'));
  end if;
end
$$;
comment on column audit.events.kind is 'Who writes the event: trigger (the capture of a tracked table, from a rule), application (the application, through audit.record_event: sign-ins, reveals, downloads) or access (the API, through audit.record_access: exports and reads of the audit log itself). Nobody can write an event of another kind.';
comment on table audit.events is 'The catalogue of audited events: action, resource type, a human description (filter menus, display) and who writes it (kind). Its rows live in migrations/tracking.sql.';

--------------------------------------------------------------------------------
-- Entity labels
--------------------------------------------------------------------------------
-- A nullable column without a default: catalog-only, no rewrite of the log,
-- no lock longer than an instant. Entries written before it get their label
-- from audit_private.backfill_labels_batch(), run in batches outside any
-- migration (src/db/label-backfill.ts).
alter table audit.log add column if not exists entity_label text;
comment on column audit.log.entity_label is 'The affected entity''s human name at the time of the change: the process''s name, the user''s email, the settings key... (a snapshot: a later rename does not change it). Configured per tracked table (audit.tracked_tables.label); application and access events take it from the caller. Null when the entity has none.';

alter table audit.tracked_tables add column if not exists label text;
comment on column audit.tracked_tables.label is 'The SQL expression naming an entry''s entity, over the changed row''s columns, unqualified (the row after the change; for deletes, before it), e.g. name, or a lookup such as (select u.email from app.users u where u.id = user_id) (qualify the looked-up table''s columns). Null: entries carry no label.';

-- The secret-key pattern, one definition for the capture's default and the
-- application events' context.
create or replace function audit_private.default_redacted_keys()
  returns text
  language sql
  immutable parallel safe
  as $$ select '(pass(word|wd|phrase)?|secret|token|api[_-]?key|private[_-]?key|credential_value)'::text $$;
comment on function audit_private.default_redacted_keys() is 'The default case-insensitive pattern of JSON keys whose values are stored as "[redacted]" (track_table''s redacted_keys, the context of application and access events).';

--------------------------------------------------------------------------------
-- audit.track_table() gains label; rules may only name trigger events
--------------------------------------------------------------------------------
drop function if exists audit.track_table(regclass, text, jsonb, text[], text[], text, name, name, name);
create or replace function audit.track_table(
  table_name regclass,
  resource_type text,
  rules jsonb,
  ignored_columns text[] default '{updated_at}',
  redacted_columns text[] default '{}',
  redacted_keys text default audit_private.default_redacted_keys(),
  tenant_column name default 'tenant_id',
  account_column name default 'account_id',
  secret_key_column name default null,
  label text default null)
  returns void
  language plpgsql
  set search_path = pg_catalog, pg_temp
  as $$
declare
  tbl alias for table_name;
  rule jsonb;
  op text;
  col text;
  wanted jsonb := '[]';
  rule_kind text;
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
  label := nullif(btrim(label), '');
  -- A label is shown to every admin of the scope, unredacted: a secret column
  -- cannot be one. (An expression's other mistakes are caught when the
  -- capture is validated below.)
  if label is not null and (label = any(redacted_columns) or (secret_key_column is not null and label ~* redacted_keys)) then
    raise exception 'audit.track_table: the label of % names a redacted column (%): labels are shown unredacted', tbl, label
      using errcode = '22023';
  end if;
  if rules is null or jsonb_typeof(rules) <> 'array' or jsonb_array_length(rules) = 0 then
    raise exception 'audit.track_table: rules must be a non-empty JSON array of {"on", "event", "when"?}' using errcode = '22023';
  end if;
  for rule in select * from jsonb_array_elements(rules) loop
    op := upper(rule->>'on');
    if op is null or op not in ('INSERT', 'UPDATE', 'DELETE') then
      raise exception 'audit.track_table: rule % must say "on": insert, update or delete', rule using errcode = '22023';
    end if;
    select e.kind into rule_kind from audit.events e where e.event = rule->>'event';
    if not found then
      raise exception 'audit.track_table: rule % names an event missing from audit.events', rule using errcode = '22023';
    end if;
    if rule_kind <> 'trigger' then
      raise exception 'audit.track_table: rule % names an event of kind %; a rule can only name trigger events', rule, rule_kind
        using errcode = '22023';
    end if;
    wanted := wanted || jsonb_build_array(jsonb_build_object(
      'operation', op, 'position', jsonb_array_length(wanted) + 1, 'condition', rule->>'when', 'event', rule->>'event'));
  end loop;

  if not exists (select from audit.tracked_tables t
                  where t.table_name = tbl
                    and (t.resource_type, t.tenant_column, t.account_column, t.ignored_columns, t.redacted_columns,
                         t.redacted_keys, t.secret_key_column, t.label)
                        is not distinct from
                        (track_table.resource_type, track_table.tenant_column, track_table.account_column,
                         track_table.ignored_columns, track_table.redacted_columns, track_table.redacted_keys,
                         track_table.secret_key_column, track_table.label)) then
    insert into audit.tracked_tables as t
           (table_name, resource_type, tenant_column, account_column, ignored_columns, redacted_columns, redacted_keys,
            secret_key_column, label)
    values (tbl, track_table.resource_type, track_table.tenant_column, track_table.account_column, track_table.ignored_columns,
            track_table.redacted_columns, track_table.redacted_keys, track_table.secret_key_column, track_table.label)
    on conflict on constraint tracked_tables_pkey do update
       set resource_type = excluded.resource_type, tenant_column = excluded.tenant_column,
           account_column = excluded.account_column, ignored_columns = excluded.ignored_columns,
           redacted_columns = excluded.redacted_columns, redacted_keys = excluded.redacted_keys,
           secret_key_column = excluded.secret_key_column, label = excluded.label,
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
comment on function audit.track_table(regclass, text, jsonb, text[], text[], text, name, name, name, text) is 'Starts (or reconfigures) auditing of a table. rules: an ordered JSON array of {"on": "insert"|"update"|"delete", "event": "<catalogued trigger event>", "when": "<SQL condition over old and new>"}; the first matching rule names the event, unmatched rows are not recorded. ignored_columns are left out of values and updates touching only them are not recorded; redacted_columns and JSON keys matching redacted_keys are stored as "[redacted]"; in key/value tables, secret_key_column names the key column, and the JSON columns of rows whose key matches redacted_keys are stored as "[redacted]" whole. label: the SQL expression over the row''s columns that names the entity (entity_label). Idempotent: a call that changes nothing touches nothing. The project''s configuration lives in migrations/tracking.sql.';

--------------------------------------------------------------------------------
-- The capture statement carries the label
--------------------------------------------------------------------------------
create or replace function audit_private.build_capture_statement(tbl regclass, op text)
  returns text
  language plpgsql
  stable
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
  label_expr text;
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

  -- The label is written over the row's columns, unqualified: a lateral
  -- subquery whose only row source is the row (after the change; before it
  -- for deletes) resolves them. The planner flattens it into the scan: a
  -- plain column costs what reading the column costs.
  if cfg.label is null then
    label_expr := 'null::text';
  else
    label_expr := 'label.entity_label';
    from_clause := from_clause || format(E'\n                 cross join lateral (select (%s)::text as entity_label from (select %s.*) as labelled) as label',
                                         cfg.label, src);
  end if;

  -- The actor is read once per statement into the compiled function's
  -- variables (capture_function_body); the statement names them directly.
  return format(
    E'insert into audit.log (tenant_id, account_id, actor_type, actor_id, actor_email, actor_name,\n'
    || E'                         action, resource_type, entity_id, entity_label, event, old_values, new_values, context)\n'
    || E'  select tenant_id, account_id, _actor_type, _actor_id, _actor_email, _actor_name,\n'
    || E'         action, %L, entity_id, entity_label, event, old_values, new_values, _context\n'
    || E'    from (select %s.%I as tenant_id,'
    || '%s%s as account_id,'
    || '%s%s.id::text as entity_id,'
    || '%s%s as entity_label,'
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
    nl, label_expr,
    nl, event_case, nl,
    nl, action_case, nl,
    nl, old_expr,
    nl, new_expr,
    from_clause,
    where_clause);
end
$$;
comment on function audit_private.build_capture_statement(tbl regclass, op text) is 'Generates the capture INSERT of one table and operation from audit.tracked_tables and audit.event_rules: the rules as a CASE, column-wise values and diff, inline redaction, the entity label, the actor from the compiled function''s variables.';

--------------------------------------------------------------------------------
-- Application events
--------------------------------------------------------------------------------
-- The checks an event's caller-given parts pass, shared by both paths.
create or replace function audit_private.check_event_input(fn text, entity_id text, context jsonb, label text)
  returns jsonb
  language plpgsql
  immutable
  set search_path = pg_catalog, pg_temp
  as $$
begin
  if entity_id is null or btrim(entity_id) = '' then
    raise exception '%: entity_id is required (the entity the event is about, e.g. the user who signed in)', fn
      using errcode = '22023';
  end if;
  if length(entity_id) > 200 then
    raise exception '%: entity_id is % characters long; at most 200', fn, length(entity_id) using errcode = '22023';
  end if;
  if label is not null and length(label) > 500 then
    raise exception '%: label is % characters long; at most 500', fn, length(label) using errcode = '22023';
  end if;
  if context is not null and jsonb_typeof(context) <> 'object' then
    raise exception '%: context must be a JSON object, got %', fn, jsonb_typeof(context) using errcode = '22023';
  end if;
  if context is not null and octet_length(context::text) > 8192 then
    raise exception '%: context is % bytes as JSON; at most 8192', fn, octet_length(context::text) using errcode = '22023';
  end if;
  -- secrets a caller put in the context are stored as "[redacted]", as in values
  return audit_private.redact_keys(coalesce(context, '{}'), audit_private.default_redacted_keys());
end
$$;
comment on function audit_private.check_event_input(text, text, jsonb, text) is 'Checks the entity id, label and context of an application or access event (clear errors, SQLSTATE 22023) and returns the context with secret keys redacted.';

create or replace function audit.record_event(
  event text,
  tenant_id uuid,
  account_id uuid,
  entity_id text,
  context jsonb default '{}',
  label text default null)
  returns bigint
  language plpgsql
  volatile
  security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  e audit.events;
  checked jsonb;
  actor record;
  entry_id bigint;
begin
  if event is null then
    raise exception 'audit.record_event: event is required' using errcode = '22023';
  end if;
  select * into e from audit.events x where x.event = record_event.event;
  if not found then
    raise exception 'audit.record_event: unknown event "%"', event using errcode = '22023',
      hint = 'Add it to the catalogue in migrations/tracking.sql with kind ''application''.';
  end if;
  if e.kind <> 'application' then
    raise exception 'audit.record_event: "%" is % event; only application events can be recorded this way',
      event, case e.kind when 'trigger' then 'a trigger' else 'an access' end
      using errcode = '42501';
  end if;
  if tenant_id is null then
    raise exception 'audit.record_event: tenant_id is required' using errcode = '22023';
  end if;
  if not exists (select from app.tenants t where t.id = record_event.tenant_id) then
    raise exception 'audit.record_event: no tenant with id %', tenant_id using errcode = '22023';
  end if;
  if account_id is not null
     and not exists (select from app.accounts a where a.id = record_event.account_id and a.tenant_id = record_event.tenant_id) then
    raise exception 'audit.record_event: account % is not an account of tenant %', account_id, tenant_id using errcode = '22023';
  end if;
  checked := audit_private.check_event_input('audit.record_event', entity_id, context, label);
  select * into actor from audit_private.current_actor();
  insert into audit.log (tenant_id, account_id, actor_type, actor_id, actor_email, actor_name,
                         action, resource_type, entity_id, entity_label, event, old_values, new_values, context)
  values (record_event.tenant_id, record_event.account_id, actor.actor_type, actor.actor_id, actor.actor_email, actor.actor_name,
          e.action, e.resource_type, record_event.entity_id, nullif(record_event.label, ''), e.event, null, null,
          coalesce(actor.context, '{}') || checked)
  returning id into entry_id;
  return entry_id;
end
$$;
comment on function audit.record_event(text, uuid, uuid, text, jsonb, text) is '@behavior -*
Records an application event (a catalogued event of kind application: user.signed_in, settings.viewed, data.exported...) as an entry of audit.log, written like a trigger''s: the actor from audit.set_context() (or the same fallbacks), the action and resource type from the catalogue, the caller''s transaction. entity_id: the entity the event is about; label: its human name; context: a JSON object of at most 8 kB, merged over the request context. Returns the entry''s id. Written in the caller''s transaction: it is gone if that rolls back (record an event that must survive a failure, such as a failed sign-in, in a transaction of its own).';
revoke all on function audit.record_event(text, uuid, uuid, text, jsonb, text) from public;
grant execute on function audit.record_event(text, uuid, uuid, text, jsonb, text) to app_user;

--------------------------------------------------------------------------------
-- Access events: the audit log's own access log, written by the API
--------------------------------------------------------------------------------
create or replace function audit.record_access(
  event text,
  entity_id text,
  context jsonb default '{}',
  label text default null,
  once_per_minute text default null)
  returns bigint
  language plpgsql
  volatile
  security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  e audit.events;
  checked jsonb;
  scope_role text := nullif(current_setting('jwt.claims.role', true), '');
  tenant text := nullif(current_setting('jwt.claims.tenant_id', true), '');
  account text := nullif(current_setting('jwt.claims.account_id', true), '');
  sub text := nullif(current_setting('jwt.claims.sub', true), '');
  actor uuid;
  actor_email text := nullif(current_setting('jwt.claims.email', true), '');
  actor_name text := nullif(current_setting('jwt.claims.name', true), '');
  scope_account uuid;
  entry_id bigint;
  uuid_pattern constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
begin
  -- The scope is the verified token's, from the settings the API set: never
  -- from the arguments.
  if scope_role is null or scope_role not in ('tenant_admin', 'account_admin') or tenant !~* uuid_pattern
     or (scope_role = 'account_admin' and coalesce(account, '') !~* uuid_pattern) then
    raise exception 'audit.record_access: no admin scope (jwt.claims.role, tenant_id and, for account admins, account_id)'
      using errcode = '42501';
  end if;
  select * into e from audit.events x where x.event = record_access.event;
  if not found then
    raise exception 'audit.record_access: unknown event "%"', event using errcode = '22023';
  end if;
  if e.kind <> 'access' then
    raise exception 'audit.record_access: "%" is not an access event', event using errcode = '42501';
  end if;
  checked := audit_private.check_event_input('audit.record_access', entity_id, context, label);
  -- an account admin's reads are entries of the account (its admins and the
  -- tenant's see them); a tenant admin's are tenant-level
  scope_account := case when scope_role = 'account_admin' then account::uuid end;
  if sub ~* uuid_pattern then
    actor := sub::uuid;
    -- what the token carries wins; a subject that is a user fills the rest
    if actor_email is null or actor_name is null then
      select coalesce(actor_email, s.email), coalesce(actor_name, s.name) into actor_email, actor_name
        from audit_private.user_snapshot(actor) s;
    end if;
  end if;
  if once_per_minute is not null then
    -- at most one entry per admin, scope, event, key and minute, across servers
    perform pg_advisory_xact_lock(hashtextextended(concat_ws(':', 'audit.record_access', tenant, account, sub, event, once_per_minute), 0));
    if exists (select from audit.log l
                where l.tenant_id = tenant::uuid and l.account_id is not distinct from scope_account
                  and l.actor_id is not distinct from actor
                  and l.occurred_at >= date_trunc('minute', now())
                  and l.event = record_access.event and l.context->>'once_per_minute' = once_per_minute) then
      return null;
    end if;
    checked := checked || jsonb_build_object('once_per_minute', once_per_minute);
  end if;
  insert into audit.log (tenant_id, account_id, actor_type, actor_id, actor_email, actor_name,
                         action, resource_type, entity_id, entity_label, event, old_values, new_values, context)
  values (tenant::uuid, scope_account, 'user', actor, actor_email, coalesce(actor_name, sub),
          e.action, e.resource_type, record_access.entity_id, nullif(record_access.label, ''), e.event, null, null, checked)
  returning id into entry_id;
  return entry_id;
end
$$;
comment on function audit.record_access(text, text, jsonb, text, text) is '@behavior -*
Records an access event (a catalogued event of kind access: audit_log.exported, audit_log.viewed...) for the admin in the jwt.claims.* settings: the tenant and account from the verified claims, the admin from the token as actor (its email and name claims, else the user''s). once_per_minute: a key (e.g. a hash of the filter) under which at most one entry per admin and minute is written; returns null when one exists. Returns the entry''s id. Callable by the admin roles (the API).';
revoke all on function audit.record_access(text, text, jsonb, text, text) from public;
grant execute on function audit.record_access(text, text, jsonb, text, text) to audit_viewer;

--------------------------------------------------------------------------------
-- The label backfill: entries written before labels, labelled in batches
--------------------------------------------------------------------------------
create table if not exists audit_private.label_backfill (
  singleton boolean primary key default true check (singleton),
  -- entries with an id up to this one were written before labels existed
  up_to_id bigint not null,
  -- the primary key of the last entry examined (the walk is in key order)
  last_tenant uuid,
  last_time timestamptz,
  last_id bigint,
  examined bigint not null default 0,
  labelled bigint not null default 0,
  started_at timestamptz not null default now(),
  finished_at timestamptz
);
comment on table audit_private.label_backfill is 'Progress of the label backfill (audit_private.backfill_labels_batch): the entries it covers (ids up to up_to_id), where the walk is, what it did. One row; finished_at set when done.';
-- The log's newest id now, without reading the log: its identity sequence
-- (null when no entry was ever written: nothing to backfill). Entries that
-- the previous capture writes between this migration and the tracking
-- file's new capture (the same migrate run, milliseconds) stay unlabelled.
insert into audit_private.label_backfill (up_to_id, finished_at)
select coalesce(v.last_id, 0), case when v.last_id is null then now() end
  from (select pg_sequence_last_value(pg_get_serial_sequence('audit.log', 'id')::regclass) as last_id) v
on conflict (singleton) do nothing;

-- The label of an entry written before labels: the table's label expression
-- over the entity's row as the entry saw it, that is its current row
-- overlaid with the entry's stored values (new over old; the redacted
-- columns left out, so that "[redacted]" never meets a column's type). A
-- deleted entity's delete entry holds its whole row.

create or replace function audit_private.backfill_labels_batch(batch_entries integer default 5000,
                                                               out examined integer, out labelled integer, out done boolean)
  returns record
  language plpgsql
  volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  state audit_private.label_backfill;
  t audit.tracked_tables;
  id_type text;
  n integer;
  last record;
begin
  examined := 0;
  labelled := 0;
  select * into state from audit_private.label_backfill for update;
  if not found or state.finished_at is not null then
    done := true;
    return;
  end if;
  if batch_entries is null or batch_entries < 1 or batch_entries > 100000 then
    raise exception 'audit_private.backfill_labels_batch: batch_entries must be between 1 and 100000' using errcode = '22023';
  end if;
  -- The next batch in primary-key order (an index walk, whatever the size of
  -- the log), only what was written before labels and has none.
  create temporary table if not exists label_batch (tenant_id uuid, occurred_at timestamptz, id bigint, resource_type text,
                                                   entity_id text, old_values jsonb, new_values jsonb) on commit drop;
  truncate label_batch;
  insert into label_batch
  select l.tenant_id, l.occurred_at, l.id, l.resource_type, l.entity_id, l.old_values, l.new_values
    from audit.log l
   where state.last_tenant is null
      or (l.tenant_id, l.occurred_at, l.id) > (state.last_tenant, state.last_time, state.last_id)
   order by l.tenant_id, l.occurred_at, l.id
   limit batch_entries;
  get diagnostics examined = row_count;
  if examined = 0 then
    update audit_private.label_backfill set finished_at = now();
    done := true;
    return;
  end if;
  select b.tenant_id, b.occurred_at, b.id into last from label_batch b order by b.tenant_id desc, b.occurred_at desc, b.id desc limit 1;

  perform set_config('audit.maintenance', 'on', true);
  for t in select * from audit.tracked_tables where label is not null loop
    select format_type(a.atttypid, a.atttypmod) into id_type from pg_attribute a where a.attrelid = t.table_name and a.attname = 'id';
    begin
      -- the label computed once per entry (a materialized CTE), then one
      -- primary-key update per labelled entry
      execute format(
        'with x as materialized (
           select b.tenant_id, b.occurred_at, b.id,
                  (select (%1$s)::text
                     from jsonb_populate_record(null::%2$s,
                            coalesce((select to_jsonb(cur) from %2$s cur where cur.id = b.entity_id::%3$s), ''{}'')
                            || coalesce(b.old_values - %4$L::text[], ''{}'') || coalesce(b.new_values - %4$L::text[], ''{}'')) as labelled) as label
             from label_batch b
            where b.resource_type = $1 and b.id <= $2)
         update audit.log l set entity_label = x.label
           from x
          where l.tenant_id = x.tenant_id and l.occurred_at = x.occurred_at and l.id = x.id
            and l.entity_label is null and x.label is not null',
        t.label, t.table_name, id_type, t.redacted_columns)
        using t.resource_type, state.up_to_id;
      get diagnostics n = row_count;
      labelled := labelled + n;
    exception when others then
      -- a stored value that no longer fits the table (a column changed
      -- type since): these entries keep no label; the others go on
      raise warning 'audit: labels of % entries in this batch left empty: %', t.table_name, sqlerrm;
    end;
  end loop;
  perform set_config('audit.maintenance', '', true);

  update audit_private.label_backfill
     set last_tenant = last.tenant_id, last_time = last.occurred_at, last_id = last.id,
         examined = label_backfill.examined + backfill_labels_batch.examined,
         labelled = label_backfill.labelled + backfill_labels_batch.labelled;
  done := false;
end
$$;
comment on function audit_private.backfill_labels_batch(integer, out integer, out integer, out boolean) is 'One batch of the label backfill, in one transaction: the next batch_entries entries of audit.log in primary-key order; those written before labels existed get the label of their table''s configuration, computed from the entity''s current row overlaid with the entry''s stored values. Run by src/db/label-backfill.ts in the background (the server) or the foreground (npm run migrate), one batch per transaction so that no lock is held long.';
