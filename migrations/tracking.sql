-- What gets logged: the event catalogue and the tracking of every business
-- table, in one declarative file. Edit this file to change what is logged.
--
-- Applied after every migration, in one transaction, by the one migrate path
-- (src/db/migrate.ts: `npm run migrate`, `npm start`, the tests and the
-- bench). It is idempotent: applied to a database that already matches, it
-- changes nothing and locks no business table (audit.track_table compares
-- before it writes; the compiled capture of a table is only replaced when
-- the configuration or the builder changed). test/db/tracking-config.test.ts
-- checks that the database matches this file.
--
-- Per table: its catalogued events, then audit.track_table():
--   rules             ordered; per row, the first rule of its operation whose
--                     "when" (SQL over old and new) holds names the event; a
--                     row no rule matches is not recorded
--   ignored_columns   noise: left out of the values, and an update touching
--                     only them writes no entry (default {updated_at})
--   redacted_columns  stored as "[redacted]"; JSON keys matching
--                     redacted_keys are too, at any depth
--   secret_key_column key/value tables: rows whose key matches redacted_keys
--                     store their JSON columns as "[redacted]" whole
--   tenant_column, account_column
--                     where the entry's scope comes from (defaults tenant_id,
--                     account_id; null account: tenant-level entries)
--   label             the entity's human name, snapshotted into each entry
--                     (entity_label): SQL over the row's columns, unqualified
--                     (after the change; before it for deletes); a lookup is
--                     a subquery whose own columns are qualified. It runs on
--                     every captured row: a lookup costs an index probe each.
--                     A redacted column cannot be a label.
-- The SQL each rule compiles to: db/schema/audit-capture-compiled.sql
-- (`npm run schema:dump` regenerates it). Adding a table or an event:
-- migrations/CONVENTIONS.md.
--
-- Removing a catalogue row is not done here: entries keep their event names
-- forever, so retiring an event is a migration's decision.

-- One writer at a time (replicas starting together).
select pg_advisory_xact_lock(hashtext('audit-trail:tracking.sql'));

