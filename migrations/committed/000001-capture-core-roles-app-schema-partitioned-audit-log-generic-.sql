--! Previous: -
--! Hash: sha1:b06c66fb4cc8863298b2610020d261bd87eedb59
--! Message: Capture core: roles, app schema, partitioned audit log, generic trigger capture, scope and RLS

-- Audit Trail: roles, the business schema `app`, the partitioned audit table,
-- the generic capture mechanism, scope functions and row-level security.

--------------------------------------------------------------------------------
-- Roles are cluster-wide: create them only when missing, never drop them here.
--------------------------------------------------------------------------------
do $$
begin
  if not exists (select from pg_roles where rolname = 'app_user') then
    create role app_user login;
  end if;
  if not exists (select from pg_roles where rolname = 'audit_viewer') then
    create role audit_viewer nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'audit_reader') then
    create role audit_reader nologin;
  end if;
  if not exists (select from pg_roles where rolname = 'audit_authenticator') then
    create role audit_authenticator login noinherit;
  end if;
end
$$;
-- The GraphQL server logs in as audit_authenticator and switches to
-- audit_viewer for every request.
grant audit_viewer to audit_authenticator;

-- Functions are not executable by everyone unless granted.
alter default privileges revoke execute on functions from public;

create extension if not exists hstore;

create schema app;
comment on schema app is 'The business tables of the multi-tenant platform. Every table here is audited.';
create schema audit;
comment on schema audit is 'The audit trail: the log, the event catalogue, tracking configuration, scope functions and the context API.';
create schema audit_private;
comment on schema audit_private is 'Internals of the audit capture. Nothing outside the audit machinery calls these.';

revoke all on schema audit_private from public;

--------------------------------------------------------------------------------
-- Scope: who is asking. The GraphQL server puts verified JWT claims into
-- transaction settings (jwt.claims.*); these functions read them. Business
-- tables can reuse them in their own policies.
--------------------------------------------------------------------------------
create function audit.current_user_id() returns uuid
  language sql stable parallel safe
  as $$ select nullif(current_setting('jwt.claims.sub', true), '')::uuid $$;
comment on function audit.current_user_id() is E'@behavior -*\nThe acting user id from the jwt.claims.sub setting, or null.';

create function audit.current_tenant_id() returns uuid
  language sql stable parallel safe
  as $$ select nullif(current_setting('jwt.claims.tenant_id', true), '')::uuid $$;
comment on function audit.current_tenant_id() is E'@behavior -*\nThe tenant in scope from the jwt.claims.tenant_id setting, or null (no rows visible).';

create function audit.current_scope_role() returns text
  language sql stable parallel safe
  as $$ select nullif(current_setting('jwt.claims.role', true), '') $$;
comment on function audit.current_scope_role() is E'@behavior -*\nThe admin role in scope (tenant_admin or account_admin) from the jwt.claims.role setting.';

create function audit.current_account_id() returns uuid
  language sql stable parallel safe
  as $$ select nullif(current_setting('jwt.claims.account_id', true), '')::uuid $$;
comment on function audit.current_account_id() is E'@behavior -*\nThe account in scope from the jwt.claims.account_id setting (account admins only), or null.';

create function audit.in_scope(tenant_id uuid, account_id uuid) returns boolean
  language sql stable parallel safe
  as $$
    select tenant_id = audit.current_tenant_id()
       and case audit.current_scope_role()
             when 'tenant_admin' then true
             when 'account_admin' then account_id = audit.current_account_id()
             else false
           end
  $$;
comment on function audit.in_scope(uuid, uuid) is E'@behavior -*\nTrue when a row of this tenant and account is visible to the admin in scope: tenant admins see their tenant, account admins only their account (never tenant-level rows). Absent claims see nothing.';

