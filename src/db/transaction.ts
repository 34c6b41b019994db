// One transaction on a pooled connection: committed when the work resolves,
// rolled back when it throws. A connection whose rollback fails as well is
// unusable and is discarded instead of returned to the pool.
import type pg from "pg";

export interface TransactionOptions {
  /** The statement that opens the transaction, e.g. "begin read only". */
  begin?: string;
}

export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions = {},
): Promise<T> {
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query(options.begin ?? "begin");
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (err) {
    try {
      await client.query("rollback");
    } catch {
      broken = true;
    }
    throw err;
  } finally {
    client.release(broken);
  }
}
