--! Previous: sha1:d7b039b1701b152b18b226d6f28f48bfa7c0be31
--! Hash: sha1:ed4044e5d0aef75b3ad240cb46f1e775ac50da12
--! Message: Custom plans for the API's prepared statements

-- Custom plans for the API's statements (bench/README.md, variant A1).
-- PostGraphile runs named prepared statements. After five executions
-- PostgreSQL may switch a statement to a generic plan, made without the
-- parameter values or the tenant of the claims: for audit.log it estimates
-- one row per partition and reads and sorts every matching entry instead of
-- the newest 50 (actor filter of the largest tenant at 10M entries: 4 ms
-- with custom plans, 2.2 s with the generic one; through the API p95 0.98 s
-- before, 31 ms after). Planning each execution costs 1-2 ms. Set for this
-- database only (ALTER ROLE ... IN DATABASE): roles are cluster-wide.
do $$
begin
  execute format('alter role audit_authenticator in database %I set plan_cache_mode = force_custom_plan', current_database());
end
$$;
