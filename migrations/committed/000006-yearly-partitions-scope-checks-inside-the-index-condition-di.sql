--! Previous: sha1:721a77676bd3c7c97706a51d0eb2dfe29b8818cd
--! Hash: sha1:6ad13a142c23eb2e4cbe155a1bf26b87f1c65896
--! Message: Yearly partitions; scope checks inside the index condition; direct SQL after SET ROLE attributed to the role switched to

-- Enter migration here
--------------------------------------------------------------------------------
-- The database role of direct SQL: the role a session switched to
--------------------------------------------------------------------------------
-- The capture runs as security definer, so current_user there is the owner
-- and session_user the login: a DBA who logs in as postgres and runs
-- `set role app_user` was recorded as postgres. The role switched to is the
-- `role` setting (not changed by security definer); the login goes into the
-- context when it differs.
create or replace function audit_private.current_actor(
  out actor_type text, out actor_id uuid, out actor_email text, out actor_name text, out context jsonb)
  language plpgsql stable
  as $$
declare
  raw text := current_setting('audit.context', true);
  ctx jsonb;
  sub text;
  switched text;
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
  switched := nullif(current_setting('role', true), 'none');
  actor_name := coalesce(switched, session_user::text);
  context := jsonb_strip_nulls(jsonb_build_object(
    'session_user', case when switched <> session_user::text then session_user::text end,
    'application_name', nullif(current_setting('application_name', true), ''),
    'client_addr', inet_client_addr()::text));
end
$$;
comment on function audit_private.current_actor() is 'The actor of the current statement, read once per statement by the capture trigger: the application''s context, else the JWT subject, else the database role (the role switched to with SET ROLE, with the login in the context).';

--------------------------------------------------------------------------------
-- Scope checks the planner evaluates once, not once per partition
--------------------------------------------------------------------------------
-- `audit.current_scope_role() = 'tenant_admin'` in a policy reads no column:
-- the planner puts a gating Result node over every partition's scan, which
-- cost an account admin's query 0.85 ms of its 4.1 ms planning at 29
-- partitions. The same check inside the tenant the policy compares with
-- (null, so no rows, when the claimed kind differs) is part of the index
-- condition instead.
create or replace function audit.scoped_tenant_id(admin_kind text) returns uuid
  language sql stable parallel safe
  as $$
    select case when nullif(current_setting('jwt.claims.role', true), '') = admin_kind
                then nullif(current_setting('jwt.claims.tenant_id', true), '')::uuid end
  $$;
comment on function audit.scoped_tenant_id(text) is E'@behavior -*\nThe tenant in jwt.claims.tenant_id when jwt.claims.role names admin_kind (tenant_admin or account_admin), else null: the policies of audit_tenant_admin and audit_account_admin compare tenant_id with it.';
grant execute on function audit.scoped_tenant_id(text) to audit_viewer, audit_reader, app_user;

drop policy if exists log_tenant_admin_select on audit.log;
create policy log_tenant_admin_select on audit.log for select to audit_tenant_admin
  using (tenant_id = audit.scoped_tenant_id('tenant_admin'));
drop policy if exists log_account_admin_select on audit.log;
create policy log_account_admin_select on audit.log for select to audit_account_admin
  using (tenant_id = audit.scoped_tenant_id('account_admin') and account_id = audit.current_account_id());

--------------------------------------------------------------------------------
-- Yearly partitions
--------------------------------------------------------------------------------
-- The log is kept for the tenant's lifetime and most admin queries have no
-- time bound, so each of them plans and opens every partition: at 24
-- monthly partitions with 7 indexes each an account admin's query spent
-- ~4 ms planning (tenant admins ~2 ms), growing by a twelfth every month, and
-- its Merge Append opened an index scan per month. One partition a year
-- keeps that small for decades. New partitions are yearly; a year that
-- already has monthly partitions (created by earlier versions) keeps getting
-- monthly ones, and empty monthly partitions of a year are folded into one
-- yearly partition below.
create or replace function audit_private.create_log_partition(part_name text, range_start timestamptz, range_end timestamptz)
  returns void
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
begin
  -- A standalone table attached afterwards: ATTACH PARTITION takes SHARE
  -- UPDATE EXCLUSIVE on audit.log (CREATE TABLE ... PARTITION OF would take
  -- ACCESS EXCLUSIVE and queue every writer behind any open reader).
  execute format('create table audit.%I (like audit.log including defaults including constraints)', part_name);
  execute format('create trigger _000_append_only_truncate before truncate on audit.%I for each statement execute function audit_private.refuse_log_truncate()', part_name);
  execute format('comment on table audit.%I is %L', part_name,
    format('Audit entries from %s to %s (partition of audit.log; read through audit.log).',
           to_char(range_start at time zone 'UTC', 'YYYY-MM-DD'), to_char(range_end at time zone 'UTC', 'YYYY-MM-DD')));
  -- the planner's estimate of "tenant and account" (migration 000003, section 5)
  execute format('create statistics audit.%I on tenant_id, account_id from audit.%I', part_name || '_tenant_account_stats', part_name);
  if exists (select from audit.log_default where occurred_at >= range_start and occurred_at < range_end) then
    -- Move the range's rows out of the default partition, then attach.
    perform set_config('audit.maintenance', 'on', true);
    execute format(
      'with moved as (delete from audit.log_default where occurred_at >= %L and occurred_at < %L returning *)'
      || ' insert into audit.%I overriding system value select * from moved', range_start, range_end, part_name);
    perform set_config('audit.maintenance', '', true);
  end if;
  execute format('alter table audit.log attach partition audit.%I for values from (%L) to (%L)', part_name, range_start, range_end);
