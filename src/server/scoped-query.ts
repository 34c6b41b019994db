// SQL outside GraphQL (e.g. the CSV export, the benchmarks) with exactly the
// scope the GraphQL API has: a transaction in the admin kind's role with the
// verified claims in jwt.claims.*, so row-level security decides what is visible.
import type pg from "pg";
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
