--! Previous: sha1:2d4ef8cbb315b12fad3dda2d2e9fc949339dbc1a
--! Hash: sha1:80f0081c448ad033441687b0af9b20de101fb717
--! Message: Tamper evidence: sealed rounds per tenant (the log's consumer 'seals'), the canonical form, the maintenance journal, verification in SQL, what the API shows

-- Tamper evidence: sealed rounds per tenant, a journal of the owner's
-- maintenance, verification in SQL, and what the API shows of it.
--
-- The sealer is a consumer of the log in commit order (the mechanism of
-- migration 000014: begin_round/end_round, one runner, the xmin horizon): a
-- round takes the transactions in [watermark, horizon) and, per tenant with
-- entries in them, stages a seal: each entry hashed in a canonical form
-- (audit_private.entry_leaf_hash), the hashes in a Merkle tree (RFC 9162
-- shape), chained to the tenant's previous seal. The sealing process (Node:
-- src/sealing/) recomputes each seal's hash itself, signs it with Ed25519
-- (the private key never reaches the database) and commits the seals and the
-- watermark in the same transaction. Nothing here runs on the write path:
-- the capture and inserts into audit.log are untouched; only the owner's
-- maintenance updates and deletes (a trigger that already fired for them)
-- now also write a journal row. docs/tamper-evidence.md is the design.

--------------------------------------------------------------------------------
-- 1. The canonical form (version 1), field by field: every column of an entry
--    in a fixed order, each as 0x00 (null) or 0x01, its UTF-8 length (4 bytes,
--    big-endian) and its text; timestamps as integer microseconds since the
--    epoch; jsonb as PostgreSQL's own text output; uuids lower case. The leaf
--    hash is sha256(0x00 || form), interior nodes sha256(0x01 || l || r).
--    src/sealing/canonical.ts is the same definition for the offline verifier;
--    test/sealing/golden.test.ts holds both to the same vectors.
--------------------------------------------------------------------------------
create or replace function audit_private.canonical_field(value text) returns bytea
  language sql stable parallel safe
as $$
  -- (null propagates through the concatenation to the coalesce: each value
  -- is converted twice when inlined, not three times as with a CASE)
  select coalesce('\x01'::bytea || pg_catalog.int4send(pg_catalog.octet_length(pg_catalog.convert_to(value, 'UTF8')))
                  || pg_catalog.convert_to(value, 'UTF8'), '\x00'::bytea)
$$;
-- (These helpers are plain SQL without a SET clause, qualified by hand, so
-- that PostgreSQL inlines them into the statements that hash millions of
-- entries: with `set search_path` each call was a function call, about
-- 150 µs per entry instead of about 12 µs. Stable, not immutable: convert_to
-- and extract from a timestamptz are.)
comment on function audit_private.canonical_field(value text) is 'One field of the canonical form: 0x00 for null, else 0x01, the UTF-8 byte length (4 bytes, big-endian) and the UTF-8 text, so that null and the empty string differ and no field can run into the next.';

create or replace function audit_private.micros(t timestamptz) returns text
  language sql stable parallel safe
as $$ select (extract(epoch from t) * 1000000)::bigint::text $$;
comment on function audit_private.micros(t timestamptz) is 'An instant as integer microseconds since 1970-01-01 UTC, as text: the canonical form of a timestamp (independent of the session''s time zone and DateStyle).';

create or replace function audit_private.entry_canonical_form(e audit.log) returns bytea
  language sql stable parallel safe
as $$
  select audit_private.canonical_field(e.id::text)
      || audit_private.canonical_field(audit_private.micros(e.occurred_at))
      || audit_private.canonical_field(e.tenant_id::text)
      || audit_private.canonical_field(e.account_id::text)
      || audit_private.canonical_field(e.actor_type::text)
      || audit_private.canonical_field(e.actor_id::text)
      || audit_private.canonical_field(e.actor_email)
      || audit_private.canonical_field(e.actor_name)
      || audit_private.canonical_field(e.action)
      || audit_private.canonical_field(e.resource_type)
      || audit_private.canonical_field(e.entity_id)
      || audit_private.canonical_field(e.event)
      || audit_private.canonical_field(e.old_values::text)
      || audit_private.canonical_field(e.new_values::text)
      || audit_private.canonical_field(e.context::text)
      || audit_private.canonical_field(e.transaction_id::text)
      || audit_private.canonical_field(e.entity_label)
$$;
comment on function audit_private.entry_canonical_form(e audit.log) is 'The canonical form (version 1) of an entry: its 17 columns in this fixed order (id, occurred_at in microseconds, tenant_id, account_id, actor_type, actor_id, actor_email, actor_name, action, resource_type, entity_id, event, old_values, new_values, context, transaction_id, entity_label), each as audit_private.canonical_field. A column added to audit.log later is not in it until a new version says so.';

create or replace function audit_private.entry_leaf_hash(e audit.log) returns bytea
  language sql stable parallel safe
as $$ select pg_catalog.sha256('\x00'::bytea || audit_private.entry_canonical_form(e)) $$;
comment on function audit_private.entry_leaf_hash(e audit.log) is 'The Merkle leaf of an entry: sha256(0x00 || its canonical form).';

create or replace function audit_private.merkle_root(leaves bytea[]) returns bytea
  language plpgsql immutable parallel safe
  set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  level bytea[] := leaves;
begin
  if coalesce(cardinality(level), 0) = 0 then
    return sha256(''::bytea);
  end if;
  -- Level by level: pairs hashed, an odd last node promoted unchanged; the
  -- same tree as RFC 9162's recursive definition. unnest, not subscripts:
  -- subscripting a long array of varlena elements is linear per access.
  while cardinality(level) > 1 loop
    select array_agg(case when p.r is null then p.l else sha256('\x01'::bytea || p.l || p.r) end order by p.g)
      into level
      from (select (u.i - 1) / 2 as g,
                   (array_agg(u.h order by u.i))[1] as l,
                   (array_agg(u.h order by u.i))[2] as r
              from unnest(level) with ordinality u(h, i)
             group by (u.i - 1) / 2) p;
  end loop;
  return level[1];
end
$$;
comment on function audit_private.merkle_root(leaves bytea[]) is 'The Merkle root (RFC 9162 shape) of leaf hashes in order: interior nodes sha256(0x01 || left || right); sha256 of nothing for no leaves.';

create or replace function audit_private.seal_hash(
  tenant_id uuid, seq bigint, from_xid bigint, to_xid bigint, sealed_through_xid bigint, entry_count integer,
  first_id bigint, last_id bigint, occurred_from timestamptz, occurred_to timestamptz, merkle_root text,
  previous_hash text, supersedes bigint, reason text, key_id text, sealed_at timestamptz) returns text
  language sql stable parallel safe
