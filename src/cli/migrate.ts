// `npm run migrate`: applies the committed migrations to DATABASE_URL (an
// owner or superuser connection), or to the embedded database when unset;
// then moves the entries waiting in the default partition of audit.log into
// their partitions (in batches, progress in the log), creates the coming
// months' partitions and labels the entries written before entity labels
// existed (in batches too). SIGINT / SIGTERM stop the move between two batches:
// nothing is lost, and the next run goes on.
import { ConfigError, loadConfig } from "../config.ts";
import { EmbeddedSetupError } from "../db/embedded.ts";
import { maintainLog } from "../db/migrate.ts";
import { prepareDatabase } from "../db/setup.ts";
import { createLogger } from "../log.ts";

const logger = createLogger();
try {
  const config = loadConfig();
  const db = await prepareDatabase(config, logger);
  // Replaces the embedded cluster's own handlers (stop it and exit at once):
  // the batch in progress finishes, then the cluster stops.
  const interrupted = new AbortController();
  process.removeAllListeners("SIGINT");
  process.removeAllListeners("SIGTERM");
  const onSignal = (signal: NodeJS.Signals) => {
    logger.info({ signal }, "stopping after the batch in progress");
    interrupted.abort();
    process.exitCode = 130;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await maintainLog(db.ownerUrl, logger, { signal: interrupted.signal });
  } finally {
    await db.stop();
  }
} catch (err) {
  if (err instanceof ConfigError || err instanceof EmbeddedSetupError) logger.fatal(err.message);
  else logger.fatal({ err }, "migration failed");
  process.exitCode = 1;
}
