--! Previous: sha1:b6f3e7024465f519eadab6cbf9791a30d5a6f20b
--! Hash: sha1:2d4ef8cbb315b12fad3dda2d2e9fc949339dbc1a
--! Message: Security monitoring: the log's consumers in commit order, detectors, alerts, detector settings, admin events, webhook outbox

-- Security monitoring: the log's first consumer in commit order, four
-- detectors, alerts, per-tenant detector settings and webhook notifications
-- through a transactional outbox. Nothing here runs on the write path: the
-- capture and audit.log's triggers are untouched; detection reads the log
-- after the fact (audit.detect()).

--------------------------------------------------------------------------------
-- 1. The catalogue gains a fourth kind of event: admin, written by the API's
--    mutations on behalf of the admin in the token (alert acknowledged,
--    detector settings changed, webhook endpoints). Its rows are in
--    migrations/tracking.sql.
--------------------------------------------------------------------------------
alter table audit.events drop constraint if exists events_kind_check;
alter table audit.events add constraint events_kind_check check (kind in ('trigger', 'application', 'access', 'admin'));
comment on column audit.events.kind is 'Who writes the event: trigger (the capture of a tracked table, from a rule), application (the application, through audit.record_event: sign-ins, reveals, downloads), access (the API, through audit.record_access: exports and reads of the audit log itself) or admin (the API''s mutations on behalf of the admin in the token: alerts acknowledged or resolved, detector settings, webhook endpoints). Nobody can write an event of another kind.';

--------------------------------------------------------------------------------
-- 2. The access path of every consumer: a BRIN index on transaction_id.
--    Transaction ids grow with insertion order, so a range of them is a
--    range of pages; BRIN costs a write nearly nothing (an unsummarized tail
--    is scanned whole, and autosummarize summarizes a filled range in the
--    background). The declared exception to the tenant-first rule
--    (test/db/distribution.test.ts): consumers read every tenant's new
--    entries. Measured in the issue note (bench writes,bulk: migrated vs
--    bench/variants/no-transaction-brin.sql).
--------------------------------------------------------------------------------
-- minmax-multi, not plain minmax: where the log has free space in old pages
-- (after a maintenance update or the label backfill, vacuumed), new entries
-- fill it, and one such entry widens a plain range's min/max to cover
-- everything between; multi-minmax keeps several intervals per range. On the
-- bench's 10M log a round of 1,000 entries read 271 ms with minmax, 35 ms
-- with minmax-multi (bench/results-detect.md).
create index if not exists log_transaction_id_brin_idx on audit.log using brin (transaction_id int8_minmax_multi_ops) with (autosummarize = on);

--------------------------------------------------------------------------------
-- 3. One mechanism for every consumer of the log in commit order
--    (../shared/notes/log-consumers.md): a watermark per consumer, rounds
--    bounded by the xmin horizon, one runner at a time, lag reporting.
--------------------------------------------------------------------------------
create table if not exists audit_private.log_consumers (
  consumer text not null,
  watermark bigint not null,
  rounds bigint not null default 0,
  entries_consumed bigint not null default 0,
  last_round_at timestamptz,
  last_round_entries integer,
  last_round_ms numeric,
  created_at timestamptz not null default now(),
  constraint log_consumers_pkey primary key (consumer),
  constraint log_consumers_consumer_check check (consumer ~ '^[a-z][a-z0-9_]{0,62}$')
);
comment on table audit_private.log_consumers is 'One row per consumer of audit.log in commit order (detectors; later seals, streams, rollups): its watermark, a transaction id below which every entry has been consumed, and what its rounds did. Advanced only by audit_private.end_round(), in the same transaction as the consumer''s output.';
comment on column audit_private.log_consumers.watermark is 'Every entry with transaction_id below this has been consumed; no entry below it can still appear (it was at or below the xmin horizon when stored).';

create or replace function audit_private.current_horizon()
 returns bigint
 language sql
 volatile parallel safe
as $$ select pg_snapshot_xmin(pg_current_snapshot())::text::bigint $$;
comment on function audit_private.current_horizon() is 'The xmin horizon: the oldest transaction id still in flight anywhere in the cluster. Every transaction below it has finished, so every entry with a transaction_id below it is visible now and no more will appear. (The same numbering as audit.log.transaction_id: 64-bit, with the epoch.)';

create or replace function audit_private.register_consumer(consumer text)
 returns bigint
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  mark bigint;
begin
  -- A new consumer starts at the current horizon: it owes nothing older.
  insert into audit_private.log_consumers (consumer, watermark)
  values (register_consumer.consumer, audit_private.current_horizon())
  on conflict on constraint log_consumers_pkey do nothing;
  select c.watermark into mark from audit_private.log_consumers c where c.consumer = register_consumer.consumer;
  return mark;
end
$$;
comment on function audit_private.register_consumer(consumer text) is 'Creates a consumer at the current xmin horizon (it will see what commits from now on) unless it exists; returns its watermark.';

create or replace function audit_private.begin_round(consumer text, max_xids bigint default 10000000, out from_xid bigint, out to_xid bigint)
 returns record
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  horizon bigint;
begin
  if max_xids is null or max_xids < 1 then
    raise exception 'audit_private.begin_round: max_xids must be positive' using errcode = '22023';
  end if;
  -- One runner per consumer: another one returns at once (nulls).
  if not pg_try_advisory_xact_lock(hashtextextended('audit-trail:log consumer:' || begin_round.consumer, 0)) then
    return;
  end if;
  perform audit_private.register_consumer(begin_round.consumer);
  select c.watermark into from_xid from audit_private.log_consumers c where c.consumer = begin_round.consumer for update;
  -- Taken before the round reads the log; every later statement's snapshot
  -- (read committed) sees every transaction below it as finished.
  horizon := audit_private.current_horizon();
  to_xid := greatest(from_xid, least(horizon, from_xid + max_xids));
end
$$;
comment on function audit_private.begin_round(consumer text, max_xids bigint, OUT from_xid bigint, OUT to_xid bigint) is 'Starts a round of a consumer of audit.log: takes its lock for the transaction (nulls when another runner holds it) and returns the transaction-id range to consume, [from_xid, to_xid): from the watermark to the xmin horizon, at most max_xids wide (a batch). The caller reads the entries with transaction_id in it, writes its output, and calls end_round() in the same transaction; a crash or rollback repeats the round, never loses it.';

create or replace function audit_private.end_round(consumer text, to_xid bigint, entries integer, started timestamptz default null)
 returns void
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
begin
  update audit_private.log_consumers c
     set watermark = greatest(c.watermark, end_round.to_xid),
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
comment on function audit_private.end_round(consumer text, to_xid bigint, entries integer, started timestamptz) is 'Ends a round begun by begin_round(): stores to_xid as the consumer''s watermark and the round''s figures, in the caller''s transaction (with its output).';

create or replace function audit_private.round_entries(from_xid bigint, to_xid bigint)
 returns setof audit.log
 language sql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
  select l.* from audit.log l where l.transaction_id >= from_xid and l.transaction_id < to_xid
$$;
comment on function audit_private.round_entries(from_xid bigint, to_xid bigint) is 'The entries of a consumer''s round: transaction_id in [from_xid, to_xid), read through the BRIN index on transaction_id (every partition).';

create or replace function audit.log_consumers(out consumer text, out watermark bigint, out horizon bigint, out pending_entries bigint,
                                               out lag_seconds numeric, out last_round_at timestamptz, out last_round_entries integer,
                                               out last_round_ms numeric, out rounds bigint, out entries_consumed bigint,
                                               out oldest_transaction_pid integer, out oldest_transaction_age_seconds numeric)
 returns setof record
 language sql
 stable
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
  with h as (select audit_private.current_horizon() as horizon),
  oldest as (
    -- who holds the horizon back: the oldest transaction with an id, a
    -- session's or a prepared one's (pid null)
    select o.pid, o.age from (
      select a.pid, extract(epoch from now() - a.xact_start) as age, age(a.backend_xid) as xid_age
        from pg_stat_activity a
       where a.backend_xid is not null
      union all
      select null, extract(epoch from now() - p.prepared), age(p.transaction)
        from pg_prepared_xacts p) o
     order by o.xid_age desc
     limit 1)
  select c.consumer, c.watermark, h.horizon,
         p.pending, round(coalesce(extract(epoch from now() - p.oldest_at), 0)::numeric, 1),
         c.last_round_at, c.last_round_entries, c.last_round_ms, c.rounds, c.entries_consumed,
         o.pid, round(o.age::numeric, 1)
    from audit_private.log_consumers c
   cross join h
    left join oldest o on true
   cross join lateral (select count(*) as pending, min(l.occurred_at) as oldest_at
                         from audit.log l where l.transaction_id >= c.watermark) p
   order by c.consumer
$$;
comment on function audit.log_consumers(OUT consumer text, OUT watermark bigint, OUT horizon bigint, OUT pending_entries bigint, OUT lag_seconds numeric, OUT last_round_at timestamp with time zone, OUT last_round_entries integer, OUT last_round_ms numeric, OUT rounds bigint, OUT entries_consumed bigint, OUT oldest_transaction_pid integer, OUT oldest_transaction_age_seconds numeric) is '@behavior -*
For operators: each consumer of the log in commit order, its watermark, the xmin horizon now, the entries it has not consumed yet (pending_entries: committed at or above its watermark, including those a transaction still holds back), how old the oldest of them is (lag_seconds), its last round, and the oldest transaction in flight (pid, age; a null pid with an age is a prepared transaction): a transaction open anywhere in the cluster holds every consumer back until it ends. (As a non-superuser owner, the age of other roles'' transactions may be hidden.)';
grant execute on function audit.log_consumers() to audit_reader;

--------------------------------------------------------------------------------
-- 4. Detector settings, per tenant: one JSON document whose keys are the
--    contract; defaults fill what a tenant leaves out.
--------------------------------------------------------------------------------
create or replace function audit_private.default_detector_settings()
 returns jsonb
 language sql
 immutable parallel safe
as $$
  select '{
    "business_hours": {"time_zone": "UTC", "days": [1, 2, 3, 4, 5], "start": "08:00", "end": "18:00"},
    "role_ranking": ["viewer", "member", "admin"],
    "detectors": {
      "role_escalation": {"enabled": true, "min_role": "admin", "window_minutes": 60},
      "member_addition_burst": {"enabled": true, "threshold": 10, "window_minutes": 10},
      "unexpected_api_key_creator": {"enabled": true, "first_time_creator": true, "window_minutes": 60},
      "after_hours_settings_change": {"enabled": true, "credential_keys": ["rpa.credentials"], "window_minutes": 120},
      "mass_change": {"enabled": true, "threshold": 50, "window_minutes": 10}
    }
  }'::jsonb
$$;
comment on function audit_private.default_detector_settings() is 'The detector settings of a tenant that set none, and what fills the keys a tenant''s document leaves out.';

create or replace function audit_private.detector_names()
 returns text[]
 language sql
 immutable parallel safe
as $$ select '{role_escalation,member_addition_burst,unexpected_api_key_creator,after_hours_settings_change,mass_change}'::text[] $$;
comment on function audit_private.detector_names() is 'The detectors, by name.';

create or replace function audit_private.check_detector_settings(settings jsonb)
 returns jsonb
 language plpgsql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  defaults constant jsonb := audit_private.default_detector_settings();
  result jsonb;
  bh jsonb;
  k text;
  v jsonb;
  d text;
  det jsonb;
  allowed jsonb;
  n numeric;
  hm text;
  start_min integer;
  end_min integer;
