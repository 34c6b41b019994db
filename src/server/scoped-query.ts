// SQL outside GraphQL (e.g. the CSV export) with exactly the scope the
// GraphQL API has: one transaction in the admin kind's role with the verified claims
// in jwt.claims.*, so row-level security decides what is visible.
import type pg from "pg";
import { inTransaction } from "../db/transaction.ts";
import { scopePgSettings, type AuditClaims } from "./auth.ts";

export interface ScopedQueryOptions {
  /** Longest statement, in milliseconds (default 10 s; exports may want longer). */
  statementTimeoutMs?: number;
  /** Start the transaction READ ONLY (default true). */
  readOnly?: boolean;
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
  const settings = scopePgSettings(claims, { statementTimeoutMs: options.statementTimeoutMs ?? 10_000 });
  return inTransaction(
    pool,
    async (client) => {
      // Same mechanism as PostGraphile's pgSettings: transaction-local set_config.
      await client.query("select set_config(s.key, s.value, true) from json_each_text($1::json) s", [JSON.stringify(settings)]);
      return work(client);
    },
    { begin: options.readOnly === false ? "begin" : "begin read only" },
  );
}
