-- Enter migration here
--------------------------------------------------------------------------------
-- The database role of direct SQL: the role a session switched to
--------------------------------------------------------------------------------
-- The capture runs as security definer, so current_user there is the owner
-- and session_user the login: a DBA who logs in as postgres and runs
-- `set role app_user` was recorded as postgres. The role switched to is the
-- `role` setting (not changed by security definer); the login goes into the
-- context when it differs.
create or replace function audit_private.current_actor(
  out actor_type text, out actor_id uuid, out actor_email text, out actor_name text, out context jsonb)
  language plpgsql stable
  as $$
declare
  raw text := current_setting('audit.context', true);
  ctx jsonb;
  sub text;
  switched text;
begin
  if raw is not null and raw <> '' then
    ctx := raw::jsonb;
    actor_type := ctx->>'actor_type';
    actor_id := (ctx->>'actor_id')::uuid;
    actor_email := ctx->>'actor_email';
    actor_name := ctx->>'actor_name';
    context := coalesce(ctx->'context', '{}');
    return;
  end if;
  sub := nullif(current_setting('jwt.claims.sub', true), '');
  if sub ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then
    actor_type := 'user';
    actor_id := sub::uuid;
    select s.email, s.name into actor_email, actor_name from audit_private.user_snapshot(actor_id) s;
    context := jsonb_build_object('source', 'jwt.claims');
    return;
  end if;
  actor_type := 'database_role';
  switched := nullif(current_setting('role', true), 'none');
  actor_name := coalesce(switched, session_user::text);
  context := jsonb_strip_nulls(jsonb_build_object(
    'session_user', case when switched <> session_user::text then session_user::text end,
    'application_name', nullif(current_setting('application_name', true), ''),
    'client_addr', inet_client_addr()::text));
end
$$;
comment on function audit_private.current_actor() is 'The actor of the current statement, read once per statement by the capture trigger: the application''s context, else the JWT subject, else the database role (the role switched to with SET ROLE, with the login in the context).';
