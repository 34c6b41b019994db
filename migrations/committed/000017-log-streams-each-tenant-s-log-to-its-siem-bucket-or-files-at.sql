--! Previous: sha1:ffa9aa20ef3b0157f5bad3ca723be24d7a102fce
--! Hash: sha1:aec9d1731214f88e0591b0f17d3ccaf06407522a
--! Message: Log streams: each tenant's log to its SIEM, bucket or files, at least once, in order, with replay; a stream is a log consumer whose position can stop inside a transaction

-- Log streams: every entry of a tenant delivered to its SIEM (a generic HTTPS
-- endpoint, Splunk HEC, Datadog, Elasticsearch) or to files for a collector,
-- at least once, in (transaction_id, id) order, with replay from any time the
-- log reaches back to.
--
-- A stream is a consumer of the log in commit order, on the one mechanism the
-- detectors and the seals use (audit_private.log_consumers, end_round, the
-- xmin horizon, the BRIN index on transaction_id): its position is a
-- log_consumers row named stream_<id>. Streams advance entry by entry (a
-- batch can end inside a large transaction), so a consumer's position gains
-- after_id: of the transaction at the watermark, the entries up to this id
-- are consumed too. Delivery leaves the database, so no transaction stays
-- open across it: a lease on the stream (claim_log_streams) keeps one worker
-- per stream, and the position moves (advance_log_stream) only after the
-- receiver took the batch. A worker that dies mid-batch loses nothing; the
-- batch is sent again, and entry ids de-duplicate it.
--
-- Nothing here touches the write path: no trigger, no index and no column of
-- audit.log changes.

--------------------------------------------------------------------------------
-- 1. A consumer's position inside a transaction
--------------------------------------------------------------------------------
alter table audit_private.log_consumers add column if not exists after_id bigint;
comment on table audit_private.log_consumers is 'One row per consumer of audit.log in commit order (the detectors, the seals, each log stream as stream_<id>; later rollups): its position, a transaction id below which every entry has been consumed (and, for streams, the entries of that transaction up to after_id), and what its rounds did. Advanced only by audit_private.end_round(), in the same transaction as the consumer''s output.';
comment on column audit_private.log_consumers.after_id is 'For consumers that advance entry by entry (log streams): of the transaction at the watermark, the entries with id up to this one are consumed too. Null: none of them (the detectors and seals consume whole transactions).';

drop function if exists audit_private.end_round(text, bigint, integer, timestamptz);
create or replace function audit_private.end_round(consumer text, to_xid bigint, entries integer,
                                                   started timestamptz default null, after_id bigint default null)
 returns void
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
begin
  -- The position (watermark, after_id) only moves forward; every expression
  -- below reads the row as it was.
  update audit_private.log_consumers c
     set watermark = greatest(c.watermark, end_round.to_xid),
         after_id = case when end_round.to_xid > c.watermark then end_round.after_id
                         when end_round.to_xid = c.watermark
                           then nullif(greatest(coalesce(c.after_id, 0), coalesce(end_round.after_id, 0)), 0)
                         else c.after_id end,
         rounds = c.rounds + 1,
         entries_consumed = c.entries_consumed + coalesce(end_round.entries, 0),
         last_round_at = now(),
         last_round_entries = end_round.entries,
         last_round_ms = round(extract(epoch from clock_timestamp() - coalesce(end_round.started, clock_timestamp())) * 1000, 1)
   where c.consumer = end_round.consumer;
  if not found then
    raise exception 'audit_private.end_round: no consumer "%"', consumer using errcode = '22023';
  end if;
end
$$;
comment on function audit_private.end_round(consumer text, to_xid bigint, entries integer, started timestamptz, after_id bigint) is 'Ends a round begun by begin_round() (or a log stream''s batch): stores to_xid as the consumer''s watermark (and after_id, the last entry consumed of that transaction, for consumers that stop inside one), never moving it back, with the round''s figures, in the caller''s transaction (with its output).';

--------------------------------------------------------------------------------
-- 2. The streams
--------------------------------------------------------------------------------
create table if not exists audit.log_streams (
  tenant_id uuid not null,
  id uuid not null default gen_random_uuid(),
  name text not null,
  kind text not null,
  settings jsonb not null default '{}',
  format text not null default 'entry',
  resource_types text[],
  actions text[],
  account_ids uuid[],
  enabled boolean not null default true,
  batch_size integer not null default 2000,
  delivered_entries bigint not null default 0,
  last_delivered_entry_id bigint,
  last_delivered_occurred_at timestamptz,
  last_delivered_at timestamptz,
  last_error text,
  last_error_at timestamptz,
  last_status_code integer,
  failures integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  replayed_from timestamptz,
  replayed_at timestamptz,
  lease_token uuid,
  lease_until timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  created_by text,
  constraint log_streams_pkey primary key (tenant_id, id),
  constraint log_streams_tenant_id_fkey foreign key (tenant_id) references app.tenants (id) on delete cascade,
  constraint log_streams_name_check check (length(btrim(name)) between 1 and 200),
  constraint log_streams_kind_check check (kind in ('https', 'splunk', 'datadog', 'elastic', 'file')),
  constraint log_streams_format_check check (format in ('entry', 'ocsf')),
  constraint log_streams_settings_check check (jsonb_typeof(settings) = 'object'),
  constraint log_streams_batch_size_check check (batch_size between 1 and 10000)
);
-- The worker's question across tenants (which streams are due), like the webhooks' outbox.
create index if not exists log_streams_due_idx on audit.log_streams (next_attempt_at) where enabled;