as $$
  select pg_catalog.encode(pg_catalog.sha256(
       audit_private.canonical_field('audit-trail seal v1')
    || audit_private.canonical_field(tenant_id::text)
    || audit_private.canonical_field(seq::text)
    || audit_private.canonical_field(from_xid::text)
    || audit_private.canonical_field(to_xid::text)
    || audit_private.canonical_field(sealed_through_xid::text)
    || audit_private.canonical_field(entry_count::text)
    || audit_private.canonical_field(first_id::text)
    || audit_private.canonical_field(last_id::text)
    || audit_private.canonical_field(audit_private.micros(occurred_from))
    || audit_private.canonical_field(audit_private.micros(occurred_to))
    || audit_private.canonical_field(merkle_root)
    || audit_private.canonical_field(previous_hash)
    || audit_private.canonical_field(supersedes::text)
    || audit_private.canonical_field(reason)
    || audit_private.canonical_field(key_id)
    || audit_private.canonical_field(audit_private.micros(sealed_at))), 'hex')
$$;
comment on function audit_private.seal_hash(tenant_id uuid, seq bigint, from_xid bigint, to_xid bigint, sealed_through_xid bigint, entry_count integer, first_id bigint, last_id bigint, occurred_from timestamptz, occurred_to timestamptz, merkle_root text, previous_hash text, supersedes bigint, reason text, key_id text, sealed_at timestamptz) is 'The hash of a seal (version 1): sha256 of its fields in this order, each as audit_private.canonical_field, after the tag "audit-trail seal v1"; lower-case hex. The sealing process signs its 32 bytes with Ed25519.';

--------------------------------------------------------------------------------
-- 2. The seals: append-only like the log, readable under the same row-level
--    security (tenant admins: their tenant's; account admins see the status,
--    not a tenant's seals, whose counts span every account).
--------------------------------------------------------------------------------
create table if not exists audit.seals (
  tenant_id uuid not null,
  seq bigint not null,
  from_xid bigint not null,
  to_xid bigint not null,
  sealed_through_xid bigint not null,
  entry_count integer not null,
  first_id bigint,
  last_id bigint,
  occurred_from timestamptz,
  occurred_to timestamptz,
  merkle_root text not null,
  previous_hash text,
  supersedes bigint,
  reason text,
  canonical_version smallint not null default 1,
  key_id text not null,
  signature text not null,
  seal_hash text not null,
  sealed_at timestamptz not null,
  entry_ids bigint[] not null,
  entry_hashes bytea[] not null,
  constraint seals_pkey primary key (tenant_id, seq),
  constraint seals_seq_check check (seq >= 1),
  constraint seals_range_check check (from_xid <= to_xid and to_xid <= sealed_through_xid),
  constraint seals_hash_check check (seal_hash ~ '^[0-9a-f]{64}$' and merkle_root ~ '^[0-9a-f]{64}$'
                                     and (previous_hash is null or previous_hash ~ '^[0-9a-f]{64}$'))
);
comment on table audit.seals is 'Tamper evidence: one seal per tenant and sealing round that found new entries of the tenant (and a re-seal of a round after journaled maintenance). A seal covers every entry of the tenant whose transaction_id is in [from_xid, to_xid): their hashes in a Merkle tree, chained to the tenant''s previous seal and signed with Ed25519 outside the database. Append-only. `npm run verify` and audit.verify() check the log against it.';
comment on column audit.seals.seq is 'The seal''s number in its tenant''s chain, from 1, without gaps.';
comment on column audit.seals.from_xid is 'The first transaction id the seal covers: the end of the tenant''s previous (not superseding) seal, so that the tenant''s seals tile the transactions without gaps.';
comment on column audit.seals.to_xid is 'The transaction id the seal covers up to (exclusive): the xmin horizon of its round.';
comment on column audit.seals.sealed_through_xid is 'The horizon of the round that made the seal: every change committed below it was seen (for a re-seal, later than to_xid).';
comment on column audit.seals.entry_count is 'How many entries the seal covers.';
comment on column audit.seals.first_id is 'The smallest entry id covered.';
comment on column audit.seals.last_id is 'The largest entry id covered.';
comment on column audit.seals.occurred_from is 'The earliest occurred_at of the covered entries.';
comment on column audit.seals.occurred_to is 'The latest occurred_at of the covered entries.';
comment on column audit.seals.merkle_root is 'The Merkle root (hex) of the covered entries'' leaf hashes in id order.';
comment on column audit.seals.previous_hash is 'The seal_hash of the tenant''s seal seq - 1; null for the first.';
comment on column audit.seals.supersedes is 'For a re-seal after journaled maintenance: the seq of the seal of the same range it replaces.';
comment on column audit.seals.reason is 'For a re-seal: the maintenance reasons from the journal.';
comment on column audit.seals.canonical_version is 'The version of the canonical forms (entries and seal) the hashes use.';
comment on column audit.seals.key_id is 'The signing key: the first 16 hex digits of sha256 of its raw Ed25519 public key.';
comment on column audit.seals.signature is 'Ed25519 signature (base64) over the 32 bytes of seal_hash, made by the sealing process.';
comment on column audit.seals.seal_hash is 'sha256 (hex) of the seal''s canonical form: audit_private.seal_hash().';
comment on column audit.seals.sealed_at is 'When the seal was made (its round''s start).';
comment on column audit.seals.entry_ids is '@behavior -*
The covered entry ids in order (the Merkle tree''s leaves'' order), so that a verification names each changed entry.';
comment on column audit.seals.entry_hashes is '@behavior -*
The covered entries'' leaf hashes, in the order of entry_ids.';
create index if not exists seals_tenant_to_xid_idx on audit.seals (tenant_id, to_xid);
create index if not exists seals_tenant_occurred_idx on audit.seals (tenant_id, occurred_to);

create or replace function audit_private.refuse_seal_change() returns trigger
  language plpgsql
as $$
begin
  if audit_private.in_maintenance() then
    return case tg_op when 'DELETE' then old else new end;
  end if;
  raise exception 'audit.seals is append-only: % of seals is not allowed', tg_op
    using errcode = '42501';
end
$$;
comment on function audit_private.refuse_seal_change() is 'Keeps audit.seals append-only (the owner''s maintenance aside).';
drop trigger if exists _000_append_only on audit.seals;
create trigger _000_append_only before update or delete on audit.seals
  for each row execute function audit_private.refuse_seal_change();
drop trigger if exists _000_append_only_truncate on audit.seals;
create trigger _000_append_only_truncate before truncate on audit.seals
  for each statement execute function audit_private.refuse_log_truncate();

alter table audit.seals enable row level security;
alter table audit.seals force row level security;
drop policy if exists seals_owner_insert on audit.seals;
create policy seals_owner_insert on audit.seals for insert to current_user with check (true);
drop policy if exists seals_owner_select on audit.seals;
create policy seals_owner_select on audit.seals for select to current_user using (true);
drop policy if exists seals_owner_maintenance_delete on audit.seals;
create policy seals_owner_maintenance_delete on audit.seals for delete to current_user using (audit_private.in_maintenance());
drop policy if exists seals_reader_select on audit.seals;
create policy seals_reader_select on audit.seals for select to audit_reader using (true);
drop policy if exists seals_tenant_admin_select on audit.seals;
create policy seals_tenant_admin_select on audit.seals for select to audit_tenant_admin
  using (tenant_id = audit.scoped_tenant_id('tenant_admin'));
grant select on audit.seals to audit_reader, audit_tenant_admin;
-- account admins: no policy, so no rows (an empty list, not a permission error)
grant select on audit.seals to audit_account_admin;

--------------------------------------------------------------------------------
-- 3. The maintenance journal. The owner's documented maintenance (backdating
--    the demo, the label backfill, erasure) changes entries without a new
--    transaction id a consumer would see; the append-only guard, which
--    already fires for every such update and delete, now journals it: which
--    entry, what changed, why (audit.maintenance_reason), when, by whom. The
--    journal row's own transaction_id puts it in the sealer's rounds: a change
--    to an entry of a sealed round has that round re-sealed with the reason.
--    Inserts into audit.log (the write path) are untouched.
--------------------------------------------------------------------------------
create table if not exists audit.maintenance_journal (
  id bigint generated always as identity,
  tenant_id uuid not null,
  entry_id bigint not null,
  entry_transaction_id bigint not null,
  new_tenant_id uuid,
  new_transaction_id bigint,
  operation text not null,
  changed_columns text[],
  reason text not null,
  changed_by text not null default current_user,
  changed_at timestamptz not null default now(),
  transaction_id bigint not null default txid_current(),
  constraint maintenance_journal_pkey primary key (tenant_id, id),
  constraint maintenance_journal_operation_check check (operation in ('update', 'delete'))
);
comment on table audit.maintenance_journal is 'Every change the owner''s maintenance made to an audit entry (the only updates and deletes audit.log allows): which entry, what, why, when and by whom. Verification reports a journaled change as maintenance, not tampering; the sealer re-seals the rounds it touched. Append-only.';
comment on column audit.maintenance_journal.entry_id is 'The changed entry.';
comment on column audit.maintenance_journal.entry_transaction_id is 'The changed entry''s transaction_id before the change: the round it was sealed in.';
comment on column audit.maintenance_journal.new_tenant_id is 'The entry''s tenant after an update that changed it.';
comment on column audit.maintenance_journal.new_transaction_id is 'The entry''s transaction_id after an update that changed it.';
comment on column audit.maintenance_journal.operation is 'update or delete.';
comment on column audit.maintenance_journal.changed_columns is 'For an update: the columns whose values changed.';
comment on column audit.maintenance_journal.reason is 'Why: the maintenance transaction''s audit.maintenance_reason setting (e.g. "demo: planned dates", "erasure of a deleted tenant").';
comment on column audit.maintenance_journal.changed_by is 'The database role that made the change.';
comment on column audit.maintenance_journal.changed_at is 'When (the maintenance transaction''s start).';
comment on column audit.maintenance_journal.transaction_id is 'The maintenance transaction: the sealer reads the journal in commit order by it, like the log.';
create index if not exists maintenance_journal_tenant_entry_idx on audit.maintenance_journal (tenant_id, entry_id);
create index if not exists maintenance_journal_transaction_id_brin_idx on audit.maintenance_journal using brin (transaction_id int8_minmax_multi_ops);

