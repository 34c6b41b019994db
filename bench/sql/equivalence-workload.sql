-- A fixed sequence of writes touching every audited table and every rule,
-- noise, redaction and bulk path, run on a fresh database of each capture
-- configuration; the entries they produce must be the same for all of them
-- (bench/equivalence.ts compares them, leaving out ids and instants).
set role app_user;

begin;
select audit.set_context('{"actor_type": "system", "actor_name": "equivalence", "request_id": "eq-1"}');
insert into app.tenants (id, name) values ('e0000000-0000-0000-0000-000000000001', 'Equivalence Ltd');
insert into app.accounts (id, tenant_id, name) values
  ('e0000000-0000-0000-0000-0000000000a1', 'e0000000-0000-0000-0000-000000000001', 'Ops'),
  ('e0000000-0000-0000-0000-0000000000a2', 'e0000000-0000-0000-0000-000000000001', 'Finance');
insert into app.users (id, tenant_id, email, name) values
  ('e0000000-0000-0000-0000-0000000000b1', 'e0000000-0000-0000-0000-000000000001', 'ada@eq.test', 'Ada'),
  ('e0000000-0000-0000-0000-0000000000b2', 'e0000000-0000-0000-0000-000000000001', 'max@eq.test', 'Max');
commit;

begin;
select audit.set_context('{"actor_id": "e0000000-0000-0000-0000-0000000000b1", "request_id": "eq-2", "ip": "10.0.0.9", "reason": "setup"}');
insert into app.memberships (id, tenant_id, account_id, user_id, role) values
  ('e0000000-0000-0000-0000-0000000000c1', 'e0000000-0000-0000-0000-000000000001', 'e0000000-0000-0000-0000-0000000000a1', 'e0000000-0000-0000-0000-0000000000b2', 'member'),
  ('e0000000-0000-0000-0000-0000000000c2', 'e0000000-0000-0000-0000-000000000001', null, 'e0000000-0000-0000-0000-0000000000b1', 'admin');
insert into app.processes (id, tenant_id, account_id, name, description)
select ('e0000000-0000-0000-0000-' || lpad(to_hex(4096 + g), 12, '0'))::uuid, 'e0000000-0000-0000-0000-000000000001',
       case when g % 2 = 0 then 'e0000000-0000-0000-0000-0000000000a1' else 'e0000000-0000-0000-0000-0000000000a2' end::uuid,
       'Process ' || g, case when g % 3 = 0 then null else 'Description ' || g end
  from generate_series(1, 300) g;
insert into app.process_members (id, tenant_id, account_id, process_id, user_id) values
  ('e0000000-0000-0000-0000-0000000000d1', 'e0000000-0000-0000-0000-000000000001', 'e0000000-0000-0000-0000-0000000000a2', 'e0000000-0000-0000-0000-000000001001', 'e0000000-0000-0000-0000-0000000000b2');
insert into app.jobs (id, tenant_id, account_id, process_id, status, started_at) values
  ('e0000000-0000-0000-0000-0000000000f1', 'e0000000-0000-0000-0000-000000000001', 'e0000000-0000-0000-0000-0000000000a2', 'e0000000-0000-0000-0000-000000001001', 'running', '2026-01-01 10:00+00'),
  ('e0000000-0000-0000-0000-0000000000f2', 'e0000000-0000-0000-0000-000000000001', 'e0000000-0000-0000-0000-0000000000a2', 'e0000000-0000-0000-0000-000000001001', 'failed', '2026-01-01 10:00+00');
insert into app.settings (id, tenant_id, account_id, key, value) values
  ('e0000000-0000-0000-0000-0000000000e1', 'e0000000-0000-0000-0000-000000000001', 'e0000000-0000-0000-0000-0000000000a1', 'rpa.credentials',
   '{"username": "robot", "password": "hunter2", "nested": {"api_key": "k-1", "list": [{"token": "t"}, 1.50, null]}, "port": 8080, "ratio": 1.0}'),
  ('e0000000-0000-0000-0000-0000000000e2', 'e0000000-0000-0000-0000-000000000001', null, 'ui.theme', '"dark"');