comment on table audit.log_streams is 'Where a tenant''s audit log is streamed: a destination (kind and settings; its secret is kept apart, in audit_private.log_stream_secrets), a format, an optional filter, and the delivery''s status. Configured by tenant admins (createLogStream and the other mutations, each an audited event); delivered by the server''s stream worker, at least once, in (transaction_id, id) order.';
comment on column audit.log_streams.name is 'What the stream is, for the admins.';
comment on column audit.log_streams.kind is 'https (JSON Lines, signed like the webhooks), splunk (HTTP Event Collector), datadog (logs intake), elastic (the _bulk API) or file (JSON Lines files under STREAM_FILE_ROOT/<tenant>/<stream>/ for a collector).';
comment on column audit.log_streams.settings is 'The destination''s settings (never its secret): url for the HTTP kinds; index, source and sourcetype for Splunk; service and tags for Datadog; index for Elasticsearch; rotate (hour or size) and max_bytes for files.';
comment on column audit.log_streams.format is 'entry (each entry as the API shows it) or ocsf (an OCSF 1.3 event: Account Change, User Access Management, Authentication or API Activity; docs/log-streams.md has the table).';
comment on column audit.log_streams.resource_types is 'Only entries of these resource types; null: all.';
comment on column audit.log_streams.actions is 'Only entries of these actions or events (a name with a dot is an event, e.g. member.role_updated); null: all.';
comment on column audit.log_streams.account_ids is 'Only entries of these accounts (tenant-level entries are left out); null: the whole tenant.';
comment on column audit.log_streams.enabled is 'False: paused. Nothing is delivered; the position stays, and the stream resumes from it (the log keeps every entry, so a pause of any length loses nothing).';
comment on column audit.log_streams.batch_size is 'Entries per delivery, at most (a receiver answering 413 gets smaller batches until one is taken).';
comment on column audit.log_streams.delivered_entries is 'Entries delivered so far (counting again what a replay or a retry sent again).';
comment on column audit.log_streams.last_delivered_entry_id is 'The id of the last entry a receiver took.';
comment on column audit.log_streams.last_delivered_occurred_at is 'When the last entry a receiver took happened.';
comment on column audit.log_streams.last_delivered_at is 'When a receiver last took a batch.';
comment on column audit.log_streams.last_error is 'Why the last failed delivery failed (the receiver''s status and answer, a timeout, a refused address). Kept after later successes; failures says whether it is current.';
comment on column audit.log_streams.last_status_code is 'The receiver''s HTTP status of the last failure; null when none came.';
comment on column audit.log_streams.failures is 'Failed deliveries since the last success: 0 when the stream is healthy. Retries back off exponentially up to an hour; nothing is skipped.';
comment on column audit.log_streams.next_attempt_at is 'When the worker looks at the stream next.';
comment on column audit.log_streams.replayed_from is 'The time of the last replay (replayLogStream): the stream went back to the first transaction that wrote an entry at or after it.';
comment on column audit.log_streams.lease_token is '@behavior -*
The worker''s claim on the stream (one worker delivers a stream at a time).';
comment on column audit.log_streams.lease_until is '@behavior -*
Until when the worker''s claim holds.';
comment on column audit.log_streams.created_by is 'The admin who created it (email, else the token''s subject).';

create table if not exists audit_private.log_stream_secrets (
  tenant_id uuid not null,
  stream_id uuid not null,
  secret text not null,
  constraint log_stream_secrets_pkey primary key (tenant_id, stream_id),
  constraint log_stream_secrets_stream_fkey foreign key (tenant_id, stream_id) references audit.log_streams (tenant_id, id) on delete cascade
);
comment on table audit_private.log_stream_secrets is 'The secret of each log stream (the signing secret of an https stream, the HEC token, the Datadog or Elasticsearch API key): written by the mutations, read only by the stream worker, never shown again.';

alter table audit.log_streams enable row level security;
alter table audit.log_streams force row level security;
drop policy if exists log_streams_owner_all on audit.log_streams;
create policy log_streams_owner_all on audit.log_streams for all to current_user using (true) with check (true);
drop policy if exists log_streams_reader_select on audit.log_streams;
create policy log_streams_reader_select on audit.log_streams for select to audit_reader using (true);
drop policy if exists log_streams_tenant_admin_select on audit.log_streams;
create policy log_streams_tenant_admin_select on audit.log_streams for select to audit_tenant_admin
  using (tenant_id = audit.scoped_tenant_id('tenant_admin'));
grant select on audit.log_streams to audit_reader, audit_tenant_admin;
-- Account admins may ask and see none (no policy of theirs): streams are the tenant admins'.
grant select on audit.log_streams to audit_account_admin;

create or replace function audit_private.log_stream_consumer(stream_id uuid)
 returns text
 language sql
 immutable parallel safe
as $$ select 'stream_' || replace(stream_id::text, '-', '') $$;
comment on function audit_private.log_stream_consumer(stream_id uuid) is 'The log consumer (audit_private.log_consumers) that holds a stream''s position.';

create or replace function audit_private.forget_log_stream_consumer()
 returns trigger
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
begin
  delete from audit_private.log_consumers c where c.consumer = audit_private.log_stream_consumer(old.id);
  return null;
end
$$;
comment on function audit_private.forget_log_stream_consumer() is 'A deleted stream (or a deleted tenant''s) takes its position with it.';
drop trigger if exists log_streams_forget_consumer on audit.log_streams;
create trigger log_streams_forget_consumer after delete on audit.log_streams
  for each row execute function audit_private.forget_log_stream_consumer();

--------------------------------------------------------------------------------
-- 3. Which entries a stream delivers, and from where
--------------------------------------------------------------------------------
create or replace function audit.log_stream_matches(l audit.log, resource_types text[], actions text[], account_ids uuid[])
 returns boolean
 language sql
 immutable parallel safe
as $$
  select (resource_types is null or l.resource_type = any (resource_types))
     and (actions is null or l.action = any (actions) or l.event = any (actions))
     and (account_ids is null or l.account_id = any (account_ids))