drop trigger if exists _000_append_only on audit.maintenance_journal;
create trigger _000_append_only before update or delete on audit.maintenance_journal
  for each row execute function audit_private.refuse_seal_change();
alter table audit.maintenance_journal enable row level security;
alter table audit.maintenance_journal force row level security;
drop policy if exists maintenance_journal_owner_insert on audit.maintenance_journal;
create policy maintenance_journal_owner_insert on audit.maintenance_journal for insert to current_user with check (true);
drop policy if exists maintenance_journal_owner_select on audit.maintenance_journal;
create policy maintenance_journal_owner_select on audit.maintenance_journal for select to current_user using (true);
drop policy if exists maintenance_journal_reader_select on audit.maintenance_journal;
create policy maintenance_journal_reader_select on audit.maintenance_journal for select to audit_reader using (true);
drop policy if exists maintenance_journal_tenant_admin_select on audit.maintenance_journal;
create policy maintenance_journal_tenant_admin_select on audit.maintenance_journal for select to audit_tenant_admin
  using (tenant_id = audit.scoped_tenant_id('tenant_admin'));
grant select on audit.maintenance_journal to audit_reader, audit_tenant_admin;

create or replace function audit_private.refuse_log_change()
 returns trigger
 language plpgsql
as $function$
declare
  changed text[];
begin
  if audit_private.in_maintenance() then
    -- A move between partitions (create_log_partition, attach_staged_partitions)
    -- keeps every value: nothing to journal.
    if coalesce(current_setting('audit.moving_partitions', true), '') = 'on' then
      return case tg_op when 'DELETE' then old else new end;
    end if;
    if tg_op = 'UPDATE' then
      select array_agg(n.key order by n.key) into changed
        from jsonb_each(to_jsonb(new)) n
       where n.value is distinct from to_jsonb(old) -> n.key;
      if changed is not null then
        insert into audit.maintenance_journal (tenant_id, entry_id, entry_transaction_id, new_tenant_id, new_transaction_id,
                                               operation, changed_columns, reason)
        values (old.tenant_id, old.id, old.transaction_id,
                nullif(new.tenant_id, old.tenant_id), nullif(new.transaction_id, old.transaction_id),
                'update', changed, audit_private.maintenance_reason());
        -- An update that moves the entry to another partition is also a
        -- delete there (PostgreSQL fires its BEFORE DELETE triggers): one row.
        perform set_config('audit.journaled_entry', old.id::text, true);
      end if;
      return new;
    end if;
    if current_setting('audit.journaled_entry', true) = old.id::text then
      perform set_config('audit.journaled_entry', '', true);
    else
      insert into audit.maintenance_journal (tenant_id, entry_id, entry_transaction_id, operation, reason)
      values (old.tenant_id, old.id, old.transaction_id, 'delete', audit_private.maintenance_reason());
    end if;
    return old;
  end if;
  raise exception 'audit.log is append-only: % of audit entries is not allowed', tg_op
    using errcode = '42501',
          hint = 'Maintenance (e.g. erasing a deleted tenant) runs as the owner with: set local audit.maintenance = ''on'' and set local audit.maintenance_reason = ''why''';