begin
  if settings is null or jsonb_typeof(settings) <> 'object' then
    raise exception 'detector settings must be a JSON object, got %', coalesce(jsonb_typeof(settings), 'null') using errcode = '22023';
  end if;
  for k in select jsonb_object_keys(settings) loop
    if k not in ('business_hours', 'role_ranking', 'detectors') then
      raise exception 'detector settings: unknown key "%" (expected business_hours, role_ranking, detectors)', k using errcode = '22023';
    end if;
  end loop;

  -- business hours
  bh := settings->'business_hours';
  if bh is not null and jsonb_typeof(bh) <> 'object' then
    raise exception 'business_hours must be an object like {"time_zone": "Europe/Berlin", "days": [1,2,3,4,5], "start": "08:00", "end": "18:00"}' using errcode = '22023';
  end if;
  for k in select jsonb_object_keys(coalesce(bh, '{}')) loop
    if k not in ('time_zone', 'days', 'start', 'end') then
      raise exception 'business_hours: unknown key "%" (expected time_zone, days, start, end)', k using errcode = '22023';
    end if;
  end loop;
  bh := defaults->'business_hours' || coalesce(bh, '{}');
  if jsonb_typeof(bh->'time_zone') <> 'string' then
    raise exception 'business_hours.time_zone must be an IANA time zone name such as "Europe/Berlin"' using errcode = '22023';
  end if;
  -- IANA names only: PostgreSQL also takes POSIX strings ("UTC+5", with the
  -- sign inverted) and abbreviations, which are not what an admin means.
  if bh->>'time_zone' !~ '^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$' or bh->>'time_zone' ~ '[0-9]$' and bh->>'time_zone' !~ '/'
     or bh->>'time_zone' ~* '^Etc/GMT[+-]' -- POSIX-style: Etc/GMT+5 is five hours behind
     or not exists (select from pg_timezone_names z where z.name = bh->>'time_zone') then
    raise exception 'business_hours.time_zone: unknown time zone "%"; use an IANA name such as "Europe/Berlin", "America/New_York" or "UTC"', bh->>'time_zone'
      using errcode = '22023';
  end if;
  if jsonb_typeof(bh->'days') <> 'array'
     or exists (select from jsonb_array_elements(bh->'days') e where jsonb_typeof(e) <> 'number' or e::text !~ '^[1-7]$')
     or (select count(*) <> count(distinct e) from jsonb_array_elements(bh->'days') e) then
    raise exception 'business_hours.days must be a list of distinct ISO weekdays, 1 (Monday) to 7 (Sunday), e.g. [1,2,3,4,5]; got %', bh->'days'
      using errcode = '22023';
  end if;
  foreach hm in array array['start', 'end'] loop
    if jsonb_typeof(bh->hm) <> 'string' or bh->>hm !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$' and bh->>hm <> '24:00' then
      raise exception 'business_hours.% must be a time "HH:MM" (00:00 to 24:00), got %', hm, coalesce(bh->hm, 'null'::jsonb) using errcode = '22023';
    end if;
  end loop;
  start_min := split_part(bh->>'start', ':', 1)::int * 60 + split_part(bh->>'start', ':', 2)::int;
  end_min := split_part(bh->>'end', ':', 1)::int * 60 + split_part(bh->>'end', ':', 2)::int;
  if start_min >= end_min then
    raise exception 'business_hours: start (%) must be before end (%)', bh->>'start', bh->>'end' using errcode = '22023';
  end if;
  result := jsonb_build_object('business_hours', jsonb_build_object(
    'time_zone', bh->'time_zone',
    'days', (select coalesce(jsonb_agg(e order by e::int), '[]') from jsonb_array_elements(bh->'days') e),
    'start', bh->'start', 'end', bh->'end'));

  -- role ranking
  v := coalesce(settings->'role_ranking', defaults->'role_ranking');
  if jsonb_typeof(v) <> 'array' or jsonb_array_length(v) < 2 or jsonb_array_length(v) > 20
     or exists (select from jsonb_array_elements(v) e where jsonb_typeof(e) <> 'string' or length(btrim(e #>> '{}')) = 0 or length(e #>> '{}') > 50)
     or (select count(*) <> count(distinct e) from jsonb_array_elements(v) e) then
    raise exception 'role_ranking must list 2 to 20 distinct role names from least to most privileged, e.g. ["viewer", "member", "admin"]; got %', v
      using errcode = '22023';
  end if;
  result := result || jsonb_build_object('role_ranking', v);

  -- detectors
  v := settings->'detectors';
  if v is not null and jsonb_typeof(v) <> 'object' then
    raise exception 'detectors must be an object keyed by detector name' using errcode = '22023';
  end if;
  for d in select jsonb_object_keys(coalesce(v, '{}')) loop
    if d <> all (audit_private.detector_names()) then
      raise exception 'detectors: unknown detector "%" (known: %)', d, array_to_string(audit_private.detector_names(), ', ') using errcode = '22023';
    end if;
  end loop;
  result := result || jsonb_build_object('detectors', '{}'::jsonb);
  foreach d in array audit_private.detector_names() loop
    det := coalesce(v->d, '{}');
    if jsonb_typeof(det) <> 'object' then
      raise exception 'detectors.% must be an object, got %', d, det using errcode = '22023';
    end if;
    allowed := defaults->'detectors'->d;
    for k in select jsonb_object_keys(det) loop
      if not allowed ? k then
        raise exception 'detectors.%: unknown setting "%" (known: %)', d, k,
          (select string_agg(x, ', ' order by x) from jsonb_object_keys(allowed) x) using errcode = '22023';
      end if;
    end loop;
    det := allowed || det;
    if d = 'role_escalation' and not (v->d ? 'min_role')
       and not exists (select from jsonb_array_elements_text(result->'role_ranking') r where r = det->>'min_role') then
      -- a ranking without the default's role: its most privileged role
      det := jsonb_set(det, '{min_role}', result->'role_ranking'->-1);
    end if;
    if jsonb_typeof(det->'enabled') <> 'boolean' then
      raise exception 'detectors.%.enabled must be true or false, got %', d, det->'enabled' using errcode = '22023';
    end if;
    if det ? 'threshold' then
      if jsonb_typeof(det->'threshold') <> 'number' or (det->>'threshold')::numeric not between 2 and 100000
         or (det->>'threshold')::numeric <> trunc((det->>'threshold')::numeric) then
        raise exception 'detectors.%.threshold must be a whole number between 2 and 100000, got %', d, det->'threshold' using errcode = '22023';
      end if;
      det := jsonb_set(det, '{threshold}', to_jsonb((det->>'threshold')::numeric::integer)); -- 50.0 is stored as 50
    end if;
    if jsonb_typeof(det->'window_minutes') <> 'number' or (det->>'window_minutes')::numeric not between 1 and 1440
       or (det->>'window_minutes')::numeric <> trunc((det->>'window_minutes')::numeric) then
      raise exception 'detectors.%.window_minutes must be a whole number of minutes between 1 and 1440, got %', d, det->'window_minutes' using errcode = '22023';
    end if;
    det := jsonb_set(det, '{window_minutes}', to_jsonb((det->>'window_minutes')::numeric::integer));
    if det ? 'min_role' and (jsonb_typeof(det->'min_role') <> 'string'
       or not exists (select from jsonb_array_elements_text(result->'role_ranking') r where r = det->>'min_role')) then
      raise exception 'detectors.%.min_role must be one of the roles of role_ranking (%), got %', d,
        (select string_agg(r, ', ') from jsonb_array_elements_text(result->'role_ranking') r), det->'min_role' using errcode = '22023';
    end if;
    if det ? 'first_time_creator' and jsonb_typeof(det->'first_time_creator') <> 'boolean' then
      raise exception 'detectors.%.first_time_creator must be true or false, got %', d, det->'first_time_creator' using errcode = '22023';
    end if;
    if det ? 'credential_keys' and (jsonb_typeof(det->'credential_keys') <> 'array' or jsonb_array_length(det->'credential_keys') > 100
       or exists (select from jsonb_array_elements(det->'credential_keys') e
                   where jsonb_typeof(e) <> 'string' or length(e #>> '{}') not between 1 and 200)) then
      raise exception 'detectors.%.credential_keys must be a list of at most 100 settings keys (a trailing * matches a prefix, e.g. "smtp.*"), got %',
        d, det->'credential_keys' using errcode = '22023';
    end if;
    result := jsonb_set(result, array['detectors', d], det);
  end loop;
  return result;
end
$$;
comment on function audit_private.check_detector_settings(settings jsonb) is 'Validates a whole detector settings document (clear errors, SQLSTATE 22023: unknown keys and detectors, thresholds and windows out of range, malformed business hours, time zones that are not IANA names) and returns it complete: defaults fill what it leaves out.';

create table if not exists audit.detector_settings (
  tenant_id uuid not null,
  settings jsonb not null,
  updated_at timestamptz not null default now(),
  updated_by text,
  constraint detector_settings_pkey primary key (tenant_id),
  constraint detector_settings_tenant_id_fkey foreign key (tenant_id) references app.tenants (id) on delete cascade,
  constraint detector_settings_settings_check check (jsonb_typeof(settings) = 'object')
);
comment on table audit.detector_settings is 'The detector settings of the tenants that changed them: the whole, validated document (audit.set_detector_settings, or updateDetectorSettings in the API). A tenant without a row uses audit_private.default_detector_settings().';

create or replace function audit_private.tenant_detector_settings(tenant_id uuid)
 returns jsonb
 language sql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
  select coalesce((select s.settings from audit.detector_settings s where s.tenant_id = tenant_detector_settings.tenant_id),
                  audit_private.default_detector_settings())
$$;
comment on function audit_private.tenant_detector_settings(tenant_id uuid) is 'The effective detector settings of a tenant: its document, or the defaults.';

--------------------------------------------------------------------------------
-- 5. Alerts
--------------------------------------------------------------------------------
create table if not exists audit.alerts (
  tenant_id uuid not null,
  id bigint generated always as identity,
  account_id uuid,
  detector text not null,
  severity text not null,
  status text not null default 'open',
  summary text not null,
  incident_key text not null,
  actor_type audit.actor_type,
  actor_id uuid,
  actor_email text,
  actor_name text,
  first_at timestamptz not null,
  last_at timestamptz not null,
  entry_count bigint not null,
  entry_ids bigint[] not null,
  entries_descriptor jsonb not null,
  details jsonb not null default '{}',
  detected_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  acknowledged_at timestamptz,
  acknowledged_by text,
  resolved_at timestamptz,
  resolved_by text,
  resolution_note text,
  constraint alerts_pkey primary key (tenant_id, id),
  constraint alerts_tenant_id_fkey foreign key (tenant_id) references app.tenants (id) on delete cascade,
  constraint alerts_detector_check check (detector = any (audit_private.detector_names())),
  constraint alerts_severity_check check (severity in ('low', 'medium', 'high')),
  constraint alerts_status_check check (status in ('open', 'acknowledged', 'resolved')),
  constraint alerts_entry_count_check check (entry_count >= 1 and cardinality(entry_ids) between 1 and 1000)
);
comment on table audit.alerts is 'A suspicious pattern in the audit log, found by audit.detect(): one incident, one alert that grows (entry_count, last_at, entries) while the activity goes on; a new one after it was resolved. Same row-level security as audit.log: tenant admins see their tenant''s alerts, account admins those of their account.';
comment on column audit.alerts.id is 'Unique, increasing identifier of the alert.';
comment on column audit.alerts.account_id is 'The account when every entry of the alert belongs to it (its account admins see the alert); null when the entries are tenant-level or span accounts.';
comment on column audit.alerts.detector is 'Which detector raised it: role_escalation, member_addition_burst, unexpected_api_key_creator, after_hours_settings_change, mass_change.';
comment on column audit.alerts.severity is 'low, medium or high; an alert''s severity only rises as it grows.';
comment on column audit.alerts.status is 'open, acknowledged (someone is looking; it still grows) or resolved (closed; new activity opens a new alert).';
comment on column audit.alerts.summary is 'What happened, as a sentence a person reads, e.g. "Bob Smith made 3 users admins in 4 minutes".';
comment on column audit.alerts.incident_key is 'What makes entries one incident for the detector (the actor, and for mass changes the resource type and kind of change).';
comment on column audit.alerts.actor_type is 'Who acted (as in audit.log).';
comment on column audit.alerts.actor_id is 'The acting user or API key, when known.';
comment on column audit.alerts.actor_email is 'The actor''s email as recorded in the entries.';
comment on column audit.alerts.actor_name is 'The actor''s name as recorded in the entries (for database roles, the role).';
comment on column audit.alerts.first_at is 'When the first entry of the incident occurred.';
comment on column audit.alerts.last_at is 'When the last entry of the incident occurred so far.';
comment on column audit.alerts.entry_count is 'How many entries of the log make up the incident.';
comment on column audit.alerts.entry_ids is 'The ids of the incident''s entries, the first 1,000 (entry_count says how many there are).';
comment on column audit.alerts.entries_descriptor is 'What finds all of the incident''s entries in audit.log, also beyond the first 1,000 ids: the actor, the events, the resource types and the time range ({"actor_type", "actor_id", "actor_name", "events", "resource_types", "from", "to"}).';
comment on column audit.alerts.details is 'The detector''s own figures (roles raised, keys created, settings keys, local times...), for the summary and the page.';
comment on column audit.alerts.detected_at is 'When the alert was opened.';
comment on column audit.alerts.updated_at is 'When the alert last grew or changed status.';
comment on column audit.alerts.acknowledged_at is 'When an admin acknowledged it.';
comment on column audit.alerts.acknowledged_by is 'Who acknowledged it (the admin''s email, else the token''s subject).';
comment on column audit.alerts.resolved_at is 'When an admin resolved it.';
comment on column audit.alerts.resolved_by is 'Who resolved it (the admin''s email, else the token''s subject).';
comment on column audit.alerts.resolution_note is 'What the admin wrote when resolving it.';
create index if not exists alerts_tenant_detected_idx on audit.alerts (tenant_id, detected_at, id);
create index if not exists alerts_tenant_account_detected_idx on audit.alerts (tenant_id, account_id, detected_at, id);
-- the incident an entry joins (open), or that closed it (resolved)
drop index if exists audit.alerts_tenant_incident_idx;
create index if not exists alerts_tenant_incident_last_idx on audit.alerts (tenant_id, detector, incident_key, last_at);

--------------------------------------------------------------------------------
-- 6. Webhook endpoints, deliveries (the outbox) and their attempts
--------------------------------------------------------------------------------
create table if not exists audit.webhook_endpoints (
  tenant_id uuid not null,
  id uuid not null default gen_random_uuid(),
  url text not null,
  severities text[] not null default '{medium,high}',
  enabled boolean not null default true,
  description text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  created_by text,
  constraint webhook_endpoints_pkey primary key (tenant_id, id),
  constraint webhook_endpoints_tenant_id_fkey foreign key (tenant_id) references app.tenants (id) on delete cascade,
  constraint webhook_endpoints_url_check check (url ~ '^https?://[^/?#\s]+' and length(url) <= 2000),
  constraint webhook_endpoints_severities_check check (cardinality(severities) between 1 and 3 and severities <@ '{low,medium,high}'),
  constraint webhook_endpoints_description_check check (length(description) <= 500)
);
comment on table audit.webhook_endpoints is 'Where a tenant''s alerts are posted: a URL and the severities it wants. The signing secret is kept apart (audit_private.webhook_secrets), readable by nobody through the API.';
comment on column audit.webhook_endpoints.url is 'The https URL alerts are posted to (http only when the server allows private addresses, WEBHOOK_ALLOW_PRIVATE).';
comment on column audit.webhook_endpoints.severities is 'The severities of the alerts posted to it (an alert escalating into one of them is posted too).';
comment on column audit.webhook_endpoints.enabled is 'False: nothing is posted (deliveries wait, and give up after 24 hours).';
comment on column audit.webhook_endpoints.description is 'What the endpoint is, for the admins.';
comment on column audit.webhook_endpoints.created_by is 'The admin who registered it (email, else the token''s subject).';

create table if not exists audit_private.webhook_secrets (
  tenant_id uuid not null,
  endpoint_id uuid not null,
  secret text not null,
  constraint webhook_secrets_pkey primary key (tenant_id, endpoint_id),
  constraint webhook_secrets_endpoint_fkey foreign key (tenant_id, endpoint_id) references audit.webhook_endpoints (tenant_id, id) on delete cascade
);
comment on table audit_private.webhook_secrets is 'The signing secret of each webhook endpoint: shown once when created, read only by the delivery worker.';

create table if not exists audit.webhook_deliveries (
  tenant_id uuid not null,
  id bigint generated always as identity,
  endpoint_id uuid not null,
  alert_id bigint not null,
  event_id uuid not null default gen_random_uuid(),
  event_type text not null,
  payload jsonb not null,
  status text not null default 'pending',
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  last_attempt_at timestamptz,
  last_status_code integer,
  last_error text,
  delivered_at timestamptz,
  created_at timestamptz not null default now(),
  give_up_at timestamptz not null default now() + interval '24 hours',
  constraint webhook_deliveries_pkey primary key (tenant_id, id),
  constraint webhook_deliveries_endpoint_fkey foreign key (tenant_id, endpoint_id) references audit.webhook_endpoints (tenant_id, id) on delete cascade,
  constraint webhook_deliveries_alert_fkey foreign key (tenant_id, alert_id) references audit.alerts (tenant_id, id) on delete cascade,
  constraint webhook_deliveries_event_id_key unique (tenant_id, event_id),
  constraint webhook_deliveries_event_type_check check (event_type in ('alert.opened', 'alert.escalated')),
  constraint webhook_deliveries_status_check check (status in ('pending', 'delivered', 'failed'))
);
comment on table audit.webhook_deliveries is 'The outbox: one row per alert opened or escalated and endpoint that wants its severity, written in the same transaction as the alert; the server''s worker posts it, at least once, retrying with exponential backoff for up to 24 hours.';
comment on column audit.webhook_deliveries.event_id is 'Stable across retries: the receiver''s de-duplication key (header Audit-Trail-Event-Id, and "id" in the body).';
comment on column audit.webhook_deliveries.event_type is 'alert.opened or alert.escalated.';
comment on column audit.webhook_deliveries.payload is 'The JSON body posted.';
comment on column audit.webhook_deliveries.status is 'pending (waiting or retrying), delivered (a 2xx answer) or failed (gave up after 24 hours).';
comment on column audit.webhook_deliveries.attempts is 'How many attempts were made (audit.webhook_attempts has each).';
comment on column audit.webhook_deliveries.next_attempt_at is 'When the next attempt is due.';
comment on column audit.webhook_deliveries.give_up_at is 'After this, a failing delivery is marked failed.';
create index if not exists webhook_deliveries_tenant_endpoint_idx on audit.webhook_deliveries (tenant_id, endpoint_id, id);
create index if not exists webhook_deliveries_tenant_alert_idx on audit.webhook_deliveries (tenant_id, alert_id);
-- the worker's queue, across tenants (small: only what is pending)
create index if not exists webhook_deliveries_due_idx on audit.webhook_deliveries (next_attempt_at) where status = 'pending';

create table if not exists audit.webhook_attempts (
  tenant_id uuid not null,
  delivery_id bigint not null,
  attempt integer not null,
  attempted_at timestamptz not null default now(),
  duration_ms integer,
  status_code integer,
  error text,
  constraint webhook_attempts_pkey primary key (tenant_id, delivery_id, attempt),
  constraint webhook_attempts_delivery_fkey foreign key (tenant_id, delivery_id) references audit.webhook_deliveries (tenant_id, id) on delete cascade
);
comment on table audit.webhook_attempts is 'Each attempt of a webhook delivery: when, how long, the HTTP status or the error.';
comment on column audit.webhook_attempts.status_code is 'The receiver''s HTTP status; null when no answer came (refused address, timeout, connection error).';
comment on column audit.webhook_attempts.error is 'Why the attempt failed, when it did.';

--------------------------------------------------------------------------------
-- Row-level security of the new tables: as on audit.log (policies, then grants)
--------------------------------------------------------------------------------
do $$
declare
  t text;
begin
  foreach t in array array['alerts', 'detector_settings', 'webhook_endpoints', 'webhook_deliveries', 'webhook_attempts'] loop
    execute format('alter table audit.%I enable row level security', t);
    execute format('alter table audit.%I force row level security', t);
    execute format('drop policy if exists %I on audit.%I', t || '_owner_all', t);
    execute format('create policy %I on audit.%I for all to current_user using (true) with check (true)', t || '_owner_all', t);
    execute format('drop policy if exists %I on audit.%I', t || '_reader_select', t);
    execute format('create policy %I on audit.%I for select to audit_reader using (true)', t || '_reader_select', t);
    execute format('drop policy if exists %I on audit.%I', t || '_tenant_admin_select', t);
    execute format('create policy %I on audit.%I for select to audit_tenant_admin using (tenant_id = audit.scoped_tenant_id(''tenant_admin''))',
                   t || '_tenant_admin_select', t);
    execute format('grant select on audit.%I to audit_reader, audit_tenant_admin', t);
  end loop;
end
$$;
-- Account admins see the alerts of their account (none that are tenant-level);
-- settings and webhooks are the tenant admins'.
drop policy if exists alerts_account_admin_select on audit.alerts;
create policy alerts_account_admin_select on audit.alerts for select to audit_account_admin
  using (tenant_id = audit.scoped_tenant_id('account_admin') and account_id = audit.current_account_id());
grant select on audit.alerts to audit_account_admin;

--------------------------------------------------------------------------------
-- 7. The admin in the token, and the events the API's mutations record
--------------------------------------------------------------------------------
create or replace function audit_private.admin_scope(fn text, out scope_role text, out tenant_id uuid, out account_id uuid,
                                                     out actor_id uuid, out actor_email text, out actor_name text, out subject text)
 returns record
 language plpgsql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  tenant text := nullif(current_setting('jwt.claims.tenant_id', true), '');
  account text := nullif(current_setting('jwt.claims.account_id', true), '');
  uuid_pattern constant text := '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';
begin
  -- The scope is the verified token's, from the settings the API set: never
  -- from arguments.
  scope_role := nullif(current_setting('jwt.claims.role', true), '');
  if scope_role is null or scope_role not in ('tenant_admin', 'account_admin') or tenant !~* uuid_pattern
     or (scope_role = 'account_admin' and coalesce(account, '') !~* uuid_pattern) then
    raise exception '%: no admin scope (jwt.claims.role, tenant_id and, for account admins, account_id)', fn
      using errcode = '42501';
  end if;
  tenant_id := tenant::uuid;
  account_id := case when scope_role = 'account_admin' then account::uuid end;
  subject := nullif(current_setting('jwt.claims.sub', true), '');
  actor_email := nullif(current_setting('jwt.claims.email', true), '');
  actor_name := nullif(current_setting('jwt.claims.name', true), '');
  if subject ~* uuid_pattern then
    actor_id := subject::uuid;
    -- what the token carries wins; a subject that is a user fills the rest
    if actor_email is null or actor_name is null then
      select coalesce(actor_email, s.email), coalesce(actor_name, s.name) into actor_email, actor_name
        from audit_private.user_snapshot(actor_id) s;
    end if;
  end if;
  actor_name := coalesce(actor_name, subject);
end
$$;
comment on function audit_private.admin_scope(fn text, OUT scope_role text, OUT tenant_id uuid, OUT account_id uuid, OUT actor_id uuid, OUT actor_email text, OUT actor_name text, OUT subject text) is 'The admin in the jwt.claims.* settings the API set from a verified token: role, tenant, account (account admins), and the actor (the token''s email and name claims, else the user''s). Raises 42501, naming fn, without an admin scope.';

create or replace function audit_private.tenant_admin_scope(fn text, what text)
 returns record
 language plpgsql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  s record;
begin
  s := audit_private.admin_scope(fn);
  if s.scope_role <> 'tenant_admin' then
    raise exception '%: only tenant admins can %; this token is an account admin''s', fn, what
      using errcode = '42501', hint = 'Ask an admin of the whole tenant.';
  end if;
  return s;
end
$$;
comment on function audit_private.tenant_admin_scope(fn text, what text) is 'admin_scope(), for what only tenant admins may do: an account admin''s token gets a clear permission error (42501) saying what it cannot do.';

create or replace function audit_private.record_admin_event(event text, tenant_id uuid, account_id uuid, entity_id text, label text,
                                                            old_values jsonb, new_values jsonb)
 returns bigint
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  e audit.events;
  s record;
  entry_id bigint;
begin
  select * into e from audit.events x where x.event = record_admin_event.event and x.kind = 'admin';
  if not found then
    raise exception 'audit_private.record_admin_event: "%" is not an admin event of the catalogue', event using errcode = '22023';
  end if;
  if nullif(current_setting('jwt.claims.role', true), '') is not null then
    -- an admin through the API: the token's admin is the actor
    s := audit_private.admin_scope('audit_private.record_admin_event');
    insert into audit.log (tenant_id, account_id, actor_type, actor_id, actor_email, actor_name,
                           action, resource_type, entity_id, entity_label, event, old_values, new_values, context)
    values (record_admin_event.tenant_id, record_admin_event.account_id, 'user', s.actor_id, s.actor_email, s.actor_name,
            e.action, e.resource_type, record_admin_event.entity_id, record_admin_event.label, e.event,
            record_admin_event.old_values, record_admin_event.new_values, jsonb_build_object('source', 'api'))
    returning id into entry_id;
  else
    -- the owner or a DBA in SQL (audit.set_detector_settings): as the capture names them
    select * into s from audit_private.current_actor();
    insert into audit.log (tenant_id, account_id, actor_type, actor_id, actor_email, actor_name,
                           action, resource_type, entity_id, entity_label, event, old_values, new_values, context)
    values (record_admin_event.tenant_id, record_admin_event.account_id, s.actor_type, s.actor_id, s.actor_email, s.actor_name,
            e.action, e.resource_type, record_admin_event.entity_id, record_admin_event.label, e.event,
            record_admin_event.old_values, record_admin_event.new_values, coalesce(s.context, '{}'))
    returning id into entry_id;
  end if;
  return entry_id;
end
$$;
comment on function audit_private.record_admin_event(event text, tenant_id uuid, account_id uuid, entity_id text, label text, old_values jsonb, new_values jsonb) is 'Writes an admin event (kind admin) of a mutation into audit.log, in the mutation''s transaction: the admin of the token as the actor when called through the API, else the session''s actor as the capture would name it.';

-- record_access restated over admin_scope() (one reading of the token's admin).
create or replace function audit.record_access(event text, entity_id text, context jsonb default '{}'::jsonb, label text default null::text, once_per_minute text default null::text)
 returns bigint
 language plpgsql
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $function$
declare
  e audit.events;
  checked jsonb;
  s record;
  entry_id bigint;
begin
  s := audit_private.admin_scope('audit.record_access');
  select * into e from audit.events x where x.event = record_access.event;
  if not found then
    raise exception 'audit.record_access: unknown event "%"', event using errcode = '22023';
  end if;
  if e.kind <> 'access' then
    raise exception 'audit.record_access: "%" is not an access event', event using errcode = '42501';
  end if;
  checked := audit_private.check_event_input('audit.record_access', entity_id, context, label);
  -- an account admin's reads are entries of the account (its admins and the
  -- tenant's see them); a tenant admin's are tenant-level
  if once_per_minute is not null then
    -- at most one entry per admin, scope, event, key and minute, across servers
    perform pg_advisory_xact_lock(hashtextextended(concat_ws(':', 'audit.record_access', s.tenant_id, s.account_id, s.subject, event, once_per_minute), 0));
    if exists (select from audit.log l
                where l.tenant_id = s.tenant_id and l.account_id is not distinct from s.account_id
                  and l.actor_id is not distinct from s.actor_id
                  and l.occurred_at >= date_trunc('minute', now())
                  and l.event = record_access.event and l.context->>'once_per_minute' = once_per_minute) then
      return null;
    end if;
    checked := checked || jsonb_build_object('once_per_minute', once_per_minute);
  end if;
  insert into audit.log (tenant_id, account_id, actor_type, actor_id, actor_email, actor_name,
                         action, resource_type, entity_id, entity_label, event, old_values, new_values, context)
  values (s.tenant_id, s.account_id, 'user', s.actor_id, s.actor_email, s.actor_name,
          e.action, e.resource_type, record_access.entity_id, nullif(record_access.label, ''), e.event, null, null, checked)
  returning id into entry_id;
  return entry_id;
end
$function$;
comment on function audit.record_access(event text, entity_id text, context jsonb, label text, once_per_minute text) is '@behavior -*
Records an access event (a catalogued event of kind access: audit_log.exported, audit_log.viewed...) for the admin in the jwt.claims.* settings: the tenant and account from the verified claims, the admin from the token as actor (its email and name claims, else the user''s). once_per_minute: a key (e.g. a hash of the filter) under which at most one entry per admin and minute is written; returns null when one exists. Returns the entry''s id. Callable by the admin roles (the API).';

--------------------------------------------------------------------------------
-- 8. Detector settings: the owner's and DBAs' setter, the API's reader and patch
--------------------------------------------------------------------------------
create or replace function audit.set_detector_settings(tenant_id uuid, settings jsonb)
 returns jsonb
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  checked jsonb;
  previous jsonb;
begin
  if tenant_id is null or not exists (select from app.tenants t where t.id = set_detector_settings.tenant_id) then
    raise exception 'audit.set_detector_settings: no tenant with id %', coalesce(tenant_id::text, 'null') using errcode = '22023';
  end if;
  checked := audit_private.check_detector_settings(settings);
  previous := audit_private.tenant_detector_settings(tenant_id);
  insert into audit.detector_settings as d (tenant_id, settings, updated_at, updated_by)
  values (set_detector_settings.tenant_id, checked, now(), coalesce(nullif(current_setting('jwt.claims.email', true), ''), session_user::text))
  on conflict on constraint detector_settings_pkey do update set settings = excluded.settings, updated_at = excluded.updated_at, updated_by = excluded.updated_by;
  if checked is distinct from previous then
    perform audit_private.record_admin_event('security_policy.updated', tenant_id, null, tenant_id::text, 'Detector settings', previous, checked);
  end if;
  return checked;
end
$$;
comment on function audit.set_detector_settings(tenant_id uuid, settings jsonb) is 'For the owner and DBAs: replaces a tenant''s detector settings with this whole document (validated; defaults fill what it leaves out) and records security_policy.updated. Returns the stored document. Keys: business_hours {time_zone (IANA), days (ISO, 1 = Monday), start, end ("HH:MM")}, role_ranking (least to most privileged), detectors {<name>: {enabled, threshold, window_minutes, first_time_creator, credential_keys}}.';

create or replace function audit.detector_settings_document()
 returns jsonb
 language plpgsql
 stable
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  s record;
begin
  s := audit_private.tenant_admin_scope('detectorSettings', 'read the detector settings');
  return audit_private.tenant_detector_settings(s.tenant_id);
end
$$;
comment on function audit.detector_settings_document() is E'@name detectorSettings\n@behavior +queryField -mutationField
The detector settings of the token''s tenant, complete (defaults fill what it did not set). Tenant admins only.';
grant execute on function audit.detector_settings_document() to audit_viewer;

create or replace function audit.update_detector_settings(patch jsonb)
 returns jsonb
 language plpgsql
 volatile
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  s record;
  current jsonb;
  merged jsonb;
  checked jsonb;
  k text;
  d text;
begin
  s := audit_private.tenant_admin_scope('updateDetectorSettings', 'change the detector settings');
  if patch is null or jsonb_typeof(patch) <> 'object' then
    raise exception 'updateDetectorSettings: patch must be a JSON object, got %', coalesce(jsonb_typeof(patch), 'null') using errcode = '22023';
  end if;
  current := audit_private.tenant_detector_settings(s.tenant_id);
  merged := current;
  -- objects merge key by key (one level into business_hours, two into
  -- detectors); lists and values replace
  for k in select jsonb_object_keys(patch) loop
    if k in ('business_hours', 'detectors') and jsonb_typeof(patch->k) <> 'object' then
      raise exception 'updateDetectorSettings: % must be an object, got %', k, jsonb_typeof(patch->k) using errcode = '22023';
    end if;
    if k = 'business_hours' then
      merged := jsonb_set(merged, '{business_hours}', (merged->'business_hours') || (patch->'business_hours'));
    elsif k = 'detectors' then
      for d in select jsonb_object_keys(patch->'detectors') loop
        if jsonb_typeof(patch->'detectors'->d) <> 'object' then
          raise exception 'updateDetectorSettings: detectors.% must be an object, got %', d, jsonb_typeof(patch->'detectors'->d) using errcode = '22023';
        end if;
        merged := jsonb_set(merged, array['detectors', d], coalesce(merged->'detectors'->d, '{}') || (patch->'detectors'->d));
      end loop;
    else
      merged := merged || jsonb_build_object(k, patch->k);
    end if;
  end loop;
  checked := audit_private.check_detector_settings(merged);
  insert into audit.detector_settings as x (tenant_id, settings, updated_at, updated_by)
  values (s.tenant_id, checked, now(), coalesce(s.actor_email, s.subject))
  on conflict on constraint detector_settings_pkey do update set settings = excluded.settings, updated_at = excluded.updated_at, updated_by = excluded.updated_by;
  if checked is distinct from current then
    perform audit_private.record_admin_event('security_policy.updated', s.tenant_id, null, s.tenant_id::text, 'Detector settings', current, checked);
  end if;
  return checked;
end
$$;
comment on function audit.update_detector_settings(patch jsonb) is 'Merges a patch into the detector settings of the token''s tenant (business_hours key by key, each detector''s settings key by key; lists replace), validates the result whole, stores it and records security_policy.updated. Returns the complete settings. Tenant admins only.';
grant execute on function audit.update_detector_settings(patch jsonb) to audit_viewer;

--------------------------------------------------------------------------------
-- 9. Acknowledging and resolving alerts
--------------------------------------------------------------------------------
create or replace function audit_private.alert_for_change(fn text, what text, alert_id bigint)
 returns audit.alerts
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  s record;
  a audit.alerts;
begin
  s := audit_private.tenant_admin_scope(fn, what);
  select * into a from audit.alerts x where x.tenant_id = s.tenant_id and x.id = alert_id for update;
  if not found then
    -- another tenant's alert is indistinguishable from none
    raise exception '%: no security alert with id % in this tenant', fn, coalesce(alert_id::text, 'null') using errcode = 'P0002';
  end if;
  return a;
end
$$;
comment on function audit_private.alert_for_change(fn text, what text, alert_id bigint) is 'The alert a tenant admin acts on, locked; a clear error when the token is not a tenant admin''s or the tenant has no such alert.';

create or replace function audit.acknowledge_security_alert(id bigint)
 returns audit.alerts
 language plpgsql
 volatile
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  a audit.alerts;
  who text := coalesce(nullif(current_setting('jwt.claims.email', true), ''), nullif(current_setting('jwt.claims.sub', true), ''));
begin
  a := audit_private.alert_for_change('acknowledgeSecurityAlert', 'acknowledge security alerts', id);
  if a.status = 'resolved' then
    raise exception 'acknowledgeSecurityAlert: alert % is already resolved', id using errcode = '22023';
  end if;
  if a.status = 'acknowledged' then
    return a;
  end if;
  update audit.alerts x set status = 'acknowledged', acknowledged_at = now(), acknowledged_by = who, updated_at = now()
   where x.tenant_id = a.tenant_id and x.id = a.id
  returning * into a;
  perform audit_private.record_admin_event('alert.acknowledged', a.tenant_id, a.account_id, a.id::text, a.summary,
                                           jsonb_build_object('status', 'open'), jsonb_build_object('status', 'acknowledged'));
  return a;
end
$$;
comment on function audit.acknowledge_security_alert(id bigint) is 'Marks an open alert acknowledged (someone is looking; it keeps growing) and records alert.acknowledged. Acknowledging it again changes nothing. Tenant admins only.';
grant execute on function audit.acknowledge_security_alert(id bigint) to audit_viewer;

create or replace function audit.resolve_security_alert(id bigint, note text default null)
 returns audit.alerts
 language plpgsql
 volatile
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  a audit.alerts;
  previous text;
  who text := coalesce(nullif(current_setting('jwt.claims.email', true), ''), nullif(current_setting('jwt.claims.sub', true), ''));
begin
  if length(note) > 2000 then
    raise exception 'resolveSecurityAlert: note is % characters long; at most 2000', length(note) using errcode = '22023';
  end if;
  a := audit_private.alert_for_change('resolveSecurityAlert', 'resolve security alerts', id);
  if a.status = 'resolved' then
    return a;
  end if;
  previous := a.status;
  update audit.alerts x set status = 'resolved', resolved_at = now(), resolved_by = who,
                            resolution_note = nullif(btrim(note), ''), updated_at = now()
   where x.tenant_id = a.tenant_id and x.id = a.id
  returning * into a;
  perform audit_private.record_admin_event('alert.resolved', a.tenant_id, a.account_id, a.id::text, a.summary,
                                           jsonb_build_object('status', previous),
                                           jsonb_strip_nulls(jsonb_build_object('status', 'resolved', 'resolution_note', a.resolution_note)));
  return a;
end
$$;
comment on function audit.resolve_security_alert(id bigint, note text) is 'Resolves an open or acknowledged alert (new activity of the same kind then opens a new alert) with an optional note, and records alert.resolved. Resolving it again changes nothing. Tenant admins only.';
grant execute on function audit.resolve_security_alert(id bigint, note text) to audit_viewer;

--------------------------------------------------------------------------------
-- 10. Webhook endpoints
--------------------------------------------------------------------------------
create or replace function audit_private.check_webhook_url(fn text, url text)
 returns text
 language plpgsql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  allow_private constant boolean := coalesce(nullif(current_setting('audit.webhook_allow_private', true), ''), 'off') = 'on';
  parts text[];
  host text;
  addr inet;
begin
  if url is null or btrim(url) = '' then
    raise exception '%: url is required', fn using errcode = '22023';
  end if;
  if length(url) > 2000 then
    raise exception '%: url is % characters long; at most 2000', fn, length(url) using errcode = '22023';
  end if;
  parts := regexp_match(url, '^([A-Za-z][A-Za-z0-9+.-]*)://([^/?#]*)([/?#].*)?$');
  if parts is null then
    raise exception '%: "%" is not an absolute URL (https://host/path)', fn, url using errcode = '22023';
  end if;
  if lower(parts[1]) not in ('https', 'http') or (lower(parts[1]) = 'http' and not allow_private) then
    raise exception '%: the URL must use https (got %://)', fn, lower(parts[1]) using errcode = '22023';
  end if;
  if parts[2] ~ '@' then
    raise exception '%: the URL must not carry credentials (user:password@); the endpoint''s secret signs every request', fn using errcode = '22023';
  end if;
  if url ~ '\s' then
    raise exception '%: the URL must not contain spaces', fn using errcode = '22023';
  end if;
  -- host without the port; IPv6 literals are bracketed
  host := lower(coalesce((regexp_match(parts[2], '^\[([0-9a-fA-F:.]+)\](:[0-9]{1,5})?$'))[1],
                         (regexp_match(parts[2], '^([^:\[\]]+)(:[0-9]{1,5})?$'))[1]));
  if host is null or host = '' then
    raise exception '%: "%" has no valid host', fn, url using errcode = '22023';
  end if;
  if not allow_private then
    -- What a literal or a well-known name says now; every resolved address
    -- is checked again when the worker connects (DNS can change).
    if host = 'localhost' or host like '%.localhost' then
      raise exception '%: % is a loopback address; webhooks go to public addresses', fn, host using errcode = '22023';
    end if;
    begin
      addr := host::inet;
    exception when others then
      addr := null;
    end;
    -- 127.1, 2130706433, 0x7f000001: shorthand IPv4 that resolvers and
    -- browsers read as dotted addresses
    if addr is null and host ~* '^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$' then
      raise exception '%: "%" is a numeric host that is not a dotted IPv4 address; write the address as a.b.c.d or use a host name', fn, host
        using errcode = '22023';
    end if;
    if addr is not null and audit_private.is_private_address(addr) then
      raise exception '%: % is a loopback, link-local, private or unspecified address; webhooks go to public addresses', fn, host
        using errcode = '22023';
    end if;
  end if;
  return url;
end
$$;
comment on function audit_private.check_webhook_url(fn text, url text) is 'Checks a webhook URL when it is registered: absolute, https (http only with audit.webhook_allow_private on, which the server sets from WEBHOOK_ALLOW_PRIVATE), no credentials, and not a literal loopback, link-local, private or unspecified address. The worker checks every resolved address again at connect time.';

create or replace function audit_private.is_private_ipv4(addr inet)
 returns boolean
 language sql
 immutable parallel safe
as $$
  select addr <<= any ('{0.0.0.0/8,10.0.0.0/8,100.64.0.0/10,127.0.0.0/8,169.254.0.0/16,172.16.0.0/12,192.0.0.0/24,192.168.0.0/16,198.18.0.0/15,224.0.0.0/4,240.0.0.0/4}'::inet[])
      or addr = '255.255.255.255'::inet
$$;
comment on function audit_private.is_private_ipv4(addr inet) is 'True for IPv4 addresses a webhook must not reach: unspecified, private, carrier-grade NAT, loopback, link-local, benchmarking, multicast, reserved and broadcast.';

create or replace function audit_private.is_private_address(addr inet)
 returns boolean
 language sql
 immutable parallel safe
as $$
  select case when family(addr) = 4 then audit_private.is_private_ipv4(addr)
    -- IPv4-mapped (::ffff:a.b.c.d): the IPv4 address decides
    when addr << '::ffff:0:0/96'::inet then audit_private.is_private_ipv4('0.0.0.0'::inet + (host(addr)::inet - '::ffff:0.0.0.0'::inet))
    else addr <<= any ('{::/128,::1/128,fc00::/7,fe80::/10,fec0::/10,ff00::/8,64:ff9b::/96,2001:db8::/32,2002::/16}'::inet[])
  end
$$;
comment on function audit_private.is_private_address(addr inet) is 'True for addresses a webhook must not reach: unspecified, loopback, private (unique local), carrier-grade NAT, link-local, multicast, reserved, documentation, NAT64 and IPv4-mapped IPv6 forms of the IPv4 ones.';

create or replace function audit_private.check_severities(fn text, severities text[])
 returns text[]
 language plpgsql
 immutable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
begin
  if severities is null or cardinality(severities) = 0 then
    raise exception '%: severities must list at least one of low, medium, high', fn using errcode = '22023';
  end if;
  if not severities <@ '{low,medium,high}'::text[] or array_position(severities, null) is not null then
    raise exception '%: unknown severity in % (expected low, medium, high)', fn, severities using errcode = '22023';
  end if;
  return array(select distinct s from unnest(severities) s order by 1);
end
$$;
comment on function audit_private.check_severities(fn text, severities text[]) is 'Checks a list of alert severities (clear error) and returns it without duplicates.';

do $$
begin
  if not exists (select from pg_type t where t.typname = 'created_webhook_endpoint' and t.typnamespace = 'audit'::regnamespace) then
    create type audit.created_webhook_endpoint as (
      id uuid, url text, severities text[], enabled boolean, description text, created_at timestamptz, secret text);
  end if;
end
$$;
comment on type audit.created_webhook_endpoint is 'A webhook endpoint just registered, with its signing secret: the only time the secret is shown.';

create or replace function audit.create_webhook_endpoint(url text, severities text[] default '{medium,high}', description text default null)
 returns audit.created_webhook_endpoint
 language plpgsql
 volatile
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  s record;
  e audit.webhook_endpoints;
  -- 244 random bits from the server's cryptographic generator (gen_random_uuid)
  secret text := 'whsec_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', '');
begin
  s := audit_private.tenant_admin_scope('createWebhookEndpoint', 'register webhook endpoints');
  if length(description) > 500 then
    raise exception 'createWebhookEndpoint: description is % characters long; at most 500', length(description) using errcode = '22023';
  end if;
  if (select count(*) from audit.webhook_endpoints x where x.tenant_id = s.tenant_id) >= 20 then
    raise exception 'createWebhookEndpoint: a tenant has at most 20 webhook endpoints' using errcode = '54000';
  end if;
  insert into audit.webhook_endpoints (tenant_id, url, severities, description, created_by)
  values (s.tenant_id, audit_private.check_webhook_url('createWebhookEndpoint', btrim(url)),
          audit_private.check_severities('createWebhookEndpoint', severities), nullif(btrim(description), ''),
          coalesce(s.actor_email, s.subject))
  returning * into e;
  insert into audit_private.webhook_secrets (tenant_id, endpoint_id, secret) values (e.tenant_id, e.id, secret);
  perform audit_private.record_admin_event('webhook_endpoint.created', e.tenant_id, null, e.id::text, e.url, null,
    jsonb_strip_nulls(jsonb_build_object('url', e.url, 'severities', e.severities, 'enabled', e.enabled,
                                         'description', e.description, 'secret', '[redacted]')));
  return row(e.id, e.url, e.severities, e.enabled, e.description, e.created_at, secret)::audit.created_webhook_endpoint;
end
$$;
comment on function audit.create_webhook_endpoint(url text, severities text[], description text) is 'Registers a webhook endpoint of the token''s tenant for the alerts of these severities and returns it with its signing secret, shown this once (it is stored where no admin role can read it, and "[redacted]" in the log). Records webhook_endpoint.created. Tenant admins only.';
grant execute on function audit.create_webhook_endpoint(url text, severities text[], description text) to audit_viewer;

create or replace function audit.update_webhook_endpoint(id uuid, url text default null, severities text[] default null,
                                                         enabled boolean default null, description text default null)
 returns audit.webhook_endpoints
 language plpgsql
 volatile
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  s record;
  before audit.webhook_endpoints;
  after audit.webhook_endpoints;
  old_values jsonb;
  new_values jsonb;
begin
  s := audit_private.tenant_admin_scope('updateWebhookEndpoint', 'change webhook endpoints');
  select * into before from audit.webhook_endpoints x where x.tenant_id = s.tenant_id and x.id = update_webhook_endpoint.id for update;
  if not found then
    raise exception 'updateWebhookEndpoint: no webhook endpoint with id % in this tenant', coalesce(id::text, 'null') using errcode = 'P0002';
  end if;
  if length(description) > 500 then
    raise exception 'updateWebhookEndpoint: description is % characters long; at most 500', length(description) using errcode = '22023';
  end if;
  update audit.webhook_endpoints x
     set url = case when update_webhook_endpoint.url is null then x.url
                    else audit_private.check_webhook_url('updateWebhookEndpoint', btrim(update_webhook_endpoint.url)) end,
         severities = case when update_webhook_endpoint.severities is null then x.severities
                           else audit_private.check_severities('updateWebhookEndpoint', update_webhook_endpoint.severities) end,
         enabled = coalesce(update_webhook_endpoint.enabled, x.enabled),
         description = case when update_webhook_endpoint.description is null then x.description
                             else nullif(btrim(update_webhook_endpoint.description), '') end,
         updated_at = now()
   where x.tenant_id = before.tenant_id and x.id = before.id
  returning * into after;
  select jsonb_object_agg(o.key, o.value), jsonb_object_agg(n.key, n.value) into old_values, new_values
    from jsonb_each(jsonb_build_object('url', before.url, 'severities', before.severities, 'enabled', before.enabled, 'description', before.description)) o
    join jsonb_each(jsonb_build_object('url', after.url, 'severities', after.severities, 'enabled', after.enabled, 'description', after.description)) n
      on n.key = o.key
   where n.value is distinct from o.value;
  if new_values is not null then
    perform audit_private.record_admin_event('webhook_endpoint.updated', after.tenant_id, null, after.id::text, after.url, old_values, new_values);
  end if;
  return after;
end
$$;
comment on function audit.update_webhook_endpoint(id uuid, url text, severities text[], enabled boolean, description text) is 'Changes a webhook endpoint of the token''s tenant: what is given (null keeps a value) is validated as on creation; records webhook_endpoint.updated with the changed values. The secret does not change. Tenant admins only.';
grant execute on function audit.update_webhook_endpoint(id uuid, url text, severities text[], enabled boolean, description text) to audit_viewer;

create or replace function audit.delete_webhook_endpoint(id uuid)
 returns audit.webhook_endpoints
 language plpgsql
 volatile
 security definer
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  s record;
  gone audit.webhook_endpoints;
begin
  s := audit_private.tenant_admin_scope('deleteWebhookEndpoint', 'delete webhook endpoints');
  delete from audit.webhook_endpoints x where x.tenant_id = s.tenant_id and x.id = delete_webhook_endpoint.id returning * into gone;
  if not found then
    raise exception 'deleteWebhookEndpoint: no webhook endpoint with id % in this tenant', coalesce(id::text, 'null') using errcode = 'P0002';
  end if;
  perform audit_private.record_admin_event('webhook_endpoint.deleted', gone.tenant_id, null, gone.id::text, gone.url,
    jsonb_strip_nulls(jsonb_build_object('url', gone.url, 'severities', gone.severities, 'enabled', gone.enabled, 'description', gone.description)), null);
  return gone;
end
$$;
comment on function audit.delete_webhook_endpoint(id uuid) is 'Deletes a webhook endpoint of the token''s tenant with its secret and deliveries (pending ones are not sent), and records webhook_endpoint.deleted. Returns what was deleted. Tenant admins only.';
grant execute on function audit.delete_webhook_endpoint(id uuid) to audit_viewer;

--------------------------------------------------------------------------------
-- 11. The delivery worker's side (the server, as the owner)
--------------------------------------------------------------------------------
create or replace function audit_private.claim_webhook_deliveries(max_deliveries integer default 10, lease_seconds integer default 60)
 returns table(tenant_id uuid, delivery_id bigint, attempt integer, url text, secret text, event_id uuid, event_type text, body text)
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
begin
  if max_deliveries is null or max_deliveries not between 1 and 1000 or lease_seconds is null or lease_seconds not between 1 and 3600 then
    raise exception 'audit_private.claim_webhook_deliveries: max_deliveries must be 1 to 1000 and lease_seconds 1 to 3600' using errcode = '22023';
  end if;
  -- A claim is a lease: the delivery is due again when it runs out, so a
  -- worker that dies mid-post loses nothing (the receiver de-duplicates by
  -- event id). Failures past give_up_at end as failed.
  update audit.webhook_deliveries d
     set status = 'failed',
         last_error = coalesce(d.last_error, 'not delivered') || ' (gave up at '
                      || to_char(d.give_up_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') || ' UTC)'
    from (select x.tenant_id, x.id from audit.webhook_deliveries x
           where x.status = 'pending' and x.next_attempt_at <= now() and x.give_up_at <= now()
             for update skip locked) expired
   where d.tenant_id = expired.tenant_id and d.id = expired.id;
  return query
  with due as (
    select d.tenant_id, d.id
      from audit.webhook_deliveries d
      join audit.webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id and e.enabled
     where d.status = 'pending' and d.next_attempt_at <= now()
     order by d.next_attempt_at, d.id
     limit max_deliveries
       for update of d skip locked),
  claimed as (
    update audit.webhook_deliveries d
       set attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => lease_seconds), last_attempt_at = now()
      from due
     where d.tenant_id = due.tenant_id and d.id = due.id
    returning d.tenant_id, d.id, d.attempts, d.endpoint_id, d.event_id, d.event_type, d.payload)
  select c.tenant_id, c.id, c.attempts, e.url, s.secret, c.event_id, c.event_type, c.payload::text
    from claimed c
    join audit.webhook_endpoints e on e.tenant_id = c.tenant_id and e.id = c.endpoint_id
    join audit_private.webhook_secrets s on s.tenant_id = c.tenant_id and s.endpoint_id = c.endpoint_id;
end
$$;
comment on function audit_private.claim_webhook_deliveries(max_deliveries integer, lease_seconds integer) is 'For the delivery worker: claims up to max_deliveries due deliveries of enabled endpoints (skipping those another worker holds), counts the attempt, and leases them for lease_seconds (unfinished, they are due again then). Returns what to post: URL, secret, event id and type, and the body (the payload''s text). Marks deliveries past give_up_at failed.';

create or replace function audit_private.finish_webhook_attempt(tenant_id uuid, delivery_id bigint, attempt integer, status_code integer, error text,
                                                                duration_ms integer, retry_base_ms integer default 30000, retry_max_ms integer default 3600000)
 returns text
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  d audit.webhook_deliveries;
  ok constant boolean := status_code between 200 and 299 and error is null;
  delay_ms double precision;
begin
  select * into d from audit.webhook_deliveries x
   where x.tenant_id = finish_webhook_attempt.tenant_id and x.id = finish_webhook_attempt.delivery_id for update;
  if not found then
    return null; -- the endpoint was deleted meanwhile
  end if;
  insert into audit.webhook_attempts (tenant_id, delivery_id, attempt, duration_ms, status_code, error)
  values (d.tenant_id, d.id, finish_webhook_attempt.attempt, duration_ms, status_code, left(error, 2000))
  on conflict on constraint webhook_attempts_pkey do nothing;
  if d.status <> 'pending' or d.attempts <> finish_webhook_attempt.attempt then
    return d.status; -- a late answer to an attempt whose lease ran out: the newer attempt decides
  end if;
  if ok then
    update audit.webhook_deliveries x set status = 'delivered', delivered_at = now(), last_status_code = status_code, last_error = null
     where x.tenant_id = d.tenant_id and x.id = d.id;
    return 'delivered';
  end if;
  -- exponential backoff with jitter: base, 2 x base ... up to the maximum
  delay_ms := least(retry_max_ms::double precision, retry_base_ms * power(2, least(d.attempts - 1, 30))) * (0.75 + random() * 0.5);
  update audit.webhook_deliveries x
     set last_status_code = status_code,
         last_error = left(coalesce(error, 'HTTP ' || status_code), 2000),
         next_attempt_at = now() + make_interval(secs => delay_ms / 1000),
         status = case when now() + make_interval(secs => delay_ms / 1000) > x.give_up_at then 'failed' else 'pending' end
   where x.tenant_id = d.tenant_id and x.id = d.id
  returning x.status into d.status;
  return d.status;
end
$$;
comment on function audit_private.finish_webhook_attempt(tenant_id uuid, delivery_id bigint, attempt integer, status_code integer, error text, duration_ms integer, retry_base_ms integer, retry_max_ms integer) is 'For the delivery worker: records an attempt (audit.webhook_attempts) and its outcome: a 2xx without error delivers; otherwise the next attempt is scheduled with exponential backoff and jitter (retry_base_ms doubling up to retry_max_ms), or the delivery is marked failed when that would pass give_up_at. Returns the delivery''s status.';

--------------------------------------------------------------------------------
-- 12. Detection: audit.detect(), the first consumer of the log in commit order
--------------------------------------------------------------------------------
create or replace function audit_private.role_rank(ranking jsonb, role text)
 returns integer
 language sql
 immutable parallel safe
as $$ select (select e.n::integer from jsonb_array_elements_text(ranking) with ordinality e(r, n) where e.r = role) $$;
comment on function audit_private.role_rank(ranking jsonb, role text) is 'The position of a role in a ranking (1 = least privileged), or null for a role the ranking does not name.';

create or replace function audit_private.actor_key(actor_type text, actor_id uuid, actor_name text)
 returns text
 language sql
 immutable parallel safe
as $$ select actor_type || ':' || coalesce(actor_id::text, 'name:' || coalesce(actor_name, '')) $$;
comment on function audit_private.actor_key(actor_type text, actor_id uuid, actor_name text) is 'Who acted, as one key: the user or API key by id, a database role or system actor by name.';

create or replace function audit_private.role_at(tenant_id uuid, membership_id text, role_now text, at timestamptz, entry_id bigint)
 returns text
 language sql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
  -- The role a membership had at the moment of an entry: the role before the
  -- first change of it recorded after that entry, else the role it has now;
  -- none ('') when it was only added afterwards.
  select coalesce(
    (select case when l.event = 'member.added' then '' else l.old_values->>'role' end
       from audit.log l
      where l.tenant_id = role_at.tenant_id and l.entity_id = role_at.membership_id and l.resource_type = 'member'
        and (l.occurred_at, l.id) > (role_at.at, role_at.entry_id)
      order by l.occurred_at, l.id
      limit 1),
    role_now)
$$;
comment on function audit_private.role_at(tenant_id uuid, membership_id text, role_now text, at timestamp with time zone, entry_id bigint) is 'The role a membership had when an entry was written, read back from the log''s later member entries (so a role granted or removed since does not change the answer).';

create or replace function audit_private.was_admin(tenant_id uuid, account_id uuid, user_id uuid, admin_role text, at timestamptz, entry_id bigint)
 returns boolean
 language sql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
  select exists (
    select from (
      -- memberships that exist now, and those removed since the entry
      select m.id::text as id, m.account_id, m.role
        from app.memberships m
       where m.tenant_id = was_admin.tenant_id and m.user_id = was_admin.user_id
      union all
      select r.entity_id, (r.old_values->>'account_id')::uuid, r.old_values->>'role'
        from audit.log r
       where r.tenant_id = was_admin.tenant_id and r.resource_type = 'member' and r.event = 'member.removed'
         and (r.occurred_at, r.id) > (was_admin.at, was_admin.entry_id) and r.old_values->>'user_id' = was_admin.user_id::text
    ) m
    where (m.account_id is null or m.account_id = was_admin.account_id)
      and audit_private.role_at(was_admin.tenant_id, m.id, m.role, was_admin.at, was_admin.entry_id) = admin_role)
$$;
comment on function audit_private.was_admin(tenant_id uuid, account_id uuid, user_id uuid, admin_role text, at timestamp with time zone, entry_id bigint) is 'Whether a user was, when an entry was written, an admin (admin_role) of the tenant or of that account, as app.memberships and the log''s member entries tell it.';

create or replace function audit_private.merge_alert_details(a jsonb, b jsonb)
 returns jsonb
 language sql
 immutable parallel safe
as $$
  -- counts add up; labels are a union (the first 20); the rest keeps a's
  select coalesce(a, '{}') || coalesce(b, '{}') || jsonb_build_object(
    'counts', (select coalesce(jsonb_object_agg(k, s), '{}') from (
                 select c.key as k, sum(c.value::numeric) as s
                   from (select * from jsonb_each(coalesce(a->'counts', '{}')) union all select * from jsonb_each(coalesce(b->'counts', '{}'))) c
                  group by c.key) t),
    'labels', (select coalesce(jsonb_agg(x), '[]') from (
                 select x from (select x, min(o) as o from (
                   select x, o from jsonb_array_elements_text(coalesce(a->'labels', '[]')) with ordinality e(x, o)
                   union all
                   select x, o + 1000 from jsonb_array_elements_text(coalesce(b->'labels', '[]')) with ordinality e(x, o)) u
                   group by x) d order by o limit 20) l),
    'first_local_time', coalesce(a->'first_local_time', b->'first_local_time'),
    'granted_role', case when a->>'granted_role' = coalesce(a->>'top_role', b->>'top_role') then a->'granted_role'
                         else coalesce(b->'granted_role', a->'granted_role') end,
    'time_zone', coalesce(a->'time_zone', b->'time_zone'))
  - (case when coalesce(a ? 'first_local_time', false) or coalesce(b ? 'first_local_time', false) then '' else 'first_local_time' end)
  - (case when coalesce(a ? 'time_zone', false) or coalesce(b ? 'time_zone', false) then '' else 'time_zone' end)
  - (case when coalesce(a ? 'granted_role', false) or coalesce(b ? 'granted_role', false) then '' else 'granted_role' end)
$$;
comment on function audit_private.merge_alert_details(a jsonb, b jsonb) is 'Merges the details of an alert growing by a round''s entries: counts per kind add up, labels (names of what was touched) are united (the first 20), the first local time and time zone stay.';

create or replace function audit_private.plural(n numeric, one text, many text)
 returns text
 language sql
 immutable parallel safe
as $$ select to_char(n, 'FM999,999,999,990') || ' ' || case when n = 1 then one else many end $$;
comment on function audit_private.plural(n numeric, one text, many text) is 'A count with its noun, e.g. "1 user", "3 users", "10,000 processes".';

create or replace function audit_private.resource_noun(resource_type text, n numeric)
 returns text
 language sql
 immutable parallel safe
as $$
  select case resource_type
    when 'api_key' then audit_private.plural(n, 'API key', 'API keys')
    when 'settings' then audit_private.plural(n, 'setting', 'settings')
    when 'process' then audit_private.plural(n, 'process', 'processes')
    when 'process_member' then audit_private.plural(n, 'process member', 'process members')
    else audit_private.plural(n, replace(resource_type, '_', ' '), replace(resource_type, '_', ' ') || 's')
  end
$$;
comment on function audit_private.resource_noun(resource_type text, n numeric) is 'A count of entities of a resource type in words, e.g. "10,000 processes", "3 API keys".';

create or replace function audit_private.alert_summary(detector text, actor_type text, actor_email text, actor_name text,
                                                       entry_count bigint, first_at timestamptz, last_at timestamptz, details jsonb)
 returns text
 language plpgsql
 immutable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  who text := case when actor_type = 'database_role' then 'Database role ' || coalesce(actor_name, '?')
                   else coalesce(nullif(actor_name, ''), actor_email, case actor_type when 'api_key' then 'An API key' when 'system' then 'A system job' else 'Someone' end) end;
  span interval := last_at - first_at;
  took text := case when span < interval '1 minute' then case when entry_count > 1 then ' at once' else '' end
                    when span < interval '2 hours' then ' in ' || audit_private.plural(ceil(extract(epoch from span) / 60), 'minute', 'minutes')
                    when span < interval '2 days' then ' in ' || audit_private.plural(round(extract(epoch from span) / 3600), 'hour', 'hours')
                    else ' in ' || audit_private.plural(round(extract(epoch from span) / 86400), 'day', 'days') end;
  c jsonb := coalesce(details->'counts', '{}');
  top text := coalesce(details->>'granted_role', details->>'top_role', 'admin');
  parts text[] := '{}';
  labels text := (select string_agg(x, ', ') from (select x from jsonb_array_elements_text(coalesce(details->'labels', '[]')) x limit 3) l);
  n numeric;
begin
  case detector
  when 'role_escalation' then
    if (c->>'self')::numeric > 0 and entry_count = 1 then
      return who || ' raised their own role to ' || top;
    end if;
    if (c->>'raised_to_top')::numeric > 0 then
      parts := parts || ('made ' || audit_private.plural((c->>'raised_to_top')::numeric, 'user ' || top, 'users ' || top || 's'));
    end if;
    if (c->>'raised')::numeric > 0 then
      parts := parts || ('raised the role of ' || audit_private.plural((c->>'raised')::numeric, 'member', 'members'));
    end if;
    if (c->>'added_privileged')::numeric > 0 then
      parts := parts || ('added ' || audit_private.plural((c->>'added_privileged')::numeric, top, top || 's') || ' directly');
    end if;
    if (c->>'invited_privileged')::numeric > 0 then
      parts := parts || ('invited ' || audit_private.plural((c->>'invited_privileged')::numeric, 'person', 'people') || ' as ' || top);
    end if;
    return who || ' ' || coalesce(array_to_string(parts[1:cardinality(parts) - 1], ', ') || case when cardinality(parts) > 1 then ' and ' else '' end, '')
           || parts[cardinality(parts)] || took
           || case when (c->>'self')::numeric > 0 then ' (including their own role)' else '' end;
  when 'member_addition_burst' then
    return who || ' added ' || audit_private.plural(entry_count, 'member', 'members') || took;
  when 'unexpected_api_key_creator' then
    n := coalesce((c->>'not_admin')::numeric, 0);
    if n > 0 then
      return who || ' created ' || case when n = 1 then 'an API key' else audit_private.plural(n, 'API key', 'API keys') end
             || coalesce(' (' || labels || ')', '')
             || case actor_type when 'user' then ' without being an admin of the account or tenant'
                                when 'database_role' then ' directly in the database'
                                when 'api_key' then ' with an API key'
                                else ' as an unknown actor' end || took;
    end if;
    return who || ' created an API key for the first time' || coalesce(' (' || labels || ')', '');
  when 'after_hours_settings_change' then
    return who || case when entry_count = 1
                       then case when c ? 'api_key_created' then ' created ' when c ? 'api_key_revoked' then ' revoked ' else ' changed ' end
                            || coalesce(labels, 'a setting')
                       else ' made ' || audit_private.plural(entry_count, 'change', 'changes') || coalesce(' (' || labels || ')', '') end
           || ' outside business hours'
           || coalesce(' (' || case when entry_count > 1 then 'from ' else '' end
                       || (details->>'first_local_time') || ' ' || (details->>'time_zone') || ')', '');
  when 'mass_change' then
    return who || case when details->>'kind' = 'deletions' then ' deleted or removed ' else ' updated ' end
           || audit_private.resource_noun(details->>'resource_type', entry_count) || took;
  else
    return who || ': ' || audit_private.plural(entry_count, 'entry', 'entries');
  end case;
end
$$;
comment on function audit_private.alert_summary(detector text, actor_type text, actor_email text, actor_name text, entry_count bigint, first_at timestamp with time zone, last_at timestamp with time zone, details jsonb) is 'The sentence an alert shows, from its detector, actor, counts and span: "Bob Smith made 3 users admins in 4 minutes".';

create or replace function audit_private.severity_rank(severity text)
 returns integer
 language sql
 immutable parallel safe
as $$ select array_position('{low,medium,high}'::text[], severity) $$;
comment on function audit_private.severity_rank(severity text) is 'low 1, medium 2, high 3.';

create or replace function audit_private.burst_entries(tenant_id uuid, actor_type text, actor_id uuid, actor_name text, resource_type text,
                                                       kind text, from_at timestamptz, to_at timestamptz, below_xid bigint)
 returns setof audit.log
 language sql
 stable
as $$
  -- (No SET clause, so that it is inlined into the caller's query: each
  -- branch then uses the index that suits it, the actor's or the resource
  -- type's.)
  select l.* from audit.log l
   where burst_entries.actor_id is not null
     -- "is true": a filter, never an index condition, so that the probe
     -- walks the actor's index (the resource type's would filter out every
     -- other actor's entries of the window)
     and l.tenant_id = burst_entries.tenant_id and l.actor_id = burst_entries.actor_id and (l.resource_type = burst_entries.resource_type) is true
     and l.occurred_at >= burst_entries.from_at and l.occurred_at <= burst_entries.to_at and l.actor_type = burst_entries.actor_type
     and case burst_entries.kind when 'additions' then l.event = 'member.added'
                                 when 'deletions' then l.action in ('delete', 'unassign', 'deactivate', 'remove')
                                 else l.action = 'update' end
     and l.transaction_id < burst_entries.below_xid
  union all
  select l.* from audit.log l
   where burst_entries.actor_id is null
     and l.tenant_id = burst_entries.tenant_id and l.resource_type = burst_entries.resource_type and l.actor_id is null
     and l.actor_name is not distinct from burst_entries.actor_name
     and l.occurred_at >= burst_entries.from_at and l.occurred_at <= burst_entries.to_at and l.actor_type = burst_entries.actor_type
     and case burst_entries.kind when 'additions' then l.event = 'member.added'
                                 when 'deletions' then l.action in ('delete', 'unassign', 'deactivate', 'remove')
                                 else l.action = 'update' end
     and l.transaction_id < burst_entries.below_xid
$$;
comment on function audit_private.burst_entries(tenant_id uuid, actor_type text, actor_id uuid, actor_name text, resource_type text, kind text, from_at timestamp with time zone, to_at timestamp with time zone, below_xid bigint) is 'One actor''s entries of a kind (additions: member.added; deletions: delete, unassign, deactivate, remove; updates) of a resource type within a time range, written by transactions below below_xid: what a burst detector counts in its sliding window. Part of audit.detect().';

create or replace function audit_private.collect_signals(from_xid bigint, to_xid bigint)
 returns void
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  w interval;
begin
  -- role_escalation: a role raised to a privileged one (min_role or above),
  -- a member added directly with one (not the first admins of a tenant or
  -- account created in the same transaction), a privileged invitation
  insert into pg_temp.detect_signals (tenant_id, detector, incident_key, severity, entry_id, transaction_id, occurred_at, account_id,
    actor_type, actor_id, actor_email, actor_name, event, resource_type, action, kind, label, local_time, is_self, new_role)
  select e.tenant_id, 'role_escalation', e.actor_key,
         -- high when the top role is granted outside an invitation
         case when r.new_rank = r.top and x.kind <> 'invited_privileged' then 'high' else 'medium' end,
         e.id, e.transaction_id, e.occurred_at, e.account_id, e.actor_type, e.actor_id, e.actor_email, e.actor_name, e.event, e.resource_type, e.action,
         x.kind, e.entity_label, null, e.actor_email is not null and e.actor_email = e.entity_label, e.new_role
    from pg_temp.detect_entries e
    join pg_temp.detect_settings s on s.tenant_id = e.tenant_id
   cross join lateral (select s.settings->'role_ranking' as rk, jsonb_array_length(s.settings->'role_ranking') as top,
                              audit_private.role_rank(s.settings->'role_ranking', s.settings #>> '{detectors,role_escalation,min_role}') as privileged,
                              audit_private.role_rank(s.settings->'role_ranking', e.new_role) as new_rank,
                              coalesce(audit_private.role_rank(s.settings->'role_ranking', e.old_role), 0) as old_rank) r
   cross join lateral (select case
       when e.event = 'member.role_updated' and r.new_rank > r.old_rank and r.new_rank >= r.privileged
         then case when r.new_rank = r.top then 'raised_to_top' else 'raised' end
       when e.event = 'member.added' and r.new_rank >= r.privileged
            and not exists (select from audit.log c
                             where c.tenant_id = e.tenant_id and c.resource_type in ('tenant', 'account') and c.occurred_at = e.occurred_at
                               and c.transaction_id = e.transaction_id and c.event in ('tenant.created', 'account.created')
                               and (c.event = 'tenant.created' or c.entity_id = e.account_id::text))
         then 'added_privileged'
       when e.event in ('invitation.created', 'invitation.updated') and r.new_rank > r.old_rank and r.new_rank >= r.privileged
         then 'invited_privileged'
     end as kind) x
   where (s.settings #>> '{detectors,role_escalation,enabled}')::boolean and x.kind is not null;

  -- unexpected_api_key_creator: not an admin at that moment (or not a user
  -- at all): high; an admin's first key in the tenant: low
  insert into pg_temp.detect_signals (tenant_id, detector, incident_key, severity, entry_id, transaction_id, occurred_at, account_id,
    actor_type, actor_id, actor_email, actor_name, event, resource_type, action, kind, label, local_time, is_self)
  select e.tenant_id, 'unexpected_api_key_creator', e.actor_key, case when x.kind = 'not_admin' then 'high' else 'low' end,
         e.id, e.transaction_id, e.occurred_at, e.account_id, e.actor_type, e.actor_id, e.actor_email, e.actor_name, e.event, e.resource_type, e.action,
         x.kind, e.entity_label, null, false
    from pg_temp.detect_entries e
    join pg_temp.detect_settings s on s.tenant_id = e.tenant_id
   cross join lateral (select case
       when e.actor_type <> 'user' or e.actor_id is null
            or not audit_private.was_admin(e.tenant_id, e.account_id, e.actor_id, s.settings->'role_ranking'->>-1, e.occurred_at, e.id)
         then 'not_admin'
       when (s.settings #>> '{detectors,unexpected_api_key_creator,first_time_creator}')::boolean
            and not exists (select from audit.log p
                             where p.tenant_id = e.tenant_id and p.resource_type = 'api_key' and p.event = 'api_key.created'
                               and p.actor_id = e.actor_id and (p.occurred_at, p.id) < (e.occurred_at, e.id))
         then 'first_time'
     end as kind) x
   where e.event = 'api_key.created' and (s.settings #>> '{detectors,unexpected_api_key_creator,enabled}')::boolean
     and x.kind is not null;

  -- after_hours_settings_change: in the tenant's time zone (its daylight
  -- saving rules are PostgreSQL's), outside its days and hours
  insert into pg_temp.detect_signals (tenant_id, detector, incident_key, severity, entry_id, transaction_id, occurred_at, account_id,
    actor_type, actor_id, actor_email, actor_name, event, resource_type, action, kind, label, local_time, is_self)
  select e.tenant_id, 'after_hours_settings_change', e.actor_key,
         case when e.resource_type = 'settings' and exists (
                select from jsonb_array_elements_text(s.settings #> '{detectors,after_hours_settings_change,credential_keys}') k
                 where e.setting_key = k or (k like '%*' and starts_with(e.setting_key, rtrim(k, '*')))) then 'high' else 'medium' end,
         e.id, e.transaction_id, e.occurred_at, e.account_id, e.actor_type, e.actor_id, e.actor_email, e.actor_name, e.event, e.resource_type, e.action,
         case when e.resource_type = 'settings' then 'setting' when e.event = 'api_key.created' then 'api_key_created' else 'api_key_revoked' end,
         case when e.resource_type = 'settings' then e.setting_key else 'API key "' || coalesce(e.entity_label, e.entity_id) || '"' end,
         to_char(e.occurred_at at time zone (s.settings #>> '{business_hours,time_zone}'), 'FMDay HH24:MI'), false
    from pg_temp.detect_entries e
    join pg_temp.detect_settings s on s.tenant_id = e.tenant_id
   cross join lateral (select e.occurred_at at time zone (s.settings #>> '{business_hours,time_zone}') as local) t
   where e.event in ('settings.updated', 'api_key.created', 'api_key.deactivated', 'api_key.deleted')
     and (s.settings #>> '{detectors,after_hours_settings_change,enabled}')::boolean
     and not (extract(isodow from t.local)::integer in (select d::integer from jsonb_array_elements_text(s.settings #> '{business_hours,days}') d)
              and t.local::time >= (s.settings #>> '{business_hours,start}')::time
              and (t.local::time < (s.settings #>> '{business_hours,end}')::time or s.settings #>> '{business_hours,end}' = '24:00'));

  -- Bursts (member_addition_burst, mass_change): one actor's entries of a
  -- kind within a sliding window, counted over the whole log up to this
  -- round (earlier rounds' entries count too), never past it.
  truncate pg_temp.detect_groups;
  insert into pg_temp.detect_groups (tenant_id, detector, incident_key, actor_type, actor_id, actor_name, resource_type, kind,
                                     threshold, window_length, min_at, max_at, actor_key)
  select g.tenant_id, g.detector, g.actor_key || case when g.detector = 'mass_change' then '|' || g.resource_type || '|' || g.kind else '' end,
         g.actor_type, g.actor_id, g.actor_name, g.resource_type, g.kind,
         (s.settings #>> array['detectors', g.detector, 'threshold'])::numeric::integer + case when g.detector = 'member_addition_burst' then 1 else 0 end,
         make_interval(mins => (s.settings #>> array['detectors', g.detector, 'window_minutes'])::numeric::integer),
         g.min_at, g.max_at, g.actor_key
    from (
      select e.tenant_id, case when e.burst_kind = 'additions' then 'member_addition_burst' else 'mass_change' end as detector,
             e.actor_key, e.actor_type, e.actor_id, min(e.actor_name) as actor_name, e.resource_type, e.burst_kind as kind,
             min(e.occurred_at) as min_at, max(e.occurred_at) as max_at
        from pg_temp.detect_entries e
       where e.burst_kind is not null
       group by e.tenant_id, e.actor_key, e.actor_type, e.actor_id, e.resource_type, e.burst_kind) g
    join pg_temp.detect_settings s on s.tenant_id = g.tenant_id
   where (s.settings #>> array['detectors', g.detector, 'enabled'])::boolean;

  -- An incident that is going on (an open or acknowledged alert whose last
  -- entry is within the window) grows by the round's entries that follow it
  -- without a quiet gap longer than the window: they need no recount of the
  -- window (which would re-read the whole burst every round).
  update pg_temp.detect_groups g set active_until = a.last_at
    from (select g2.gid, max(x.last_at) as last_at
            from pg_temp.detect_groups g2
            join audit.alerts x on x.tenant_id = g2.tenant_id and x.detector = g2.detector and x.incident_key = g2.incident_key
                                and x.status <> 'resolved' and x.last_at >= g2.min_at - g2.window_length
           group by g2.gid) a
   where a.gid = g.gid;
  if found then
    with chain as (
      select b.*, bool_or(b.gap) over (partition by b.gid order by b.occurred_at, b.id) as broken
        from (select e.*, g.gid, g.detector, g.incident_key, g.kind,
                     e.occurred_at - coalesce(lag(e.occurred_at) over (partition by g.gid order by e.occurred_at, e.id), g.active_until)
                       > g.window_length as gap
                from pg_temp.detect_groups g
                join pg_temp.detect_entries e
                  on e.tenant_id = g.tenant_id and e.actor_key = g.actor_key and e.resource_type = g.resource_type and e.burst_kind = g.kind
               where g.active_until is not null) b),
    grown as (
      insert into pg_temp.detect_signals (tenant_id, detector, incident_key, severity, entry_id, transaction_id, occurred_at, account_id,
        actor_type, actor_id, actor_email, actor_name, event, resource_type, action, kind, label, local_time, is_self)
      select c.tenant_id, c.detector, c.incident_key,
             case when c.detector = 'mass_change' and c.kind = 'deletions' then 'high' else 'medium' end,
             c.id, c.transaction_id, c.occurred_at, c.account_id, c.actor_type, c.actor_id, c.actor_email, c.actor_name, c.event, c.resource_type, c.action,
             c.kind, c.entity_label, null, false
        from chain c
       where not c.broken)
    -- what follows a quiet gap is a new burst: counted as usual, from there
    -- (a group with nothing after a gap is done: min_at null)
    update pg_temp.detect_groups g set min_at = f.first_broken
      from (select c.gid, min(c.occurred_at) filter (where c.broken) as first_broken from chain c group by c.gid) f
     where f.gid = g.gid;
    delete from pg_temp.detect_groups g where g.min_at is null;
  end if;

  -- Only groups that can reach their threshold are read whole: count at most
  -- threshold entries of the window around the round's entries.
  delete from pg_temp.detect_groups g
   where (select count(*) from (
            select from audit_private.burst_entries(g.tenant_id, g.actor_type, g.actor_id, g.actor_name, g.resource_type, g.kind,
                                                    g.min_at - g.window_length, g.max_at, to_xid)
             limit g.threshold) c) < g.threshold;

  -- The window is a constant of each query: one pass per distinct length.
  for w in select distinct g.window_length from pg_temp.detect_groups g loop
    execute format($q$
      insert into pg_temp.detect_signals (tenant_id, detector, incident_key, severity, entry_id, transaction_id, occurred_at, account_id,
    actor_type, actor_id, actor_email, actor_name, event, resource_type, action, kind, label, local_time, is_self)
      select f.tenant_id, f.detector, f.incident_key,
             case when f.detector = 'mass_change' and f.kind = 'deletions' then 'high' else 'medium' end,
             f.id, f.transaction_id, f.occurred_at, f.account_id, f.actor_type, f.actor_id, f.actor_email, f.actor_name, f.event, f.resource_type, f.action,
             f.kind, f.entity_label, null, false
        from (
          select c.*, min(c.occurred_at) filter (where c.in_window >= c.threshold) over (partition by c.gid) as fired_at
            from (
              select g.gid, g.tenant_id, g.detector, g.incident_key, g.kind, g.threshold,
                     l.id, l.transaction_id, l.occurred_at, l.account_id, l.actor_type, l.actor_id, l.actor_email, l.actor_name,
                     l.event, l.resource_type, l.action, l.entity_label,
                     count(*) over (partition by g.gid order by l.occurred_at range between %L preceding and current row) as in_window
                from pg_temp.detect_groups g
               cross join lateral audit_private.burst_entries(g.tenant_id, g.actor_type, g.actor_id, g.actor_name, g.resource_type, g.kind,
                                                              g.min_at - g.window_length, g.max_at, %s) l
               where g.window_length = %L
                 -- what a resolved alert of the incident covered is closed: new
                 -- activity reaches the threshold on its own
                 and not exists (select from audit.alerts r
                                  where r.tenant_id = g.tenant_id and r.detector = g.detector and r.incident_key = g.incident_key
                                    and r.status = 'resolved' and r.last_at >= g.min_at - g.window_length
                                    and l.occurred_at between r.first_at and r.last_at)) c) f
       -- the entries of the window that fired, and every later one
       where f.fired_at is not null and f.occurred_at >= f.fired_at - %L::interval$q$, w, to_xid, w, w);
  end loop;

  -- Incidents: an actor's signals of a detector, split where more than the
  -- detector's window passes between two of them (a round after a pause
  -- holds months of entries: each quiet gap starts a new incident).
  if (select count(*) from pg_temp.detect_signals) > 5000 then
    analyze pg_temp.detect_signals;
  end if;
  with spread as (
    -- only incidents whose signals span more than the window can split
    select x.tenant_id, x.detector, x.incident_key, w.window_length
      from (select y.tenant_id, y.detector, y.incident_key, max(y.occurred_at) - min(y.occurred_at) as span
              from pg_temp.detect_signals y
             group by y.tenant_id, y.detector, y.incident_key) x
      join pg_temp.detect_settings st on st.tenant_id = x.tenant_id
     cross join lateral (select make_interval(mins => (st.settings #>> array['detectors', x.detector, 'window_minutes'])::numeric::integer) as window_length) w
     where x.span > w.window_length),
  sessions as (
    select g.row_id, sum(case when g.occurred_at - g.previous_at > g.window_length then 1 else 0 end)
                       over (partition by g.tenant_id, g.detector, g.incident_key order by g.occurred_at, g.entry_id) as session
      from (select x.ctid as row_id, x.tenant_id, x.detector, x.incident_key, x.entry_id, x.occurred_at, sp.window_length,
                   lag(x.occurred_at) over (partition by x.tenant_id, x.detector, x.incident_key order by x.occurred_at, x.entry_id) as previous_at
              from pg_temp.detect_signals x
              join spread sp on sp.tenant_id = x.tenant_id and sp.detector = x.detector and sp.incident_key = x.incident_key) g)
  update pg_temp.detect_signals t set session = sessions.session
    from sessions
   where t.ctid = sessions.row_id and sessions.session > 0;
end
$$;
comment on function audit_private.collect_signals(from_xid bigint, to_xid bigint) is 'Runs every detector over a round''s relevant entries (pg_temp.detect_entries) with each tenant''s settings (pg_temp.detect_settings) and writes one signal per entry that is part of an incident (pg_temp.detect_signals). Part of audit.detect().';

create or replace function audit_private.merge_signals(from_xid bigint)
 returns integer
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  g record;
  a audit.alerts;
  merge_window interval;
  new_details jsonb;
  new_descriptor jsonb;
  changed integer := 0;
  event_type text;
  event_id uuid;
  top_role text;
begin
  for g in
    select s.tenant_id, s.detector, s.incident_key, count(*) as n,
           max(audit_private.severity_rank(s.severity)) as severity_rank,
           min(s.occurred_at) as first_at, max(s.occurred_at) as last_at,
           (array_agg(s.entry_id order by s.entry_id))[1:1000] as ids,
           case when bool_and(s.account_id is not null) and min(s.account_id::text) = max(s.account_id::text) then min(s.account_id::text)::uuid end as account_id,
           bool_and(s.account_id is not null) and min(s.account_id::text) = max(s.account_id::text) as one_account,
           min(s.actor_type) as actor_type, min(s.actor_id::text)::uuid as actor_id,
           (array_agg(s.actor_email order by s.occurred_at desc) filter (where s.actor_email is not null))[1] as actor_email,
           (array_agg(s.actor_name order by s.occurred_at desc) filter (where s.actor_name is not null))[1] as actor_name,
           jsonb_agg(distinct s.event) as events, jsonb_agg(distinct s.resource_type) as resource_types,
           bool_or(s.transaction_id >= from_xid) as has_new, s.session
      from pg_temp.detect_signals s
     group by s.tenant_id, s.detector, s.incident_key, s.session
     order by s.tenant_id, s.detector, s.incident_key, min(s.occurred_at)
  loop
    continue when not g.has_new;
    merge_window := make_interval(mins => (audit_private.tenant_detector_settings(g.tenant_id) #>> array['detectors', g.detector, 'window_minutes'])::numeric::integer);
    top_role := audit_private.tenant_detector_settings(g.tenant_id)->'role_ranking'->>-1;
    select * into a from audit.alerts x
     where x.tenant_id = g.tenant_id and x.detector = g.detector and x.incident_key = g.incident_key
       and x.status <> 'resolved' and x.last_at >= g.first_at - merge_window and x.first_at <= g.last_at + merge_window
     order by x.last_at desc, x.id desc
     limit 1
       for update;
    if found then
      -- one incident, one alert: it grows by the round's new entries only
      -- (the earlier ones of a burst's window are in it already; a round
      -- and its watermark commit together, so no entry is added twice)
      select count(*), min(s.occurred_at), max(s.occurred_at),
             (array_agg(s.entry_id order by s.entry_id))[1:1000],
             bool_and(s.account_id is not null and s.account_id = a.account_id),
             max(audit_private.severity_rank(s.severity)), jsonb_agg(distinct s.event), jsonb_agg(distinct s.resource_type)
        into g.n, g.first_at, g.last_at, g.ids, g.one_account, g.severity_rank, g.events, g.resource_types
        from pg_temp.detect_signals s
       where s.tenant_id = g.tenant_id and s.detector = g.detector and s.incident_key = g.incident_key and s.session = g.session
         and s.transaction_id >= from_xid;
      continue when g.n = 0;
      new_details := audit_private.merge_alert_details(a.details, audit_private.signal_details(g.tenant_id, g.detector, g.incident_key, g.session, from_xid, top_role));
      new_descriptor := a.entries_descriptor || jsonb_build_object(
        'events', (select jsonb_agg(distinct x) from (select jsonb_array_elements(a.entries_descriptor->'events') x union select jsonb_array_elements(g.events)) u),
        'resource_types', (select jsonb_agg(distinct x) from (select jsonb_array_elements(a.entries_descriptor->'resource_types') x union select jsonb_array_elements(g.resource_types)) u),
        'from', least(a.first_at, g.first_at), 'to', greatest(a.last_at, g.last_at));
      event_type := case when g.severity_rank > audit_private.severity_rank(a.severity) then 'alert.escalated' end;
      update audit.alerts x
         set entry_count = x.entry_count + g.n,
             first_at = least(x.first_at, g.first_at),
             last_at = greatest(x.last_at, g.last_at),
             entry_ids = (select array_agg(i order by i) from (select distinct i from unnest(x.entry_ids || g.ids) i order by i limit 1000) u),
             account_id = case when g.one_account then x.account_id end,
             severity = (array['low', 'medium', 'high'])[greatest(audit_private.severity_rank(x.severity), g.severity_rank)],
             details = new_details,
             entries_descriptor = new_descriptor,
             summary = audit_private.alert_summary(x.detector, x.actor_type, coalesce(g.actor_email, x.actor_email), coalesce(g.actor_name, x.actor_name),
                                                   x.entry_count + g.n, least(x.first_at, g.first_at), greatest(x.last_at, g.last_at), new_details),
             updated_at = now()
       where x.tenant_id = a.tenant_id and x.id = a.id
      returning * into a;
    else
      new_details := audit_private.signal_details(g.tenant_id, g.detector, g.incident_key, g.session, null, top_role);
      insert into audit.alerts (tenant_id, account_id, detector, severity, summary, incident_key, actor_type, actor_id, actor_email, actor_name,
                                first_at, last_at, entry_count, entry_ids, entries_descriptor, details)
      values (g.tenant_id, g.account_id, g.detector, (array['low', 'medium', 'high'])[g.severity_rank],
              audit_private.alert_summary(g.detector, g.actor_type, g.actor_email, g.actor_name, g.n, g.first_at, g.last_at, new_details),
              g.incident_key, g.actor_type, g.actor_id, g.actor_email, g.actor_name, g.first_at, g.last_at, g.n, g.ids,
              jsonb_build_object('actor_type', g.actor_type, 'actor_id', g.actor_id, 'actor_name', case when g.actor_id is null then g.actor_name end,
                                 'events', g.events, 'resource_types', g.resource_types, 'from', g.first_at, 'to', g.last_at),
              new_details)
      returning * into a;
      event_type := 'alert.opened';
    end if;
    changed := changed + 1;
    if event_type is not null then
      -- the outbox: in this transaction, for every endpoint that wants it
      insert into audit.webhook_deliveries (tenant_id, endpoint_id, alert_id, event_id, event_type, payload)
      select a.tenant_id, e.id, a.id, u.event_id, event_type,
             jsonb_build_object('id', u.event_id, 'type', event_type, 'created_at', now(), 'tenant_id', a.tenant_id,
               'alert', jsonb_build_object('id', a.id::text, 'detector', a.detector, 'severity', a.severity, 'status', a.status,
                 'summary', a.summary, 'account_id', a.account_id,
                 'actor', jsonb_build_object('type', a.actor_type, 'id', a.actor_id, 'email', a.actor_email, 'name', a.actor_name),
                 'first_at', a.first_at, 'last_at', a.last_at, 'entry_count', a.entry_count, 'detected_at', a.detected_at))
        from audit.webhook_endpoints e
       cross join lateral (select gen_random_uuid() as event_id) u
       where e.tenant_id = a.tenant_id and a.severity = any (e.severities); -- a disabled endpoint's wait
    end if;
  end loop;
  return changed;
end
$$;
comment on function audit_private.merge_signals(from_xid bigint) is 'Turns a round''s signals into alerts: per tenant, detector and incident, the open or acknowledged alert of the same incident whose last entry is within the detector''s window grows; otherwise a new alert opens. An alert opened, or escalated to a higher severity, writes a delivery per webhook endpoint that wants its severity (the outbox), in the same transaction. Returns how many alerts were opened or updated. Part of audit.detect().';

create or replace function audit_private.signal_details(tenant_id uuid, detector text, incident_key text, session integer, from_xid bigint, top_role text)
 returns jsonb
 language plpgsql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  ranking constant jsonb := case when detector = 'role_escalation' then audit_private.tenant_detector_settings(tenant_id)->'role_ranking' end;
begin
  -- (plpgsql: the working tables exist only in the sessions that ran audit.detect())
  return jsonb_strip_nulls(jsonb_build_object(
    'counts', (select coalesce(jsonb_object_agg(k.kind, k.n), '{}') from (
                 select s.kind, count(*) as n from pg_temp.detect_signals s
                  where s.tenant_id = signal_details.tenant_id and s.detector = signal_details.detector and s.incident_key = signal_details.incident_key and s.session = signal_details.session
                    and (signal_details.from_xid is null or s.transaction_id >= signal_details.from_xid)
                  group by s.kind
                 union all
                 select 'self', count(*) from pg_temp.detect_signals s
                  where s.tenant_id = signal_details.tenant_id and s.detector = signal_details.detector and s.incident_key = signal_details.incident_key and s.session = signal_details.session
                    and (signal_details.from_xid is null or s.transaction_id >= signal_details.from_xid) and s.is_self
                 having count(*) > 0) k),
    'labels', (select coalesce(jsonb_agg(l.label order by l.first_at), '[]') from (
                 select f.label, min(f.occurred_at) as first_at from (
                   -- the first 20 names touched (of the first 1,000 signals)
                   select s.label, s.occurred_at from pg_temp.detect_signals s
                    where s.tenant_id = signal_details.tenant_id and s.detector = signal_details.detector and s.incident_key = signal_details.incident_key and s.session = signal_details.session
                      and (signal_details.from_xid is null or s.transaction_id >= signal_details.from_xid) and s.label is not null
                    order by s.occurred_at, s.entry_id limit 1000) f
                  group by f.label order by min(f.occurred_at) limit 20) l),
    'first_local_time', (select s.local_time from pg_temp.detect_signals s
                          where s.tenant_id = signal_details.tenant_id and s.detector = signal_details.detector and s.incident_key = signal_details.incident_key and s.session = signal_details.session
                            and s.local_time is not null order by s.occurred_at limit 1),
    'time_zone', case when signal_details.detector = 'after_hours_settings_change'
                      then audit_private.tenant_detector_settings(signal_details.tenant_id) #>> '{business_hours,time_zone}' end,
    'top_role', case when signal_details.detector = 'role_escalation' then signal_details.top_role end,
    -- the most privileged role granted in the incident, for the summary
    'granted_role', case when signal_details.detector = 'role_escalation' then (
       select s.new_role from pg_temp.detect_signals s
        where s.tenant_id = signal_details.tenant_id and s.detector = signal_details.detector and s.incident_key = signal_details.incident_key
          and s.session = signal_details.session and (signal_details.from_xid is null or s.transaction_id >= signal_details.from_xid)
          and s.new_role is not null
        order by audit_private.role_rank(ranking, s.new_role) desc nulls last
        limit 1) end,
    'kind', (select min(s.kind) from pg_temp.detect_signals s
              where signal_details.detector = 'mass_change' and s.tenant_id = signal_details.tenant_id and s.detector = signal_details.detector
                and s.incident_key = signal_details.incident_key and s.session = signal_details.session),
    'resource_type', (select min(s.resource_type) from pg_temp.detect_signals s
              where signal_details.detector = 'mass_change' and s.tenant_id = signal_details.tenant_id and s.detector = signal_details.detector
                and s.incident_key = signal_details.incident_key and s.session = signal_details.session)));
end
$$;
comment on function audit_private.signal_details(tenant_id uuid, detector text, incident_key text, session integer, from_xid bigint, top_role text) is 'The details of an incident''s signals in this round (all of them, or those at or above from_xid): counts per kind, the labels touched, the first local time; for the summary and the page. Part of audit.detect().';

create or replace function audit.detect(max_xids bigint default 10000000)
 returns integer
 language plpgsql
 volatile
 set search_path to 'pg_catalog', 'pg_temp'
as $$
declare
  started constant timestamptz := clock_timestamp();
  r record;
  relevant integer;
  changed integer := 0;
begin
  select * into r from audit_private.begin_round('detectors', max_xids);
  if r.from_xid is null then
    return null; -- another run holds the lock
  end if;
  -- a mass change's window is sorted in memory, not on disk
  perform set_config('work_mem', '64MB', true);
  -- Working tables, created once per session (creating and dropping them
  -- every round cost more than the round's own work), emptied at commit.
  if to_regclass('pg_temp.detect_signals') is null then
    create temporary table if not exists detect_entries (
      id bigint, transaction_id bigint, tenant_id uuid, account_id uuid, occurred_at timestamptz,
      actor_type text, actor_id uuid, actor_email text, actor_name text, actor_key text,
      action text, resource_type text, event text, entity_id text, entity_label text,
      old_role text, new_role text, setting_key text, burst_kind text) on commit delete rows;
    create temporary table if not exists detect_settings (tenant_id uuid primary key, settings jsonb) on commit delete rows;
    create temporary table if not exists detect_groups (
      gid bigint generated always as identity, tenant_id uuid, detector text, incident_key text, actor_type text, actor_id uuid, actor_name text,
      resource_type text, kind text, threshold integer, window_length interval, min_at timestamptz, max_at timestamptz,
      actor_key text, active_until timestamptz) on commit delete rows;
    create temporary table if not exists detect_signals (
      tenant_id uuid, detector text, incident_key text, severity text,
      entry_id bigint, transaction_id bigint, occurred_at timestamptz, account_id uuid,
      actor_type text, actor_id uuid, actor_email text, actor_name text, event text, resource_type text, action text,
      kind text, label text, local_time text, is_self boolean, new_role text, session integer not null default 0) on commit delete rows;
  end if;
  -- (empty, unless an earlier call ran in this same transaction)
  delete from pg_temp.detect_entries;
  delete from pg_temp.detect_settings;
  delete from pg_temp.detect_groups;
  delete from pg_temp.detect_signals;

  -- The round's entries that any detector looks at, through the BRIN index.
  insert into pg_temp.detect_entries
  select l.id, l.transaction_id, l.tenant_id, l.account_id, l.occurred_at, l.actor_type, l.actor_id, l.actor_email, l.actor_name,
         audit_private.actor_key(l.actor_type, l.actor_id, l.actor_name),
         l.action, l.resource_type, l.event, l.entity_id, l.entity_label,
         -- (values read only where a detector needs them: a deleted row's
         -- old_values is the whole row)
         case when l.resource_type in ('member', 'invitation') then l.old_values->>'role' end,
         case when l.resource_type in ('member', 'invitation') then l.new_values->>'role' end,
         case when l.resource_type = 'settings' then coalesce(l.entity_label, l.new_values->>'key', l.old_values->>'key') end,
         -- each entry is of at most one burst kind (a member addition's action is assign)
         case when l.event = 'member.added' then 'additions'
              when l.action in ('delete', 'unassign', 'deactivate', 'remove') then 'deletions'
              when l.action = 'update' then 'updates' end
    from audit.log l
   where l.transaction_id >= r.from_xid and l.transaction_id < r.to_xid
     and (l.action in ('update', 'delete', 'unassign', 'deactivate', 'remove')
          or l.event in ('member.added', 'invitation.created', 'api_key.created', 'settings.updated'));
  get diagnostics relevant = row_count;
  if relevant > 0 then
    -- (temporary tables have no statistics until analyzed: a large round's
    -- plans need them; a small one's are right without)
    if relevant > 5000 then
      analyze pg_temp.detect_entries;
    end if;
    insert into pg_temp.detect_settings
    select t.tenant_id, audit_private.tenant_detector_settings(t.tenant_id) from (select distinct e.tenant_id from pg_temp.detect_entries e) t;
    perform audit_private.collect_signals(r.from_xid, r.to_xid);
    changed := audit_private.merge_signals(r.from_xid);
  end if;
  perform audit_private.end_round('detectors', r.to_xid, relevant, started);
  return changed;
end
$$;
comment on function audit.detect(max_xids bigint) is 'Runs every detector over the entries of audit.log committed since the last run (in commit order: from its watermark up to the xmin horizon, at most max_xids transaction ids at a time) and returns how many alerts it opened or updated; null when another run holds the lock (one runs, the other returns at once). The server runs it every DETECT_INTERVAL_MS. Detectors: role_escalation, member_addition_burst, unexpected_api_key_creator, after_hours_settings_change, mass_change (settings: audit.set_detector_settings). Progress and lag: audit.log_consumers().';

create or replace function audit.security_alert_entries(alert audit.alerts)
 returns setof audit.log
 language sql
 stable
 set search_path to 'pg_catalog', 'pg_temp'
as $$
  -- The first 1,000 by id; beyond them the descriptor finds the rest (the
  -- actor's entries of those events and resource types in the alert's span).
  select l.* from audit.log l
   where l.tenant_id = alert.tenant_id and l.occurred_at >= alert.first_at and l.occurred_at <= alert.last_at
     and case when alert.entry_count <= cardinality(alert.entry_ids) then l.id = any (alert.entry_ids)
              else l.actor_type = alert.actor_type
                   and (l.actor_id = alert.actor_id or alert.actor_id is null and l.actor_id is null and l.actor_name = alert.entries_descriptor->>'actor_name')
                   and l.event in (select jsonb_array_elements_text(alert.entries_descriptor->'events'))
                   and l.resource_type in (select jsonb_array_elements_text(alert.entries_descriptor->'resource_types'))
         end
$$;
comment on function audit.security_alert_entries(alert audit.alerts) is '@behavior -*
The entries of audit.log that make up an alert, under the caller''s row-level security: its entry ids while it has at most 1,000, else what its descriptor finds (the actor''s entries of the alert''s events and resource types within its span).';
grant execute on function audit.security_alert_entries(alert audit.alerts) to audit_viewer, audit_reader;

-- The detectors consume what is written from now on: a fresh database
-- (the demo data included) is read from its start.
select audit_private.register_consumer('detectors');
