// Brings the database up for the server: the embedded cluster when
// DATABASE_URL is unset, then migrations and partitions either way.
import type { Config } from "../config.ts";
import { withCredentials, withDatabase } from "../config.ts";
import type { Logger } from "../log.ts";
import { createDatabaseIfMissing, setRolePasswords } from "./admin.ts";
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from "./embedded.ts";
import { migrateDatabase } from "./migrate.ts";

export const EMBEDDED_DATABASE = "audit_trail";

export interface PreparedDatabase {
  /** Owner connection (migrations, partition maintenance, demo data). */
  ownerUrl: string;
  /** audit_authenticator's connection, for API requests. */
  authUrl: string;
  /** app_user's connection, for applications (known for the embedded default only). */
  appUrl: string | null;
  embedded: EmbeddedPostgresServer | null;
  stop(): Promise<void>;
}

export async function prepareDatabase(config: Config, logger: Logger): Promise<PreparedDatabase> {
  if (config.databaseUrl) {
    await migrateDatabase(config.databaseUrl, logger);
    return {
      ownerUrl: config.databaseUrl,
      authUrl: config.authDatabaseUrl ?? withCredentials(config.databaseUrl, "audit_authenticator", null),
      appUrl: null,
      embedded: null,
      async stop() {},
    };
  }
  const embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort, logger });
  try {
    await createDatabaseIfMissing(embedded.rootUrl, EMBEDDED_DATABASE);
    const ownerUrl = withDatabase(embedded.rootUrl, EMBEDDED_DATABASE);
    await migrateDatabase(ownerUrl, logger);
    const { appUserPassword, authenticatorPassword } = embedded.credentials;
    await setRolePasswords(embedded.rootUrl, { app_user: appUserPassword, audit_authenticator: authenticatorPassword });
    return {
      ownerUrl,
      authUrl: config.authDatabaseUrl ?? withCredentials(ownerUrl, "audit_authenticator", authenticatorPassword),
      appUrl: withCredentials(ownerUrl, "app_user", appUserPassword),
      embedded,
      stop: () => embedded.stop(),
    };
  } catch (err) {
    await embedded.stop();
    throw err;
  }
}
