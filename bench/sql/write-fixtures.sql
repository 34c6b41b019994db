-- The business landscape the write benchmarks run on, loaded as the owner
-- without firing triggers (session_replication_role = replica): the fixture
-- itself is not part of any measurement. Ids are md5-derived uuids so that
-- the workload scripts can address rows arithmetically:
--   tenant t            md5('tenant:' || t)
--   account (t, a)      md5('account:' || t || ':' || a)
--   user (t, u)         md5('user:' || t || ':' || u)
--   process p           md5('process:' || p), in tenant p % T, account (p / T) % A
--   job k               md5('job:' || k),     in tenant k % T, account (k / T) % A (all 'running')
--   setting (t, a)      md5('setting:' || t || ':' || a), the account's rpa.credentials
-- Placeholders {{tenants}}, {{accounts}}, {{users}}, {{processes}}, {{jobs}} are filled in by bench/writes.ts.
set session_replication_role = replica;

create schema if not exists bench;
grant usage on schema bench to app_user;
create sequence if not exists bench.job_seq;
create sequence if not exists bench.membership_seq;
grant usage on sequence bench.job_seq, bench.membership_seq to app_user;

insert into app.tenants (id, name)
select md5('tenant:' || t)::uuid, 'Tenant ' || t from generate_series(0, {{tenants}} - 1) t;

insert into app.accounts (id, tenant_id, name)
select md5('account:' || t || ':' || a)::uuid, md5('tenant:' || t)::uuid, 'Account ' || t || '/' || a
  from generate_series(0, {{tenants}} - 1) t, generate_series(0, {{accounts}} - 1) a;

insert into app.users (id, tenant_id, email, name)
select md5('user:' || t || ':' || u)::uuid, md5('tenant:' || t)::uuid,
       'user' || u || '@tenant' || t || '.example.test', 'User ' || u || ' of tenant ' || t
  from generate_series(0, {{tenants}} - 1) t, generate_series(0, {{users}} - 1) u;

insert into app.processes (id, tenant_id, account_id, name, description)
select md5('process:' || p)::uuid, md5('tenant:' || (p % {{tenants}}))::uuid,
       md5('account:' || (p % {{tenants}}) || ':' || ((p / {{tenants}}) % {{accounts}}))::uuid,
       'Invoice sync ' || p, 'Reads invoices from the ERP and books them, run ' || p
  from generate_series(0, {{processes}} - 1) p;

insert into app.jobs (id, tenant_id, account_id, process_id, status, started_at)
select md5('job:' || k)::uuid, md5('tenant:' || (k % {{tenants}}))::uuid,
       md5('account:' || (k % {{tenants}}) || ':' || ((k / {{tenants}}) % {{accounts}}))::uuid,
       -- process k mod P has the same tenant and account when P is a multiple of T * A
       md5('process:' || (k % {{processes}}))::uuid, 'running', now()
  from generate_series(1, {{jobs}}) k;

insert into app.settings (id, tenant_id, account_id, key, value)
select md5('setting:' || t || ':' || a)::uuid, md5('tenant:' || t)::uuid, md5('account:' || t || ':' || a)::uuid,
       'rpa.credentials', jsonb_build_object('username', 'robot', 'password', 'initial-secret', 'endpoint', 'https://rpa.example.test/' || a)
  from generate_series(0, {{tenants}} - 1) t, generate_series(0, {{accounts}} - 1) a;

reset session_replication_role;