insert into app.api_keys (id, tenant_id, account_id, name, key_hash, created_by) values
  ('e0000000-0000-0000-0000-0000000000a9', 'e0000000-0000-0000-0000-000000000001', 'e0000000-0000-0000-0000-0000000000a1', 'CI', 'hash-1', 'e0000000-0000-0000-0000-0000000000b1');
insert into app.licenses (id, tenant_id, plan, seats) values
  ('e0000000-0000-0000-0000-0000000000aa', 'e0000000-0000-0000-0000-000000000001', 'team', 10);
insert into app.invitations (id, tenant_id, account_id, email, role, invited_by, expires_at) values
  ('e0000000-0000-0000-0000-0000000000ab', 'e0000000-0000-0000-0000-000000000001', 'e0000000-0000-0000-0000-0000000000a1', 'new@eq.test', 'viewer', 'e0000000-0000-0000-0000-0000000000b1', '2027-01-01 00:00+00');
commit;

begin;
select audit.set_context('{"actor_id": "e0000000-0000-0000-0000-0000000000b1", "request_id": "eq-3"}');
update app.tenants set name = 'Equivalence Limited';
update app.accounts set name = name where id = 'e0000000-0000-0000-0000-0000000000a1';      -- no change
update app.users set last_seen_at = '2026-02-02 12:00+00';                                   -- noise only
update app.users set name = 'Max M.', last_seen_at = '2026-02-03 12:00+00' where id = 'e0000000-0000-0000-0000-0000000000b2';
update app.memberships set role = 'admin' where id = 'e0000000-0000-0000-0000-0000000000c1';
update app.processes set description = coalesce(description, 'was null') || ' (reviewed)' where name like 'Process %';
update app.processes set description = null where name in ('Process 1', 'Process 2');
update app.processes set deleted_at = '2026-03-01 00:00+00' where name in ('Process 4', 'Process 5');
update app.processes set deleted_at = null where name = 'Process 5';
update app.jobs set status = 'completed', finished_at = '2026-01-01 11:00+00' where id = 'e0000000-0000-0000-0000-0000000000f1';
update app.jobs set status = 'cancelled' where id = 'e0000000-0000-0000-0000-0000000000f2';   -- terminal to terminal: not recorded
update app.settings set value = jsonb_set(value, '{password}', '"s3cret"') where id = 'e0000000-0000-0000-0000-0000000000e1';
update app.settings set value = '{"username": "robot", "password": "hunter2", "ratio": 1.00}' where id = 'e0000000-0000-0000-0000-0000000000e1';
update app.settings set value = '"light"' where id = 'e0000000-0000-0000-0000-0000000000e2';
update app.api_keys set name = 'CI key', last_used_at = '2026-01-05 00:00+00';
update app.api_keys set revoked_at = '2026-01-06 00:00+00';
update app.licenses set seats = 20;
update app.licenses set activated_at = '2026-01-01 00:00+00', expires_at = '2027-01-01 00:00+00';
update app.invitations set accepted_at = '2026-01-02 00:00+00';
update app.invitations set role = 'member';
commit;

begin;
select audit.set_context('{"actor_type": "api_key", "actor_id": "e0000000-0000-0000-0000-0000000000a9", "request_id": "eq-4"}');
delete from app.process_members;
delete from app.processes where name in ('Process 7', 'Process 8');
delete from app.settings where id = 'e0000000-0000-0000-0000-0000000000e2';
delete from app.memberships where id = 'e0000000-0000-0000-0000-0000000000c2';
delete from app.invitations;
delete from app.api_keys;
delete from app.licenses;
commit;

-- without an application context: the database role is the actor
update app.accounts set name = 'Finance & Legal' where id = 'e0000000-0000-0000-0000-0000000000a2';
reset role;
