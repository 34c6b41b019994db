// A bench section's own copy of a cached data set: created from it as a
// template with strategy = file_copy (a WAL-logged copy of 10 GB would write
// 10 GB of WAL), retried while the template's last connections close.
import pg from "pg";
import { dropDatabase } from "../src/db/admin.ts";
import type { BenchServer } from "./server.ts";

export async function connect(url: string, applicationName: string, options?: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url, application_name: applicationName, options });
  await c.connect();
  return c;
}

/** Replaces `database` with a copy of `template`. */
export async function copyDataset(server: BenchServer, template: string, database: string): Promise<void> {
  await dropDatabase(server.rootUrl, database);
  const c = await connect(server.rootUrl, "audit-trail-bench");
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await c.query(`create database ${c.escapeIdentifier(database)} template ${c.escapeIdentifier(template)} strategy = file_copy`);
        return;
      } catch (err) {
        if (attempt < 50 && err instanceof Error && /being accessed by other users/.test(err.message)) {
          await new Promise((resolve) => setTimeout(resolve, 100));
          continue;
        }
        throw err;
      }
    }
  } finally {
    await c.end();
  }
}

/**
 * The data set's entries carry made-up transaction ids (read-dataset.sql):
 * all of them must lie below the xmin horizon, as real history does, or a
 * consumer of the log (the detectors, the sealer, a stream) would wait for
 * them or take them for new. A young cluster is moved past them, one
 * committed transaction id at a time. Returns how many ids it moved.
 */
export async function moveXidsPastDataset(ctl: pg.Client, log: (xids: number) => void): Promise<number> {
  const horizon = (await ctl.query<{ h: string }>("select audit_private.current_horizon()::text as h")).rows[0]!.h;
  const { rows } = await ctl.query<{ m: string | null }>("select max(transaction_id)::text as m from audit.log where transaction_id >= $1", [horizon]);
  if (rows[0]!.m === null) return 0;
  const xids = Number(BigInt(rows[0]!.m) - BigInt(horizon)) + 1;
  log(xids);
  await ctl.query("set synchronous_commit = off");
  await ctl.query(`do $$ begin for i in 1..${xids} loop perform pg_current_xact_id(); commit; end loop; end $$`);
  await ctl.query("reset synchronous_commit");
  return xids;
}
