// `npm run rollups:rebuild [-- --tenant UUID] [--from ISO] [--to ISO]`: for
// DBAs after a restore (or to check): recounts the rollups behind the charts
// and counts from audit.log, for one tenant, the UTC days of a time range, or
// everything (DATABASE_URL, or the embedded default's database), with
// audit.rebuild_rollups(). Prints what it recounted; exit code 0, or 1 on an
// error. The server need not stop: a rebuild waits for a running round and
// keeps rounds out until it commits.
import { parseArgs } from "node:util";
import pg from "pg";
import { ConfigError, loadConfig } from "../config.ts";
import { openOwnerDatabase } from "../db/attach.ts";
import { EmbeddedSetupError } from "../db/embedded.ts";
import { createLogger } from "../log.ts";
import { isUuid, isoInstant } from "../shared/filters.ts";

const USAGE = "usage: npm run rollups:rebuild [-- --tenant <uuid>] [--from <ISO instant>] [--to <ISO instant>] [--json]";
const logger = createLogger(process.env.LOG_LEVEL ?? "warn", true);

interface RebuildScope {
  tenant: string | null;
  from: string | null;
  to: string | null;
  json: boolean;
}

/** The command line, checked: a clear message for each bad value. */
function parseRebuildArgs(argv: string[]): RebuildScope {
  let values: { tenant?: string; from?: string; to?: string; json?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { tenant: { type: "string" }, from: { type: "string" }, to: { type: "string" }, json: { type: "boolean" } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n${USAGE}`);
  }
  const instant = (name: "from" | "to"): string | null => {
    const raw = values[name];
    if (raw === undefined) return null;
    const iso = isoInstant(raw);
    if (!iso) throw new ConfigError(`--${name} must be an ISO 8601 instant with a time zone (e.g. 2026-11-01T00:00:00Z), got "${raw}"`);
    return iso;
  };
  if (values.tenant !== undefined && !isUuid(values.tenant)) throw new ConfigError(`--tenant must be a tenant id (a UUID), got "${values.tenant}"`);
  const from = instant("from");
  const to = instant("to");
  if (from && to && Date.parse(to) <= Date.parse(from)) throw new ConfigError(`--to (${to}) must be after --from (${from})`);
  return { tenant: values.tenant ?? null, from, to, json: values.json ?? false };
}

async function main(): Promise<void> {
  const scope = parseRebuildArgs(process.argv.slice(2));
  const config = loadConfig(process.env, []);
  const db = await openOwnerDatabase(config, logger);
  const client = new pg.Client({ connectionString: db.ownerUrl, application_name: "audit-trail-rollups-rebuild" });
  try {
    await client.connect();
    const started = performance.now();
    const { rows } = await client.query<{ entries: string }>(
      "select audit.rebuild_rollups($1::uuid, $2::timestamptz, $3::timestamptz)::text as entries",
      [scope.tenant, scope.from, scope.to],
    );
    const entries = Number(rows[0]!.entries);
    const ms = Math.round(performance.now() - started);
    const what = [
      scope.tenant ? `tenant ${scope.tenant}` : "every tenant",
      scope.from || scope.to ? `the UTC days from ${scope.from ?? "the start"} to ${scope.to ?? "now"}` : "every day",
    ].join(", ");
    if (scope.json) process.stdout.write(JSON.stringify({ ...scope, json: undefined, entries, ms }) + "\n");
    else process.stdout.write(`Rebuilt the rollups of ${what} from the log: ${entries.toLocaleString("en-US")} entries counted in ${ms} ms.\n`);
  } finally {
    await client.end().catch(() => undefined);
    await db.stop();
  }
}

try {
  await main();
} catch (err) {
  if (err instanceof ConfigError || err instanceof EmbeddedSetupError) process.stderr.write(`npm run rollups:rebuild: ${err.message}\n`);
  else if ((err as { code?: string }).code === "22023") process.stderr.write(`npm run rollups:rebuild: ${(err as Error).message}\n`);
  else logger.fatal({ err }, "rebuilding the rollups failed");
  process.exitCode = 1;
}
