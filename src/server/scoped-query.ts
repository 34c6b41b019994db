// SQL outside GraphQL (e.g. the CSV export) with exactly the scope the
// GraphQL API has: one transaction as audit_viewer with the verified claims
// in jwt.claims.*, so row-level security decides what is visible.
import type pg from "pg";
import { scopePgSettings, type AuditClaims } from "./auth.ts";

export interface ScopedQueryOptions {
  /** Longest statement, in milliseconds (default 10 s; exports may want longer). */
  statementTimeoutMs?: number;
  /** Start the transaction READ ONLY (default true). */
  readOnly?: boolean;
}

/**
 * Runs `work` in a transaction as audit_viewer with the admin's claims,
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
  const settings = scopePgSettings(claims, { statementTimeoutMs: options.statementTimeoutMs ?? 10_000 });
  const client = await pool.connect();
  let broken = false;
  try {
    await client.query(options.readOnly === false ? "begin" : "begin read only");
    // Same mechanism as PostGraphile's pgSettings: transaction-local set_config.
    await client.query("select set_config(s.key, s.value, true) from json_each_text($1::json) s", [JSON.stringify(settings)]);
    const result = await work(client);
    await client.query("commit");
    return result;
  } catch (err) {
    try {
      await client.query("rollback");
    } catch {
      broken = true; // the connection is unusable: don't return it to the pool
    }
    throw err;
  } finally {
    client.release(broken);
  }
}