$$;
comment on function audit.log_stream_matches(l audit.log, resource_types text[], actions text[], account_ids uuid[]) is '@behavior -*
Whether an entry passes a stream''s filter (null lists pass everything). Inlined into log_stream_entries() and the status''s count, so both say the same.';
grant execute on function audit.log_stream_matches(audit.log, text[], text[], uuid[]) to audit_viewer, audit_reader;

create or replace function audit.log_stream_entries(tenant_id uuid, after_xid bigint, after_id bigint, before_xid bigint,
                                                    resource_types text[], actions text[], account_ids uuid[], max_entries integer)
 returns setof audit.log
 language sql
 stable
as $$
  select l.* from audit.log l
   where l.tenant_id = log_stream_entries.tenant_id
     and l.transaction_id >= after_xid and l.transaction_id < before_xid
     and (l.transaction_id, l.id) > (after_xid, coalesce(after_id, 0))
     and audit.log_stream_matches(l, resource_types, actions, account_ids)
   order by l.transaction_id, l.id
   limit max_entries
$$;
comment on function audit.log_stream_entries(tenant_id uuid, after_xid bigint, after_id bigint, before_xid bigint, resource_types text[], actions text[], account_ids uuid[], max_entries integer) is '@behavior -*
The stream worker''s read: a tenant''s entries after the position (after_xid, after_id) and below before_xid (at most the xmin horizon, where nothing can still appear), through a stream''s filter, in (transaction_id, id) order, at most max_entries. Security invoker: the worker calls it as the tenant''s admin role with the stream''s tenant in the claims, so row-level security confines it exactly as it confines the API.';
grant execute on function audit.log_stream_entries(uuid, bigint, bigint, bigint, text[], text[], uuid[], integer) to audit_viewer;

create or replace function audit_private.first_transaction_at(tenant_id uuid, from_time timestamptz)
 returns bigint
 language sql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
  -- The first transaction that wrote an entry at or after from_time; the
  -- horizon when none has (what commits later is above it).
  select coalesce((select min(l.transaction_id) from audit.log l
                    where l.tenant_id = first_transaction_at.tenant_id and l.occurred_at >= from_time),
                  audit_private.current_horizon())
$$;
comment on function audit_private.first_transaction_at(tenant_id uuid, from_time timestamptz) is 'Where a stream starting (or replaying) from a time begins: the first transaction of the tenant that wrote an entry at or after it. Entries are ordered by transaction, and occurred_at is their transaction''s start, so a few entries of older transactions that committed later may come along: a replay sends a superset, never less.';

--------------------------------------------------------------------------------
-- 4. Settings, filters and secrets: checked where they are stored
--------------------------------------------------------------------------------
create or replace function audit_private.check_log_stream_settings(fn text, kind text, settings jsonb)
 returns jsonb
 language plpgsql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  allowed text[];
  extra text;
  s jsonb := coalesce(settings, '{}');
  k text;
  site text;
  idx text;
begin
  if jsonb_typeof(s) <> 'object' then
    raise exception '%: settings must be a JSON object', fn using errcode = '22023';
  end if;
  allowed := case kind
    when 'https' then '{url}'
    when 'splunk' then '{url,index,source,sourcetype}'
    when 'datadog' then '{url,site,service,tags}'
    when 'elastic' then '{url,index}'
    when 'file' then '{rotate,max_bytes}'
  end;
  if allowed is null then
    raise exception '%: kind must be one of https, splunk, datadog, elastic, file (got %)', fn, coalesce(kind, 'null') using errcode = '22023';
  end if;
  select string_agg(key, ', ' order by key) into extra from jsonb_object_keys(s) key where key <> all (allowed);
  if extra is not null then
    raise exception '%: unknown setting % for a % stream (allowed: %)', fn, extra, kind, array_to_string(allowed, ', ')
      using errcode = '22023', hint = case when kind = 'file' and extra ~ 'path|dir|file' then 'File streams are written under STREAM_FILE_ROOT/<tenant>/<stream>/; the path is not configurable.' end;
  end if;
  foreach k in array allowed loop
    if s ? k and jsonb_typeof(s -> k) <> (case when k = 'max_bytes' then 'number' else 'string' end) then
      raise exception '%: setting % must be a %', fn, k, (case when k = 'max_bytes' then 'number' else 'string' end) using errcode = '22023';
    end if;
    if s ? k and k <> 'max_bytes' and length(s ->> k) > (case when k = 'url' then 2000 else 500 end) then
      raise exception '%: setting % is too long', fn, k using errcode = '22023';
    end if;
  end loop;
  if kind = 'datadog' and not s ? 'url' then
    site := coalesce(s ->> 'site', 'datadoghq.com');
    if site not in ('datadoghq.com', 'us3.datadoghq.com', 'us5.datadoghq.com', 'datadoghq.eu', 'ap1.datadoghq.com', 'ap2.datadoghq.com', 'ddog-gov.com') then
      raise exception '%: unknown Datadog site % (datadoghq.com, us3.datadoghq.com, us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com, ap2.datadoghq.com, ddog-gov.com)', fn, site
        using errcode = '22023';
    end if;
    s := s || jsonb_build_object('url', 'https://http-intake.logs.' || site || '/api/v2/logs');
  end if;
  if kind <> 'file' then
    if not s ? 'url' then
      raise exception '%: a % stream needs settings.url', fn, kind using errcode = '22023';
    end if;
    s := s || jsonb_build_object('url', audit_private.check_webhook_url(fn, btrim(s ->> 'url')));
  end if;
  if kind = 'elastic' then
    idx := coalesce(s ->> 'index', 'audit-trail');
    -- Elasticsearch's own rules for an index name
    if idx !~ '^[a-z0-9][a-z0-9._-]{0,254}$' or idx in ('.', '..') then
      raise exception '%: "%" is not a valid Elasticsearch index name (lower case letters, digits, ".", "_" and "-", not starting with "_" or "-")', fn, idx
        using errcode = '22023';
    end if;
    s := s || jsonb_build_object('index', idx);
  end if;
  if kind = 'file' then
    s := jsonb_build_object('rotate', coalesce(s ->> 'rotate', 'hour'),
                            'max_bytes', coalesce((s ->> 'max_bytes')::numeric, 104857600));
    if s ->> 'rotate' not in ('hour', 'size') then
      raise exception '%: settings.rotate must be hour or size (got %)', fn, s ->> 'rotate' using errcode = '22023';
    end if;
    if (s ->> 'max_bytes')::numeric not between 1048576 and 10737418240 or (s ->> 'max_bytes')::numeric <> trunc((s ->> 'max_bytes')::numeric) then
      raise exception '%: settings.max_bytes must be a whole number of bytes from 1 MB (1048576) to 10 GB (10737418240)', fn using errcode = '22023';
    end if;
  end if;
  return s;
