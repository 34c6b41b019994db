// The one migrate path shared by `npm start`, `npm run migrate`, the tests
// and the bench: graphile-migrate's committed migrations (the tests also
// current.sql), then the tracking configuration (migrations/tracking.sql),
// then the audit partitions for the coming months.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import JSON5 from "json5";
import { Logger as MigrateLogger, migrate, watch, type Settings } from "graphile-migrate";
import pg from "pg";
import type { Logger } from "../log.ts";

const projectRoot = fileURLToPath(new URL("../../", import.meta.url));

// graphile-migrate keeps its pools open for a moment after use and exits the
// process if one of them sees an error, e.g. when the embedded server stops
// right after migrating. Close them as soon as the migration is done.
const { clearAllPools } = createRequire(import.meta.url)("graphile-migrate/dist/pgReal.js") as { clearAllPools(): void };

/** Settings from .gmrc, with the connection passed explicitly (never read from DATABASE_URL implicitly). */
export async function migrationSettings(connectionString: string, logger: Logger): Promise<Settings> {
  const gmrc = JSON5.parse(await readFile(`${projectRoot}.gmrc`, "utf8")) as Settings;
  const log = logger.child({ component: "graphile-migrate" });
  return {
    ...gmrc,
    connectionString,
    migrationsFolder: `${projectRoot}migrations`,
    logger: new MigrateLogger(() => (level, message) => {
      if (level === "error") log.error(message);
      else if (level === "warning") log.warn(message);
      else if (level === "info") log.info(message);
      else log.debug(message);
    }),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Applies the committed migrations and ensures the audit partitions.
 * Concurrent callers (several replicas starting at once) wait their turn:
 * graphile-migrate fails fast when another migration holds its lock.
 */
export async function migrateDatabase(
  connectionString: string,
  logger: Logger,
  options: { includeCurrent?: boolean } = {},
): Promise<void> {
  const settings = await migrationSettings(connectionString, logger);
  for (let attempt = 1; ; attempt++) {
    try {
      await migrate(settings);
      // Development only (the test suite): the in-progress migration too.
      // On main it is empty, so this changes nothing there.
      if (options.includeCurrent) await watch(settings, true);
      clearAllPools();
      break;
    } catch (err) {
      clearAllPools();
      if (err instanceof Error && /exclusive lock/.test(err.message) && attempt < 60) {
        logger.info({ attempt }, "another process is migrating this database; waiting");
        await sleep(500);
        continue;
      }
      throw err;
    }
  }
  await applyTrackingConfiguration(connectionString);
  const created = await ensurePartitions(connectionString);
  logger.info({ partitionsCreated: created }, "database is migrated");
}

/** The declarative tracking configuration, applied after every migration. */
export const TRACKING_FILE = `${projectRoot}migrations/tracking.sql`;

/**
 * Applies migrations/tracking.sql in one transaction. Idempotent: on a
 * database that matches it, it writes nothing and locks no business table.
 */
export async function applyTrackingConfiguration(connectionString: string, file = TRACKING_FILE): Promise<void> {
  const sql = await readFile(file, "utf8");
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("begin");
    await client.query(sql);
    await client.query("commit");
  } catch (err) {
    await client.query("rollback").catch(() => undefined);
    throw new Error(`${path.relative(projectRoot, file)} could not be applied: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  } finally {
    await client.end();
  }
}

/** Creates the coming months' partitions of audit.log; returns how many were created. */
export async function ensurePartitions(connectionString: string): Promise<number> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const { rows } = await client.query<{ created: number }>("select audit.ensure_partitions() as created");
    return rows[0]?.created ?? 0;
  } finally {
    await client.end();
  }
}
