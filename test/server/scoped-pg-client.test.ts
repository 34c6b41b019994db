// The transaction every GraphQL request runs in (makeScopedWithPgClient,
// src/server/scoped-pg-client.ts), on a real database: the request's settings,
// transaction-local and verbatim, in one round trip with `begin`; nothing
// left on the connection afterwards, whether the work succeeded or failed.
// On a plain pool and on a pipelined one (the API's), where the work is
// written before the settings are answered and must never run without them.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeScopedWithPgClient } from "../../src/server/scoped-pg-client.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";

let db: TestDatabase;
const pools = new Map<boolean, pg.Pool>();
/** Statements sent on the pools' connections, in order. */
const sent: string[] = [];
/** Whether the last `begin` with settings has had its answer. */
let begunAnswered = true;

beforeAll(async () => {
  db = await createTestDatabase();
  for (const pipeline of [false, true]) {
    // One connection: what a request leaves behind, the next one would find.
    const pool = new pg.Pool({ connectionString: db.authUrl, max: 1, pipeline });
    // (as test/support/database.ts's pools: end() resolves before the socket has
    // closed, and the drop's forced termination must not crash the worker)
    pool.on("error", () => undefined);
    pool.on("connect", (client) => {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown;
      (client as { query: unknown }).query = (...args: unknown[]) => {
        const first = args[0] as string | { text: string };
        const text = typeof first === "string" ? first : first.text;
        sent.push(text);
        const answer = query(...args);
        if (text.startsWith("begin; select set_config(") && answer instanceof Promise) {
          begunAnswered = false;
          void answer.finally(() => (begunAnswered = true)).catch(() => undefined);
        }
        return answer;
      };
    });
    pools.set(pipeline, pool);
  }
});
afterAll(async () => {
  for (const pool of pools.values()) await pool.end();
  await db?.drop();
});

const TRICKY = `O'Brien \\ "quoted" ''; select 1; -- ü`;
const settings = { role: "audit_tenant_admin", "jwt.claims.tenant_id": "11111111-1111-4111-8111-111111111111", "jwt.claims.name": TRICKY };
const SHOW = "select current_user::text as role, current_setting('jwt.claims.tenant_id', true) as tenant, current_setting('jwt.claims.name', true) as name";

