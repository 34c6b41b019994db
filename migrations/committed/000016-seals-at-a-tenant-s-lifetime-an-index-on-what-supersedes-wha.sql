--! Previous: sha1:80f0081c448ad033441687b0af9b20de101fb717
--! Hash: sha1:ffa9aa20ef3b0157f5bad3ca723be24d7a102fce
--! Message: Seals at a tenant's lifetime: an index on what supersedes what, covering_seals found from the transaction ids

-- Tamper evidence at a tenant's lifetime of seals: a seal a minute for an
-- active tenant is half a million a year, so nothing may look at every seal
-- per seal or per exported entry.
--
-- 1. Which seal supersedes which (audit.verify(), audit.covering_seals(), the
--    Node verifier): an index instead of a scan of the tenant's seals per seal.
create index if not exists seals_tenant_supersedes_idx on audit.seals (tenant_id, supersedes) where supersedes is not null;

-- 2. An export's covering seals, found from its transaction ids: per distinct
--    id, the tenant's seal with the smallest to_xid above it (the seals tile
--    the transactions; of a range re-sealed after maintenance, the newest),
--    one index probe each, instead of every seal of the tenant against every
--    id of the chunk.
create or replace function audit.covering_seals(xids bigint[])
  returns setof audit.seals
  language sql
  stable
  security definer
  set search_path to 'pg_catalog', 'pg_temp'
as $function$
  with scope as (
    select coalesce(audit.scoped_tenant_id('tenant_admin'), audit.scoped_tenant_id('account_admin')) as tenant_id
  ), found as (
    select distinct c.seq
      from scope
     cross join (select distinct x from unnest(xids) x where x is not null) u
     cross join lateral (
       select s.seq, s.from_xid from audit.seals s
        where s.tenant_id = scope.tenant_id and s.to_xid > u.x
        order by s.to_xid, s.seq desc
        limit 1) c
     where c.from_xid <= u.x
  )
  select s.* from audit.seals s join found f on f.seq = s.seq
   where s.tenant_id = (select scope.tenant_id from scope)
   order by s.seq
$function$;
comment on function audit.covering_seals(xids bigint[]) is '@behavior -*
For exports: the current seals of the admin''s tenant (from the jwt.claims.* settings) whose transaction range holds any of the given transaction ids, with their entry lists, so that an export can carry each entry''s Merkle inclusion proof. Account admins get them too: the leaves are hashes, which reveal nothing of other accounts'' entries. One index probe per distinct transaction id.';