end
$function$;
comment on function audit_private.refuse_log_change() is 'Keeps audit.log append-only; in the owner''s maintenance, journals each changed or deleted entry in audit.maintenance_journal (moves between partitions aside).';

create or replace function audit_private.maintenance_reason() returns text
  language sql stable
  set search_path to 'pg_catalog', 'pg_temp'
as $$ select coalesce(nullif(btrim(current_setting('audit.maintenance_reason', true)), ''), 'maintenance (no reason given)') $$;
comment on function audit_private.maintenance_reason() is 'The reason a maintenance transaction gave (set local audit.maintenance_reason), for the journal.';

create or replace function audit_private.attach_staged_partitions()
 returns setof text
 language plpgsql
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  staged record;
begin
  perform pg_advisory_xact_lock(hashtextextended('audit.log partitions', 0));
  if not exists (select from audit_private.staged_log_partitions()) then
    return;
  end if;
  -- The parent, then the default partition: the order ATTACH PARTITION
  -- takes them in, so that this cannot deadlock with another attach.
  -- An insert routed to the default partition before the attach, and
  -- checked against its bounds after it (when it gets the lock), fails:
  -- PostgreSQL re-checks the default partition's constraint. Past ranges
  -- only see such inserts from imports (retried by whoever imports); when a
  -- staged range is still being written (the current year's partition was
  -- missing), writers wait for this transaction instead (SHARE ROW EXCLUSIVE
  -- on the parent keeps them before their routing).
  if exists (select from audit_private.staged_log_partitions() s where s.range_end > now() - interval '1 day') then
    lock table only audit.log in share row exclusive mode;
  else
    lock table only audit.log in share update exclusive mode;
  end if;
  lock table audit.log_default in access exclusive mode;
  perform set_config('audit.maintenance', 'on', true);
  -- a move keeps every value: not a change for the maintenance journal
  perform set_config('audit.moving_partitions', 'on', true);
  for staged in select * from audit_private.staged_log_partitions() loop
    -- entries written into the default partition since the batches passed
    execute format(
      'with moved as (delete from audit.log_default where occurred_at >= $1 and occurred_at < $2 returning *)'
      || ' insert into audit.%I overriding system value select * from moved', staged.part_name)
      using staged.range_start, staged.range_end;
    -- (built before by the driver; here only if it did not)
    perform audit_private.index_log_partition(staged.part_name);
    execute format('alter table audit.log attach partition audit.%I for values from (%L) to (%L)',
                   staged.part_name, staged.range_start, staged.range_end);
    execute format('alter table audit.%I drop constraint staged_partition_range', staged.part_name);
    return next staged.part_name;
  end loop;
  perform set_config('audit.moving_partitions', '', true);
  perform set_config('audit.maintenance', '', true);
end
$function$;
comment on function audit_private.attach_staged_partitions() is 'Ends a batched move out of the default partition: moves what is left of the staged ranges and attaches their tables to audit.log, in one short transaction that holds the default partition (set lock_timeout: it waits for readers of audit.log). Returns the partitions attached.';

create or replace function audit_private.create_log_partition(part_name text, range_start timestamp with time zone, range_end timestamp with time zone)
 returns void
 language plpgsql
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
begin
  perform pg_advisory_xact_lock(hashtextextended('audit.log partitions', 0));
  perform audit_private.create_log_partition_table(part_name, range_start, range_end);
  if exists (select from audit.log_default where occurred_at >= range_start and occurred_at < range_end) then
    -- Move the range's rows out of the default partition (in this one
    -- transaction: the batched path is move_default_batch), then attach.
    -- A move keeps every value: not a change for the maintenance journal.
    perform set_config('audit.maintenance', 'on', true);
    perform set_config('audit.moving_partitions', 'on', true);
    execute format(
      'with moved as (delete from audit.log_default where occurred_at >= %L and occurred_at < %L returning *)'
      || ' insert into audit.%I overriding system value select * from moved', range_start, range_end, part_name);
    perform set_config('audit.moving_partitions', '', true);
    perform set_config('audit.maintenance', '', true);
  end if;
  execute format('alter table audit.log attach partition audit.%I for values from (%L) to (%L)', part_name, range_start, range_end);
  execute format('alter table audit.%I drop constraint staged_partition_range', part_name);
end
$function$;
comment on function audit_private.create_log_partition(part_name text, range_start timestamp with time zone, range_end timestamp with time zone) is 'Creates one partition of audit.log for [range_start, range_end), moving the range''s rows out of the default partition in this transaction, without blocking writers.';

-- The label backfill is maintenance too: its changes are journaled with a reason.
create or replace function audit_private.backfill_labels_batch(batch_entries integer default 5000, out examined integer, out labelled integer, out done boolean)
 returns record
 language plpgsql
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  state audit_private.label_backfill;
  t audit.tracked_tables;
  id_type text;
  n integer;
  last record;
