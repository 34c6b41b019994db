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
