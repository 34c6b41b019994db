-- The business rows behind the largest tenants of the read data set, for
-- bench/detect.ts: the detection section writes through the business tables
-- as app_user, like an application, into tenants whose history is already in
-- the log (10M entries). Loaded as the owner without firing triggers
-- (session_replication_role = replica): the fixture is no part of any
-- measurement. Ids follow bench/sql/read-dataset.sql where the data set has
-- them, so that the new entries join the tenants', users' and processes'
-- history:
--   tenant (rank r)          bench.r_tenants.id (md5('rt:' || r))
--   account (r, a)           md5('ra:' || r || ':' || a), a < accounts
--   user (r, u)              md5('ru:' || r || ':' || u), u < users; email and name as the data set's actors
--   process (r, i)           md5('process:' || r || ':' || i), i < pool, in the account the data set gives it
--   API key (r, j)           md5('rk:' || r || ':' || j), j < 5, named ci-key-j (the data set's API key actors)
-- and, new here:
--   membership (r, u)        md5('dm:' || r || ':' || u): users 0-2 tenant admins, every tenth an account admin, else member or viewer
--   job (r, k)               md5('dj:' || r || ':' || k), k = 1 .. jobs of the tenant, 'running'
--   setting (r, a)           md5('ds:' || r || ':' || a), the account's rpa.credentials
--   the mass change          account md5('ra:1:imports') ("Imports") of the largest tenant, with {{mass_processes}}
--                            processes md5('dmp:' || k), and its data steward md5('ru:1:steward'), a tenant admin
--                            who does nothing else: the mix never touches them.
-- Placeholders {{tenants}} (how many of the largest), {{jobs}} (running jobs
-- over all of them, shared by size) and {{mass_processes}} are filled in by
-- bench/detect.ts.
set session_replication_role = replica;

create temporary table d_tenants on commit drop as
select rank, id, accounts, users, pool, share / sum(share) over () as weight
  from bench.r_tenants where rank <= {{tenants}};

insert into app.tenants (id, name) select id, 'Tenant ' || rank from d_tenants;

insert into app.accounts (id, tenant_id, name)
select md5('ra:' || t.rank || ':' || a)::uuid, t.id, 'Account ' || t.rank || '/' || a
  from d_tenants t, generate_series(0, t.accounts - 1) a;

insert into app.users (id, tenant_id, email, name)
select md5('ru:' || t.rank || ':' || u)::uuid, t.id, 'user' || u || '@tenant' || t.rank || '.example.test', 'User ' || u || ' of tenant ' || t.rank
  from d_tenants t, generate_series(0, t.users - 1) u;

insert into app.memberships (id, tenant_id, account_id, user_id, role)
select md5('dm:' || t.rank || ':' || u)::uuid, t.id,
       case when u >= 3 then md5('ra:' || t.rank || ':' || (u % t.accounts))::uuid end,
       md5('ru:' || t.rank || ':' || u)::uuid,
       case when u < 3 or u % 10 = 3 then 'admin' when u % 4 = 0 then 'viewer' else 'member' end
  from d_tenants t, generate_series(0, t.users - 1) u;

insert into app.api_keys (id, tenant_id, name, key_hash, created_by, created_at)
select md5('rk:' || t.rank || ':' || j)::uuid, t.id, 'ci-key-' || j, md5('key:' || t.rank || ':' || j),
       md5('ru:' || t.rank || ':0')::uuid, now() - interval '400 days'
  from d_tenants t, generate_series(0, 4) j;

-- processes in the accounts read-dataset.sql gives their entities
insert into app.processes (id, tenant_id, account_id, name, description)
select md5('process:' || t.rank || ':' || i)::uuid, t.id,
       md5('ra:' || t.rank || ':' || floor(t.accounts * ua * ua)::int)::uuid,
       'Process ' || i || ' of tenant ' || t.rank, 'Reads invoices from the ERP and books them'
  from d_tenants t, generate_series(0, t.pool - 1) i
 cross join lateral (select ((hashint4(i * 7919 + t.rank) & 65535) / 65536.0)::float8 as ua) x;

-- job k runs process k mod pool, in that process's account
insert into app.jobs (id, tenant_id, account_id, process_id, status, started_at)
select md5('dj:' || t.rank || ':' || k)::uuid, t.id,
       md5('ra:' || t.rank || ':' || floor(t.accounts * ua * ua)::int)::uuid,
       md5('process:' || t.rank || ':' || (k % t.pool))::uuid, 'running', now()
  from d_tenants t, generate_series(1, ceil({{jobs}} * t.weight)::int) k
 cross join lateral (select ((hashint4((k % t.pool)::int * 7919 + t.rank) & 65535) / 65536.0)::float8 as ua) x;

insert into app.settings (id, tenant_id, account_id, key, value)
select md5('ds:' || t.rank || ':' || a)::uuid, t.id, md5('ra:' || t.rank || ':' || a)::uuid, 'rpa.credentials',
       jsonb_build_object('username', 'robot', 'password', 'initial-secret', 'endpoint', 'https://rpa.example.test/' || a)
  from d_tenants t, generate_series(0, t.accounts - 1) a;

-- the mass change: an account of its own, its processes, its data steward
insert into app.accounts (id, tenant_id, name)
select md5('ra:1:imports')::uuid, id, 'Imports' from d_tenants where rank = 1;
insert into app.processes (id, tenant_id, account_id, name, description)
select md5('dmp:' || k)::uuid, t.id, md5('ra:1:imports')::uuid, 'Imported process ' || k, 'Imported from the legacy scheduler'
  from d_tenants t, generate_series(0, {{mass_processes}} - 1) k where t.rank = 1;
insert into app.users (id, tenant_id, email, name)
select md5('ru:1:steward')::uuid, id, 'data.steward@tenant1.example.test', 'Dana Steward' from d_tenants where rank = 1;
insert into app.memberships (id, tenant_id, account_id, user_id, role)
select md5('dm:1:steward')::uuid, id, null, md5('ru:1:steward')::uuid, 'admin' from d_tenants where rank = 1;

reset session_replication_role;
