// Random admin tokens: valid ones of every kind (and of scopes that exist
// only on paper: an account of another tenant, an unknown tenant), each with
// the scope it must see, and refused ones (expired, forged, unsigned,
// tampered, incomplete, malformed), each of which must get 401 and no data.
import fc from "fast-check";
import jwt from "jsonwebtoken";
import { SECRET, sign } from "../../server/helpers.ts";
import { sometimes } from "./isolation-runs.ts";
import type { Scope } from "./truth.ts";
import type { World } from "./world.ts";

export type TokenCase =
  | { kind: "valid"; label: string; token: string; scope: Scope }
  /** `header` is the whole Authorization header; null sends none. */
  | { kind: "refused"; label: string; header: string | null };

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
const now = () => Math.floor(Date.now() / 1000);

/** Claims of a valid admin of the world, and the scope they must see. */
function validClaims(world: World): fc.Arbitrary<{ label: string; claims: Record<string, unknown>; scope: Scope }> {
  const tenant = fc.constantFrom(...world.tenants);
  const otherAccount = fc.constantFrom(...world.tenants.flatMap((t) => t.accounts));
  const sub = (users: readonly string[]) => (users.length > 0 ? fc.oneof(fc.constantFrom(...users), fc.uuid()) : fc.uuid());
  return fc.oneof(
    { weight: 3, arbitrary: tenant.chain((t) => fc.record({ sub: sub(t.users), extraAccount: sometimes(otherAccount, 30), upper: fc.boolean() }).map(({ sub, extraAccount, upper }) => ({
      label: "tenant admin",
      // An account_id claim on a tenant admin is ignored; upper-case uuids are the same ids.
      claims: { sub, tenant_id: upper ? t.id.toUpperCase() : t.id, role: "tenant_admin", ...(extraAccount ? { account_id: extraAccount } : {}) },
      scope: { tenantId: t.id, accountId: null },
    }))) },
    { weight: 3, arbitrary: tenant.chain((t) => fc.record({ sub: sub(t.users), account: fc.constantFrom(...t.accounts) }).map(({ sub, account }) => ({
      label: "account admin",
      claims: { sub, tenant_id: t.id, role: "account_admin", account_id: account },
      scope: { tenantId: t.id, accountId: account },
    }))) },
    // Valid signatures over scopes that hold nothing: they must see nothing, not something else.
    { weight: 1, arbitrary: fc.record({ t: tenant, account: otherAccount, sub: fc.uuid() }).filter(({ t, account }) => !t.accounts.includes(account)).map(({ t, account, sub }) => ({
      label: "account admin of an account of another tenant",
      claims: { sub, tenant_id: t.id, role: "account_admin", account_id: account },
      scope: { tenantId: t.id, accountId: account },
    })) },
    { weight: 1, arbitrary: fc.record({ tenantId: fc.uuid(), sub: fc.uuid(), account: sometimes(otherAccount, 50) }).map(({ tenantId, sub, account }) => ({
      label: `${account ? "account" : "tenant"} admin of an unknown tenant`,
      claims: account ? { sub, tenant_id: tenantId, role: "account_admin", account_id: account } : { sub, tenant_id: tenantId, role: "tenant_admin" },
      scope: { tenantId, accountId: account },
    })) },
  );
}

/** Ways a token about `claims` is refused. */
function refusals(claims: Record<string, unknown>): fc.Arbitrary<{ label: string; header: string | null }> {
  const valid = sign(claims);
  const [header, , signature] = valid.split(".");
  const bearer = (token: string) => `Bearer ${token}`;
  const without = (name: string) => Object.fromEntries(Object.entries(claims).filter(([k]) => k !== name));
  return fc.oneof(
    fc.integer({ min: 60, max: 10_000_000 }).map((ago) => ({ label: "expired", header: bearer(sign({ ...claims, exp: now() - ago })) })),
    fc.integer({ min: 60, max: 86_400 }).map((ahead) => ({ label: "not yet valid", header: bearer(sign({ ...claims, nbf: now() + ahead })) })),
    fc.constantFrom("another-secret-0123456789-abcdefghijklmnopqrstuvwxyz", SECRET.slice(0, -1), SECRET + "x").map((secret) => ({
      label: "wrong secret", header: bearer(sign(claims, secret)),
    })),
    fc.constantFrom("HS384", "HS512").map((algorithm) => ({
      label: `signed with ${algorithm}`, header: bearer(sign(claims, SECRET, { algorithm: algorithm as "HS384" | "HS512" })),
    })),
    fc.constantFrom("", signature!).map((sig) => ({
      label: "alg none",
      header: bearer(`${b64({ alg: "none", typ: "JWT" })}.${b64({ exp: now() + 300, ...claims })}.${sig}`),
    })),
    // The signature of one token over another payload: another tenant, a wider role, a later expiry.
    fc.constantFrom<Record<string, unknown>>(
      { tenant_id: "00000000-0000-4000-a000-000000000000" },
      { role: "tenant_admin", account_id: undefined },
      { exp: now() + 86_400 * 365 },
    ).map((change) => ({ label: "tampered payload", header: bearer(`${header}.${b64({ exp: now() + 300, ...claims, ...change })}.${signature}`) })),
    fc.constantFrom("sub", "tenant_id", "role", "exp").map((name) => ({
      label: `without ${name}`,
      // (sign() adds an exp: a token without one is signed here directly)
      header: bearer(name === "exp" ? jwt.sign(without("exp"), SECRET, { algorithm: "HS256" }) : sign(without(name))),
    })),
    fc.constant({ label: "account admin without account_id", header: bearer(sign({ ...without("account_id"), role: "account_admin" })) }),
    fc.constantFrom("audit_reader", "postgres", "audit_tenant_admin", "admin", "Tenant_Admin", "").map((role) => ({
      label: `role ${JSON.stringify(role)}`, header: bearer(sign({ ...claims, role })),
    })),
    fc.constantFrom("tenant_id", "sub", "account_id").chain((name) =>
      fc.constantFrom("1", "' or 1=1 --", "not-a-uuid", 42).map((value) => ({
        label: `${name} not a uuid`, header: bearer(sign({ ...claims, role: "account_admin", account_id: claims.account_id ?? claims.tenant_id, [name]: value })),
      })),
    ),
    fc.constantFrom(null, "Bearer", "Bearer ", `Basic ${Buffer.from("a:b").toString("base64")}`, `Bearer ${valid} extra`, "Bearer not.a.jwt", valid).map((h) => ({
      label: h === null ? "no token" : "malformed header", header: h,
    })),
  );
}

export function tokenArbitrary(world: World): fc.Arbitrary<TokenCase> {
  const valid = validClaims(world);
  return fc.oneof(
    { weight: 3, arbitrary: valid.map(({ label, claims, scope }): TokenCase => ({ kind: "valid", label, token: sign(claims), scope })) },
    { weight: 1, arbitrary: valid.chain(({ claims }) => refusals(claims)).map(({ label, header }): TokenCase => ({ kind: "refused", label, header })) },
  );
}

/** Only valid tokens (for properties about what a scope sees). */
export function validTokenArbitrary(world: World): fc.Arbitrary<Extract<TokenCase, { kind: "valid" }>> {
  return validClaims(world).map(({ label, claims, scope }) => ({ kind: "valid" as const, label, token: sign(claims), scope }));
}

/** The Authorization header of a case (null: none). */
export const authorizationOf = (t: TokenCase): string | null => (t.kind === "valid" ? `Bearer ${t.token}` : t.header);
