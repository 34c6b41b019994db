// `npm run migrate`: applies the committed migrations to DATABASE_URL (an
// owner or superuser connection), or to the embedded database when unset.
import { ConfigError, loadConfig } from "../config.ts";
import { prepareDatabase } from "../db/setup.ts";
import { createLogger } from "../log.ts";

const logger = createLogger();
try {
  const config = loadConfig();
  const db = await prepareDatabase(config, logger);
  await db.stop();
} catch (err) {
  if (err instanceof ConfigError) logger.fatal(err.message);
  else logger.fatal({ err }, "migration failed");
  process.exitCode = 1;
}
