--! Previous: sha1:3f1c6a860d656e8a1a7e5be1b10a5d0d9193ae39
--! Hash: sha1:fc89df17b79bafb05b66af7bfae2682876317ec6
--! Message: cappedCount reads the rollups only while fewer entries than its cap wait for them: audit.rollups_pending(at_most)

-- cappedCount's gate before it answers from the rollups: how many entries the
-- rollups have not counted yet, counted only up to a cap. activity_counts
-- counts those from the log; while the consumer keeps up they are a second's
-- writes, but after an outage or a large import they can be millions, and a
-- capped count must never read more than its cap (src/server/plugins/rollup-aggregates.ts).
-- Security definer: the entries of every tenant above the watermark, found
-- through the btree on transaction_id (as the reader, row-level security
-- would make it read other tenants' entries to find its own).
create or replace function audit.rollups_pending(at_most integer)
  returns integer
  language sql
  stable
  security definer
  set search_path = pg_catalog, pg_temp
as $$
  select count(*)::integer
    from (select 1
            from audit.log l
           where l.transaction_id >= (select c.watermark from audit_private.log_consumers c where c.consumer = 'rollups')
           limit greatest(at_most, 0)) p
$$;
comment on function audit.rollups_pending(at_most integer) is E'@behavior -*\nFor cappedCount: how many entries of any tenant the rollups have not counted yet (committed at or above their consumer''s watermark), counted up to at_most; 0 when the consumer has no watermark yet. Reads at most at_most index entries.';
revoke all on function audit.rollups_pending(at_most integer) from public;
grant execute on function audit.rollups_pending(at_most integer) to audit_reader, audit_viewer;
