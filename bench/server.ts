// The PostgreSQL server the benchmarks run on: the embedded one in a
// git-ignored folder (bench/.work/cluster, kept between runs so that a large
// read data set can be reused), or the disposable server named by
// DATABASE_URL. Databases are created here and migrated through the
// product's own migrate path (committed migrations plus current.sql).
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { withCredentials, withDatabase } from "../src/config.ts";
import { createDatabaseIfMissing, dropDatabase, setRolePasswords } from "../src/db/admin.ts";
import { startEmbeddedPostgres, type EmbeddedPostgresServer } from "../src/db/embedded.ts";
import { migrateDatabase } from "../src/db/migrate.ts";
import type { Logger } from "../src/log.ts";

export const benchDir = fileURLToPath(new URL("./", import.meta.url));
export const workDir = fileURLToPath(new URL("./.work/", import.meta.url));

/** Server settings the embedded bench cluster runs with (recorded in the results). */
const EMBEDDED_SETTINGS: Record<string, string> = {
  shared_buffers: "1GB",
  max_wal_size: "8GB",
  // Runs start with an explicit CHECKPOINT; no timed checkpoint in between.
  checkpoint_timeout: "30min",
  // The rollups' lag counts from each entry's commit (pg_xact_commit_timestamp):
  // a few bytes per transaction, on every side of every comparison alike.
  track_commit_timestamp: "on",
};

export interface BenchServer {
  /** Superuser connection to the maintenance database. */
  readonly rootUrl: string;
  readonly host: string;
  readonly port: number;
  readonly superuser: string;
  readonly superuserPassword: string;
  readonly appUserPassword: string;
  readonly authenticatorPassword: string;
  readonly embedded: boolean;
  /** Connection string of a database on this server as the superuser (owner), app_user or audit_authenticator. */
  url(database: string, role?: "owner" | "app" | "auth"): string;
  stop(): Promise<void>;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function tuneEmbedded(embedded: EmbeddedPostgresServer, dataDir: string, logger: Logger): Promise<EmbeddedPostgresServer> {
  const rows = await query<{ name: string; setting: string; unit: string | null }>(
    embedded.rootUrl,
    `select name, current_setting(name) as setting, null as unit from pg_settings where name in (${Object.keys(EMBEDDED_SETTINGS)
      .map((n) => `'${n}'`)
      .join(", ")})`,
  );
  const current = new Map(rows.map((r) => [r.name, r.setting]));
  const wrong = Object.entries(EMBEDDED_SETTINGS).filter(([name, value]) => current.get(name) !== value);
  if (wrong.length === 0) return embedded;
  logger.info({ settings: Object.fromEntries(wrong) }, "tuning the bench cluster; restarting it");
  for (const [name, value] of wrong) await query(embedded.rootUrl, `alter system set ${name} = '${value}'`);
  const port = embedded.port;
  await embedded.stop();
  return startEmbeddedPostgres({ dataDir, port, logger });
}

export async function openBenchServer(logger: Logger): Promise<BenchServer> {
  const databaseUrl = process.env.DATABASE_URL?.trim();
  if (databaseUrl) {
    const rows = await query<{ rolsuper: boolean; user: string }>(
      databaseUrl,
      "select rolsuper, current_user as user from pg_roles where rolname = current_user",
    );
    if (!rows[0]?.rolsuper) {
      throw new Error(
        "DATABASE_URL must be a superuser connection to a server dedicated to benchmarking: the bench creates databases, disables triggers and sets the passwords of app_user and audit_authenticator",
      );
    }
    const appUserPassword = randomBytes(12).toString("base64url");
    const authenticatorPassword = randomBytes(12).toString("base64url");
    const u = new URL(databaseUrl);
    return makeServer({
      rootUrl: databaseUrl,
      host: u.hostname,
      port: Number(u.port || 5432),
      superuser: decodeURIComponent(u.username),
      superuserPassword: decodeURIComponent(u.password),
      appUserPassword,
      authenticatorPassword,
      embedded: false,
      stop: async () => {},
    });
  }
  const dataDir = `${workDir}cluster`;
  await mkdir(workDir, { recursive: true });
  let embedded = await startEmbeddedPostgres({ dataDir, port: 0, logger });
  embedded = await tuneEmbedded(embedded, dataDir, logger);
  const e = embedded;
  return makeServer({
    rootUrl: e.rootUrl,
    host: "127.0.0.1",
    port: e.port,
    superuser: e.credentials.user,
    superuserPassword: e.credentials.password,
    appUserPassword: e.credentials.appUserPassword,
    authenticatorPassword: e.credentials.authenticatorPassword,
    embedded: true,
    stop: () => e.stop(),
  });
}

function makeServer(s: Omit<BenchServer, "url">): BenchServer {
  return {
    ...s,
    url(database, role = "owner") {
      const owner = withDatabase(s.rootUrl, database);
      if (role === "owner") return owner;
      if (role === "app") return withCredentials(owner, "app_user", s.appUserPassword);
      return withCredentials(owner, "audit_authenticator", s.authenticatorPassword);
    },
  };
}

/** A fresh database (dropped first when it exists), migrated with committed migrations and current.sql. */
export async function createMigratedDatabase(server: BenchServer, name: string, logger: Logger): Promise<string> {
  await dropDatabase(server.rootUrl, name);
  await createDatabaseIfMissing(server.rootUrl, name);
  const url = server.url(name);
  await migrateDatabase(url, logger, { includeCurrent: true });
  // Roles are created by the first migration; give the login roles their passwords.
  await setRolePasswords(server.rootUrl, {
    app_user: server.appUserPassword,
    audit_authenticator: server.authenticatorPassword,
  });
  return url;
}

/** A fresh copy of a migrated template database. */
export async function cloneDatabase(server: BenchServer, template: string, name: string): Promise<string> {
  await dropDatabase(server.rootUrl, name);
  await createDatabaseIfMissing(server.rootUrl, name, template);
  return server.url(name);
}

export async function databaseExists(server: BenchServer, name: string): Promise<boolean> {
  const rows = await query<{ one: number }>(server.rootUrl, `select 1 as one from pg_database where datname = '${name.replace(/'/g, "''")}'`);
  return rows.length > 0;
}

export { dropDatabase };
