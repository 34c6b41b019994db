// Random SQL as the API's scope roles: a transaction of audit_authenticator
// that switched to audit_tenant_admin / audit_account_admin (or
// audit_viewer) with jwt.claims.* set, as src/server/scoped-query.ts does or
// by hand; random queries (aggregates, groups, joins, windows, subqueries,
// the functions granted to these roles), and queries built to fail on other
// scopes' values (division by zero, casts) so that an error could tell what
// another scope holds.
import fc from "fast-check";
import type pg from "pg";
import { setTransactionScope } from "../../../src/server/scoped-query.ts";
import { filterArbitrary, toSql, type Filter } from "./filters.ts";
import { sometimes } from "./isolation-runs.ts";
import { CANONICAL_INSTANT, Params, scopeWhere, type Scope, type Vocabulary } from "./truth.ts";
import type { World } from "./world.ts";

export const SCOPE_ROLES = ["audit_tenant_admin", "audit_account_admin", "audit_viewer"] as const;
type ScopeRole = (typeof SCOPE_ROLES)[number];

export interface SqlSession {
  label: string;
  /** "api": setTransactionScope (every claim set, '' when absent); "manual": set local role + set_config of the given claims. */
  mode: "api" | "manual";
  role: ScopeRole;
  claims: { sub?: string; tenant_id?: string; role?: string; account_id?: string };
  /** A `set local role` after the scope was set (audit_authenticator may switch between its roles). */
  switchTo: ScopeRole | null;
}

/** What a session may see, from the README: the role's kind must match the claimed kind. */
export function expectedScope(s: SqlSession): Scope {
  const role = s.switchTo ?? s.role;
  const tenant = s.claims.tenant_id?.toLowerCase() || null;
  const account = s.claims.account_id?.toLowerCase() || null;
  if (tenant === null) return null;
  if (role === "audit_tenant_admin" && s.claims.role === "tenant_admin") return { tenantId: tenant, accountId: null };
  if (role === "audit_account_admin" && s.claims.role === "account_admin" && account !== null) return { tenantId: tenant, accountId: account };
  return null;
}

export function sessionArbitrary(world: World): fc.Arbitrary<SqlSession> {
  const tenant = fc.constantFrom(...world.tenants);
  const anyAccount = fc.constantFrom(...world.tenants.flatMap((t) => t.accounts));
  const switchTo = sometimes(fc.constantFrom(...SCOPE_ROLES), 15);
  const api = tenant.chain((t) =>
    fc.record({
      kind: fc.constantFrom("tenant_admin", "account_admin"),
      account: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...t.accounts) }, { weight: 1, arbitrary: anyAccount }),
      sub: fc.constantFrom(...t.users),
      switchTo,
    }).map(({ kind, account, sub, switchTo }): SqlSession => ({
      label: `${kind} (setTransactionScope)`,
      mode: "api",
      role: kind === "tenant_admin" ? "audit_tenant_admin" : "audit_account_admin",
      claims: { sub, tenant_id: t.id, role: kind, ...(kind === "account_admin" ? { account_id: account } : {}) },
      switchTo,
    })),
  );
  // By hand: any role with any subset of claims, agreeing with it or not.
  const manual = fc
    .record({
      role: fc.constantFrom(...SCOPE_ROLES),
      tenant: sometimes(fc.oneof(tenant.map((t) => t.id), fc.uuid()), 85),
      kind: sometimes(fc.constantFrom("tenant_admin", "account_admin", "audit_reader", ""), 85),
      account: sometimes(anyAccount, 50),
      switchTo,
    })
    .map(({ role, tenant, kind, account, switchTo }): SqlSession => ({
      label: `${role} by hand`,
      mode: "manual",
      role,
      claims: { ...(tenant ? { tenant_id: tenant } : {}), ...(kind !== null ? { role: kind } : {}), ...(account ? { account_id: account } : {}) },
      switchTo,
    }));
  return fc.oneof({ weight: 3, arbitrary: api }, { weight: 1, arbitrary: manual });
}

/** Opens `client`'s read-only transaction in the session's role and claims. */
export async function enterSession(client: pg.ClientBase, s: SqlSession): Promise<void> {
  await client.query("begin read only");
  await client.query("set local statement_timeout = '10s'");
  if (s.mode === "api") {
    const c = s.claims;
    await setTransactionScope(
      client,
      { userId: c.sub!, tenantId: c.tenant_id!, role: c.role as "tenant_admin" | "account_admin", accountId: c.account_id ?? null },
      { statementTimeoutMs: 10_000 },
    );
  } else {
    await client.query(`set local role ${s.role}`);
    for (const [k, v] of Object.entries(s.claims)) await client.query("select set_config($1, $2, true)", [`jwt.claims.${k}`, v]);
  }
  if (s.switchTo) await client.query(`set local role ${s.switchTo}`);
}

