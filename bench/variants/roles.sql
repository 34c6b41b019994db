-- Per-role row-level security, measured as a recommendation (not part of
-- proposed.sql: the API must switch to these roles). The single policy of
-- audit_viewer, audit.in_scope(tenant_id, account_id), keeps the account
-- admin's account inside a CASE: never an index condition, and evaluated for
-- every row read. With one role per kind of admin each policy is a plain
-- conjunction the planner turns into index conditions:
--   audit_tenant_admin:  tenant_id = audit.current_tenant_id()
--   audit_account_admin: tenant_id = audit.current_tenant_id() and account_id = audit.current_account_id()
-- Additive: audit_viewer and its policy stay; nothing changes until the API
-- sets `role` to audit_tenant_admin / audit_account_admin from the verified
-- claims instead of audit_viewer. The roles are not members of audit_viewer
-- (its policy would then apply too, OR-ed in, and defeat the index).
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
grant audit_tenant_admin, audit_account_admin to audit_authenticator;
grant usage on schema audit to audit_tenant_admin, audit_account_admin;
grant select on audit.log, audit.events to audit_tenant_admin, audit_account_admin;
grant execute on function audit.current_user_id(), audit.current_tenant_id(), audit.current_scope_role(),
  audit.current_account_id(), audit.in_scope(uuid, uuid) to audit_tenant_admin, audit_account_admin;
do $$
begin
  -- the API's computed column, where the migration has it
  if to_regprocedure('audit.log_description(audit.log)') is not null then
    grant execute on function audit.log_description(audit.log) to audit_tenant_admin, audit_account_admin;
  end if;
end
$$;

drop policy if exists log_tenant_admin_select on audit.log;
create policy log_tenant_admin_select on audit.log for select to audit_tenant_admin
  using (tenant_id = audit.current_tenant_id());
drop policy if exists log_account_admin_select on audit.log;
create policy log_account_admin_select on audit.log for select to audit_account_admin
  using (tenant_id = audit.current_tenant_id() and account_id = audit.current_account_id());