begin
  examined := 0;
  labelled := 0;
  select * into state from audit_private.label_backfill for update;
  if not found or state.finished_at is not null then
    done := true;
    return;
  end if;
  if batch_entries is null or batch_entries < 1 or batch_entries > 100000 then
    raise exception 'audit_private.backfill_labels_batch: batch_entries must be between 1 and 100000' using errcode = '22023';
  end if;
  -- The next batch in primary-key order (an index walk, whatever the size of
  -- the log), only what was written before labels and has none.
  create temporary table if not exists label_batch (tenant_id uuid, occurred_at timestamptz, id bigint, resource_type text,
                                                   entity_id text, old_values jsonb, new_values jsonb) on commit drop;
  truncate label_batch;
  insert into label_batch
  select l.tenant_id, l.occurred_at, l.id, l.resource_type, l.entity_id, l.old_values, l.new_values
    from audit.log l
   where state.last_tenant is null
      or (l.tenant_id, l.occurred_at, l.id) > (state.last_tenant, state.last_time, state.last_id)
   order by l.tenant_id, l.occurred_at, l.id
   limit batch_entries;
  get diagnostics examined = row_count;
  if examined = 0 then
    update audit_private.label_backfill set finished_at = now();
    done := true;
    return;
  end if;
  select b.tenant_id, b.occurred_at, b.id into last from label_batch b order by b.tenant_id desc, b.occurred_at desc, b.id desc limit 1;

  perform set_config('audit.maintenance', 'on', true);
  -- journaled (audit.maintenance_journal) with this reason; sealed rounds are re-sealed
  perform set_config('audit.maintenance_reason', 'entity labels for entries written before labels existed (migration 000013)', true);
  for t in select * from audit.tracked_tables where label is not null loop
    select format_type(a.atttypid, a.atttypmod) into id_type from pg_attribute a where a.attrelid = t.table_name and a.attname = 'id';
    begin
      -- the label computed once per entry (a materialized CTE), then one
      -- primary-key update per labelled entry
      execute format(
        'with x as materialized (
           select b.tenant_id, b.occurred_at, b.id,
                  (select (%1$s)::text
                     from jsonb_populate_record(null::%2$s,
                            coalesce((select to_jsonb(cur) from %2$s cur where cur.id = b.entity_id::%3$s), ''{}'')
                            || coalesce(b.old_values - %4$L::text[], ''{}'') || coalesce(b.new_values - %4$L::text[], ''{}'')) as labelled) as label
             from label_batch b
            where b.resource_type = $1 and b.id <= $2)
         update audit.log l set entity_label = x.label
           from x
          where l.tenant_id = x.tenant_id and l.occurred_at = x.occurred_at and l.id = x.id
            and l.entity_label is null and x.label is not null',
        t.label, t.table_name, id_type, t.redacted_columns)
        using t.resource_type, state.up_to_id;
      get diagnostics n = row_count;
      labelled := labelled + n;
    exception when others then
      -- a stored value that no longer fits the table (a column changed
      -- type since): these entries keep no label; the others go on
      raise warning 'audit: labels of % entries in this batch left empty: %', t.table_name, sqlerrm;
    end;
  end loop;
  perform set_config('audit.maintenance_reason', '', true);
  perform set_config('audit.maintenance', '', true);

  update audit_private.label_backfill
     set last_tenant = last.tenant_id, last_time = last.occurred_at, last_id = last.id,
         examined = label_backfill.examined + backfill_labels_batch.examined,
         labelled = label_backfill.labelled + backfill_labels_batch.labelled;
  done := false;
end
$function$;
comment on function audit_private.backfill_labels_batch(batch_entries integer, OUT examined integer, OUT labelled integer, OUT done boolean) is 'One batch of the label backfill, in one transaction: the next batch_entries entries of audit.log in primary-key order; those written before labels existed get the label of their table''s configuration, computed from the entity''s current row overlaid with the entry''s stored values. Run by src/db/label-backfill.ts in the background (the server) or the foreground (npm run migrate), one batch per transaction so that no lock is held long.';

--------------------------------------------------------------------------------
-- 4. Sealing rounds. stage_seals() (inside a round begun with
--    begin_round('seals')) computes the round's seals into a temporary table
--    and returns them; the sealing process checks each hash against its own
--    computation, signs it and hands the signatures to commit_seals(), which
--    stores the seals; end_round() then advances the watermark, all in one
--    transaction. The consumer starts at 0: the first rounds seal the log's
--    whole history (in batches of transactions).
--------------------------------------------------------------------------------
create or replace function audit_private.stage_seals(round_from bigint, round_to bigint, key_id text)
  returns table (tenant_id uuid, seq bigint, from_xid bigint, to_xid bigint, sealed_through_xid bigint, entry_count integer,
                 first_id bigint, last_id bigint, occurred_from_micros text, occurred_to_micros text, merkle_root text,
                 previous_hash text, supersedes bigint, reason text, key_id_used text, sealed_at_micros text, seal_hash text)
  language plpgsql
  set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  s record;
  prev_hash text;
  prev_seq bigint;
  prev_tenant uuid;
begin
  if key_id is null or key_id !~ '^[0-9a-f]{16}$' then
    raise exception 'audit_private.stage_seals: key_id must be 16 lower-case hex digits' using errcode = '22023';
  end if;
  create temporary table if not exists staged_seals (like audit.seals) on commit drop;
  truncate staged_seals;

  -- The round's entries, hashed once, grouped per tenant.
  create temporary table if not exists staged_leaves (tenant_id uuid, id bigint, occurred_at timestamptz, leaf bytea) on commit drop;
  truncate staged_leaves;
  insert into staged_leaves
  select l.tenant_id, l.id, l.occurred_at, audit_private.entry_leaf_hash(l)
    from audit_private.round_entries(round_from, round_to) l;

  -- Re-seals: sealed ranges whose entries maintenance changed in this round
  -- (journal rows committed in [round_from, round_to)), the old and the new
  -- place of a moved entry alike.
  create temporary table if not exists staged_reseals (tenant_id uuid, from_xid bigint, to_xid bigint, supersedes bigint, reason text) on commit drop;
  truncate staged_reseals;
  insert into staged_reseals
  select c.tenant_id, c.from_xid, c.to_xid, max(c.seq), string_agg(distinct j.reason, '; ' order by j.reason)
    from audit.maintenance_journal j
   cross join lateral (values (j.tenant_id, j.entry_transaction_id),
                              (coalesce(j.new_tenant_id, j.tenant_id), coalesce(j.new_transaction_id, j.entry_transaction_id))) a(tenant_id, xid)
    join audit.seals c on c.tenant_id = a.tenant_id and a.xid >= c.from_xid and a.xid < c.to_xid
   where j.transaction_id >= round_from and j.transaction_id < round_to
     and a.xid < round_from
   group by c.tenant_id, c.from_xid, c.to_xid;

  -- In chain order per tenant: re-seals (older ranges) first, then the new seal.
  for s in
    select x.tenant_id, x.from_xid, x.to_xid, x.supersedes, x.reason, x.ids, x.leaves, x.n, x.first_id, x.last_id, x.occurred_from, x.occurred_to
      from (
        select r.tenant_id, r.from_xid, r.to_xid, r.supersedes, r.reason, 0 as ord,
               coalesce(e.ids, '{}'), coalesce(e.leaves, '{}'), coalesce(e.n, 0), e.first_id, e.last_id, e.occurred_from, e.occurred_to
          from staged_reseals r
          cross join lateral (
            select array_agg(l.id order by l.id) as ids, array_agg(audit_private.entry_leaf_hash(l) order by l.id) as leaves,
                   count(*)::integer as n, min(l.id) as first_id, max(l.id) as last_id,
                   min(l.occurred_at) as occurred_from, max(l.occurred_at) as occurred_to
              from audit_private.round_entries(r.from_xid, r.to_xid) l
             where l.tenant_id = r.tenant_id) e
        union all
        select g.tenant_id,
               coalesce((select p.to_xid from audit.seals p
                          where p.tenant_id = g.tenant_id and p.supersedes is null
                          order by p.seq desc limit 1), 0),
               round_to, null, null, 1,
               g.ids, g.leaves, g.n, g.first_id, g.last_id, g.occurred_from, g.occurred_to
          from (select b.tenant_id, array_agg(b.id order by b.id) as ids, array_agg(b.leaf order by b.id) as leaves,
                       count(*)::integer as n, min(b.id) as first_id, max(b.id) as last_id,
                       min(b.occurred_at) as occurred_from, max(b.occurred_at) as occurred_to
                  from staged_leaves b group by b.tenant_id) g
      ) x(tenant_id, from_xid, to_xid, supersedes, reason, ord, ids, leaves, n, first_id, last_id, occurred_from, occurred_to)
     order by x.tenant_id, x.ord, x.from_xid
  loop
    if prev_tenant is distinct from s.tenant_id then
      select p.seq, p.seal_hash into prev_seq, prev_hash
        from audit.seals p where p.tenant_id = s.tenant_id order by p.seq desc limit 1;
      prev_seq := coalesce(prev_seq, 0);
      prev_tenant := s.tenant_id;
    end if;
    insert into staged_seals (tenant_id, seq, from_xid, to_xid, sealed_through_xid, entry_count, first_id, last_id,
                              occurred_from, occurred_to, merkle_root, previous_hash, supersedes, reason, canonical_version,
                              key_id, signature, seal_hash, sealed_at, entry_ids, entry_hashes)
    values (s.tenant_id, prev_seq + 1, s.from_xid, s.to_xid, round_to, s.n, s.first_id, s.last_id,
            s.occurred_from, s.occurred_to, encode(audit_private.merkle_root(s.leaves), 'hex'), prev_hash, s.supersedes, s.reason, 1,
            key_id, '', '', now(), s.ids, s.leaves);
    update staged_seals t
       set seal_hash = audit_private.seal_hash(t.tenant_id, t.seq, t.from_xid, t.to_xid, t.sealed_through_xid, t.entry_count,
                                               t.first_id, t.last_id, t.occurred_from, t.occurred_to, t.merkle_root,
                                               t.previous_hash, t.supersedes, t.reason, t.key_id, t.sealed_at)
     where t.tenant_id = s.tenant_id and t.seq = prev_seq + 1
     returning t.seal_hash into prev_hash;
    prev_seq := prev_seq + 1;
  end loop;

  return query
    select t.tenant_id, t.seq, t.from_xid, t.to_xid, t.sealed_through_xid, t.entry_count, t.first_id, t.last_id,
           audit_private.micros(t.occurred_from), audit_private.micros(t.occurred_to), t.merkle_root, t.previous_hash,
           t.supersedes, t.reason, t.key_id, audit_private.micros(t.sealed_at), t.seal_hash
      from staged_seals t
     order by t.tenant_id, t.seq;
