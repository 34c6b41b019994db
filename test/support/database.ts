// A fresh, migrated database per test file, cloned from the run's template.
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { withCredentials, withDatabase } from "../../src/config.ts";
import { createDatabaseIfMissing, dropDatabase } from "../../src/db/admin.ts";

export interface TestDatabase {
  name: string;
  /** Superuser connection to the server's maintenance database. */
  rootUrl: string;
  /** Owner (superuser) connection to this database. */
  ownerUrl: string;
  /** app_user's connection: how the business application writes. */
  appUrl: string;
  /** audit_authenticator's connection: how the GraphQL server reads. */
  authUrl: string;
  /** A pool as the owner, closed by drop(). */
  owner: pg.Pool;
  /** A pool as app_user, closed by drop(). */
  app: pg.Pool;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const rootUrl = inject("rootUrl");
  const name = `audit_test_${randomBytes(6).toString("hex")}`;
  await createDatabaseIfMissing(rootUrl, name, inject("templateDatabase"));
  const ownerUrl = withDatabase(rootUrl, name);
  const appUrl = withCredentials(ownerUrl, "app_user", inject("appUserPassword"));
  const authUrl = withCredentials(ownerUrl, "audit_authenticator", inject("authenticatorPassword"));
  const owner = new pg.Pool({ connectionString: ownerUrl, max: 4 });
  const app = new pg.Pool({ connectionString: appUrl, max: 4 });
  // pg-pool's end() resolves before its sockets have closed, so drop()'s
  // `drop database ... with (force)` can terminate a connection that is still
  // closing; unheard, that 'error' event would crash the test worker.
  for (const pool of [owner, app]) pool.on("error", () => undefined);
  return {
    name, rootUrl, ownerUrl, appUrl, authUrl, owner, app,
    async drop() {
      await Promise.all([owner.end(), app.end()]);
      await dropDatabase(rootUrl, name);
    },
  };
}
