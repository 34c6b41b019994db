// SQL outside GraphQL (e.g. the CSV export, the benchmarks) with exactly the
// scope the GraphQL API has: a transaction in the admin kind's role with the
// verified claims in jwt.claims.*, so row-level security decides what is visible.
import type pg from "pg";
import type { WithPgClient } from "postgraphile/@dataplan/pg";
import { makePgAdaptorWithPgClient, makeWithPgClientViaPgClientAlreadyInTransaction, type NodePostgresPgClient } from "postgraphile/adaptors/pg";
import { inTransaction } from "../db/transaction.ts";
import { scopePgSettings, type AuditClaims, type ScopeClaims, type ScopeSettingsOptions } from "./auth.ts";

export interface ScopedQueryOptions {
  /** Longest statement, in milliseconds (default 10 s; exports may want longer). */
  statementTimeoutMs?: number;
  /** Start the transaction READ ONLY (default true). */
  readOnly?: boolean;
}

/**
 * Puts the client's open transaction in an admin's scope: the settings of
 * scopePgSettings, transaction-local, in one statement, the way PostGraphile
 * applies a request's pgSettings. The client must log in as audit_authenticator.
 */
export async function setTransactionScope(client: pg.ClientBase, claims: ScopeClaims, options: ScopeSettingsOptions): Promise<void> {
  const settings = scopePgSettings(claims, options);
  await client.query("select set_config(s.key, s.value, true) from json_each_text($1::json) s", [JSON.stringify(settings)]);
}

/**
 * Runs `work` in a transaction in the admin's scope role with their claims,
 * committing when it resolves and rolling back when it throws. `pool` must
 * log in as audit_authenticator (the server's pool). The client must not be
 * kept after `work` settles.
 */
export async function withScopedTransaction<T>(
  pool: pg.Pool,
  claims: AuditClaims,
  work: (client: pg.PoolClient) => Promise<T>,
  options: ScopedQueryOptions = {},
): Promise<T> {
  return inTransaction(
    pool,
    async (client) => {
      await setTransactionScope(client, claims, { statementTimeoutMs: options.statementTimeoutMs ?? 10_000 });
      return work(client);
    },
    { begin: options.readOnly === false ? "begin" : "begin read only" },
  );
}

/**
 * PostGraphile's withPgClient for the API's requests (preset.ts), with the
 * same transaction as @dataplan/pg's stock one (`begin`, the request's
 * pgSettings as transaction-local set_config, the queries, `commit`) but
 * `begin` and the settings sent as one simple-protocol query: one round trip
 * less per request. The settings travel as one JSON literal, quoted by the
 * driver's escapeLiteral, exactly the text the stock adaptor binds as a
 * parameter. Without settings (schema introspection) it is the stock one.
 */
export function makeScopedWithPgClient(pool: pg.Pool): WithPgClient<NodePostgresPgClient> {
  const stock = makePgAdaptorWithPgClient(pool);
  const configured = new WeakSet<pg.PoolClient>();
  const withPgClient = (async (pgSettings, callback) => {
    const entries = Object.entries(pgSettings ?? {}).flatMap(([key, value]) => (value == null ? [] : [[key, String(value)]]));
    if (entries.length === 0) return stock(pgSettings, callback);
    const client = await pool.connect();
    let broken = false;
    try {
      if (!configured.has(client)) {
        // As the stock adaptor does once per connection: no JIT optimisation for the API's short queries.
        await client.query("set jit_optimize_above_cost = -1");
        configured.add(client);
      }
      await client.query(`begin; select set_config(el->>0, el->>1, true) from json_array_elements(${client.escapeLiteral(JSON.stringify(entries))}::json) el`);
      // The stock client over a connection already in its transaction (nested transactions become savepoints).
      const result = await makeWithPgClientViaPgClientAlreadyInTransaction(client, true)(null, callback);
      await client.query("commit");
      return result;
    } catch (err) {
      // Whatever is open is rolled back (after a failed commit nothing is: a warning); a connection that cannot is discarded.
      await client.query("rollback").catch(() => {
        broken = true;
      });
      throw err;
    } finally {
      client.release(broken);
    }
  }) as WithPgClient<NodePostgresPgClient>;
  withPgClient.release = () => stock.release?.();
  return withPgClient;
}