end
$function$;
comment on function audit_private.stage_seals(round_from bigint, round_to bigint, key_id text) is 'Stages the seals of a sealing round (transactions [round_from, round_to), from begin_round(''seals'')): per tenant with new entries a seal chained to its previous one, and a re-seal of every sealed range that journaled maintenance changed in the round. Returns them with their hashes (timestamps as microseconds) for the sealing process to check and sign; commit_seals() stores them.';

create or replace function audit_private.commit_seals(signatures jsonb) returns integer
  language plpgsql
  set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  stored integer;
  staged integer;
begin
  if to_regclass('pg_temp.staged_seals') is null then
    raise exception 'audit_private.commit_seals: no seals staged in this transaction (call stage_seals first)' using errcode = '55000';
  end if;
  select count(*) into staged from pg_temp.staged_seals;
  insert into audit.seals
  select t.tenant_id, t.seq, t.from_xid, t.to_xid, t.sealed_through_xid, t.entry_count, t.first_id, t.last_id,
         t.occurred_from, t.occurred_to, t.merkle_root, t.previous_hash, t.supersedes, t.reason, t.canonical_version,
         t.key_id, s.signature, t.seal_hash, t.sealed_at, t.entry_ids, t.entry_hashes
    from pg_temp.staged_seals t
    join jsonb_to_recordset(signatures) s(tenant_id uuid, seq bigint, seal_hash text, signature text)
      on s.tenant_id = t.tenant_id and s.seq = t.seq
   where s.seal_hash = t.seal_hash and s.signature ~ '^[A-Za-z0-9+/]{86}==$';
  get diagnostics stored = row_count;
  if stored <> staged then
    raise exception 'audit_private.commit_seals: % seals staged, % signed with a matching hash', staged, stored using errcode = '22023';
  end if;
  truncate pg_temp.staged_seals;
  return stored;
end
$function$;
comment on function audit_private.commit_seals(signatures jsonb) is 'Stores the seals stage_seals() staged in this transaction, each with its signature ([{tenant_id, seq, seal_hash, signature}]); refuses unless every staged seal is signed for exactly its hash.';

-- From the log's oldest transaction (a scan, once), not from 0: after an
-- xid wraparound, ids start near 2^32 times the epoch.
insert into audit_private.log_consumers (consumer, watermark)
values ('seals', least(coalesce((select min(l.transaction_id) from audit.log l), audit_private.current_horizon()),
                       audit_private.current_horizon()))
on conflict on constraint log_consumers_pkey do nothing;

--------------------------------------------------------------------------------
-- 5. Verification in SQL (for DBAs; `npm run verify` recomputes the same
--    without trusting any function of the database, and checks signatures,
--    which only it can). Per seal: ok, modified, missing, inserted,
--    chain_broken, maintenance; unsealed entries per tenant.
--------------------------------------------------------------------------------
create table if not exists audit.verifications (
  id bigint generated always as identity,
  tenant_id uuid not null,
  verified_at timestamptz not null default now(),
  verified_by text not null,
  range_from timestamptz,
  range_to timestamptz,
  seals_checked integer not null,
  entries_checked bigint not null,
  findings jsonb not null default '{}',
  signatures_checked boolean not null,
  ms integer,
  constraint verifications_pkey primary key (tenant_id, id),
  constraint verifications_findings_check check (jsonb_typeof(findings) = 'object')
);
comment on table audit.verifications is 'The result of each verification of a tenant''s seals (`npm run verify`, the server''s periodic one): what it checked and how many findings of each status (an empty object: nothing found).';
comment on column audit.verifications.verified_by is 'Who verified: "npm run verify" or "server".';
comment on column audit.verifications.findings is 'The number of findings per status other than ok, e.g. {"modified": 1, "chain_broken": 1}; {} when the log matched its seals.';
comment on column audit.verifications.signatures_checked is 'Whether the seals'' signatures were checked with trusted public keys (SQL''s audit.verify() cannot).';
alter table audit.verifications enable row level security;
alter table audit.verifications force row level security;
drop policy if exists verifications_owner_all on audit.verifications;
create policy verifications_owner_all on audit.verifications for all to current_user using (true) with check (true);
drop policy if exists verifications_reader_select on audit.verifications;
create policy verifications_reader_select on audit.verifications for select to audit_reader using (true);
drop policy if exists verifications_tenant_admin_select on audit.verifications;
create policy verifications_tenant_admin_select on audit.verifications for select to audit_tenant_admin
  using (tenant_id = audit.scoped_tenant_id('tenant_admin'));
