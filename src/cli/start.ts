// `npm start`: the embedded PostgreSQL (or DATABASE_URL), migrations,
// partitions, then the server; keeps partitions ahead daily; stops cleanly.
import { ConfigError, loadConfig } from "../config.ts";
import { prepareDatabase, type PreparedDatabase } from "../db/setup.ts";
import { ensurePartitions } from "../db/migrate.ts";
import { createLogger } from "../log.ts";

const DAY_MS = 24 * 60 * 60 * 1000;
const logger = createLogger();

async function main(): Promise<void> {
  const config = loadConfig(process.env, process.argv.slice(2));
  const db: PreparedDatabase = await prepareDatabase(config, logger);

  const partitionTimer = setInterval(() => {
    ensurePartitions(db.ownerUrl).then(
      (created) => logger.info({ created }, "audit partitions ensured"),
      (err: unknown) => logger.error({ err }, "ensuring audit partitions failed"),
    );
  }, DAY_MS);
  partitionTimer.unref();

  logger.info({ database: db.embedded ? "embedded" : "DATABASE_URL", appDatabaseUrl: db.appUrl ?? undefined }, "ready");

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down");
    clearInterval(partitionTimer);
    await db.stop();
    process.exit(0);
  };
  process.once("SIGINT", () => void shutdown("SIGINT"));
  process.once("SIGTERM", () => void shutdown("SIGTERM"));
  // Keep the process alive until a signal arrives.
  setInterval(() => {}, DAY_MS);
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) logger.fatal(err.message);
  else logger.fatal({ err }, "start-up failed");
  process.exit(1);
});