describe.each([{ pipeline: false }, { pipeline: true }])("makeScopedWithPgClient (pipeline: $pipeline)", ({ pipeline }) => {
  const scoped = () => makeScopedWithPgClient(pools.get(pipeline)!);

  /** What a plain query on the pool's (only) connection sees outside any request. */
  async function leftover() {
    const { rows } = await pools.get(pipeline)!.query<{ role: string; tenant: string | null; name: string | null }>(
      "select current_user::text as role, coalesce(current_setting('jwt.claims.tenant_id', true), '') as tenant, coalesce(current_setting('jwt.claims.name', true), '') as name",
    );
    return rows[0];
  }

  it("applies the request's settings verbatim, in its transaction, with begin in the same round trip", async () => {
    const withPgClient = scoped();
    await withPgClient(settings, async (client) => client.query({ text: "select 1" })); // first use of the connection
    sent.length = 0;
    const seen = await withPgClient(settings, async (client) => (await client.query<{ role: string; tenant: string; name: string }>({ text: SHOW })).rows[0]);
    expect(seen).toEqual({ role: "audit_tenant_admin", tenant: settings["jwt.claims.tenant_id"], name: TRICKY });
    // begin with the settings, the work, commit: three statements (two round trips when pipelined).
    expect(sent).toHaveLength(3);
    expect(sent[0]).toMatch(/^begin; select set_config\(/);
    expect(sent.slice(1)).toEqual([SHOW, "commit"]);
    expect(await leftover()).toEqual({ role: "audit_authenticator", tenant: "", name: "" });
  });

  it("rolls back when the work fails and leaves nothing on the connection", async () => {
    const withPgClient = scoped();
    sent.length = 0;
    await expect(
      withPgClient(settings, async (client) => {
        await client.query({ text: "select 1" });
        throw new Error("work failed");
      }),
    ).rejects.toThrow("work failed");
    await expect(withPgClient(settings, async (client) => client.query({ text: "select 1/0" }))).rejects.toThrow(/division by zero/);
    expect(await leftover()).toEqual({ role: "audit_authenticator", tenant: "", name: "" });
    expect(sent.filter((s) => s === "rollback")).toHaveLength(2);
  });

  it("refuses settings the login may not take, and the connection stays usable", async () => {
    const withPgClient = scoped();
    await expect(withPgClient({ ...settings, role: "postgres" }, async (client) => client.query({ text: "select 1" }))).rejects.toThrow(/permission denied|must be|not permitted/i);
    expect(await leftover()).toEqual({ role: "audit_authenticator", tenant: "", name: "" });
  });

  it("runs a nested transaction as a savepoint of the request's", async () => {
    const withPgClient = scoped();
    const names = await withPgClient(settings, async (client) => {
      await expect(client.withTransaction(async (tx) => tx.query({ text: "select 1/0" }))).rejects.toThrow(/division by zero/);
      // the request's transaction survived the failed savepoint
      return (await client.query<{ name: string }>({ text: "select current_setting('jwt.claims.name') as name" })).rows[0]!.name;
    });
    expect(names).toBe(TRICKY);
    expect(sent).toContain("rollback to savepoint tx");
  });

  it("without settings (schema introspection) opens no transaction", async () => {
    const withPgClient = scoped();
    sent.length = 0;
    const role = await withPgClient(null, async (client) => (await client.query<{ role: string }>({ text: "select current_user::text as role" })).rows[0]!.role);
    expect(role).toBe("audit_authenticator");
    expect(sent).not.toContain("begin");
    expect(sent.some((s) => s.startsWith("begin"))).toBe(false);
  });

  it(pipeline ? "writes the work before the settings are answered" : "waits for the settings before the work", async () => {
    const withPgClient = scoped();
    let answeredWhenAsked: boolean | null = null;
    const role = await withPgClient(settings, async (client) => {
      answeredWhenAsked = begunAnswered;
      return (await client.query<{ role: string }>({ text: "select current_user::text as role" })).rows[0]!.role;
    });
    expect(answeredWhenAsked).toBe(!pipeline);
    expect(role).toBe("audit_tenant_admin");
  });

  it("never runs the work without the settings: when they fail, so does every query behind them, with the settings' error", async () => {
    const withPgClient = scoped();
    const outcomes: string[] = [];
    const attempt = withPgClient({ ...settings, role: "postgres" }, async (client) => {
      // Both written behind the failing settings (when pipelined); neither may answer.
      const [first, second] = await Promise.allSettled([
        client.query<{ role: string }>({ text: "select current_user::text as role" }),
        client.query<{ n: string }>({ text: "select count(*)::text as n from audit.log" }),
      ]);
      for (const r of [first, second]) outcomes.push(r.status === "fulfilled" ? `answered ${JSON.stringify(r.value.rows)}` : (r.reason as { code?: string }).code ?? "error");
      if (first.status === "rejected") throw first.reason;
      return null;
    });
    await expect(attempt).rejects.toThrow(/permission denied|must be|not permitted/i);
    if (pipeline) expect(outcomes).toEqual(["25P02", "25P02"]); // current transaction is aborted
    else expect(outcomes).toEqual([]); // the work never started
    expect(await leftover()).toEqual({ role: "audit_authenticator", tenant: "", name: "" });
    // and the connection serves the next request normally
    expect(await withPgClient(settings, async (client) => (await client.query<{ role: string }>({ text: "select current_user::text as role" })).rows[0]!.role)).toBe("audit_tenant_admin");
  });
});