grant select on audit.verifications to audit_reader, audit_tenant_admin, audit_account_admin;

create or replace function audit.verify(tenant uuid default null, from_time timestamptz default null, to_time timestamptz default null,
                                        unsealed_after interval default '2 minutes')
  returns table (tenant_id uuid, seq bigint, from_xid bigint, to_xid bigint, occurred_from timestamptz, occurred_to timestamptz,
                 status text, entry_ids bigint[], detail text)
  language plpgsql
  security definer
  set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  watermark bigint;
  stalled boolean;
begin
  select c.watermark, coalesce(c.last_round_at < now() - unsealed_after, true) into watermark, stalled
    from audit_private.log_consumers c where c.consumer = 'seals';
  watermark := coalesce(watermark, 0);

  -- The seals in range, each with its chain predecessor.
  create temporary table if not exists verify_seals (like audit.seals, is_current boolean, prev_seq bigint, prev_hash text, prev_to_xid bigint) on commit drop;
  truncate verify_seals;
  insert into verify_seals
  select s.*, not exists (select from audit.seals n where n.tenant_id = s.tenant_id and n.supersedes = s.seq),
         p.seq, p.seal_hash, o.to_xid
    from audit.seals s
    left join audit.seals p on p.tenant_id = s.tenant_id and p.seq = s.seq - 1
    left join lateral (select o.to_xid from audit.seals o
                        where o.tenant_id = s.tenant_id and o.supersedes is null and o.seq < s.seq
                        order by o.seq desc limit 1) o on s.supersedes is null
   where (tenant is null or s.tenant_id = tenant)
     and (from_time is null or s.occurred_to is null or s.occurred_to >= from_time)
     and (to_time is null or s.occurred_from is null or s.occurred_from < to_time);

  -- What the current seals of the ranges stored, and what the log holds now.
  create temporary table if not exists verify_stored (tenant_id uuid, seq bigint, id bigint, leaf bytea) on commit drop;
  truncate verify_stored;
  insert into verify_stored
  select s.tenant_id, s.seq, u.id, u.leaf from verify_seals s cross join lateral unnest(s.entry_ids, s.entry_hashes) u(id, leaf)
   where s.is_current;
  create temporary table if not exists verify_present (tenant_id uuid, id bigint, xid bigint, leaf bytea) on commit drop;
  truncate verify_present;
  insert into verify_present
  select l.tenant_id, l.id, l.transaction_id, audit_private.entry_leaf_hash(l)
    from audit.log l
   where (tenant is null or l.tenant_id = tenant)
     and (from_time is null or l.occurred_at >= from_time)
     and (to_time is null or l.occurred_at < to_time)
     and (tenant is not null or l.tenant_id in (select distinct v.tenant_id from verify_seals v)
          or l.transaction_id < watermark);
  analyze verify_stored;
  analyze verify_present;

  create temporary table if not exists verify_findings (tenant_id uuid, seq bigint, status text, id bigint, detail text) on commit drop;
  truncate verify_findings;
  -- The seal itself: its hash, its Merkle root, its place in the chain.
  insert into verify_findings
  select s.tenant_id, s.seq, 'chain_broken', null::bigint, d.detail
    from verify_seals s
   cross join lateral (
     select 'the seal does not match its hash: it was altered' as detail
      where s.seal_hash is distinct from audit_private.seal_hash(s.tenant_id, s.seq, s.from_xid, s.to_xid, s.sealed_through_xid,
              s.entry_count, s.first_id, s.last_id, s.occurred_from, s.occurred_to, s.merkle_root, s.previous_hash,
              s.supersedes, s.reason, s.key_id, s.sealed_at)
     union all
     select 'its entry list does not match its Merkle root or count'
      where cardinality(s.entry_ids) is distinct from cardinality(s.entry_hashes)
         or cardinality(s.entry_ids) <> s.entry_count
         or encode(audit_private.merkle_root(s.entry_hashes), 'hex') <> s.merkle_root
     union all
     select format('seal %s, its predecessor, is missing', s.seq - 1) where s.seq > 1 and s.prev_seq is null
     union all
     select format('its previous_hash does not match seal %s', s.seq - 1)
      where (s.seq > 1 and s.prev_seq is not null and s.previous_hash is distinct from s.prev_hash)
         or (s.seq = 1 and s.previous_hash is not null)
     union all
     select format('transactions %s to %s are covered by no seal', coalesce(s.prev_to_xid, 0), s.from_xid)
      where s.supersedes is null and s.from_xid <> coalesce(s.prev_to_xid, 0)
     union all
     select format('it supersedes seal %s but does not cover the same transactions', s.supersedes)
      where s.supersedes is not null
        and not exists (select from audit.seals o where o.tenant_id = s.tenant_id and o.seq = s.supersedes
                                                     and o.from_xid = s.from_xid and o.to_xid = s.to_xid)
   ) d;

  -- Entries: changed, gone, or added behind the seals.
  insert into verify_findings
  select s.tenant_id, s.seq, case when p.id is null then 'missing' else 'modified' end, s.id, null
    from verify_stored s
    left join verify_present p on p.tenant_id = s.tenant_id and p.id = s.id
   where p.id is null or p.leaf <> s.leaf;
  insert into verify_findings
  select p.tenant_id, c.seq, case when c.seq is not null then 'inserted' else 'unsealed' end, p.id, null
    from verify_present p
    left join verify_seals c on c.tenant_id = p.tenant_id and c.is_current and p.xid >= c.from_xid and p.xid < c.to_xid
   where not exists (select from verify_stored s where s.tenant_id = p.tenant_id and s.id = p.id)
     and (c.seq is not null or p.xid < watermark
          or (stalled and p.xid < audit_private.current_horizon()));
  -- (an entry of a seal outside the time range is not in verify_stored:
  -- only an entry no seal of its tenant holds counts as inserted)
  delete from verify_findings f
   where f.status = 'unsealed'
     and exists (select from audit.seals s where s.tenant_id = f.tenant_id and f.id = any (s.entry_ids));

  -- Journaled maintenance after the seal was made explains a change.
  update verify_findings f
     set status = 'maintenance',
         detail = (select string_agg(distinct j.reason, '; ') from audit.maintenance_journal j
                    where j.entry_id = f.id and j.transaction_id >= s.sealed_through_xid
                      and f.tenant_id in (j.tenant_id, j.new_tenant_id))
    from verify_seals s
   where s.tenant_id = f.tenant_id and s.seq = f.seq and f.status in ('modified', 'missing', 'inserted')
     and exists (select from audit.maintenance_journal j
                  where j.entry_id = f.id and j.transaction_id >= s.sealed_through_xid
                    and f.tenant_id in (j.tenant_id, j.new_tenant_id));

  return query
  with grouped as (
    -- one row per status of a seal with its entry ids; a finding about the
    -- seal itself (no entry id) on a row of its own, with its detail
    select f.tenant_id, f.seq, f.status, array_agg(f.id order by f.id) filter (where f.id is not null) as ids,
           string_agg(distinct f.detail, '; ') as detail
      from verify_findings f group by f.tenant_id, f.seq, f.status, f.id is null, case when f.id is null then f.detail end
    union all
    -- a superseded seal: the round was re-sealed after maintenance
    select s.tenant_id, s.seq, 'maintenance', null, format('re-sealed as seal %s: %s', n.seq, n.reason)
      from verify_seals s join audit.seals n on n.tenant_id = s.tenant_id and n.supersedes = s.seq
    union all
    select s.tenant_id, s.seq, 'ok', null, null
      from verify_seals s
     where s.is_current and not exists (select from verify_findings f where f.tenant_id = s.tenant_id and f.seq = s.seq)
  )
  select g.tenant_id, g.seq, s.from_xid, s.to_xid, s.occurred_from, s.occurred_to, g.status, g.ids, g.detail
    from grouped g left join verify_seals s on s.tenant_id = g.tenant_id and s.seq = g.seq
   order by g.tenant_id, g.seq nulls last, g.status;
