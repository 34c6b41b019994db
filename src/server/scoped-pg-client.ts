// PostGraphile's database access for the API's requests (preset.ts). Its own
// module: it loads PostGraphile, which the CLI's background workers (that
// import scoped-query.ts) must not load before GRAPHILE_ENV is set.
import type pg from "pg";
import type { WithPgClient } from "postgraphile/@dataplan/pg";
import { makePgAdaptorWithPgClient, makeWithPgClientViaPgClientAlreadyInTransaction, type NodePostgresPgClient } from "postgraphile/adaptors/pg";

/**
 * PostGraphile's withPgClient for the API's requests (preset.ts), with the
 * same transaction as @dataplan/pg's stock one (`begin`, the request's
 * pgSettings as transaction-local set_config, the queries, `commit`) but
 * `begin` and the settings sent as one simple-protocol query: one round trip
 * less per request. The settings travel as one JSON literal, quoted by the
 * driver's escapeLiteral, exactly the text the stock adaptor binds as a
 * parameter. Without settings (schema introspection) it is the stock one.
 *
 * On a pipelined pool (pg's `pipeline: true`, as the API's is) the request's
 * queries are written behind `begin` and the settings without waiting for
 * their answer: the server runs them in order, so none runs before the
 * settings, and a failed `set_config` leaves the transaction aborted, so none
 * runs without them either (they fail with 25P02; the request fails with the
 * settings' own error).
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
      // Its error, or null once answered.
      const begun: Promise<unknown> = client
        .query(`begin; select set_config(el->>0, el->>1, true) from json_array_elements(${client.escapeLiteral(JSON.stringify(entries))}::json) el`)
        .then(() => null, (err: unknown) => err);
      if (!client.pipeline) {
        // Without pipelining the driver would queue the request's queries behind it anyway (and warn): wait.
        const settingsError = await begun;
        if (settingsError) throw settingsError;
      }
      let result: Awaited<ReturnType<typeof callback>>;
      try {
        // The stock client over a connection already in its transaction (nested transactions become savepoints).
        result = await makeWithPgClientViaPgClientAlreadyInTransaction(client, true)(null, callback);
      } catch (err) {
        // The work's error, unless the settings failed first (then the work's is only "transaction aborted").
        throw (await begun) ?? err;
      }
      const settingsError = await begun;
      if (settingsError) throw settingsError;
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
