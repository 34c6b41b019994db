// Configuration from environment variables, validated once at start-up.
// Every variable is documented in README.md.
import path from "node:path";

export interface Config {
  /** Owner (or superuser) connection, used to migrate. Unset: embedded PostgreSQL. */
  databaseUrl: string | null;
  /** audit_authenticator's login, used for every API request; derived when unset. */
  authDatabaseUrl: string | null;
  /** Folder of the embedded cluster and its credentials. */
  dataDir: string;
  /** Port of the embedded PostgreSQL on 127.0.0.1. */
  embeddedPgPort: number;
  /** HTTP listen address and port. */
  host: string;
  port: number;
  logLevel: string;
  /** Load the demo data set into an empty database (always on for the embedded default). */
  demo: boolean;
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

const LOG_LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];

function nonEmpty(env: NodeJS.ProcessEnv, name: string): string | null {
  const v = env[name];
  return v === undefined || v.trim() === "" ? null : v.trim();
}

export function parsePort(raw: string | null, name: string, fallback: number, allowZero = false): number {
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1) || n > 65535) {
    throw new ConfigError(`${name} must be a TCP port number (${allowZero ? 0 : 1}-65535), got "${raw}"`);
  }
  return n;
}

export function parsePostgresUrl(raw: string | null, name: string): string | null {
  if (raw === null) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(`${name} is not a valid URL; expected postgres://user:password@host:port/database`);
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new ConfigError(`${name} must start with postgres:// or postgresql://, got "${url.protocol}//"`);
  }
  if (url.pathname.length <= 1) {
    throw new ConfigError(`${name} must name a database, e.g. postgres://user@localhost:5432/audit_trail`);
  }
  return raw;
}

export function parseBoolean(raw: string | null, name: string, fallback: boolean): boolean {
  if (raw === null) return fallback;
  const v = raw.toLowerCase();
  if (["1", "true", "yes", "on"].includes(v)) return true;
  if (["0", "false", "no", "off"].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false, got "${raw}"`);
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = []): Config {
  const logLevel = nonEmpty(env, "LOG_LEVEL") ?? "info";
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  }
  const databaseUrl = parsePostgresUrl(nonEmpty(env, "DATABASE_URL"), "DATABASE_URL");
  return {
    databaseUrl,
    authDatabaseUrl: parsePostgresUrl(nonEmpty(env, "AUTH_DATABASE_URL"), "AUTH_DATABASE_URL"),
    dataDir: path.resolve(nonEmpty(env, "DATA_DIR") ?? ".data"),
    embeddedPgPort: parsePort(nonEmpty(env, "EMBEDDED_PG_PORT"), "EMBEDDED_PG_PORT", 54329, true),
    host: nonEmpty(env, "HOST") ?? "127.0.0.1",
    port: parsePort(nonEmpty(env, "PORT"), "PORT", 5678, true),
    logLevel,
    demo: databaseUrl === null || argv.includes("--demo"),
  };
}

/** The same server and database, logged in as another role. */
export function withCredentials(url: string, user: string, password: string | null): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = password === null ? "" : encodeURIComponent(password);
  return u.toString();
}

/** The same server and credentials, another database. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = "/" + encodeURIComponent(database);
  return u.toString();
}