end
$function$;
comment on function audit.verify(tenant uuid, from_time timestamptz, to_time timestamptz, unsealed_after interval) is '@behavior -*
Checks the log against its seals (one tenant or all; seals whose entries fall in [from_time, to_time)) and returns, per seal, ok or each finding: modified (entries whose content changed), missing (sealed but gone), inserted (in a sealed range but not sealed), chain_broken (the seal was altered, or its predecessor is missing or does not match, or transactions are covered by no seal), maintenance (a journaled change, or a round re-sealed after one, with the reason); and per tenant unsealed entries (seq null: below the sealer''s watermark but in no seal, or waiting longer than unsealed_after for a stalled sealer). Signatures are not checked here: `npm run verify` does, with public keys from outside the database.';
revoke all on function audit.verify(uuid, timestamptz, timestamptz, interval) from public;
grant execute on function audit.verify(uuid, timestamptz, timestamptz, interval) to audit_reader;

--------------------------------------------------------------------------------
-- 6. What the API and the page show an admin: sealed up to when, the newest
--    seal (its hash is what a tenant keeps outside, to anchor the chain), the
--    last verification.
--------------------------------------------------------------------------------
create or replace function audit.seal_status(out tenant_id uuid, out sealed_up_to timestamptz, out seal_count bigint,
                                             out newest_seq bigint, out newest_seal_hash text, out newest_sealed_at timestamptz,
                                             out last_verified_at timestamptz, out last_verified_by text,
                                             out last_verification_findings jsonb, out last_verification_signatures_checked boolean)
  returns record
  language plpgsql
  stable
  security definer
  set search_path to 'pg_catalog', 'pg_temp'
as $function$
begin
  tenant_id := coalesce(audit.scoped_tenant_id('tenant_admin'), audit.scoped_tenant_id('account_admin'));
  if tenant_id is null then
    raise exception 'audit.seal_status: no admin scope (jwt.claims.role and tenant_id)' using errcode = '42501';
  end if;
  select c.last_round_at into sealed_up_to from audit_private.log_consumers c where c.consumer = 'seals';
  select count(*), max(s.seq) into seal_count, newest_seq from audit.seals s where s.tenant_id = seal_status.tenant_id;
  select s.seal_hash, s.sealed_at into newest_seal_hash, newest_sealed_at
    from audit.seals s where s.tenant_id = seal_status.tenant_id and s.seq = newest_seq;
  select v.verified_at, v.verified_by, v.findings, v.signatures_checked
    into last_verified_at, last_verified_by, last_verification_findings, last_verification_signatures_checked
    from audit.verifications v where v.tenant_id = seal_status.tenant_id order by v.id desc limit 1;
end
$function$;
comment on function audit.seal_status(OUT tenant_id uuid, OUT sealed_up_to timestamptz, OUT seal_count bigint, OUT newest_seq bigint, OUT newest_seal_hash text, OUT newest_sealed_at timestamptz, OUT last_verified_at timestamptz, OUT last_verified_by text, OUT last_verification_findings jsonb, OUT last_verification_signatures_checked boolean) is 'The tamper evidence of the admin''s tenant: every entry committed before sealed_up_to is sealed; the newest seal''s number and hash (keep it outside the database: it anchors the chain) and when it was made; the last verification, its findings per status ({} when nothing was found) and whether it checked signatures.';
grant execute on function audit.seal_status() to audit_viewer;

create or replace function audit.covering_seals(xids bigint[])
  returns setof audit.seals
  language sql
  stable
  security definer
  set search_path to 'pg_catalog', 'pg_temp'
as $function$
  -- the newest seal of each range (a re-seal replaces its predecessor)
  select s.* from audit.seals s
   where s.tenant_id = coalesce(audit.scoped_tenant_id('tenant_admin'), audit.scoped_tenant_id('account_admin'))
     and exists (select from unnest(xids) x where x >= s.from_xid and x < s.to_xid)
     and not exists (select from audit.seals n where n.tenant_id = s.tenant_id and n.supersedes = s.seq)
   order by s.seq
$function$;
comment on function audit.covering_seals(xids bigint[]) is '@behavior -*
For exports: the current seals of the admin''s tenant (from the jwt.claims.* settings) whose transaction range holds any of the given transaction ids, with their entry lists, so that an export can carry each entry''s Merkle inclusion proof. Account admins get them too: the leaves are hashes, which reveal nothing of other accounts'' entries.';
grant execute on function audit.covering_seals(bigint[]) to audit_viewer;