end
$$;
comment on function audit_private.check_log_stream_settings(fn text, kind text, settings jsonb) is 'Checks a stream''s settings for its kind (clear errors, 22023) and returns them completed: the URL checked as a webhook''s (https, no credentials, no private address unless allowed; addresses are checked again at every connection), the Datadog intake of a site, the Elasticsearch index, the file rotation. A file stream takes no path.';

create or replace function audit_private.check_log_stream_filter(fn text, tenant_id uuid, resource_types text[], actions text[], account_ids uuid[],
                                                                 out resource_types_ text[], out actions_ text[], out account_ids_ uuid[])
 returns record
 language plpgsql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  unknown uuid;
begin
  if cardinality(resource_types) > 50 or cardinality(actions) > 50 or cardinality(account_ids) > 100 then
    raise exception '%: a filter lists at most 50 resource types, 50 actions and 100 accounts', fn using errcode = '22023';
  end if;
  if array_position(resource_types, null) is not null or array_position(actions, null) is not null or array_position(account_ids, null) is not null then
    raise exception '%: a filter list must not contain null', fn using errcode = '22023';
  end if;
  if exists (select from unnest(coalesce(resource_types, '{}') || coalesce(actions, '{}')) v where v !~ '^[a-z][a-z0-9_.]{0,99}$') then
    raise exception '%: resource types and actions are lower-case names (e.g. api_key, delete, member.role_updated)', fn using errcode = '22023';
  end if;
  select a into unknown from unnest(account_ids) a
   where not exists (select from app.accounts x where x.tenant_id = check_log_stream_filter.tenant_id and x.id = a) limit 1;
  if unknown is not null then
    raise exception '%: no account % in this tenant', fn, unknown using errcode = '22023';
  end if;
  -- an empty list is no filter
  resource_types_ := nullif(array(select distinct v from unnest(resource_types) v order by 1), '{}');
  actions_ := nullif(array(select distinct v from unnest(actions) v order by 1), '{}');
  account_ids_ := nullif(array(select distinct v from unnest(account_ids) v order by 1), '{}');
end
$$;
comment on function audit_private.check_log_stream_filter(fn text, tenant_id uuid, resource_types text[], actions text[], account_ids uuid[]) is 'Checks a stream''s filter (names, sizes, accounts of the tenant) and returns it sorted, without duplicates, an empty list as null.';

create or replace function audit_private.check_log_stream_secret(fn text, kind text, secret text)
 returns text
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
begin
  if kind = 'https' then
    if secret is not null then
      raise exception '%: an https stream''s signing secret is generated, not given', fn using errcode = '22023';
    end if;
    -- 244 random bits from the server's cryptographic generator (gen_random_uuid)
    return 'whsec_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
  elsif kind = 'file' then
    if secret is not null then
      raise exception '%: a file stream has no secret', fn using errcode = '22023';
    end if;
    return null;
  end if;
  if secret is null or btrim(secret) = '' then
    raise exception '%: a % stream needs its secret (%)', fn, kind,
      case kind when 'splunk' then 'the HTTP Event Collector token' when 'datadog' then 'the Datadog API key'
                else 'the Elasticsearch API key, base64 of id:api_key' end using errcode = '22023';
  end if;
  if length(secret) > 1000 or secret ~ '[\s\x00-\x1f]' then
    raise exception '%: the secret must be one line of at most 1000 characters without spaces', fn using errcode = '22023';
  end if;
  return secret;
end
$$;
comment on function audit_private.check_log_stream_secret(fn text, kind text, secret text) is 'The secret a stream of this kind is stored with: generated for https (shown once), the given token or API key for the vendors, none for files.';