--------------------------------------------------------------------------------
-- The business schema
--------------------------------------------------------------------------------
create table app.tenants (
  id uuid primary key default gen_random_uuid(),
  name text not null check (length(btrim(name)) > 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
comment on table app.tenants is 'A customer organisation. Everything else belongs to a tenant.';

create table app.accounts (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  name text not null check (length(btrim(name)) > 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, id)
);
comment on table app.accounts is 'An account (workspace) inside a tenant.';

create table app.users (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  email text not null check (email ~ '^[^@\s]+@[^@\s]+$'),
  name text not null,
  last_seen_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  unique (tenant_id, id),
  unique (tenant_id, email)
);
comment on table app.users is 'A person who can sign in to a tenant.';

create table app.memberships (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  account_id uuid,
  user_id uuid not null,
  role text not null check (role in ('admin', 'member', 'viewer')),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (tenant_id) references app.tenants (id) on delete cascade,
  foreign key (tenant_id, account_id) references app.accounts (tenant_id, id) on delete cascade,
  foreign key (tenant_id, user_id) references app.users (tenant_id, id) on delete cascade,
  unique nulls not distinct (tenant_id, account_id, user_id)
);
create index on app.memberships (tenant_id, user_id);
comment on table app.memberships is 'A user''s role in an account, or in the whole tenant when account_id is null.';

create table app.invitations (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  account_id uuid,
  email text not null check (email ~ '^[^@\s]+@[^@\s]+$'),
  role text not null check (role in ('admin', 'member', 'viewer')),
  invited_by uuid,
  accepted_at timestamptz,
  expires_at timestamptz not null default now() + interval '14 days',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (tenant_id) references app.tenants (id) on delete cascade,
  foreign key (tenant_id, account_id) references app.accounts (tenant_id, id) on delete cascade,
  foreign key (tenant_id, invited_by) references app.users (tenant_id, id) on delete set null (invited_by)
);
create index on app.invitations (tenant_id, account_id);
create index on app.invitations (tenant_id, invited_by);
comment on table app.invitations is 'An invitation to join a tenant or account; accepted_at is set when accepted.';

create table app.processes (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  account_id uuid not null,
  name text not null check (length(btrim(name)) > 0),
  description text,
  deleted_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (tenant_id, account_id) references app.accounts (tenant_id, id) on delete cascade,
  unique (tenant_id, id)
);
create index on app.processes (tenant_id, account_id);
comment on table app.processes is 'An RPA process. Deletion is soft: deleted_at is set.';

create table app.process_members (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  account_id uuid not null,
  process_id uuid not null,
  user_id uuid not null,
  created_at timestamptz not null default now(),
  foreign key (tenant_id, account_id) references app.accounts (tenant_id, id) on delete cascade,
  foreign key (tenant_id, process_id) references app.processes (tenant_id, id) on delete cascade,
  foreign key (tenant_id, user_id) references app.users (tenant_id, id) on delete cascade,
  unique (process_id, user_id)
);
create index on app.process_members (tenant_id, user_id);
comment on table app.process_members is 'A user assigned to a process.';

create table app.jobs (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  account_id uuid not null,
  process_id uuid not null,
  status text not null default 'pending' check (status in ('pending', 'running', 'completed', 'failed', 'cancelled')),
  started_at timestamptz,
  finished_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (tenant_id, account_id) references app.accounts (tenant_id, id) on delete cascade,
  foreign key (tenant_id, process_id) references app.processes (tenant_id, id) on delete cascade
);
create index on app.jobs (tenant_id, process_id);
create index on app.jobs (tenant_id, account_id);
comment on table app.jobs is 'A run of a process. completed, failed and cancelled are terminal statuses.';

create table app.settings (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  account_id uuid,
  key text not null check (length(key) between 1 and 200),
  value jsonb not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (tenant_id) references app.tenants (id) on delete cascade,
  foreign key (tenant_id, account_id) references app.accounts (tenant_id, id) on delete cascade,
  unique nulls not distinct (tenant_id, account_id, key)
);
comment on table app.settings is 'Tenant settings (account_id null) or account settings, e.g. rpa.credentials.';

create table app.api_keys (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null,
  account_id uuid,
  name text not null check (length(btrim(name)) > 0),
  key_hash text not null,
  created_by uuid,
  revoked_at timestamptz,
  last_used_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (tenant_id) references app.tenants (id) on delete cascade,
  foreign key (tenant_id, account_id) references app.accounts (tenant_id, id) on delete cascade,
  foreign key (tenant_id, created_by) references app.users (tenant_id, id) on delete set null (created_by)
);
create index on app.api_keys (tenant_id, account_id);
create index on app.api_keys (tenant_id, created_by);
comment on table app.api_keys is 'An API key; only its hash is stored. revoked_at is set when deactivated.';

create table app.licenses (
  id uuid primary key default gen_random_uuid(),
  tenant_id uuid not null references app.tenants (id) on delete cascade,
  plan text not null,
  seats integer not null check (seats > 0),
  activated_at timestamptz,
  expires_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  check (expires_at is null or activated_at is null or expires_at > activated_at)
);
create index on app.licenses (tenant_id);
comment on table app.licenses is 'A license of a tenant; activated or renewed by setting activated_at / expires_at.';

grant usage on schema app to app_user;
grant select, delete on all tables in schema app to app_user;
grant insert (id, name), update (name) on app.tenants to app_user;
grant insert (id, tenant_id, name), update (name) on app.accounts to app_user;
grant insert (id, tenant_id, email, name, last_seen_at), update (email, name, last_seen_at) on app.users to app_user;
grant insert (id, tenant_id, account_id, user_id, role), update (role) on app.memberships to app_user;
grant insert (id, tenant_id, account_id, email, role, invited_by, accepted_at, expires_at), update (role, accepted_at, expires_at) on app.invitations to app_user;
grant insert (id, tenant_id, account_id, name, description, deleted_at), update (name, description, deleted_at) on app.processes to app_user;
grant insert (id, tenant_id, account_id, process_id, user_id) on app.process_members to app_user;
grant insert (id, tenant_id, account_id, process_id, status, started_at, finished_at), update (status, started_at, finished_at) on app.jobs to app_user;
grant insert (id, tenant_id, account_id, key, value), update (value) on app.settings to app_user;
grant insert (id, tenant_id, account_id, name, key_hash, created_by, revoked_at, last_used_at), update (name, revoked_at, last_used_at) on app.api_keys to app_user;
grant insert (id, tenant_id, plan, seats, activated_at, expires_at), update (plan, seats, activated_at, expires_at) on app.licenses to app_user;

-- updated_at is maintained by the database, so applications cannot forget it.
create function app.touch_updated_at() returns trigger
  language plpgsql volatile
  as $$
begin
  new.updated_at := now();
  return new;
end
$$;
comment on function app.touch_updated_at() is 'Sets updated_at on every update.';
do $$
declare t regclass;
begin
  for t in
    select c.oid::regclass from pg_class c join pg_attribute a on a.attrelid = c.oid
     where c.relnamespace = 'app'::regnamespace and c.relkind = 'r' and a.attname = 'updated_at' and not a.attisdropped
  loop
    execute format('create trigger _100_touch_updated_at before update on %s for each row execute function app.touch_updated_at()', t);
  end loop;
end
$$;

--------------------------------------------------------------------------------
-- The audit table: range-partitioned by month, keys led by tenant_id so that
-- it can be distributed by tenant (Citus) without changing them.
--------------------------------------------------------------------------------
create table audit.log (
  id bigint generated always as identity,
  occurred_at timestamptz not null default now(),
  tenant_id uuid not null,
  account_id uuid,
  actor_type text not null check (actor_type in ('user', 'api_key', 'system', 'database_role')),
  actor_id uuid,
  actor_email text,
  actor_name text,
  action text not null,
  resource_type text not null,
  entity_id text not null,
  event text not null,
  old_values jsonb,
  new_values jsonb,
  context jsonb not null default '{}',
  transaction_id bigint not null default txid_current(),
  primary key (tenant_id, occurred_at, id)
) partition by range (occurred_at);

comment on table audit.log is E'@partitionExpose parent\nOne entry per significant action: who did what to which entity, when, with the old and new values. Append-only; captured by triggers in the same transaction as the change.';
comment on column audit.log.id is 'Unique, increasing identifier of the entry; the tie-breaker for entries of the same instant.';
comment on column audit.log.occurred_at is 'When the action occurred (the start of the writing transaction).';
comment on column audit.log.tenant_id is 'The tenant of the changed row (taken from the row itself, never from the caller).';
comment on column audit.log.account_id is 'The account of the changed row; null for tenant-level entities.';
comment on column audit.log.actor_type is 'Who acted: user, api_key, system, or database_role (direct SQL without an application context).';
comment on column audit.log.actor_id is 'The user or API key id of the actor, when known.';
comment on column audit.log.actor_email is 'The actor''s email at the time of the action (a snapshot: later renames do not change it).';
comment on column audit.log.actor_name is 'The actor''s name at the time of the action; for database_role, the session role.';
comment on column audit.log.action is 'What was done: create, update, delete, assign, unassign, accept, complete, deactivate, activate.';
comment on column audit.log.resource_type is 'The kind of entity affected: tenant, account, user, member, invitation, process, process_member, job, settings, api_key, license.';
comment on column audit.log.entity_id is 'The id of the affected entity.';
comment on column audit.log.event is 'The catalogued event, e.g. member.role_updated (see audit.events).';
comment on column audit.log.old_values is 'Before the change: the whole row for deletes, only the changed columns for updates. Secrets show as "[redacted]".';
comment on column audit.log.new_values is 'After the change: the whole row for inserts, only the changed columns for updates. Secrets show as "[redacted]".';
comment on column audit.log.context is 'Additional context of the request: request_id, ip, user_agent, reason, and for database roles the role and client.';
comment on column audit.log.transaction_id is 'The PostgreSQL transaction id: entries with the same value were written atomically together.';

create table audit.log_default partition of audit.log default;

-- Indexes serve the admin queries, all led by tenant_id: newest first (the
-- primary key, scanned backwards), per account, per actor, per entity.
create index log_tenant_account_time_idx on audit.log (tenant_id, account_id, occurred_at, id);
create index log_tenant_actor_time_idx on audit.log (tenant_id, actor_id, occurred_at, id) where actor_id is not null;
create index log_tenant_entity_time_idx on audit.log (tenant_id, entity_id, occurred_at);

--------------------------------------------------------------------------------
-- The event catalogue and the tracking configuration.
--------------------------------------------------------------------------------
create table audit.events (
  event text primary key check (event ~ '^[a-z_]+\.[a-z_]+$'),
  action text not null check (action ~ '^[a-z_]+$'),
  resource_type text not null check (resource_type ~ '^[a-z_]+$'),
  description text not null
);
comment on table audit.events is 'The catalogue of audited events: action, resource type and a human description, for filter menus and display.';
comment on column audit.events.event is 'The event name, e.g. member.role_updated.';
comment on column audit.events.action is 'What was done: create, update, delete, assign, ...';
comment on column audit.events.resource_type is 'The kind of entity the event affects.';
comment on column audit.events.description is 'Human description, e.g. "Member role updated".';

create table audit.tracked_tables (
  table_name regclass primary key,
  resource_type text not null check (resource_type ~ '^[a-z_]+$'),
  tenant_column name not null default 'tenant_id',
  account_column name,
  ignored_columns text[] not null default '{updated_at}',
  redacted_columns text[] not null default '{}',
  redacted_keys text not null,
  updated_at timestamptz not null default now()
);
comment on table audit.tracked_tables is E'@behavior -*\nWhich tables are audited and how: resource type, where tenant and account come from, noise columns left out of diffs, secret columns and secret JSON keys (a case-insensitive regular expression) that are stored as "[redacted]". Change it only through audit.track_table().';

create table audit.event_rules (
  table_name regclass not null references audit.tracked_tables (table_name) on delete cascade,
  operation text not null check (operation in ('INSERT', 'UPDATE', 'DELETE')),
  position integer not null,
  condition text,
  event text not null references audit.events (event) on delete restrict,
  primary key (table_name, operation, position)
);
comment on table audit.event_rules is E'@behavior -*\nPer table and operation, the ordered rules that name the event of a changed row: the first rule whose condition (an SQL expression over old and new) holds wins; a row that no rule matches is not recorded.';

create table audit_private.capture_statements (
  table_name regclass not null references audit.tracked_tables (table_name) on delete cascade,
  operation text not null check (operation in ('INSERT', 'UPDATE', 'DELETE')),
  statement text not null,
  primary key (table_name, operation)
);
comment on table audit_private.capture_statements is 'The set-based INSERT into audit.log generated by audit.track_table() for each table and operation.';

--------------------------------------------------------------------------------
-- Who is acting: the context API.
--------------------------------------------------------------------------------
create function audit_private.user_snapshot(user_id uuid) returns table (email text, name text)
  language sql stable
  as $$ select u.email, u.name from app.users u where u.id = user_id $$;
comment on function audit_private.user_snapshot(uuid) is 'The email and name of a user, snapshotted into entries at write time.';

create function audit.set_context(context jsonb) returns jsonb
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  actor_type text := coalesce(context->>'actor_type', 'user');
  actor_id_text text := context->>'actor_id';
  actor_id uuid;
  actor_email text;
  actor_name text;
  extra jsonb;
  normalized jsonb;
begin
  if context is null or jsonb_typeof(context) <> 'object' then
    raise exception 'audit.set_context expects a JSON object, got %', coalesce(jsonb_typeof(context), 'null')
      using errcode = '22023';
  end if;
  if actor_type not in ('user', 'api_key', 'system') then
    raise exception 'audit.set_context: actor_type must be user, api_key or system, got "%"', actor_type
      using errcode = '22023';
  end if;
  if actor_id_text is not null then
    if actor_id_text !~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
      raise exception 'audit.set_context: actor_id must be a uuid, got "%"', actor_id_text using errcode = '22023';
    end if;
    actor_id := actor_id_text::uuid;
  end if;

  if actor_type = 'user' then
    if actor_id is null then
      raise exception 'audit.set_context: actor_id is required for a user actor' using errcode = '22023';
    end if;
    select s.email, s.name into actor_email, actor_name from audit_private.user_snapshot(actor_id) s;
    if not found then
      raise exception 'audit.set_context: no user with id %', actor_id using errcode = '22023';
    end if;
  elsif actor_type = 'api_key' then
    if actor_id is null then
      raise exception 'audit.set_context: actor_id is required for an api_key actor' using errcode = '22023';
    end if;
    select k.name into actor_name from app.api_keys k where k.id = actor_id;
    if not found then
      raise exception 'audit.set_context: no API key with id %', actor_id using errcode = '22023';
    end if;
  else
    actor_name := coalesce(context->>'actor_name', 'system');
  end if;

  extra := context - '{actor_type,actor_id,actor_email,actor_name}'::text[];
  normalized := jsonb_build_object(
    'actor_type', actor_type, 'actor_id', actor_id, 'actor_email', actor_email,
    'actor_name', actor_name, 'context', extra);
  perform set_config('audit.context', normalized::text, true);
  return normalized;
end
$$;
comment on function audit.set_context(jsonb) is E'Names the actor of the current transaction: {"actor_id": uuid, "actor_type": "user" | "api_key" | "system", "request_id", "ip", "user_agent", "reason", ...}. A user''s email and name are snapshotted now. Everything but the actor fields is stored as the entries'' context. Lasts until the transaction ends.';

create function audit.clear_context() returns void
  language sql volatile
  as $$ select set_config('audit.context', '', true) $$;
comment on function audit.clear_context() is 'Forgets the actor set by audit.set_context() for the rest of the transaction.';

-- The actor of the current statement: the context set by the application,
-- else a PostGraphile-style jwt.claims.sub user, else the database role.
create function audit_private.current_actor(
  out actor_type text, out actor_id uuid, out actor_email text, out actor_name text, out context jsonb)
  language plpgsql stable
  set search_path = pg_catalog, pg_temp
  as $$
declare
  raw text := current_setting('audit.context', true);
  ctx jsonb;
  sub text;
begin
  if raw is not null and raw <> '' then
    ctx := raw::jsonb;
    actor_type := ctx->>'actor_type';
    actor_id := (ctx->>'actor_id')::uuid;
    actor_email := ctx->>'actor_email';
    actor_name := ctx->>'actor_name';
    context := coalesce(ctx->'context', '{}');
    return;
  end if;
  sub := nullif(current_setting('jwt.claims.sub', true), '');
  if sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    actor_type := 'user';
    actor_id := sub::uuid;
    select s.email, s.name into actor_email, actor_name from audit_private.user_snapshot(actor_id) s;
    context := jsonb_build_object('source', 'jwt.claims');
    return;
  end if;
  actor_type := 'database_role';
  actor_name := session_user::text;
  context := jsonb_strip_nulls(jsonb_build_object(
    'application_name', nullif(current_setting('application_name', true), ''),
    'client_addr', inet_client_addr()::text));
end
$$;
comment on function audit_private.current_actor() is 'The actor of the current statement, read once per statement by the capture trigger.';

--------------------------------------------------------------------------------
-- Redaction: secrets never reach the log.
--------------------------------------------------------------------------------
create function audit_private.redact_keys(value jsonb, pattern text) returns jsonb
  language sql immutable parallel safe
  as $$
    select case jsonb_typeof(value)
      when 'object' then (
        select coalesce(jsonb_object_agg(e.key,
                 case when e.key ~* pattern and e.value <> 'null'::jsonb then '"[redacted]"'::jsonb
                      else audit_private.redact_keys(e.value, pattern) end), '{}'::jsonb)
          from jsonb_each(value) e)
      when 'array' then (
        select coalesce(jsonb_agg(audit_private.redact_keys(x.value, pattern) order by x.ordinality), '[]'::jsonb)
          from jsonb_array_elements(value) with ordinality x)
      else value
    end
  $$;
comment on function audit_private.redact_keys(jsonb, text) is 'Replaces the values of JSON keys matching pattern (case-insensitive), at any depth, by "[redacted]".';

-- values: a row or diff as jsonb; secret_columns are replaced whole,
-- json_columns are searched for secret keys.
create function audit_private.redact(vals jsonb, secret_columns text[], json_columns text[], pattern text) returns jsonb
  language plpgsql immutable parallel safe
  as $$
declare
  col text;
begin
  if vals is null then
    return null;
  end if;
  foreach col in array secret_columns loop
    if vals ? col and vals->col <> 'null'::jsonb then
      vals := jsonb_set(vals, array[col], '"[redacted]"'::jsonb);
    end if;
  end loop;
  foreach col in array json_columns loop
    if vals ? col and jsonb_typeof(vals->col) in ('object', 'array') then
      vals := jsonb_set(vals, array[col], audit_private.redact_keys(vals->col, pattern));
    end if;
  end loop;
  return vals;
end
$$;
comment on function audit_private.redact(jsonb, text[], text[], text) is 'Applies a table''s redaction settings to captured values.';

--------------------------------------------------------------------------------
-- Capture: one statement-level trigger per operation, with transition tables,
-- running the set-based INSERT generated for the table by audit.track_table().
--------------------------------------------------------------------------------
create function audit_private.capture() returns trigger
  language plpgsql volatile security definer
  set search_path = pg_catalog, pg_temp
  as $$
declare
  stmt text;
  actor record;
begin
  select s.statement into stmt
    from audit_private.capture_statements s
   where s.table_name = tg_relid and s.operation = tg_op;
  if stmt is null then
    raise exception 'audit: % on %.% has no capture statement; run audit.track_table() again', tg_op, tg_table_schema, tg_table_name;
  end if;
  actor := audit_private.current_actor();
  execute stmt using actor.actor_type, actor.actor_id, actor.actor_email, actor.actor_name, actor.context;
  return null;
end
$$;
comment on function audit_private.capture() is 'The statement-level trigger that writes audit entries for the changed rows.';

create function audit_private.refuse_truncate() returns trigger
  language plpgsql volatile
  as $$
begin
  raise exception 'TRUNCATE of %.% is refused: it is audited, and TRUNCATE would remove rows without recording who removed what. Delete the rows instead.',
    tg_table_schema, tg_table_name
    using errcode = '0A000';
end
$$;
comment on function audit_private.refuse_truncate() is 'Refuses TRUNCATE on audited tables.';

create function audit_private.refuse_id_change() returns trigger
  language plpgsql volatile
  as $$
begin
  raise exception 'the id of %.% rows cannot change: audit entries refer to it', tg_table_schema, tg_table_name
    using errcode = '0A000';
end
$$;
comment on function audit_private.refuse_id_change() is 'Keeps ids of audited rows immutable, so updates are matched to their entity.';

-- Builds the set-based INSERT for one table and operation from its rules.
create function audit_private.build_capture_statement(tbl regclass, op text) returns text
  language plpgsql stable
  set search_path = pg_catalog, pg_temp
  as $$
declare
  cfg audit.tracked_tables;
  hstore_schema text;
  src text := case op when 'DELETE' then 'old' else 'new' end;
  event_case text := '';
  action_case text := '';
  rule record;
  cond text;
  json_columns text[];
  old_expr text;
  new_expr text;
  from_clause text;
  where_clause text;
  account_expr text;
begin
  select * into strict cfg from audit.tracked_tables where table_name = tbl;
  select n.nspname into strict hstore_schema
    from pg_extension e join pg_namespace n on n.oid = e.extnamespace where e.extname = 'hstore';

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

  select coalesce(array_agg(a.attname::text order by a.attnum), '{}') into json_columns
    from pg_attribute a
   where a.attrelid = tbl and a.attnum > 0 and not a.attisdropped
     and a.atttypid in ('json'::regtype, 'jsonb'::regtype);

  if op = 'INSERT' then
    old_expr := 'null::jsonb';
    new_expr := format('to_jsonb(new) - %L::text[]', cfg.ignored_columns);
    from_clause := 'new_rows as new';
    where_clause := 'true';
  elsif op = 'DELETE' then
    old_expr := format('to_jsonb(old) - %L::text[]', cfg.ignored_columns);
    new_expr := 'null::jsonb';
    from_clause := 'old_rows as old';
    where_clause := 'true';
  else
    -- hstore(new) - hstore(old) keeps the pairs that changed; the unchanged
    -- keys are then removed from the typed jsonb of each side.
    old_expr := format('to_jsonb(old) - d.unchanged - %L::text[]', cfg.ignored_columns);
    new_expr := format('to_jsonb(new) - d.unchanged - %L::text[]', cfg.ignored_columns);
    from_clause := format(
      'old_rows as old join new_rows as new on new.id = old.id'
      || ' cross join lateral (select %1$I.akeys(%1$I.hstore(new) operator(%1$I.-) %1$I.hstore(old)) as changed) c'
      || ' cross join lateral (select %1$I.akeys(%1$I.hstore(new) operator(%1$I.-) c.changed) as unchanged) d',
      hstore_schema);
    -- an update that changes only noise columns writes no entry
    where_clause := format('cardinality(array(select unnest(c.changed) except select unnest(%L::text[]))) > 0', cfg.ignored_columns);
  end if;

  if cardinality(cfg.redacted_columns) > 0 or cardinality(json_columns) > 0 then
    old_expr := format('audit_private.redact(%s, %L, %L, %L)', old_expr, cfg.redacted_columns, json_columns, cfg.redacted_keys);
    new_expr := format('audit_private.redact(%s, %L, %L, %L)', new_expr, cfg.redacted_columns, json_columns, cfg.redacted_keys);
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
comment on function audit_private.build_capture_statement(regclass, text) is 'Generates the capture INSERT of one table and operation from audit.tracked_tables and audit.event_rules.';

create function audit.track_table(
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
  stmt text;
  trigger_name text;
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

  delete from audit_private.capture_statements s where s.table_name = tbl;
  foreach op in array array['INSERT', 'UPDATE', 'DELETE'] loop
    trigger_name := '_900_audit_' || lower(op);
    execute format('drop trigger if exists %I on %s', trigger_name, tbl);
    stmt := audit_private.build_capture_statement(tbl, op);
    if stmt is not null then
      insert into audit_private.capture_statements (table_name, operation, statement) values (tbl, op, stmt);
      execute format(
        'create trigger %I after %s on %s referencing %s for each statement execute function audit_private.capture()',
        trigger_name, op, tbl,
        case op when 'INSERT' then 'new table as new_rows'
                when 'DELETE' then 'old table as old_rows'
                else 'old table as old_rows new table as new_rows' end);
      -- Fail now, not at the first write, when a condition is not valid SQL.
      begin
        execute 'explain ' || replace(replace(stmt, 'old_rows', format('(select * from %s limit 0)', tbl)),
                                      'new_rows', format('(select * from %s limit 0)', tbl))
          using null::text, null::uuid, null::text, null::text, null::jsonb;
      exception when others then
        raise exception 'audit.track_table: a % rule of % is not valid: %', lower(op), tbl, sqlerrm using errcode = '22023';
      end;
    end if;
  end loop;

  execute format('drop trigger if exists _900_audit_truncate on %s', tbl);
  execute format('create trigger _900_audit_truncate before truncate on %s for each statement execute function audit_private.refuse_truncate()', tbl);
  execute format('drop trigger if exists _010_audit_immutable_id on %s', tbl);
  execute format('create trigger _010_audit_immutable_id before update of id on %s for each row when (old.id is distinct from new.id) execute function audit_private.refuse_id_change()', tbl);
end
$$;
comment on function audit.track_table(regclass, text, jsonb, text[], text[], text, name, name) is
E'Starts (or reconfigures) auditing of a table. rules: an ordered JSON array of {"on": "insert"|"update"|"delete", "event": "<catalogued event>", "when": "<SQL condition over old and new>"}; the first matching rule names the event, unmatched rows are not recorded. ignored_columns are left out of values and updates touching only them are not recorded; redacted_columns and JSON keys matching redacted_keys are stored as "[redacted]".';

create function audit.untrack_table(table_name regclass) returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  tbl alias for table_name;
  trigger_name text;
begin
  foreach trigger_name in array array['_900_audit_insert', '_900_audit_update', '_900_audit_delete', '_900_audit_truncate', '_010_audit_immutable_id'] loop
    execute format('drop trigger if exists %I on %s', trigger_name, tbl);
  end loop;
  delete from audit.tracked_tables t where t.table_name = tbl;
end
$$;
comment on function audit.untrack_table(regclass) is 'Stops auditing a table (owner only). Existing entries stay.';

--------------------------------------------------------------------------------
-- Append-only: entries cannot be changed or removed, except through the
-- documented maintenance path (the owner, with audit.maintenance = on).
--------------------------------------------------------------------------------
create function audit_private.in_maintenance() returns boolean
  language sql stable
  as $$
    select coalesce(current_setting('audit.maintenance', true), '') = 'on'
       and (pg_has_role(current_user, (select relowner from pg_class where oid = 'audit.log'::regclass), 'member')
            or (select rolsuper from pg_roles where rolname = current_user))
  $$;
comment on function audit_private.in_maintenance() is 'True inside a maintenance transaction of the audit table''s owner.';

create function audit_private.refuse_log_change() returns trigger
  language plpgsql volatile
  as $$
begin
  if audit_private.in_maintenance() then
    return case tg_op when 'DELETE' then old else new end;
  end if;
  raise exception 'audit.log is append-only: % of audit entries is not allowed', tg_op
    using errcode = '42501',
          hint = 'Maintenance (e.g. erasing a deleted tenant) runs as the owner with: set local audit.maintenance = ''on''';
end
$$;
comment on function audit_private.refuse_log_change() is 'Keeps audit.log append-only.';

create function audit_private.refuse_log_truncate() returns trigger
  language plpgsql volatile
  as $$
begin
  if audit_private.in_maintenance() then
    return null;
  end if;
  raise exception 'audit.log is append-only: TRUNCATE of audit entries is not allowed'
    using errcode = '42501',
          hint = 'Maintenance runs as the owner with: set local audit.maintenance = ''on''';
end
$$;
comment on function audit_private.refuse_log_truncate() is 'Keeps audit.log and its partitions append-only against TRUNCATE.';

create trigger _000_append_only before update or delete on audit.log
  for each row execute function audit_private.refuse_log_change();
create trigger _000_append_only_truncate before truncate on audit.log
  for each statement execute function audit_private.refuse_log_truncate();
create trigger _000_append_only_truncate before truncate on audit.log_default
  for each statement execute function audit_private.refuse_log_truncate();

--------------------------------------------------------------------------------
-- Partitions: one a month, created ahead; rows that fell into the default
-- partition are moved into their month.
--------------------------------------------------------------------------------
create function audit.ensure_partitions(months_ahead integer default 3) returns integer
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

    if exists (select from audit.log_default where occurred_at >= month_start and occurred_at < month_end) then
      -- Move the month's rows out of the default partition, then attach.
      perform set_config('audit.maintenance', 'on', true);
      execute format('create table audit.%I (like audit.log including defaults including constraints)', part_name);
      execute format(
        'with moved as (delete from audit.log_default where occurred_at >= %L and occurred_at < %L returning *)'
        || ' insert into audit.%I overriding system value select * from moved', month_start, month_end, part_name);
      execute format('alter table audit.log attach partition audit.%I for values from (%L) to (%L)', part_name, month_start, month_end);
      perform set_config('audit.maintenance', '', true);
    else
      execute format('create table audit.%I partition of audit.log for values from (%L) to (%L)', part_name, month_start, month_end);
    end if;
    execute format('create trigger _000_append_only_truncate before truncate on audit.%I for each statement execute function audit_private.refuse_log_truncate()', part_name);
    execute format('comment on table audit.%I is %L', part_name, format('Audit entries of %s (partition of audit.log; read through audit.log).', to_char(month_start at time zone 'UTC', 'YYYY-MM')));
    created := created + 1;
  end loop;
  return created;
end
$$;
comment on function audit.ensure_partitions(integer) is 'Creates the monthly partitions of audit.log for this month and months_ahead more, and moves rows that landed in the default partition into their month. Returns the number of partitions created. Safe to run at any time.';

--------------------------------------------------------------------------------
-- Row-level security on the audit table.
--------------------------------------------------------------------------------
alter table audit.log enable row level security;
alter table audit.log force row level security;

-- The capture trigger and maintenance run as the owner.
create policy log_owner_insert on audit.log for insert to current_user with check (true);
create policy log_owner_select on audit.log for select to current_user using (true);
-- Admins through the GraphQL server: their tenant, or only their account.
create policy log_viewer_select on audit.log for select to audit_viewer
  using (audit.in_scope(tenant_id, account_id));
-- DBAs and BI tools: everything, read-only.
create policy log_reader_select on audit.log for select to audit_reader using (true);

grant usage on schema audit to app_user, audit_viewer, audit_reader;
grant select on audit.log to audit_viewer, audit_reader;
grant select on audit.events to app_user, audit_viewer, audit_reader;
grant select on audit.tracked_tables, audit.event_rules to audit_reader;
grant execute on function audit.set_context(jsonb), audit.clear_context() to app_user;
grant execute on function audit.current_user_id(), audit.current_tenant_id(), audit.current_scope_role(),
  audit.current_account_id(), audit.in_scope(uuid, uuid) to app_user, audit_viewer, audit_reader;

--------------------------------------------------------------------------------
-- The event catalogue.
--------------------------------------------------------------------------------
insert into audit.events (event, action, resource_type, description) values
  ('tenant.created', 'create', 'tenant', 'Tenant created'),
  ('tenant.updated', 'update', 'tenant', 'Tenant updated'),
  ('tenant.deleted', 'delete', 'tenant', 'Tenant deleted'),
  ('account.created', 'create', 'account', 'Account created'),
  ('account.updated', 'update', 'account', 'Account updated'),
  ('account.deleted', 'delete', 'account', 'Account deleted'),
  ('user.created', 'create', 'user', 'User created'),
  ('user.updated', 'update', 'user', 'User updated'),
  ('user.deleted', 'delete', 'user', 'User deleted'),
  ('member.added', 'assign', 'member', 'Member added'),
  ('member.role_updated', 'update', 'member', 'Member role updated'),
  ('member.removed', 'unassign', 'member', 'Member removed'),
  ('invitation.created', 'create', 'invitation', 'Invitation created'),
  ('invitation.accepted', 'accept', 'invitation', 'Invitation accepted'),
  ('invitation.updated', 'update', 'invitation', 'Invitation updated'),
  ('invitation.revoked', 'delete', 'invitation', 'Invitation revoked'),
  ('process.created', 'create', 'process', 'Process created'),
  ('process.updated', 'update', 'process', 'Process updated'),
  ('process.deleted', 'delete', 'process', 'Process deleted'),
  ('process.restored', 'restore', 'process', 'Process restored'),
  ('process_member.added', 'assign', 'process_member', 'Process member added'),
  ('process_member.removed', 'unassign', 'process_member', 'Process member removed'),
  ('job.completed', 'complete', 'job', 'Job completed'),
  ('settings.updated', 'update', 'settings', 'Settings updated'),
  ('api_key.created', 'create', 'api_key', 'API key created'),
  ('api_key.deactivated', 'deactivate', 'api_key', 'API key deactivated'),
  ('api_key.updated', 'update', 'api_key', 'API key updated'),
  ('api_key.deleted', 'delete', 'api_key', 'API key deleted'),
  ('license.created', 'create', 'license', 'License created'),
  ('license.activated', 'activate', 'license', 'License activated'),
  ('license.updated', 'update', 'license', 'License updated'),
  ('license.deleted', 'delete', 'license', 'License deleted');

--------------------------------------------------------------------------------
-- Tracking of every business table.
--------------------------------------------------------------------------------
select audit.track_table('app.tenants', 'tenant', '[
  {"on": "insert", "event": "tenant.created"},
  {"on": "update", "event": "tenant.updated"},
  {"on": "delete", "event": "tenant.deleted"}
]', tenant_column => 'id', account_column => null);

select audit.track_table('app.accounts', 'account', '[
  {"on": "insert", "event": "account.created"},
  {"on": "update", "event": "account.updated"},
  {"on": "delete", "event": "account.deleted"}
]', account_column => 'id');

select audit.track_table('app.users', 'user', '[
  {"on": "insert", "event": "user.created"},
  {"on": "update", "event": "user.updated"},
  {"on": "delete", "event": "user.deleted"}
]', ignored_columns => '{updated_at,last_seen_at}');

select audit.track_table('app.memberships', 'member', '[
  {"on": "insert", "event": "member.added"},
  {"on": "update", "event": "member.role_updated"},
  {"on": "delete", "event": "member.removed"}
]');

select audit.track_table('app.invitations', 'invitation', '[
  {"on": "insert", "event": "invitation.created"},
  {"on": "update", "when": "old.accepted_at is null and new.accepted_at is not null", "event": "invitation.accepted"},
  {"on": "update", "event": "invitation.updated"},
  {"on": "delete", "event": "invitation.revoked"}
]');

select audit.track_table('app.processes', 'process', '[
  {"on": "insert", "event": "process.created"},
  {"on": "update", "when": "old.deleted_at is null and new.deleted_at is not null", "event": "process.deleted"},
  {"on": "update", "when": "old.deleted_at is not null and new.deleted_at is null", "event": "process.restored"},
  {"on": "update", "event": "process.updated"},
  {"on": "delete", "event": "process.deleted"}
]');

select audit.track_table('app.process_members', 'process_member', '[
  {"on": "insert", "event": "process_member.added"},
  {"on": "delete", "event": "process_member.removed"}
]', ignored_columns => '{}');

select audit.track_table('app.jobs', 'job', '[
  {"on": "insert", "when": "new.status in (''completed'', ''failed'', ''cancelled'')", "event": "job.completed"},
  {"on": "update", "when": "new.status in (''completed'', ''failed'', ''cancelled'') and old.status not in (''completed'', ''failed'', ''cancelled'')", "event": "job.completed"}
]');

select audit.track_table('app.settings', 'settings', '[
  {"on": "insert", "event": "settings.updated"},
  {"on": "update", "event": "settings.updated"},
  {"on": "delete", "event": "settings.updated"}
]');

select audit.track_table('app.api_keys', 'api_key', '[
  {"on": "insert", "event": "api_key.created"},
  {"on": "update", "when": "old.revoked_at is null and new.revoked_at is not null", "event": "api_key.deactivated"},
  {"on": "update", "event": "api_key.updated"},
  {"on": "delete", "event": "api_key.deleted"}
]', ignored_columns => '{updated_at,last_used_at}', redacted_columns => '{key_hash}');

select audit.track_table('app.licenses', 'license', '[
  {"on": "insert", "when": "new.activated_at is not null", "event": "license.activated"},
  {"on": "insert", "event": "license.created"},
  {"on": "update", "when": "new.activated_at is distinct from old.activated_at or new.expires_at is distinct from old.expires_at", "event": "license.activated"},
  {"on": "update", "event": "license.updated"},
  {"on": "delete", "event": "license.deleted"}
]', account_column => null);

select audit.ensure_partitions();
