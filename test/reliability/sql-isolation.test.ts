// Randomized isolation in SQL (property-based, fast-check): as
// audit_tenant_admin / audit_account_admin (or audit_viewer) with
// jwt.claims.* set inside a transaction, the way the API's requests run,
// random queries see exactly the SQL truth of the claimed scope; queries
// made to fail on other scopes' values (division by zero, casts) fail only
// on the scope's own rows, and no error names another scope's data. Also:
// these roles cannot log in, and only audit_authenticator can become them.
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withCredentials } from "../../src/config.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { checkParameters, SEED, timeLimitOf } from "./support/isolation-runs.ts";
import {
  castValuesStatement, claimSettings, enterSession, errorCodeOf, errorOracle, expectedScope, scopedStatement, sessionArbitrary, sqlCaseArbitrary,
  truthStatement, JSONB_CASTABLE, SCOPE_ROLES, type SqlSession,
} from "./support/sql.ts";
import { Atoms, Vocabularies } from "./support/truth.ts";
import { seededWorld, type World } from "./support/world.ts";

let db: TestDatabase;
let world: World;
let vocabularies: Vocabularies;
let atoms: Atoms;
/** audit_authenticator's connections, as the server has them. */
let auth: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  world = await seededWorld(db, SEED);
  [vocabularies, atoms] = await Promise.all([Vocabularies.read(db.owner, world), Atoms.read(db.owner, world)]);
  await db.owner.query(JSONB_CASTABLE);
  auth = new pg.Pool({ connectionString: db.authUrl, max: 2 });
  auth.on("error", () => undefined); // (see test/support/database.ts: the drop may end a closing socket)
});

afterAll(async () => {
  await auth?.end();
  await db?.drop();
});

type Outcome = { rows: Record<string, unknown>[] } | { error: pg.DatabaseError };

/** Runs `statement` in the session's scope; the transaction is always rolled back. */
async function inSession(s: SqlSession, statement: { text: string; values: unknown[] }): Promise<Outcome> {
  const client = await auth.connect();
  let broken = false;
  try {
    await enterSession(client, s);
    return { rows: (await client.query(statement)).rows };
  } catch (err) {
    if (!(err instanceof pg.DatabaseError)) throw err;
    return { error: err };
  } finally {
    await client.query("rollback").catch(() => {
      broken = true;
    });
    client.release(broken);
  }
}

/** As the owner (who sees every entry), with the session's claims set, so that functions of the claims agree. */
async function asOwner(s: SqlSession, statement: { text: string; values: unknown[] }): Promise<Record<string, unknown>[]> {
  const client = await db.owner.connect();
  try {
    await client.query("begin read only");
    await client.query("select set_config(key, value, true) from json_each_text($1::json)", [JSON.stringify(claimSettings(s))]);
    return (await client.query(statement)).rows;
  } finally {
    await client.query("rollback");
    client.release();
  }
}

/** Every field of an error a client sees. */
const errorText = (e: pg.DatabaseError) =>
  JSON.stringify({ message: e.message, detail: e.detail, hint: e.hint, where: e.where, schema: e.schema, table: e.table, column: e.column });

