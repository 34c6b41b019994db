// Once per test run: a real PostgreSQL (the embedded one on a free port, or
// the disposable superuser server named by TEST_DATABASE_URL), one database
// migrated through the product's own migrate path, kept as the template
// every test file clones.
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { withDatabase } from "../src/config.ts";
import { createDatabaseIfMissing, dropDatabase, setRolePasswords } from "../src/db/admin.ts";
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from "../src/db/embedded.ts";
import { migrateDatabase } from "../src/db/migrate.ts";
import { createLogger } from "../src/log.ts";

declare module "vitest" {
  export interface ProvidedContext {
    rootUrl: string;
    templateDatabase: string;
    appUserPassword: string;
    authenticatorPassword: string;
  }
}

export default async function setup(project: TestProject) {
  const logger = createLogger(process.env.LOG_LEVEL ?? "warn");
  let embedded: EmbeddedPostgresServer | null = null;
  let dataDir: string | null = null;
  let rootUrl = process.env.TEST_DATABASE_URL?.trim() || "";
  if (!rootUrl) {
    dataDir = await mkdtemp(path.join(tmpdir(), "audit-trail-test-"));
    embedded = await startEmbeddedPostgres({ dataDir, port: 0, logger });
    rootUrl = embedded.rootUrl;
  }
  const templateDatabase = `audit_test_template_${process.pid}`;
  await dropDatabase(rootUrl, templateDatabase);
  await createDatabaseIfMissing(rootUrl, templateDatabase);
  await migrateDatabase(withDatabase(rootUrl, templateDatabase), logger, { includeCurrent: true });
  const appUserPassword = randomBytes(12).toString("base64url");
  const authenticatorPassword = randomBytes(12).toString("base64url");
  await setRolePasswords(rootUrl, { app_user: appUserPassword, audit_authenticator: authenticatorPassword });

  project.provide("rootUrl", rootUrl);
  project.provide("templateDatabase", templateDatabase);
  project.provide("appUserPassword", appUserPassword);
  project.provide("authenticatorPassword", authenticatorPassword);

  return async () => {
    await dropDatabase(rootUrl, templateDatabase).catch(() => undefined);
    if (embedded) await embedded.stop();
    if (dataDir) await rm(dataDir, { recursive: true, force: true });
    // As root with a temporary folder the postgres user cannot enter, the
    // cluster was kept under /var/lib/audit-trail/clusters/ instead.
    if (embedded && dataDir && !embedded.clusterDir.startsWith(dataDir + path.sep)) {
      await rm(path.dirname(embedded.clusterDir), { recursive: true, force: true });
    }
  };
}