--------------------------------------------------------------------------------
-- The catalogue, one row per event: name, action, resource type, description,
-- and who writes it (kind):
--   trigger      the capture of a tracked table, named by a rule below
--   application  the application, with audit.record_event() (or recordEvent()
--                in TypeScript): what no trigger sees, such as sign-ins and
--                reveals of secrets. Adding one is a row here, nothing else.
--   access       the API, with audit.record_access(): exports and reads of
--                the audit log itself
--   admin        the API's mutations, for the admin in the token: detector
--                settings, alerts acknowledged or resolved, webhook endpoints
--------------------------------------------------------------------------------
insert into audit.events as e (event, action, resource_type, description, kind) values
  ('tenant.created', 'create', 'tenant', 'Tenant created', 'trigger'),
  ('tenant.updated', 'update', 'tenant', 'Tenant updated', 'trigger'),
  ('tenant.deleted', 'delete', 'tenant', 'Tenant deleted', 'trigger'),

  ('account.created', 'create', 'account', 'Account created', 'trigger'),
  ('account.updated', 'update', 'account', 'Account updated', 'trigger'),
  ('account.deleted', 'delete', 'account', 'Account deleted', 'trigger'),

  ('user.created', 'create', 'user', 'User created', 'trigger'),
  ('user.updated', 'update', 'user', 'User updated', 'trigger'),
  ('user.deleted', 'delete', 'user', 'User deleted', 'trigger'),

  ('member.added', 'assign', 'member', 'Member added', 'trigger'),
  ('member.role_updated', 'update', 'member', 'Member role updated', 'trigger'),
  ('member.removed', 'unassign', 'member', 'Member removed', 'trigger'),

  ('invitation.created', 'create', 'invitation', 'Invitation created', 'trigger'),
  ('invitation.accepted', 'accept', 'invitation', 'Invitation accepted', 'trigger'),
  ('invitation.updated', 'update', 'invitation', 'Invitation updated', 'trigger'),
  ('invitation.revoked', 'delete', 'invitation', 'Invitation revoked', 'trigger'),

  ('process.created', 'create', 'process', 'Process created', 'trigger'),
  ('process.updated', 'update', 'process', 'Process updated', 'trigger'),
  ('process.deleted', 'delete', 'process', 'Process deleted', 'trigger'),
  ('process.restored', 'restore', 'process', 'Process restored', 'trigger'),

  ('process_member.added', 'assign', 'process_member', 'Process member added', 'trigger'),
  ('process_member.removed', 'unassign', 'process_member', 'Process member removed', 'trigger'),

  ('job.completed', 'complete', 'job', 'Job completed', 'trigger'),

  ('settings.updated', 'update', 'settings', 'Settings updated', 'trigger'),

  ('api_key.created', 'create', 'api_key', 'API key created', 'trigger'),
  ('api_key.deactivated', 'deactivate', 'api_key', 'API key deactivated', 'trigger'),
  ('api_key.updated', 'update', 'api_key', 'API key updated', 'trigger'),
  ('api_key.deleted', 'delete', 'api_key', 'API key deleted', 'trigger'),

  ('license.created', 'create', 'license', 'License created', 'trigger'),
  ('license.activated', 'activate', 'license', 'License activated', 'trigger'),
  ('license.updated', 'update', 'license', 'License updated', 'trigger'),
  ('license.deleted', 'delete', 'license', 'License deleted', 'trigger'),

  -- application events (audit.record_event)
  ('user.signed_in', 'sign_in', 'user', 'User signed in', 'application'),
  ('user.sign_in_failed', 'sign_in_fail', 'user', 'Sign-in failed', 'application'),
  ('user.signed_out', 'sign_out', 'user', 'User signed out', 'application'),
  ('settings.viewed', 'view', 'settings', 'Settings viewed', 'application'),
  ('data.exported', 'export', 'data', 'Data exported', 'application'),
  ('process.run_requested', 'run', 'process', 'Process run requested', 'application'),

  -- access events: the audit log's own access log (audit.record_access)
  ('audit_log.exported', 'export', 'audit_log', 'Audit log export started', 'access'),
  ('audit_log.export_finished', 'export_finish', 'audit_log', 'Audit log export finished', 'access'),
  ('audit_log.viewed', 'view', 'audit_log', 'Audit log viewed', 'access'),

  -- admin events: the API's mutations, for the admin in the token
  ('security_policy.updated', 'update', 'security_policy', 'Detector settings updated', 'admin'),
  ('alert.acknowledged', 'acknowledge', 'alert', 'Security alert acknowledged', 'admin'),
  ('alert.resolved', 'resolve', 'alert', 'Security alert resolved', 'admin'),
  ('webhook_endpoint.created', 'create', 'webhook_endpoint', 'Webhook endpoint created', 'admin'),
  ('webhook_endpoint.updated', 'update', 'webhook_endpoint', 'Webhook endpoint updated', 'admin'),
  ('webhook_endpoint.deleted', 'delete', 'webhook_endpoint', 'Webhook endpoint deleted', 'admin'),
  ('log_stream.created', 'create', 'log_stream', 'Log stream created', 'admin'),
  ('log_stream.updated', 'update', 'log_stream', 'Log stream updated', 'admin'),
  ('log_stream.paused', 'pause', 'log_stream', 'Log stream paused', 'admin'),
  ('log_stream.resumed', 'resume', 'log_stream', 'Log stream resumed', 'admin'),
  ('log_stream.replayed', 'replay', 'log_stream', 'Log stream replayed', 'admin'),
  ('log_stream.deleted', 'delete', 'log_stream', 'Log stream deleted', 'admin')
on conflict (event) do update
   set action = excluded.action, resource_type = excluded.resource_type, description = excluded.description, kind = excluded.kind
 where (e.action, e.resource_type, e.description, e.kind) is distinct from (excluded.action, excluded.resource_type, excluded.description, excluded.kind);

--------------------------------------------------------------------------------
-- The tracked tables
--------------------------------------------------------------------------------
-- A tenant is its own scope: tenant_id is its id; no account.
select audit.track_table('app.tenants', 'tenant', '[
  {"on": "insert", "event": "tenant.created"},
  {"on": "update", "event": "tenant.updated"},
  {"on": "delete", "event": "tenant.deleted"}
]', tenant_column => 'id', account_column => null, label => 'name');