describe("randomized isolation: SQL as the scope roles", () => {
  const RUNS = 80;
  it(`random queries, and queries made to fail on other scopes' values, reveal nothing outside the scope (${RUNS} cases in CI)`, async () => {
    // Values mostly of the session's own scope, so that answers are rarely empty; anyone's sometimes.
    const cases = sessionArbitrary(world).chain((s) => sqlCaseArbitrary(vocabularies.for(expectedScope(s))).map((c) => [s, c] as const));
    await fc.assert(
      fc.asyncProperty(cases, async ([s, c]) => {
        const scope = expectedScope(s);
        const scoped = scopedStatement(c);
        const where = `${s.label}${s.switchTo ? ` then ${s.switchTo}` : ""}, ${c.family}: ${scoped.text}`;
        const outcome = await inSession(s, scoped);
        const oracle = errorOracle(c, scope);
        const [mustFail, mayFail] = oracle
          ? await Promise.all([asOwner(s, oracle.mustFail), asOwner(s, oracle.mayFail)])
          : [[{ v: false }], [{ v: false }]];
        if ("error" in outcome) {
          const e = outcome.error;
          expect(e.code, `${where}: ${e.message}`).toBe(errorCodeOf(c));
          // Only the scope's own rows may make it fail...
          expect(mayFail[0]!.v, `${where}: failed on a row outside the scope (${e.message})`).toBe(true);
          // ...and what the error says is theirs.
          expect(atoms.leaks(scope, errorText(e), JSON.stringify(scoped.values)), `${where}: ${errorText(e)}`).toEqual([]);
          const quoted = /invalid input syntax for type \w+: "(.*)"$/s.exec(e.message)?.[1];
          const own = castValuesStatement(c, scope);
          if (quoted !== undefined && own) {
            const values = (await asOwner(s, own)).map((r) => r.v);
            expect(values, `${where}: the error quotes a value the scope does not have`).toContain(quoted);
          }
          return;
        }
        expect(mustFail[0]!.v, `${where}: should have failed on one of the scope's own rows`).toBe(false);
        expect(outcome.rows, where).toEqual(await asOwner(s, truthStatement(c, scope)));
        expect(atoms.leaks(scope, JSON.stringify(outcome.rows), JSON.stringify(scoped.values)), where).toEqual([]);
      }),
      checkParameters(RUNS),
    );
  }, timeLimitOf(RUNS, 60));

  it("the functions granted to the scope roles tell the session's own claims, and in_scope follows them", async () => {
    const pairs = fc.record({
      tenant: fc.option(fc.constantFrom(...vocabularies.all.tenantIds)),
      account: fc.option(fc.constantFrom(...vocabularies.all.accountIds)),
    });
    await fc.assert(
      fc.asyncProperty(sessionArbitrary(world), pairs, async (s, { tenant, account }) => {
        const outcome = await inSession(s, {
          text: `select audit.current_tenant_id()::text as tenant, audit.current_account_id()::text as account,
                   audit.current_scope_role() as role, audit.current_user_id()::text as sub,
                   audit.scoped_tenant_id('tenant_admin')::text as tenant_scope, audit.scoped_tenant_id('account_admin')::text as account_scope,
                   coalesce(audit.in_scope($1, $2), false) as in_scope`,
          values: [tenant, account],
        });
        // audit_viewer holds the grants: every session can call them.
        if ("error" in outcome) throw outcome.error;
        const c = s.claims;
        const claimed = (value: string | undefined) => value?.toLowerCase() || null;
        const kind = claimed(c.role);
        const t = claimed(c.tenant_id);
        expect(outcome.rows[0], s.label).toEqual({
          tenant: t,
          account: claimed(c.account_id),
          role: c.role || null,
          sub: claimed(c.sub),
          tenant_scope: kind === "tenant_admin" ? t : null,
          account_scope: kind === "account_admin" ? t : null,
          in_scope: t !== null && tenant === t && (kind === "tenant_admin" || (kind === "account_admin" && account !== null && account === claimed(c.account_id))),
        });
      }),
      checkParameters(30),
    );
  }, timeLimitOf(30, 30));

  it("statistics of the log's columns are hidden from the scope roles", async () => {
    // pg_stats would otherwise show common values (tenants, accounts, actors) of every tenant.
    const stats = "select count(*)::int as n from pg_stats where schemaname = 'audit' and tablename like 'log%'";
    const { rows } = await db.owner.query<{ n: number }>(stats);
    expect(rows[0]!.n).toBeGreaterThan(0); // they exist (the world ran analyze)
    for (const role of SCOPE_ROLES) {
      const session: SqlSession = { label: role, mode: "manual", role, claims: { tenant_id: world.tenants[0]!.id, role: "tenant_admin" }, switchTo: null };
      expect(await inSession(session, { text: stats, values: [] }), role).toEqual({ rows: [{ n: 0 }] });
    }
  });
});

describe("the scope roles are for the API only", () => {
  it("they cannot log in, and only audit_authenticator is a member", async () => {
    const roles = ["audit_tenant_admin", "audit_account_admin", "audit_viewer"];
    const { rows } = await db.owner.query<{ rolname: string; rolcanlogin: boolean }>(
      "select rolname, rolcanlogin from pg_roles where rolname = any($1) order by rolname", [roles],
    );
    expect(rows).toEqual(roles.sort().map((rolname) => ({ rolname, rolcanlogin: false })));
    const { rows: members } = await db.owner.query<{ role: string; member: string }>(
      `select r.rolname as role, m.rolname as member
         from pg_auth_members a join pg_roles r on r.oid = a.roleid join pg_roles m on m.oid = a.member
        where r.rolname in ('audit_tenant_admin', 'audit_account_admin') and not m.rolsuper
        order by 1, 2`,
    );
    // audit_viewer's members are these two roles and the authenticator; nobody else can become a scope role.
    expect(members).toEqual([
      { role: "audit_account_admin", member: "audit_authenticator" },
      { role: "audit_tenant_admin", member: "audit_authenticator" },
    ]);
    for (const role of roles) {
      const client = new pg.Client({ connectionString: withCredentials(db.ownerUrl, role, "any-password") });
      client.on("error", () => undefined);
      await expect(client.connect(), role).rejects.toThrow();
      await client.end().catch(() => undefined);
    }
  });
});
