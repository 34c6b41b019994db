--! Previous: sha1:ed4044e5d0aef75b3ad240cb46f1e775ac50da12
--! Hash: sha1:721a77676bd3c7c97706a51d0eb2dfe29b8818cd
--! Message: Per-role scope: audit_tenant_admin and audit_account_admin with plain policies; account-led indexes for account admins' filters; settings secrets redacted by key

--------------------------------------------------------------------------------
-- 1. One database role per kind of admin, with a plain policy each
--------------------------------------------------------------------------------
-- audit_viewer's single policy, audit.in_scope(tenant_id, account_id), kept
-- the account admin's account inside a CASE: never an index condition, so an
-- account admin's count or rare filter read the whole tenant (357 ms p95 for
-- a capped count at 10M entries; bench/README.md, R1-R3). Now the API sets
-- the role from the verified claim, and each role's policy is a conjunction
-- the planner turns into index conditions.
--
-- audit_viewer stays as the group that holds the grants (both roles inherit
-- them) but has no policy of its own: as itself it sees nothing, and no
-- policy of it is OR-ed into its members' (which would defeat the indexes).
do $$
begin
  if not exists (select from pg_roles where rolname = 'audit_tenant_admin') then
    create role audit_tenant_admin nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'audit_account_admin') then
    create role audit_account_admin nologin;
  end if;
end
$$;
comment on role audit_tenant_admin is 'Audit Trail: a tenant admin reading the audit log (every entry of the tenant in jwt.claims.tenant_id). The API switches to it for tenant_admin tokens.';
comment on role audit_account_admin is 'Audit Trail: an account admin reading the audit log (the entries of the account in jwt.claims.account_id). The API switches to it for account_admin tokens.';
grant audit_viewer to audit_tenant_admin, audit_account_admin;
grant audit_tenant_admin, audit_account_admin to audit_authenticator;

drop policy if exists log_viewer_select on audit.log;
drop policy if exists log_tenant_admin_select on audit.log;
drop policy if exists log_account_admin_select on audit.log;
-- The claimed role must agree with the database role: evaluated once per
-- query (it reads no column), it keeps a misconfigured caller from widening
-- its scope.
create policy log_tenant_admin_select on audit.log for select to audit_tenant_admin
  using (tenant_id = audit.current_tenant_id() and audit.current_scope_role() = 'tenant_admin');
create policy log_account_admin_select on audit.log for select to audit_account_admin
  using (tenant_id = audit.current_tenant_id() and account_id = audit.current_account_id()
         and audit.current_scope_role() = 'account_admin');

comment on function audit.in_scope(uuid, uuid) is E'@behavior -*\nTrue when a row of this tenant and account is visible to the admin in the jwt.claims.* settings: tenant admins see their tenant, account admins only their account (never tenant-level rows). Absent claims see nothing. For business tables'' own policies; audit.log itself uses one policy per admin role.';

