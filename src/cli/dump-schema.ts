// `npm run schema:dump`: migrates a scratch database on a throwaway embedded
// PostgreSQL (the version the snapshot is compared on), then writes the
// readable snapshot of the schema to db/schema/*.sql. `-- --check` only
// compares, and exits 1 when the committed files are out of date.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { withDatabase } from "../config.ts";
import { createDatabaseIfMissing } from "../db/admin.ts";
import { startEmbeddedPostgres } from "../db/embedded.ts";
import { migrateDatabase } from "../db/migrate.ts";
import { compareSnapshot, describeDifferences, writeSnapshot } from "../db/schema-files.ts";
import { takeSnapshot } from "../db/schema-snapshot.ts";
import { createLogger } from "../log.ts";

const logger = createLogger(process.env.LOG_LEVEL ?? "warn");
const check = process.argv.includes("--check");
const dataDir = await mkdtemp(path.join(tmpdir(), "audit-trail-schema-"));
const server = await startEmbeddedPostgres({ dataDir, port: 0, logger });
try {
  await createDatabaseIfMissing(server.rootUrl, "audit_schema");
  const url = withDatabase(server.rootUrl, "audit_schema");
  // The in-progress migration too: the snapshot shows what the branch defines.
  await migrateDatabase(url, logger, { includeCurrent: true });
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const snapshot = await takeSnapshot(client).finally(() => client.end());
  if (check) {
    const differences = await compareSnapshot(snapshot);
    if (differences.length) {
      process.stderr.write(describeDifferences(differences) + "\n");
      process.exitCode = 1;
    } else {
      process.stdout.write(`db/schema/ is up to date (${snapshot.files.size} files, PostgreSQL ${snapshot.serverMajor})\n`);
    }
  } else {
    const written = await writeSnapshot(snapshot);
    process.stdout.write(written.length
      ? `db/schema/: wrote ${written.join(", ")} (PostgreSQL ${snapshot.serverMajor})\n`
      : `db/schema/ was already up to date (PostgreSQL ${snapshot.serverMajor})\n`);
  }
} catch (err) {
  logger.fatal({ err }, "schema dump failed");
  process.exitCode = 1;
} finally {
  await server.stop();
  await rm(dataDir, { recursive: true, force: true });
}