/** A predicate on one entry, aimed at values of the log (mostly other scopes'). */
function probeArbitrary(v: Vocabulary): fc.Arbitrary<(p: Params) => string> {
  const eq = (column: string, values: readonly string[], cast: string) =>
    fc.constantFrom(...values).map((value) => (p: Params) => `l.${column} = ${p.add(value, cast)}`);
  return fc.oneof(
    eq("tenant_id", v.tenantIds, "uuid"),
    eq("account_id", v.accountIds, "uuid"),
    eq("actor_id", v.actorIds, "uuid"),
    eq("entity_id", v.entityIds, "text"),
    ...(v.entityLabels.length > 0 ? [eq("entity_label", v.entityLabels, "text")] : []),
    eq("actor_email", v.actorEmails, "text"),
    fc.constantFrom(...v.jsonPairs).map((pair) => (p: Params) => `l.new_values @> ${p.add(JSON.stringify(pair), "jsonb")}`),
    fc.constant(() => "l.account_id is null"),
  );
}

/**
 * For the owner's truth of a jsonb cast: whether a text casts (PostgreSQL 15
 * has no `is json`). Created in the test's own database clone.
 */
export const JSONB_CASTABLE = `create function public.isolation_castable_jsonb(value text) returns boolean language plpgsql immutable as $$
  begin perform value::jsonb; return true; exception when invalid_text_representation then return false; end $$`;

/** Text of an entry that a cast may fail on, and the cast. */
const CAST_SOURCES = ["l.entity_id", "l.actor_email", "l.actor_name", "l.event", "l.new_values->>'name'", "l.new_values->>'email'", "l.old_values->>'name'", "l.context->>'user_agent'"];
const CASTS: Record<string, { type: string; castable: (e: string) => string }> = {
  int: { type: "int", castable: (e) => `(${e}) ~ '^[0-9]{1,9}$'` },
  uuid: { type: "uuid", castable: (e) => `(${e}) ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'` },
  // (`is json` is PostgreSQL 16+; CI also runs on 15: a helper the test creates, see JSONB_CASTABLE)
  jsonb: { type: "jsonb", castable: (e) => `public.isolation_castable_jsonb(${e})` },
};

/**
 * One query: `scoped` runs in the session, `truth` as the owner (with the
 * session's claims set too, so that functions of the claims agree) and must
 * give the same rows. `fails` names the error codes the scoped query may
 * raise and when they are allowed.
 */
export interface SqlCase {
  family: string;
  /** The query over a condition; `other()` gives the scope condition of a second audit.log alias `m` (adding its parameters). */
  text: (condition: string, other: () => string) => string;
  filter: Filter | null;
  probe: ((p: Params) => string) | null;
  cast: { source: string; kind: keyof typeof CASTS } | null;
}

const families: Record<string, (c: string, other: () => string) => string> = {
  aggregates: (c) => `select count(*)::int as n, count(distinct l.actor_id)::int as actors, count(distinct l.account_id)::int as accounts,
      count(distinct l.transaction_id)::int as transactions, min(${CANONICAL_INSTANT("l.occurred_at")}) as first,
      max(${CANONICAL_INSTANT("l.occurred_at")}) as last, coalesce(string_agg(distinct l.event, ',' order by l.event), '') as events,
      count(*) filter (where l.account_id is null)::int as tenant_level
    from audit.log l where ${c}`,
  rows: (c) => `select l.id::text, l.tenant_id::text, l.account_id::text, l.entity_id from audit.log l where ${c} order by l.occurred_at desc, l.id desc limit 40`,
  groups: (c) => `select l.account_id::text as k, l.resource_type, count(*)::int as n, max(l.actor_email) as email
    from audit.log l where ${c} group by 1, 2 order by 1 nulls first, 2`,
  join: (c, other) => `select count(*)::int as n, count(distinct m.tenant_id)::int as tenants
    from audit.log l join audit.log m on m.transaction_id = l.transaction_id and ${other()} where ${c}`,
  window: (c) => `select l.id::text, count(*) over (partition by l.account_id)::int as per_account,
      row_number() over (order by l.occurred_at, l.id)::int as n from audit.log l where ${c} order by l.id`,
  exists: (c) => `select exists (select 1 from audit.log l where ${c}) as e, (select count(*)::int from audit.log l where ${c}) as n`,
  description: (c) => `select l.id::text, audit.log_description(l) as d from audit.log l where ${c} order by l.id`,
  cte: (c) => `with x as (select l.id, l.transaction_id from audit.log l where ${c})
    select count(*)::int as n, (select count(*)::int from x x2 where x2.transaction_id in (select transaction_id from x)) as again from x`,
  inScope: (c) => `select count(*)::int as n from audit.log l where ${c} and audit.in_scope(l.tenant_id, l.account_id)`,
  events: (c) => `select e.event, (select count(*)::int from audit.log l where l.event = e.event and ${c}) as n from audit.events e order by e.event`,
};

