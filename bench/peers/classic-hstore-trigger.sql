-- A peer for comparison, not part of the product: the classic PostgreSQL
-- audit trigger design that performance.md calls "audit trigger 91plus"
-- (2ndQuadrant's audit-trigger), written here from its published description
-- so that it runs in the same bench, on the same machine, against the same
-- workload: one AFTER ROW trigger per table storing the row and the changed
-- fields as hstore into one plain table (no partitions) with a bigserial key
-- and three secondary indexes; no actor context, events, redaction or tenant
-- columns. It replaces the product's capture triggers (_900_audit_*) under
-- the same names, so that the bench's switches turn it on and off.
create extension if not exists hstore;
create schema if not exists peer_audit;

create table if not exists peer_audit.logged_actions (
  event_id bigserial primary key,
  schema_name text not null,
  table_name text not null,
  relid oid not null,
  session_user_name text,
  action_tstamp_tx timestamptz not null,
  action_tstamp_stm timestamptz not null,
  action_tstamp_clk timestamptz not null,
  transaction_id bigint,
  application_name text,
  client_addr inet,
  client_port integer,
  client_query text,
  action text not null check (action in ('I', 'D', 'U', 'T')),
  row_data hstore,
  changed_fields hstore,
  statement_only boolean not null
);
create index if not exists logged_actions_relid_idx on peer_audit.logged_actions (relid);
create index if not exists logged_actions_action_tstamp_stm_idx on peer_audit.logged_actions (action_tstamp_stm);
create index if not exists logged_actions_action_idx on peer_audit.logged_actions (action);

create or replace function peer_audit.if_modified() returns trigger
  language plpgsql security definer
  set search_path = pg_catalog, public
  as $$
declare
  entry peer_audit.logged_actions;
  excluded text[] := array[]::text[];
begin
  entry := row(
    nextval('peer_audit.logged_actions_event_id_seq'), tg_table_schema::text, tg_table_name::text, tg_relid,
    session_user::text, transaction_timestamp(), statement_timestamp(), clock_timestamp(), txid_current(),
    current_setting('application_name'), inet_client_addr(), inet_client_port(), current_query(),
    substring(tg_op, 1, 1), null, null, false);
  if tg_op = 'UPDATE' then
    entry.row_data := hstore(old.*) - excluded;
    entry.changed_fields := (hstore(new.*) - entry.row_data) - excluded;
    if entry.changed_fields = hstore('') then
      return null; -- nothing changed
    end if;
  elsif tg_op = 'DELETE' then
    entry.row_data := hstore(old.*) - excluded;
  else
    entry.row_data := hstore(new.*) - excluded;
  end if;
  insert into peer_audit.logged_actions values (entry.*);
  return null;
end
$$;

-- The product's capture off, the peer's triggers on, under the same names
-- (bench/sql/peer-triggers.sql), on every business table.
call bench.install_peer('peer_audit.if_modified()');
