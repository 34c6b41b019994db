--! Previous: sha1:b06c66fb4cc8863298b2610020d261bd87eedb59
--! Hash: sha1:f45cbea1f0f1dff34377933c421ece0c13d85b18
--! Message: API: entry description and the owner's maintenance policies

-- The GraphQL API's side of the database (issue 3). Idempotent: graphile-migrate
-- runs this file again on every change and once more when it is committed.

--------------------------------------------------------------------------------
-- AuditLog.description: the catalogue's human text of an entry's event,
-- exposed by PostGraphile as a computed column (a stable function whose first
-- argument is the table's row type). Plain SQL without SET options so that the
-- planner can inline it; names are schema-qualified instead.
--------------------------------------------------------------------------------
create or replace function audit.log_description(entry audit.log) returns text
  language sql stable parallel safe
  as $$
    select coalesce((select e.description from audit.events e where e.event = entry.event), entry.event)
  $$;
comment on function audit.log_description(audit.log) is
E'@notNull\n@behavior -filterBy -orderBy -aggregate\nThe human description of the entry''s event from the catalogue (audit.events), e.g. "Member role updated"; the event name itself when the event is not catalogued.';

revoke all on function audit.log_description(audit.log) from public;
grant execute on function audit.log_description(audit.log) to audit_viewer, audit_reader;

--------------------------------------------------------------------------------
-- The documented maintenance path (the owner, inside a transaction with
-- `set local audit.maintenance = 'on'`) for owners that are not superusers:
-- with FORCE ROW LEVEL SECURITY the owner only sees the rows a policy grants,
-- and without these policies its maintenance UPDATE / DELETE would silently
-- touch no rows. Outside maintenance they grant nothing, and the append-only
-- trigger refuses the change anyway. Used by the demo loader to backdate its
-- entries (src/demo/backdate.ts).
--------------------------------------------------------------------------------
drop policy if exists log_owner_maintenance_update on audit.log;
create policy log_owner_maintenance_update on audit.log for update to current_user
  using (audit_private.in_maintenance()) with check (audit_private.in_maintenance());

drop policy if exists log_owner_maintenance_delete on audit.log;
create policy log_owner_maintenance_delete on audit.log for delete to current_user
  using (audit_private.in_maintenance());
