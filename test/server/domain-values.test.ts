// The API's list of each domain's values (src/server/plugins/domain-values.ts)
// is the database's, and covers every domain- or enum-typed column of the
// audit log; a domain's check violation that still reaches the database is
// answered as the client's error, never as a server fault.
import { GraphQLError } from "postgraphile/graphql";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeMaskError } from "../../src/server/errors.ts";
import { DOMAIN_VALUES } from "../../src/server/plugins/domain-values.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { watchFaults, type FaultWatch } from "./fault-watch.ts";

let db: TestDatabase;
let faults: FaultWatch;

beforeAll(async () => {
  db = await createTestDatabase();
  faults = watchFaults();
});
afterAll(async () => {
  faults?.restore();
  await db?.drop();
});

describe("domain values", () => {
  it("each listed domain's values are exactly those its CHECK allows", async () => {
    for (const [name, { values }] of Object.entries(DOMAIN_VALUES)) {
      const { rows } = await db.owner.query<{ def: string }>(
        "select pg_get_constraintdef(c.oid) as def from pg_constraint c where c.contypid = $1::regtype and c.contype = 'c'",
        [name],
      );
      expect(rows, name).toHaveLength(1);
      const allowed = [...rows[0]!.def.matchAll(/'([^']*)'::text/g)].map((m) => m[1]);
      expect([...allowed].sort(), name).toEqual([...values].sort());
      for (const value of values) await db.owner.query(`select $1::${name}`, [value]);
    }
  });

  it("every domain- or enum-typed column of audit.log is listed", async () => {
    const { rows } = await db.owner.query<{ column: string; type: string }>(
      `select a.attname as column, format('%s.%s', n.nspname, t.typname) as type
         from pg_attribute a join pg_type t on t.oid = a.atttypid join pg_namespace n on n.oid = t.typnamespace
        where a.attrelid = 'audit.log'::regclass and a.attnum > 0 and not a.attisdropped and t.typtype in ('d', 'e')`,
    );
    expect(rows.length).toBeGreaterThan(0);
    for (const { column, type } of rows) expect(Object.keys(DOMAIN_VALUES), `audit.log.${column} (${type})`).toContain(type);
  });

  it("a domain's check violation that reaches the database is the client's error (the second line behind the check before SQL)", async () => {
    const refusal = await db.owner.query("select 'robot'::audit.actor_type").then(
      () => null,
      (err: unknown) => err,
    );
    expect(refusal).toMatchObject({ code: "23514", schema: "audit", dataType: "actor_type" });
    const mark = faults.mark();
    const masked = makeMaskError(faults.logger)(new GraphQLError("failed", { originalError: refusal as Error, path: ["auditLogs"] }));
    expect(masked.message).toBe("A value in the filter or condition is not an actor type: the values are user, api_key, system or database_role.");
    expect(masked.extensions).toEqual({ code: "INVALID_ACTOR_TYPE" });
    expect(masked.path).toEqual(["auditLogs"]);
    expect(faults.faultsSince(mark)).toEqual([]);
    // A check violation of anything else stays a server fault, with its reference.
    const other = makeMaskError(faults.logger)(new GraphQLError("failed", { originalError: Object.assign(new Error("x"), { code: "23514", table: "log" }) }));
    expect(other.extensions).toMatchObject({ code: "INTERNAL_SERVER_ERROR", errorId: expect.any(String) });
  });
});
