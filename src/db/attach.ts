// The owner's connection for the command-line tools that work beside a
// running server (`npm run seal`, `npm run verify`): DATABASE_URL, or the
// embedded default's cluster: the one `npm start` is running if it is up
// (a second postmaster cannot start on the same folder), else started (and
// migrated) for the duration of the command.
import { readFile } from "node:fs/promises";
import path from "node:path";
import pg from "pg";
import { ConfigError, type Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { EMBEDDED_DATABASE, prepareDatabase } from "./setup.ts";

export interface OwnerDatabase {
  ownerUrl: string;
  /** Stops the embedded cluster when this command started it. */
  stop(): Promise<void>;
}

async function runningEmbeddedUrl(config: Config): Promise<string | null> {
  let creds: { user: string; password: string };
  try {
    creds = JSON.parse(await readFile(path.join(config.dataDir, "credentials.json"), "utf8")) as { user: string; password: string };
  } catch {
    return null; // no embedded database in this data folder yet
  }
  const url = `postgres://${encodeURIComponent(creds.user)}:${encodeURIComponent(creds.password)}@127.0.0.1:${config.embeddedPgPort}/${EMBEDDED_DATABASE}`;
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    return url;
  } catch {
    return null;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export async function openOwnerDatabase(config: Config, logger: Logger): Promise<OwnerDatabase> {
  const url = config.databaseUrl ?? (await runningEmbeddedUrl(config));
  if (url) {
    await assertSealingSchema(url, config.databaseUrl !== null);
    return { ownerUrl: url, async stop() {} };
  }
  const db = await prepareDatabase(config, logger);
  return { ownerUrl: db.ownerUrl, stop: () => db.stop() };
}

/** A database the migrations have not brought to tamper evidence yet gets a clear message, not a SQL error. */
async function assertSealingSchema(url: string, external: boolean): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ ready: boolean }>("select to_regclass('audit.seals') is not null as ready");
    if (!rows[0]!.ready) {
      throw new ConfigError(`${external ? "DATABASE_URL" : "the embedded database"} has no audit.seals yet: run \`npm run migrate\` first`);
    }
  } finally {
    await client.end();
  }
}