end
$$;
comment on function audit_private.create_log_partition(text, timestamptz, timestamptz) is 'Creates one partition of audit.log for [range_start, range_end), moving the range''s rows out of the default partition, without blocking writers.';

create or replace function audit.ensure_partitions(months_ahead integer default 3) returns integer
  language plpgsql volatile
  set search_path = pg_catalog, pg_temp
  as $$
declare
  month_start timestamptz;
  year_start timestamptz;
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
    year_start := date_trunc('year', month_start at time zone 'UTC') at time zone 'UTC';
    continue when audit_private.partition_covers(month_start);
    if exists (select from pg_inherits i join pg_class c on c.oid = i.inhrelid
                where i.inhparent = 'audit.log'::regclass
                  and c.relname like 'log\_' || to_char(year_start at time zone 'UTC', 'YYYY') || '\_%') then
      -- a year that earlier versions partitioned by month stays monthly
      perform audit_private.create_log_partition('log_' || to_char(month_start at time zone 'UTC', 'YYYY_MM'), month_start,
                                                 (month_start at time zone 'UTC' + interval '1 month') at time zone 'UTC');
    else
      perform audit_private.create_log_partition('log_' || to_char(year_start at time zone 'UTC', 'YYYY'), year_start,
                                                 (year_start at time zone 'UTC' + interval '1 year') at time zone 'UTC');
    end if;
    created := created + 1;
  end loop;
  return created;
end
$$;
comment on function audit.ensure_partitions(integer) is 'Creates the partitions of audit.log (one a year) covering this month and months_ahead more, and moves rows that landed in the default partition into their partition. Returns the number of partitions created. Safe to run at any time, also under write load: a new partition is attached without blocking writers or readers of audit.log.';

create or replace function audit_private.partition_covers(t timestamptz) returns boolean
  language sql stable
  set search_path = pg_catalog, pg_temp
  as $$
    select exists (
      select from pg_inherits i join pg_class c on c.oid = i.inhrelid
       where i.inhparent = 'audit.log'::regclass
         and c.relname in ('log_' || to_char(t at time zone 'UTC', 'YYYY'), 'log_' || to_char(t at time zone 'UTC', 'YYYY_MM')))
  $$;
comment on function audit_private.partition_covers(timestamptz) is 'Whether a yearly or monthly partition of audit.log holds the instant t.';

-- Fold each year whose monthly partitions are all empty (those created ahead
-- by earlier versions) into one yearly partition. A year with any entry keeps
-- its months.
do $$
declare
  y record;
  p record;
  n bigint;
  has_rows boolean;
begin
  for y in
    select substr(c.relname, 5, 4) as year
      from pg_inherits i join pg_class c on c.oid = i.inhrelid
     where i.inhparent = 'audit.log'::regclass and c.relname ~ '^log_\d{4}_\d{2}$'
     group by 1
  loop
    has_rows := false;
    for p in select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
              where i.inhparent = 'audit.log'::regclass and c.relname like 'log\_' || y.year || '\_%' loop
      -- locked first, so that no entry can arrive between the check and the drop
      execute format('lock table audit.%I in access exclusive mode', p.relname);
      execute format('select count(*) from (select 1 from audit.%I limit 1) s', p.relname) into n;
      has_rows := has_rows or n > 0;
    end loop;
    continue when has_rows;
    for p in select c.relname from pg_inherits i join pg_class c on c.oid = i.inhrelid
              where i.inhparent = 'audit.log'::regclass and c.relname like 'log\_' || y.year || '\_%' loop
      execute format('alter table audit.log detach partition audit.%I', p.relname);
      execute format('drop table audit.%I', p.relname);
    end loop;
  end loop;
end
$$;
select audit.ensure_partitions();
