-- The read benchmark's data set: {{rows}} audit entries over 24 months for
-- {{tenants}} tenants of skewed size (tenant of rank r weighs 1 / r^1.2: the
-- largest holds about a fifth of all entries, the ten largest more than half,
-- the smallest a few hundred), written set-based into audit.log as the owner
-- (no triggers needed: reads only). Ids grow with time, as in a real log.
-- Every attribute derives from the entry number n through hashes, so the same
-- parameters give the same data. Run in parts by bench/read-dataset.ts:
-- "-- part: <name>" lines separate the parts.

-- part: catalogue
create schema if not exists bench;
drop table if exists bench.r_tenants, bench.r_tenant_buckets, bench.r_events, bench.r_event_buckets, bench.dataset;

create table bench.r_tenants as
with w as (select r, 1.0 / power(r, 1.2) as w from generate_series(1, {{tenants}}) r)
select r as rank,
       md5('rt:' || r)::uuid as id,
       (w / sum(w) over ())::float8 as share,
       1 + floor(40 / sqrt(r))::int as accounts,
       3 + floor(200 / sqrt(r))::int as users,
       (sum(w) over (order by r) / sum(w) over ())::float8 as cum
  from w;
alter table bench.r_tenants add primary key (rank);
-- expected entries, and the pools that give entities a history
alter table bench.r_tenants add column entries bigint, add column pool int;
update bench.r_tenants set entries = round(share * {{rows}}), pool = greatest(5, round(share * {{rows}} / 400)::int);

-- 2^20 buckets, each tenant owning a run of them as large as its share
create table bench.r_tenant_buckets as
select generate_series(lo, hi - 1) as b, rank
  from (select rank,
               floor(coalesce(lag(cum) over (order by rank), 0) * 1048576)::int as lo,
               case when rank = {{tenants}} then 1048576 else floor(cum * 1048576)::int end as hi
          from bench.r_tenants) x
 where hi > lo;
alter table bench.r_tenant_buckets add primary key (b);

create table bench.r_events (k int primary key, event text, action text, resource_type text, account_level boolean, weight int);
insert into bench.r_events (k, event, action, resource_type, account_level, weight) values
  (1, 'job.completed', 'complete', 'job', true, 543),
  (2, 'process.updated', 'update', 'process', true, 150),
  (3, 'process.created', 'create', 'process', true, 50),
  (4, 'process.deleted', 'delete', 'process', true, 10),
  (5, 'process.restored', 'restore', 'process', true, 2),
  (6, 'process_member.added', 'assign', 'process_member', true, 30),
  (7, 'process_member.removed', 'unassign', 'process_member', true, 10),
  (8, 'member.added', 'assign', 'member', true, 30),
  (9, 'member.role_updated', 'update', 'member', true, 10),
  (10, 'member.removed', 'unassign', 'member', true, 10),
  (11, 'user.created', 'create', 'user', false, 20),
  (12, 'user.updated', 'update', 'user', false, 30),
  (13, 'invitation.created', 'create', 'invitation', true, 20),
  (14, 'invitation.accepted', 'accept', 'invitation', true, 15),
  (15, 'settings.updated', 'update', 'settings', true, 30),
  (16, 'settings.updated', 'update', 'settings', false, 10),
  (17, 'api_key.created', 'create', 'api_key', true, 10),
  (18, 'api_key.deactivated', 'deactivate', 'api_key', true, 5),
  (19, 'account.created', 'create', 'account', true, 3),
  (20, 'account.updated', 'update', 'account', true, 5),
  (21, 'license.activated', 'activate', 'license', false, 3),
  (22, 'license.created', 'create', 'license', false, 2),
  (23, 'tenant.updated', 'update', 'tenant', false, 2);
create table bench.r_event_buckets as
with c as (select k, sum(weight) over (order by k) as hi, sum(weight) over () as total from bench.r_events)
select b, (select c.k from c where c.hi * 1000 > b * c.total order by c.k limit 1) as k
  from generate_series(0, 999) b;

create table bench.dataset (
  rows bigint not null,
  tenants int not null,
  span_end timestamptz not null,
  fingerprint text not null,
  generated_at timestamptz not null default now(),
  generation_seconds float8
);

-- part: partitions
-- The partitions (one a year) for the 24 months before span_end, made by
-- the function audit.ensure_partitions uses.
do $$
declare
  span_end timestamptz := '{{span_end}}';
  y timestamptz;
  part_name text;
begin
  for y in select generate_series(date_trunc('year', (span_end - interval '731 days') at time zone 'UTC') at time zone 'UTC',
                                  date_trunc('year', span_end at time zone 'UTC') at time zone 'UTC', interval '1 year') loop
    part_name := 'log_' || to_char(y at time zone 'UTC', 'YYYY');
    continue when exists (select from pg_class c where c.relnamespace = 'audit'::regnamespace and c.relname = part_name);
    perform audit_private.create_log_partition(part_name, y, (y at time zone 'UTC' + interval '1 year') at time zone 'UTC');
  end loop;
end
$$;

