// For applications writing through `pg`: run work in a transaction whose
// audit entries name the actor. The triggers do the rest.
import type pg from "pg";
import { inTransaction } from "../db/transaction.ts";

export interface AuditContext {
  /** The acting user or API key; required unless actor_type is "system". */
  actor_id?: string;
  actor_type?: "user" | "api_key" | "system";
  /** For system actors: a name such as "nightly-sync". */
  actor_name?: string;
  request_id?: string;
  ip?: string;
  user_agent?: string;
  reason?: string;
  /** Anything else is kept in the entries' context as well. */
  [key: string]: unknown;
}

/**
 * Runs `work` in a transaction with the audit context set, committing when it
 * resolves and rolling back (with its audit entries) when it throws.
 */
export async function withAuditContext<T>(
  pool: pg.Pool,
  context: AuditContext,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  return inTransaction(pool, async (client) => {
    await client.query("select audit.set_context($1::jsonb)", [JSON.stringify(context)]);
    return work(client);
  });
}
