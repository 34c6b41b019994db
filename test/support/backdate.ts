// Moving entries back in time, which tests need because a transaction's now()
// cannot lie in the past: the owner's documented maintenance path, the one
// way past the append-only trigger (the test owner is a superuser).
import type pg from "pg";
import { inTransaction } from "../../src/db/transaction.ts";

/** Runs `update` (an UPDATE of audit.log's occurred_at) with `params` as the owner, in one maintenance transaction. */
export async function backdate(owner: pg.Pool, update: string, params: unknown[]): Promise<void> {
  await inTransaction(owner, async (client) => {
    await client.query("set local audit.maintenance = 'on'");
    await client.query(update, params);
  });
}