--------------------------------------------------------------------------------
-- 2. Indexes for account admins' filters
--------------------------------------------------------------------------------
-- With the account an index condition (section 1), an account admin's
-- resource-type filter and its capped count still read the account's rows of
-- every type (or the tenant's rows of the type) to find the few that match:
-- 1.2 s p95 for the capped count of a rare type at 10M entries. The actor
-- filter read the actor's entries in every account (54 ms p95). Each index
-- leads with tenant_id, then account_id; tenant-level entries (no account)
-- are never shown to account admins, so they are left out.
-- (On a large existing log, build these per partition with CREATE INDEX
-- CONCURRENTLY first and attach them: see README "Upgrading".)
create index if not exists log_tenant_account_resource_time_idx
  on audit.log (tenant_id, account_id, resource_type, occurred_at, id) where account_id is not null;
create index if not exists log_tenant_account_actor_time_idx
  on audit.log (tenant_id, account_id, actor_id, occurred_at, id) where account_id is not null and actor_id is not null;

--------------------------------------------------------------------------------
-- 3. Key/value tables: a secret's value is redacted by its key
--------------------------------------------------------------------------------
-- A setting such as key 'rpa.password' holds its secret as a scalar JSON
-- value: no JSON key inside it says "password", so redacted_keys did not
-- catch it. secret_key_column names the column holding the key: when that
-- key matches redacted_keys, the row's JSON columns are stored whole as
-- "[redacted]".
alter table audit.tracked_tables add column if not exists secret_key_column name;
comment on column audit.tracked_tables.secret_key_column is 'For key/value tables (e.g. settings): the column holding the key. Rows whose key matches redacted_keys have every JSON column stored as "[redacted]".';

drop function if exists audit_private.capture_value(text, text, boolean, boolean, text);
create or replace function audit_private.capture_value(side text, col text, secret boolean, is_json boolean, redacted_keys text, secret_key_column name)
  returns text
  language sql immutable parallel safe
  as $$
    select case
             when secret then format('case when %s.%I is null then null::jsonb else ''"[redacted]"''::jsonb end', side, col)
             when is_json then
               -- the whole value when the row's key names a secret (a JSON
               -- null stays null, like a secret JSON key's)
               case when secret_key_column is null then '' else format(
                 'case when jsonb_typeof(to_jsonb(%1$s.%2$I)) <> ''null'' and %1$s.%3$I::text ~* %4$L then ''"[redacted]"''::jsonb else ', side, col, secret_key_column, redacted_keys) end
               -- a JSON object's own keys are redacted inline (a subquery, no
               -- function call per row); nested objects and arrays by redact_keys
               || format(
                 'case jsonb_typeof(to_jsonb(%1$s.%2$I))'
                 || ' when ''object'' then (select coalesce(jsonb_object_agg(e.key, case when e.key ~* %3$L and e.value <> ''null''::jsonb then ''"[redacted]"''::jsonb'
                 || ' when jsonb_typeof(e.value) in (''object'', ''array'') then audit_private.redact_keys(e.value, %3$L) else e.value end), ''{}''::jsonb)'
                 || ' from jsonb_each(to_jsonb(%1$s.%2$I)) e)'
                 || ' when ''array'' then audit_private.redact_keys(to_jsonb(%1$s.%2$I), %3$L)'
                 || ' else to_jsonb(%1$s.%2$I) end',
                 side, col, redacted_keys)
               || case when secret_key_column is null then '' else ' end' end
             else format('%s.%I', side, col)
           end
  $$;
comment on function audit_private.capture_value(text, text, boolean, boolean, text, name) is 'The SQL expression of one recorded column''s value in a capture statement, redacted as configured.';

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
                                       changed, col.name, audit_private.capture_value('old', col.name, col.secret, col.is_json, cfg.redacted_keys, cfg.secret_key_column));
      new_parts := new_parts || format('case when %s then jsonb_build_object(%L, %s) else ''{}''::jsonb end',
                                       changed, col.name, audit_private.capture_value('new', col.name, col.secret, col.is_json, cfg.redacted_keys, cfg.secret_key_column));
    else
      pairs := pairs || format('%L, %s', col.name, audit_private.capture_value(src, col.name, col.secret, col.is_json, cfg.redacted_keys, cfg.secret_key_column));
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

drop function if exists audit.track_table(regclass, text, jsonb, text[], text[], text, name, name);
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
  if secret_key_column is not null
     and not exists (select from pg_attribute where attrelid = tbl and attname = secret_key_column and not attisdropped) then
    raise exception 'audit.track_table: % has no column % (secret_key_column)', tbl, secret_key_column using errcode = '22023';
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
         (table_name, resource_type, tenant_column, account_column, ignored_columns, redacted_columns, redacted_keys, secret_key_column)
  values (tbl, resource_type, tenant_column, account_column, ignored_columns, redacted_columns, redacted_keys, secret_key_column)
  on conflict on constraint tracked_tables_pkey do update
     set resource_type = excluded.resource_type, tenant_column = excluded.tenant_column,
         account_column = excluded.account_column, ignored_columns = excluded.ignored_columns,
         redacted_columns = excluded.redacted_columns, redacted_keys = excluded.redacted_keys,
         secret_key_column = excluded.secret_key_column,
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
comment on function audit.track_table(regclass, text, jsonb, text[], text[], text, name, name, name) is
E'Starts (or reconfigures) auditing of a table. rules: an ordered JSON array of {"on": "insert"|"update"|"delete", "event": "<catalogued event>", "when": "<SQL condition over old and new>"}; the first matching rule names the event, unmatched rows are not recorded. ignored_columns are left out of values and updates touching only them are not recorded; redacted_columns and JSON keys matching redacted_keys are stored as "[redacted]"; in key/value tables, secret_key_column names the key column, and the JSON columns of rows whose key matches redacted_keys are stored as "[redacted]" whole.';

select audit.track_table('app.settings', 'settings', '[
  {"on": "insert", "event": "settings.updated"},
  {"on": "update", "event": "settings.updated"},
  {"on": "delete", "event": "settings.updated"}
]', secret_key_column => 'key');