export function sqlCaseArbitrary(v: Vocabulary): fc.Arbitrary<SqlCase> {
  const plain = fc.record({
    family: fc.constantFrom(...Object.keys(families)),
    filter: sometimes(filterArbitrary(v), 70),
  }).map(({ family, filter }): SqlCase => ({ family, text: families[family]!, filter, probe: null, cast: null }));
  const division = fc.record({ filter: sometimes(filterArbitrary(v, 1), 60), probe: probeArbitrary(v) }).map(({ filter, probe }): SqlCase => ({
    family: "division by zero on a probe",
    text: families.aggregates!,
    filter,
    probe,
    cast: null,
  }));
  const cast = fc.record({
    filter: sometimes(filterArbitrary(v, 1), 60),
    source: fc.constantFrom(...CAST_SOURCES),
    kind: fc.constantFrom(...(Object.keys(CASTS) as (keyof typeof CASTS)[])),
  }).map(({ filter, source, kind }): SqlCase => ({ family: `cast to ${kind}`, text: families.aggregates!, filter, probe: null, cast: { source, kind } }));
  return fc.oneof({ weight: 4, arbitrary: plain }, { weight: 2, arbitrary: division }, { weight: 2, arbitrary: cast });
}

/**
 * The scoped statement: the family over the filter, plus the probe or cast
 * as one more (failing) condition. The probe's division by zero, and the
 * cast, are what an attacker would put in a WHERE.
 */
export function scopedStatement(c: SqlCase): { text: string; values: unknown[] } {
  const p = new Params();
  const conditions = [c.filter ? toSql(c.filter, p) : "true"];
  if (c.probe) conditions.push(`1 / (case when ${c.probe(p)} then 0 else 1 end) = 1`);
  if (c.cast) conditions.push(`(${c.cast.source})::${CASTS[c.cast.kind]!.type} is not null`);
  return { text: c.text(conditions.join(" and "), () => "true"), values: p.values };
}

/**
 * The owner's statement for the same answer: the scope written out (for
 * both aliases), the probe's rows left out (the scoped query fails on them
 * or has none), a cast replaced by a test of castability (when the scoped
 * query succeeds, no row it kept failed the cast).
 */
export function truthStatement(c: SqlCase, scope: Scope): { text: string; values: unknown[] } {
  const p = new Params();
  const conditions = [`(${scopeWhere(scope, p)})`, c.filter ? toSql(c.filter, p) : "true"];
  if (c.probe) conditions.push(`not coalesce(${c.probe(p)}, false)`);
  // (a null casts to null: `is not null` leaves it out, as in the scoped statement)
  if (c.cast) conditions.push(`(${c.cast.source} is not null and ${CASTS[c.cast.kind]!.castable(c.cast.source)})`);
  return { text: c.text(conditions.join(" and "), () => `(${scopeWhere(scope, p, "m")})`), values: p.values };
}

type Statement = { text: string; values: unknown[] };

/** Owner queries deciding which errors the scoped statement may raise; null for a case that cannot fail. */
export function errorOracle(c: SqlCase, scope: Scope): { mustFail: Statement; mayFail: Statement } | null {
  if (!c.probe && !c.cast) return null;
  const exists = (withFilter: boolean): Statement => {
    const p = new Params();
    const conditions = [`(${scopeWhere(scope, p)})`];
    if (withFilter && c.filter) conditions.push(toSql(c.filter, p));
    if (c.probe) conditions.push(`coalesce(${c.probe(p)}, false)`);
    else if (c.cast) conditions.push(`(${c.cast.source} is not null and not ${CASTS[c.cast.kind]!.castable(c.cast.source)})`);
    return { text: `select exists (select 1 from audit.log l where ${conditions.join(" and ")}) as v`, values: p.values };
  };
  return {
    // An in-scope row that passes every condition and fails: the statement must fail.
    mustFail: exists(true),
    // Only an in-scope row that fails may make it fail (conditions run in any order).
    mayFail: exists(false),
  };
}

/** The values a failing cast may quote: the cast source of the scope's own entries. */
export function castValuesStatement(c: SqlCase, scope: Scope): { text: string; values: unknown[] } | null {
  if (!c.cast) return null;
  const p = new Params();
  return { text: `select distinct ${c.cast.source} as v from audit.log l where ${scopeWhere(scope, p)} and ${c.cast.source} is not null`, values: p.values };
}

/** The error a failing case raises: division by zero, or invalid text representation. */
export const errorCodeOf = (c: SqlCase): string | null => (c.probe ? "22012" : c.cast ? "22P02" : null);

/** The jwt.claims.* settings of a session, as the owner sets them to evaluate claim functions alike. */
export function claimSettings(s: SqlSession): Record<string, string> {
  const c = s.claims;
  const all = s.mode === "api" ? { sub: c.sub ?? "", tenant_id: c.tenant_id ?? "", role: c.role ?? "", account_id: c.account_id ?? "" } : c;
  return Object.fromEntries(Object.entries(all).map(([k, v]) => [`jwt.claims.${k}`, v]));
}
