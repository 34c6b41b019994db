-- Proposed changes (issue 4) on top of the committed migrations, measured by
-- `npm run bench` (bench/README.md, variant A1; results.md, section 3b).
-- Idempotent. The capture changes measured before (compiled capture
-- functions, column-wise diff, redaction, non-blocking partitions, the
-- resource-type index, tenant/account statistics) are in migration 000003.
-- /work/notes/proposed-capture-changes.sql is a copy.

--------------------------------------------------------------------------------
-- Custom plans for the API's statements
--------------------------------------------------------------------------------
-- PostGraphile runs named prepared statements. After five executions
-- PostgreSQL may switch a statement to a generic plan, made without the
-- parameter values or the tenant of the claims: for audit.log it estimates
-- one row per partition and reads and sorts every matching entry instead of
-- the newest 50 (actor filter of the largest tenant at 10M entries: 4 ms
-- with custom plans, 2.2 s with the generic one; through the API p95 0.98 s
-- before, 31 ms after). Planning each execution costs 1-2 ms. Set for this
-- database (ALTER ROLE ... IN DATABASE): role settings are cluster-wide.
do $$
begin
  execute format('alter role audit_authenticator in database %I set plan_cache_mode = force_custom_plan', current_database());
end
$$;