--------------------------------------------------------------------------------
-- 5. What tenant admins call (the API's mutations), each an audited event
--------------------------------------------------------------------------------
create or replace function audit_private.log_stream_values(s audit.log_streams)
 returns jsonb
 language sql
 immutable
as $$
  select jsonb_strip_nulls(jsonb_build_object('name', s.name, 'kind', s.kind, 'settings', s.settings, 'format', s.format,
    'resource_types', s.resource_types, 'actions', s.actions, 'account_ids', s.account_ids, 'enabled', s.enabled,
    'batch_size', s.batch_size))
$$;
comment on function audit_private.log_stream_values(s audit.log_streams) is 'A stream''s configuration as its audited events show it (never its secret).';

create or replace function audit_private.record_log_stream_change(event text, before audit.log_streams, after audit.log_streams)
 returns void
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  o jsonb := audit_private.log_stream_values(before);
  n jsonb := audit_private.log_stream_values(after);
  s audit.log_streams := coalesce(after, before);
begin
  if before is not null and after is not null then
    -- only what changed
    select jsonb_object_agg(k, o -> k) filter (where o ? k), jsonb_object_agg(k, n -> k) filter (where n ? k) into o, n
      from (select jsonb_object_keys(o) k union select jsonb_object_keys(n)) keys
     where (o -> k) is distinct from (n -> k);
  end if;
  perform audit_private.record_admin_event(event, s.tenant_id, null, s.id::text, s.name, o, n);
end
$$;
comment on function audit_private.record_log_stream_change(event text, before audit.log_streams, after audit.log_streams) is 'Records a log_stream.* event for the admin in the token: the stream''s configuration before and after (of an update, only what changed).';

do $$
begin
  if not exists (select from pg_type t where t.typname = 'created_log_stream' and t.typnamespace = 'audit'::regnamespace) then
    create type audit.created_log_stream as (id uuid, name text, kind text, format text, settings jsonb, enabled boolean, created_at timestamptz, secret text);
  end if;
end
$$;
comment on type audit.created_log_stream is 'A log stream just created; for an https stream with its signing secret, the only time it is shown.';

create or replace function audit.create_log_stream(name text, kind text, settings jsonb default '{}', secret text default null,
                                                   format text default 'entry', resource_types text[] default null,
                                                   actions text[] default null, account_ids uuid[] default null,
                                                   start_from timestamptz default null, batch_size integer default 2000)
 returns audit.created_log_stream
 language plpgsql
 volatile
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  fn constant text := 'createLogStream';
  s record;
  f record;
  st audit.log_streams;
  stored_secret text;
begin
  s := audit_private.tenant_admin_scope(fn, 'configure log streams');
  if name is null or length(btrim(name)) not between 1 and 200 then
    raise exception '%: name is required, at most 200 characters', fn using errcode = '22023';
  end if;
  if format is null or format not in ('entry', 'ocsf') then
    raise exception '%: format must be entry or ocsf (got %)', fn, coalesce(format, 'null') using errcode = '22023';
  end if;
  if batch_size is null or batch_size not between 1 and 10000 then
    raise exception '%: batch_size must be 1 to 10000', fn using errcode = '22023';
  end if;
  if start_from > now() then
    raise exception '%: start_from is in the future', fn using errcode = '22023';
  end if;
  if (select count(*) from audit.log_streams x where x.tenant_id = s.tenant_id) >= 20 then
    raise exception '%: a tenant has at most 20 log streams', fn using errcode = '54000';
  end if;
  f := audit_private.check_log_stream_filter(fn, s.tenant_id, resource_types, actions, account_ids);
  insert into audit.log_streams (tenant_id, name, kind, settings, format, resource_types, actions, account_ids, batch_size, created_by, replayed_from)
  values (s.tenant_id, btrim(name), kind, audit_private.check_log_stream_settings(fn, kind, settings), format,
          f.resource_types_, f.actions_, f.account_ids_, batch_size, coalesce(s.actor_email, s.subject), start_from)
  returning * into st;
  stored_secret := audit_private.check_log_stream_secret(fn, kind, secret);
  if stored_secret is not null then
    insert into audit_private.log_stream_secrets (tenant_id, stream_id, secret) values (st.tenant_id, st.id, stored_secret);
  end if;
  -- Its position: from now on (the horizon), or from the first transaction at start_from.
  insert into audit_private.log_consumers (consumer, watermark)
  values (audit_private.log_stream_consumer(st.id),
          case when start_from is null then audit_private.current_horizon() else audit_private.first_transaction_at(st.tenant_id, start_from) end);
  perform audit_private.record_log_stream_change('log_stream.created', null, st);
  return row(st.id, st.name, st.kind, st.format, st.settings, st.enabled, st.created_at,
             case when kind = 'https' then stored_secret end)::audit.created_log_stream;
end
$$;
comment on function audit.create_log_stream(name text, kind text, settings jsonb, secret text, format text, resource_types text[], actions text[], account_ids uuid[], start_from timestamptz, batch_size integer) is 'Creates a log stream of the token''s tenant: kind https, splunk, datadog, elastic or file, its settings (see audit.log_streams.settings) and secret (the vendor''s token or API key; an https stream''s signing secret is generated and returned this once), the format (entry or ocsf), an optional filter, and where it starts: from now on, or from start_from (the log is read from there, as by a replay). Records log_stream.created (secret never included). Tenant admins only.';
grant execute on function audit.create_log_stream(text, text, jsonb, text, text, text[], text[], uuid[], timestamptz, integer) to audit_viewer;

create or replace function audit_private.log_stream_for_change(fn text, what text, stream_id uuid)
 returns audit.log_streams
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  s record;
  st audit.log_streams;
begin
  s := audit_private.tenant_admin_scope(fn, what);
  select * into st from audit.log_streams x where x.tenant_id = s.tenant_id and x.id = stream_id for update;
  if not found then
    raise exception '%: no log stream with id % in this tenant', fn, coalesce(stream_id::text, 'null') using errcode = 'P0002';
  end if;
  return st;
end
$$;
comment on function audit_private.log_stream_for_change(fn text, what text, stream_id uuid) is 'The stream a mutation changes, locked, when it is the token''s tenant''s and the token is a tenant admin''s; a clear error otherwise.';

create or replace function audit.update_log_stream(id uuid, name text default null, settings jsonb default null, secret text default null,
                                                   format text default null, resource_types text[] default null,
                                                   actions text[] default null, account_ids uuid[] default null,
                                                   batch_size integer default null)
 returns audit.log_streams
 language plpgsql
 volatile
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  fn constant text := 'updateLogStream';
  before audit.log_streams;
  after audit.log_streams;
  f record;
begin
  before := audit_private.log_stream_for_change(fn, 'change log streams', id);
  if name is not null and length(btrim(name)) not between 1 and 200 then
    raise exception '%: name must be 1 to 200 characters', fn using errcode = '22023';
  end if;
  if format is not null and format not in ('entry', 'ocsf') then
    raise exception '%: format must be entry or ocsf (got %)', fn, format using errcode = '22023';
  end if;
  if batch_size is not null and batch_size not between 1 and 10000 then
    raise exception '%: batch_size must be 1 to 10000', fn using errcode = '22023';
  end if;
  -- a list given replaces the filter (an empty one removes it)
  f := audit_private.check_log_stream_filter(fn, before.tenant_id,
         coalesce(resource_types, before.resource_types), coalesce(actions, before.actions), coalesce(account_ids, before.account_ids));
  update audit.log_streams x
     set name = coalesce(btrim(update_log_stream.name), x.name),
         settings = case when update_log_stream.settings is null then x.settings
                         else audit_private.check_log_stream_settings(fn, x.kind, update_log_stream.settings) end,
         format = coalesce(update_log_stream.format, x.format),
         resource_types = case when update_log_stream.resource_types is null then x.resource_types else f.resource_types_ end,
         actions = case when update_log_stream.actions is null then x.actions else f.actions_ end,
         account_ids = case when update_log_stream.account_ids is null then x.account_ids else f.account_ids_ end,
         batch_size = coalesce(update_log_stream.batch_size, x.batch_size),
         -- a new destination gets a fresh try, and a batch in flight under the old settings does not move the position
         failures = 0, next_attempt_at = now(), lease_token = null, lease_until = null,
         updated_at = now()
   where x.tenant_id = before.tenant_id and x.id = before.id
  returning * into after;
  if secret is not null then
    if before.kind in ('https', 'file') then
      raise exception '%: an % stream''s secret cannot be set', fn, before.kind using errcode = '22023';
    end if;
    update audit_private.log_stream_secrets k set secret = audit_private.check_log_stream_secret(fn, before.kind, update_log_stream.secret)
     where k.tenant_id = before.tenant_id and k.stream_id = before.id;
  end if;
  if audit_private.log_stream_values(before) is distinct from audit_private.log_stream_values(after) then
    perform audit_private.record_log_stream_change('log_stream.updated', before, after);
  elsif secret is not null then
    perform audit_private.record_admin_event('log_stream.updated', after.tenant_id, null, after.id::text, after.name,
                                             jsonb_build_object('secret', '[redacted]'), jsonb_build_object('secret', '[redacted]'));
  end if;
  return after;
end
$$;
comment on function audit.update_log_stream(id uuid, name text, settings jsonb, secret text, format text, resource_types text[], actions text[], account_ids uuid[], batch_size integer) is 'Changes a log stream of the token''s tenant: what is given (null keeps a value; settings replace the old ones whole; an empty filter list removes that filter) is checked as on creation, and applies from the stream''s position on. A vendor''s token or API key can be replaced (secret). Records log_stream.updated with what changed. Tenant admins only.';
grant execute on function audit.update_log_stream(uuid, text, jsonb, text, text, text[], text[], uuid[], integer) to audit_viewer;

create or replace function audit.pause_log_stream(id uuid)
 returns audit.log_streams
 language plpgsql
 volatile
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  before audit.log_streams;
  after audit.log_streams;
begin
  before := audit_private.log_stream_for_change('pauseLogStream', 'pause log streams', id);
  if not before.enabled then
    return before;
  end if;
  update audit.log_streams x set enabled = false, lease_token = null, lease_until = null, updated_at = now()
   where x.tenant_id = before.tenant_id and x.id = before.id
  returning * into after;
  perform audit_private.record_log_stream_change('log_stream.paused', before, after);
  return after;
end
$$;
comment on function audit.pause_log_stream(id uuid) is 'Pauses a log stream: nothing is delivered until it resumes, from where it stopped (the log keeps every entry; a batch in flight may still arrive). Pausing a paused stream changes nothing. Records log_stream.paused. Tenant admins only.';
grant execute on function audit.pause_log_stream(uuid) to audit_viewer;

create or replace function audit.resume_log_stream(id uuid)
 returns audit.log_streams
 language plpgsql
 volatile
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  before audit.log_streams;
  after audit.log_streams;
begin
  before := audit_private.log_stream_for_change('resumeLogStream', 'resume log streams', id);
  if before.enabled and before.failures = 0 then
    return before;
  end if;
  update audit.log_streams x set enabled = true, failures = 0, next_attempt_at = now(), updated_at = now()
   where x.tenant_id = before.tenant_id and x.id = before.id
  returning * into after;
  if not before.enabled then
    perform audit_private.record_log_stream_change('log_stream.resumed', before, after);
  end if;
  return after;
end
$$;
comment on function audit.resume_log_stream(id uuid) is 'Resumes a paused log stream from its position, at once; on a failing stream, tries again now instead of waiting for the backoff. Records log_stream.resumed when it was paused. Tenant admins only.';
grant execute on function audit.resume_log_stream(uuid) to audit_viewer;

create or replace function audit.replay_log_stream(id uuid, from_time timestamptz)
 returns audit.log_streams
 language plpgsql
 volatile
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  before audit.log_streams;
  after audit.log_streams;
  c audit_private.log_consumers;
  start bigint;
begin
  before := audit_private.log_stream_for_change('replayLogStream', 'replay log streams', id);
  if from_time is null then
    raise exception 'replayLogStream: fromTime is required' using errcode = '22023';
  end if;
  if from_time > now() then
    raise exception 'replayLogStream: fromTime % is in the future', from_time using errcode = '22023';
  end if;
  select * into c from audit_private.log_consumers x where x.consumer = audit_private.log_stream_consumer(before.id) for update;
  start := audit_private.first_transaction_at(before.tenant_id, from_time);
  -- Back (or forward) to the first transaction at from_time. A batch in
  -- flight loses its lease, so its answer cannot move the position again.
  update audit_private.log_consumers x set watermark = start, after_id = null where x.consumer = c.consumer;
  update audit.log_streams x
     set replayed_from = from_time, replayed_at = now(), failures = 0, next_attempt_at = now(),
         lease_token = null, lease_until = null, updated_at = now()
   where x.tenant_id = before.tenant_id and x.id = before.id
  returning * into after;
  perform audit_private.record_admin_event('log_stream.replayed', after.tenant_id, null, after.id::text, after.name,
    jsonb_build_object('position_transaction_id', c.watermark, 'position_entry_id', c.after_id),
    jsonb_build_object('from_time', from_time, 'position_transaction_id', start));
  return after;
end
$$;
comment on function audit.replay_log_stream(id uuid, from_time timestamptz) is 'Restarts a log stream from a time: it delivers again, in order, every entry from the first transaction that wrote one at or after from_time, reading the log itself in batches (no queue), so a replay reaches as far back as the log. Receivers de-duplicate by entry id. Records log_stream.replayed with the old and new position. Tenant admins only.';
grant execute on function audit.replay_log_stream(uuid, timestamptz) to audit_viewer;

create or replace function audit.delete_log_stream(id uuid)
 returns audit.log_streams
 language plpgsql
 volatile
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  gone audit.log_streams;
begin
  gone := audit_private.log_stream_for_change('deleteLogStream', 'delete log streams', id);
  delete from audit.log_streams x where x.tenant_id = gone.tenant_id and x.id = gone.id;
  perform audit_private.record_log_stream_change('log_stream.deleted', gone, null);
  return gone;
end
$$;
comment on function audit.delete_log_stream(id uuid) is 'Deletes a log stream of the token''s tenant with its secret and position (a batch in flight may still arrive). Records log_stream.deleted. Returns what was deleted. Tenant admins only.';
grant execute on function audit.delete_log_stream(uuid) to audit_viewer;

--------------------------------------------------------------------------------
-- 6. Status: where a stream is, and how far behind
--------------------------------------------------------------------------------
do $$
begin
  if not exists (select from pg_type t where t.typname = 'log_stream_status' and t.typnamespace = 'audit'::regnamespace) then
    create type audit.log_stream_status as (state text, pending_entries bigint, pending_capped boolean, lag_seconds numeric,
                                            oldest_pending_at timestamptz, position_transaction_id bigint, position_entry_id bigint,
                                            horizon bigint);
  end if;
end
$$;
comment on type audit.log_stream_status is 'Where a log stream is: its state, how many entries wait for it, how old the oldest is, and its position in the log.';
comment on column audit.log_stream_status.state is 'paused, failing (the last delivery failed; retrying with backoff), catching_up (entries wait) or live (nothing waits).';
comment on column audit.log_stream_status.pending_entries is 'Entries of the stream (its tenant, through its filter) committed after its position, including those a transaction still in flight holds back; counted up to 1,000,000.';
comment on column audit.log_stream_status.pending_capped is 'True when more than 1,000,000 entries wait (pending_entries says 1,000,000).';
comment on column audit.log_stream_status.lag_seconds is 'How long ago the oldest waiting entry happened; 0 when nothing waits.';
comment on column audit.log_stream_status.position_transaction_id is 'The stream''s position: every entry of an earlier transaction was delivered...';
comment on column audit.log_stream_status.position_entry_id is '...and of this transaction, the entries up to this id (null: none yet).';
comment on column audit.log_stream_status.horizon is 'The xmin horizon now: entries of transactions below it are all visible; the stream reads up to it.';

create or replace function audit.log_streams_status(stream audit.log_streams)
 returns audit.log_stream_status
 language plpgsql
 stable
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  c audit_private.log_consumers;
  r audit.log_stream_status;
begin
  -- A row can be forged by a caller (select audit.log_streams_status(row(...))): the scope decides.
  -- (A DBA's session, with no claims, sees every stream, as audit_reader does.)
  if stream.tenant_id is distinct from audit.scoped_tenant_id('tenant_admin')
     and nullif(current_setting('jwt.claims.role', true), '') is not null then
    return null;
  end if;
  select * into c from audit_private.log_consumers x where x.consumer = audit_private.log_stream_consumer(stream.id);
  if not found then
    return null;
  end if;
  select count(*), min(p.occurred_at) into r.pending_entries, r.oldest_pending_at
    from (select l.occurred_at from audit.log l
           where l.tenant_id = stream.tenant_id and l.transaction_id >= c.watermark
             and (l.transaction_id, l.id) > (c.watermark, coalesce(c.after_id, 0))
             and audit.log_stream_matches(l, stream.resource_types, stream.actions, stream.account_ids)
           limit 1000001) p;
  r.pending_capped := r.pending_entries > 1000000;
  r.pending_entries := least(r.pending_entries, 1000000);
  r.lag_seconds := coalesce(round(extract(epoch from now() - r.oldest_pending_at)::numeric, 1), 0);
  r.position_transaction_id := c.watermark;
  r.position_entry_id := c.after_id;
  r.horizon := audit_private.current_horizon();
  r.state := case when not stream.enabled then 'paused' when stream.failures > 0 then 'failing'
                  when r.pending_entries > 0 then 'catching_up' else 'live' end;
  return r;
end
$$;
comment on function audit.log_streams_status(stream audit.log_streams) is 'A log stream''s status (the status field of LogStream): state, pending entries and lag, and its position.';
grant execute on function audit.log_streams_status(audit.log_streams) to audit_viewer, audit_reader;

--------------------------------------------------------------------------------
-- 7. The stream worker's side (the owner's; src/streams/stream-worker.ts)
--------------------------------------------------------------------------------
create or replace function audit_private.claim_log_streams(max_streams integer default 10, lease_seconds integer default 60)
 returns table (tenant_id uuid, stream_id uuid, lease_token uuid, kind text, settings jsonb, secret text, format text,
                resource_types text[], actions text[], account_ids uuid[], batch_size integer, failures integer,
                watermark bigint, after_id bigint, horizon bigint)
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
begin
  if max_streams is null or max_streams not between 1 and 1000 or lease_seconds is null or lease_seconds not between 1 and 3600 then
    raise exception 'audit_private.claim_log_streams: max_streams must be 1 to 1000 and lease_seconds 1 to 3600' using errcode = '22023';
  end if;
  return query
  with due as (
    select s.tenant_id, s.id
      from audit.log_streams s
     where s.enabled and s.next_attempt_at <= now() and (s.lease_until is null or s.lease_until < now())
     order by s.next_attempt_at
     limit max_streams
       for update skip locked),
  claimed as (
    update audit.log_streams s
       set lease_token = gen_random_uuid(), lease_until = now() + make_interval(secs => lease_seconds)
      from due
     where s.tenant_id = due.tenant_id and s.id = due.id
    returning s.*)
  select c.tenant_id, c.id, c.lease_token, c.kind, c.settings, k.secret, c.format, c.resource_types, c.actions, c.account_ids,
         c.batch_size, c.failures, lc.watermark, lc.after_id, audit_private.current_horizon()
    from claimed c
    join audit_private.log_consumers lc on lc.consumer = audit_private.log_stream_consumer(c.id)
    left join audit_private.log_stream_secrets k on k.tenant_id = c.tenant_id and k.stream_id = c.id;
end
$$;
comment on function audit_private.claim_log_streams(max_streams integer, lease_seconds integer) is 'For the stream worker: claims up to max_streams enabled streams that are due and not held by another worker, for lease_seconds, and returns what delivering them needs: destination, secret, format, filter, position (watermark, after_id) and the xmin horizon now.';

create or replace function audit_private.advance_log_stream(tenant_id uuid, stream_id uuid, lease_token uuid, to_xid bigint, to_id bigint,
                                                            delivered integer, last_entry_id bigint, last_occurred_at timestamptz,
                                                            keep_lease_seconds integer, next_poll_ms integer,
                                                            out applied boolean, out horizon bigint)
 returns record
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  st audit.log_streams;
begin
  horizon := audit_private.current_horizon();
  select * into st from audit.log_streams x
   where x.tenant_id = advance_log_stream.tenant_id and x.id = advance_log_stream.stream_id
     and x.lease_token = advance_log_stream.lease_token
     for update;
  if not found then
    -- paused, replayed, reconfigured or deleted meanwhile: the position is not ours to move
    applied := false;
    return;
  end if;
  if delivered > 0 or to_id is not null or to_xid > (select c.watermark from audit_private.log_consumers c
                                                       where c.consumer = audit_private.log_stream_consumer(st.id)) then
    perform audit_private.end_round(audit_private.log_stream_consumer(st.id), to_xid, delivered, null, to_id);
  end if;
  update audit.log_streams x
     set delivered_entries = x.delivered_entries + coalesce(delivered, 0),
         last_delivered_entry_id = coalesce(advance_log_stream.last_entry_id, x.last_delivered_entry_id),
         last_delivered_occurred_at = coalesce(advance_log_stream.last_occurred_at, x.last_delivered_occurred_at),
         last_delivered_at = case when delivered > 0 then now() else x.last_delivered_at end,
         failures = case when delivered > 0 then 0 else x.failures end,
         lease_token = case when keep_lease_seconds > 0 then x.lease_token end,
         lease_until = case when keep_lease_seconds > 0 then now() + make_interval(secs => keep_lease_seconds) end,
         next_attempt_at = case when keep_lease_seconds > 0 then x.next_attempt_at
                                else now() + make_interval(secs => coalesce(next_poll_ms, 1000) / 1000.0) end
   where x.tenant_id = st.tenant_id and x.id = st.id;
  applied := true;
end
$$;
comment on function audit_private.advance_log_stream(tenant_id uuid, stream_id uuid, lease_token uuid, to_xid bigint, to_id bigint, delivered integer, last_entry_id bigint, last_occurred_at timestamptz, keep_lease_seconds integer, next_poll_ms integer) is 'For the stream worker, after a receiver took a batch (or a read found nothing up to to_xid): moves the stream''s position to (to_xid, to_id) through end_round (to_id null: every entry below to_xid), counts what was delivered, and keeps the lease for keep_lease_seconds more (more to send) or releases it until next_poll_ms from now. Does nothing (applied false) when the lease is no longer the caller''s. Returns the xmin horizon now, for the next read.';

create or replace function audit_private.fail_log_stream(tenant_id uuid, stream_id uuid, lease_token uuid, status_code integer, error text,
                                                         retry_base_ms integer default 1000, retry_max_ms integer default 3600000)
 returns timestamptz
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  next_at timestamptz;
begin
  -- exponential backoff with jitter: base, 2 x base ... up to the maximum; the position stays
  update audit.log_streams x
     set failures = x.failures + 1,
         last_error = left(coalesce(error, 'HTTP ' || status_code), 2000),
         last_error_at = now(),
         last_status_code = status_code,
         next_attempt_at = now() + make_interval(secs => least(retry_max_ms::double precision,
                                                               retry_base_ms * power(2, least(x.failures, 30)))
                                                         * (0.75 + random() * 0.5) / 1000),
         lease_token = null, lease_until = null
   where x.tenant_id = fail_log_stream.tenant_id and x.id = fail_log_stream.stream_id and x.lease_token = fail_log_stream.lease_token
  returning x.next_attempt_at into next_at;
  return next_at;
end
$$;
comment on function audit_private.fail_log_stream(tenant_id uuid, stream_id uuid, lease_token uuid, status_code integer, error text, retry_base_ms integer, retry_max_ms integer) is 'For the stream worker: records a failed delivery (the error, the receiver''s status) and releases the stream until the next attempt, backing off exponentially with jitter (retry_base_ms doubling per consecutive failure, up to retry_max_ms). The position does not move: nothing is skipped. Null when the lease was no longer the caller''s.';