-- part: load
-- One slice [{{from}}, {{to}}] of the entries; run once per slice.
insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_id, actor_email, actor_name,
                       action, resource_type, entity_id, event, old_values, new_values, context, transaction_id)
select g.at, t.id,
       case when e.account_level then md5('ra:' || t.rank || ':' || floor(t.accounts * x.ua * x.ua)::int)::uuid end,
       a.actor_type, a.actor_id, a.actor_email, a.actor_name,
       e.action, e.resource_type, x.entity_id, e.event, v.old_values, v.new_values, a.context, g.n / 3
  from (select n,
               timestamptz '{{span_end}}' - interval '730 days' + (n - 0.5) * (interval '730 days' / {{rows}}) as at,
               (hashint8extended(n, 1) & 1048575)::int as tb,
               (hashint8extended(n, 2) & 1023)::int % 1000 as eb,
               ((hashint8extended(n, 3) & 16777215) / 16777216.0)::float8 as u2,
               ((hashint8extended(n, 4) & 16777215) / 16777216.0)::float8 as u3,
               ((hashint8extended(n, 5) & 16777215) / 16777216.0)::float8 as u4,
               ((hashint8extended(n, 6) & 16777215) / 16777216.0)::float8 as u5
          from generate_series({{from}}::bigint, {{to}}::bigint) n) g
  join bench.r_tenant_buckets tb on tb.b = g.tb
  join bench.r_tenants t on t.rank = tb.rank
  join bench.r_event_buckets eb on eb.b = g.eb
  join bench.r_events e on e.k = eb.k
  cross join lateral (
    select case when e.resource_type = 'job' then md5('job:' || g.n)::uuid::text
                else md5(e.resource_type || ':' || t.rank || ':' || ei.i)::uuid::text end as entity_id,
           -- an entity stays in one account; jobs spread like the rest
           case when e.resource_type = 'job' then g.u2
                else ((hashint4(ei.i * 7919 + t.rank) & 65535) / 65536.0)::float8 end as ua,
           floor(t.users * g.u4 * g.u4)::int as user_index
      from (select floor(t.pool * g.u3)::int as i) ei
  ) x
  cross join lateral (
    select case when g.u5 < 0.85 then 'user' when g.u5 < 0.95 then 'api_key'
                when g.u5 < 0.99 then 'system' else 'database_role' end as kind
  ) k
  cross join lateral (
    select k.kind as actor_type,
           case k.kind when 'user' then md5('ru:' || t.rank || ':' || x.user_index)::uuid
                       when 'api_key' then md5('rk:' || t.rank || ':' || (x.user_index % 5))::uuid end as actor_id,
           case k.kind when 'user' then 'user' || x.user_index || '@tenant' || t.rank || '.example.test' end as actor_email,
           case k.kind when 'user' then 'User ' || x.user_index || ' of tenant ' || t.rank
                       when 'api_key' then 'ci-key-' || (x.user_index % 5)
                       when 'system' then 'nightly-sync' else 'postgres' end as actor_name,
           case k.kind when 'user' then jsonb_build_object('request_id', 'req-' || g.n, 'ip', '10.' || (g.n % 250) || '.' || (g.n / 250 % 250) || '.7',
                                                          'user_agent', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0')
                       when 'api_key' then jsonb_build_object('request_id', 'req-' || g.n)
                       when 'system' then '{}'::jsonb
                       else '{"application_name": "psql"}'::jsonb end as context
  ) a
  cross join lateral (
    select case
             when e.action in ('update', 'complete', 'accept', 'deactivate', 'activate', 'restore') then
               case e.resource_type
                 when 'job' then jsonb_build_object('status', 'running', 'finished_at', null)
                 when 'settings' then jsonb_build_object('value', jsonb_build_object('username', 'robot', 'password', '[redacted]', 'endpoint', 'https://rpa.example.test/' || (g.n % 97)))
                 else jsonb_build_object('name', initcap(e.resource_type) || ' ' || (g.n % 9973), 'description', 'Previous description ' || (g.n % 1013)) end
             when e.action in ('delete', 'unassign') then
               jsonb_build_object('id', x.entity_id, 'tenant_id', t.id, 'name', initcap(e.resource_type) || ' ' || (g.n % 9973), 'created_at', g.at - interval '90 days')
           end as old_values,
           case
             when e.action in ('delete', 'unassign') then null
             when e.action in ('create', 'assign') then
               jsonb_build_object('id', x.entity_id, 'tenant_id', t.id, 'name', initcap(e.resource_type) || ' ' || (g.n % 9973),
                                  'description', 'Created by the benchmark data generator, entry ' || g.n, 'created_at', g.at)
             else
               case e.resource_type
                 when 'job' then jsonb_build_object('status', 'completed', 'finished_at', g.at)
                 when 'settings' then jsonb_build_object('value', jsonb_build_object('username', 'robot', 'password', '[redacted]', 'endpoint', 'https://rpa.example.test/' || (g.n % 89)))
                 else jsonb_build_object('name', initcap(e.resource_type) || ' ' || (g.n % 9967), 'description', 'New description ' || (g.n % 1019)) end
           end as new_values
  ) v
 order by g.n;