-- An account's entries belong to the account itself.
select audit.track_table('app.accounts', 'account', '[
  {"on": "insert", "event": "account.created"},
  {"on": "update", "event": "account.updated"},
  {"on": "delete", "event": "account.deleted"}
]', account_column => 'id', label => 'name');

-- last_seen_at changes at every sign-in: noise.
select audit.track_table('app.users', 'user', '[
  {"on": "insert", "event": "user.created"},
  {"on": "update", "event": "user.updated"},
  {"on": "delete", "event": "user.deleted"}
]', ignored_columns => '{updated_at,last_seen_at}', label => 'email');

select audit.track_table('app.memberships', 'member', '[
  {"on": "insert", "event": "member.added"},
  {"on": "update", "event": "member.role_updated"},
  {"on": "delete", "event": "member.removed"}
]', label => '(select u.email from app.users u where u.id = user_id)');

select audit.track_table('app.invitations', 'invitation', '[
  {"on": "insert", "event": "invitation.created"},
  {"on": "update", "when": "old.accepted_at is null and new.accepted_at is not null", "event": "invitation.accepted"},
  {"on": "update", "event": "invitation.updated"},
  {"on": "delete", "event": "invitation.revoked"}
]', label => 'email');

-- Deletion is soft (deleted_at); a hard delete is recorded the same way.
select audit.track_table('app.processes', 'process', '[
  {"on": "insert", "event": "process.created"},
  {"on": "update", "when": "old.deleted_at is null and new.deleted_at is not null", "event": "process.deleted"},
  {"on": "update", "when": "old.deleted_at is not null and new.deleted_at is null", "event": "process.restored"},
  {"on": "update", "event": "process.updated"},
  {"on": "delete", "event": "process.deleted"}
]', label => 'name');

-- No updated_at column: nothing is noise.
select audit.track_table('app.process_members', 'process_member', '[
  {"on": "insert", "event": "process_member.added"},
  {"on": "delete", "event": "process_member.removed"}
]', ignored_columns => '{}', label => '(select u.email from app.users u where u.id = user_id)');

-- Only a job reaching a terminal status is significant; its progress is not.
select audit.track_table('app.jobs', 'job', '[
  {"on": "insert", "when": "new.status in (''completed'', ''failed'', ''cancelled'')", "event": "job.completed"},
  {"on": "update", "when": "new.status in (''completed'', ''failed'', ''cancelled'') and old.status not in (''completed'', ''failed'', ''cancelled'')", "event": "job.completed"}
]', label => '(select p.name from app.processes p where p.id = process_id)');

-- Key/value: a setting whose key names a secret (rpa.password, smtp.api_key …)
-- is stored as "[redacted]" whole; secret keys inside any value are too.
select audit.track_table('app.settings', 'settings', '[
  {"on": "insert", "event": "settings.updated"},
  {"on": "update", "event": "settings.updated"},
  {"on": "delete", "event": "settings.updated"}
]', secret_key_column => 'key', label => 'key');

-- The key's hash is a secret; last_used_at changes at every request: noise.
select audit.track_table('app.api_keys', 'api_key', '[
  {"on": "insert", "event": "api_key.created"},
  {"on": "update", "when": "old.revoked_at is null and new.revoked_at is not null", "event": "api_key.deactivated"},
  {"on": "update", "event": "api_key.updated"},
  {"on": "delete", "event": "api_key.deleted"}
]', ignored_columns => '{updated_at,last_used_at}', redacted_columns => '{key_hash}', label => 'name');

-- Licenses are tenant-level.
select audit.track_table('app.licenses', 'license', '[
  {"on": "insert", "when": "new.activated_at is not null", "event": "license.activated"},
  {"on": "insert", "event": "license.created"},
  {"on": "update", "when": "new.activated_at is distinct from old.activated_at or new.expires_at is distinct from old.expires_at", "event": "license.activated"},
  {"on": "update", "event": "license.updated"},
  {"on": "delete", "event": "license.deleted"}
]', account_column => null, label => 'plan');
