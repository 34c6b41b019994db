// Configuration from environment variables, validated once at start-up.
// Every variable is documented in README.md.
import { createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import { isAccessLogMode, type AccessLogMode } from "./server/access-log-mode.ts";

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
  /** How API tokens are verified. */
  jwt: JwtSettings;
  /** Serve GraphiQL (Ruru) at /graphiql. */
  graphiql: boolean;
  /** Answer GraphQL introspection queries. */
  introspection: boolean;
  /** Longest SQL statement of an API request, in milliseconds. */
  statementTimeoutMs: number;
  /** Deepest selection nesting a GraphQL operation may have. */
  graphqlMaxDepth: number;
  /** Highest estimated cost of a GraphQL operation (see src/server/plugins/operation-limits.ts). */
  graphqlMaxCost: number;
  /** What the audit log's own access log records: exports (default), all (exports and reads) or off. */
  accessLog: AccessLogMode;
  /** Post webhooks to private, loopback and link-local addresses too, and over http (development, private deployments). */
  webhookAllowPrivate: boolean;
  /** Deadline of one webhook post (resolution, connection, request and response), in milliseconds. */
  webhookTimeoutMs: number;
  /** Pause between two polls of the webhook outbox while it is drained, in milliseconds. */
  webhookPollMs: number;
  /** First delay before a failed webhook is retried, doubling per attempt up to an hour, in milliseconds. */
  webhookRetryBaseMs: number;
  /** Pause between two runs of the security detectors (audit.detect()), in milliseconds. */
  detectIntervalMs: number;
  /** Pause between two passes of the rollups' consumer (audit.refresh_rollups()), in milliseconds. */
  rollupIntervalMs: number;
  /** Deadline of one log stream delivery (a batch to a receiver), in milliseconds. */
  streamTimeoutMs: number;
  /** Pause between two looks at a caught-up log stream, in milliseconds: about the lag a live stream keeps. */
  streamPollMs: number;
  /** First delay before a failed log stream delivery is retried, doubling per failure up to an hour, in milliseconds. */
  streamRetryBaseMs: number;
  /** The folder file streams write under (<root>/<tenant>/<stream>/); the embedded default's is DATA_DIR/streams; null: file streams fail. */
  streamFileRoot: string | null;
  /** Ed25519 private key (PEM) that signs seals; the embedded default generates one in DATA_DIR. */
  sealPrivateKeyFile: string | null;
  /** Trusted Ed25519 public keys (PEM, one or more) that verify seals; the embedded default's is in DATA_DIR. */
  sealPublicKeyFile: string | null;
  /** Pause between two sealing runs of the server, in milliseconds (0: the server does not seal). */
  sealIntervalMs: number;
  /** Pause between two verifications of every tenant's seals by the server, in milliseconds (0: never). */
  verifyIntervalMs: number;
}

/**
 * Token verification settings. Exactly one key kind is used: an HS256 shared
 * secret or an RS256 public key. With neither, only the embedded default can
 * start (it generates and keeps a secret in the data folder).
 */
export interface JwtSettings {
  /** HS256 shared secret (JWT_SECRET). */
  secret: string | null;
  /** RS256 public key, PEM (JWT_PUBLIC_KEY, or the file named by JWT_PUBLIC_KEY_FILE). */
  publicKey: string | null;
  /** Required `iss` of tokens (JWT_ISSUER), when set. */
  issuer: string | null;
  /** Required `aud` of tokens (JWT_AUDIENCE), when set. */
  audience: string | null;
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

export function parseInteger(raw: string | null, name: string, fallback: number, min: number, max: number): number {
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new ConfigError(`${name} must be a whole number between ${min} and ${max}, got "${raw}"`);
  }
  return n;
}

/** An interval in milliseconds: 0 (off) or between min and a week. */
export function parseInterval(raw: string | null, name: string, fallback: number, min: number): number {
  const n = parseInteger(raw, name, fallback, 0, 7 * 86_400_000);
  if (n !== 0 && n < min) throw new ConfigError(`${name} must be 0 (off) or at least ${min} milliseconds, got "${raw}"`);
  return n;
}

export function parseAccessLog(raw: string | null): AccessLogMode {
  if (raw === null) return "exports";
  const v = raw.toLowerCase();
  if (!isAccessLogMode(v)) {
    throw new ConfigError(
      `ACCESS_LOG must be exports, all or off (exports: record exports of the audit log; all: exports and reads; off: nothing), got "${raw}"`,
    );
  }
  return v;
}

/** Shortest HS256 secret accepted: 256 bits of key for a 256-bit MAC (RFC 7518, section 3.2). */
export const MIN_JWT_SECRET_LENGTH = 32;

/** Rejects secrets that are short or plainly not random (e.g. "aaaa…" or "changeme" repeated). */
export function checkJwtSecret(secret: string, name = "JWT_SECRET"): string {
  const hint = "use at least 32 random characters, e.g. the output of `openssl rand -base64 48`";
  if (secret.length < MIN_JWT_SECRET_LENGTH) {
    throw new ConfigError(`${name} is too short (${secret.length} characters): ${hint}`);
  }
  if (new Set(secret).size < 10) {
    throw new ConfigError(`${name} is too weak (it repeats a handful of characters): ${hint}`);
  }
  return secret;
}

/** Accepts an RSA public key of at least 2048 bits, in PEM. */
export function checkJwtPublicKey(pem: string, name = "JWT_PUBLIC_KEY"): string {
  if (/PRIVATE KEY/.test(pem)) {
    throw new ConfigError(`${name} holds a private key: give the server only the public key`);
  }
  let key;
  try {
    key = createPublicKey(pem);
  } catch {
    throw new ConfigError(`${name} is not a PEM public key ("-----BEGIN PUBLIC KEY-----" ...)`);
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== "rsa" || bits < 2048) {
    throw new ConfigError(`${name} must be an RSA public key of at least 2048 bits for RS256`);
  }
  return pem;
}

function parseJwtSettings(env: NodeJS.ProcessEnv): JwtSettings {
  const secret = nonEmpty(env, "JWT_SECRET");
  let publicKey = nonEmpty(env, "JWT_PUBLIC_KEY");
  const publicKeyFile = nonEmpty(env, "JWT_PUBLIC_KEY_FILE");
  if (publicKey && publicKeyFile) {
    throw new ConfigError("set either JWT_PUBLIC_KEY or JWT_PUBLIC_KEY_FILE, not both");
  }
  if (publicKeyFile) {
    try {
      publicKey = readFileSync(publicKeyFile, "utf8");
    } catch (err) {
      throw new ConfigError(`JWT_PUBLIC_KEY_FILE: cannot read ${publicKeyFile} (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
    }
  }
  if (secret && publicKey) {
    // One algorithm per server: accepting both invites algorithm-confusion mistakes.
    throw new ConfigError("set either JWT_SECRET (HS256 tokens) or JWT_PUBLIC_KEY (RS256 tokens), not both");
  }
  return {
    secret: secret === null ? null : checkJwtSecret(secret),
    publicKey: publicKey === null ? null : checkJwtPublicKey(publicKey, publicKeyFile ? "JWT_PUBLIC_KEY_FILE" : "JWT_PUBLIC_KEY"),
    issuer: nonEmpty(env, "JWT_ISSUER"),
    audience: nonEmpty(env, "JWT_AUDIENCE"),
  };
}

/**
 * What only the HTTP server needs: a token key. Outside the embedded default
 * (DATABASE_URL set) there is no data folder to keep a generated secret in,
 * and a server that accepts tokens nobody can issue is a misconfiguration.
 */
export function assertServerConfig(config: Config): void {
  if (config.databaseUrl !== null && config.jwt.secret === null && config.jwt.publicKey === null) {
    throw new ConfigError(
      "JWT_SECRET is required when DATABASE_URL is set: the shared HS256 secret your identity provider signs admin tokens with " +
        "(at least 32 random characters, e.g. `openssl rand -base64 48`), or JWT_PUBLIC_KEY / JWT_PUBLIC_KEY_FILE for RS256",
    );
  }
  if (config.graphiql && !config.introspection) {
    throw new ConfigError("GRAPHIQL=true needs GRAPHQL_INTROSPECTION=true (GraphiQL reads the schema by introspection)");
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, argv: readonly string[] = []): Config {
  const logLevel = nonEmpty(env, "LOG_LEVEL") ?? "info";
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")}, got "${logLevel}"`);
  }
  const databaseUrl = parsePostgresUrl(nonEmpty(env, "DATABASE_URL"), "DATABASE_URL");
  // Development conveniences are on unless NODE_ENV=production.
  const development = nonEmpty(env, "NODE_ENV") !== "production";
  const introspection = parseBoolean(nonEmpty(env, "GRAPHQL_INTROSPECTION"), "GRAPHQL_INTROSPECTION", development);
  return {
    databaseUrl,
    authDatabaseUrl: parsePostgresUrl(nonEmpty(env, "AUTH_DATABASE_URL"), "AUTH_DATABASE_URL"),
    dataDir: path.resolve(nonEmpty(env, "DATA_DIR") ?? ".data"),
    embeddedPgPort: parsePort(nonEmpty(env, "EMBEDDED_PG_PORT"), "EMBEDDED_PG_PORT", 54329, true),
    host: nonEmpty(env, "HOST") ?? "127.0.0.1",
    port: parsePort(nonEmpty(env, "PORT"), "PORT", 5678, true),
    logLevel,
    demo: databaseUrl === null || argv.includes("--demo"),
    jwt: parseJwtSettings(env),
    // GraphiQL needs introspection: it follows it unless asked for explicitly.
    graphiql: parseBoolean(nonEmpty(env, "GRAPHIQL"), "GRAPHIQL", development && introspection),
    introspection,
    statementTimeoutMs: parseInteger(nonEmpty(env, "STATEMENT_TIMEOUT_MS"), "STATEMENT_TIMEOUT_MS", 10_000, 100, 600_000),
    graphqlMaxDepth: parseInteger(nonEmpty(env, "GRAPHQL_MAX_DEPTH"), "GRAPHQL_MAX_DEPTH", 10, 3, 100),
    graphqlMaxCost: parseInteger(nonEmpty(env, "GRAPHQL_MAX_COST"), "GRAPHQL_MAX_COST", 5_000, 10, 1_000_000),
    accessLog: parseAccessLog(nonEmpty(env, "ACCESS_LOG")),
    webhookAllowPrivate: parseBoolean(nonEmpty(env, "WEBHOOK_ALLOW_PRIVATE"), "WEBHOOK_ALLOW_PRIVATE", false),
    webhookTimeoutMs: parseInteger(nonEmpty(env, "WEBHOOK_TIMEOUT_MS"), "WEBHOOK_TIMEOUT_MS", 10_000, 100, 120_000),
    webhookPollMs: parseInteger(nonEmpty(env, "WEBHOOK_POLL_MS"), "WEBHOOK_POLL_MS", 2_000, 50, 600_000),
    webhookRetryBaseMs: parseInteger(nonEmpty(env, "WEBHOOK_RETRY_BASE_MS"), "WEBHOOK_RETRY_BASE_MS", 30_000, 10, 3_600_000),
    detectIntervalMs: parseInteger(nonEmpty(env, "DETECT_INTERVAL_MS"), "DETECT_INTERVAL_MS", 15_000, 100, 86_400_000),
    rollupIntervalMs: parseInteger(nonEmpty(env, "ROLLUP_INTERVAL_MS"), "ROLLUP_INTERVAL_MS", 1_000, 100, 3_600_000),
    streamTimeoutMs: parseInteger(nonEmpty(env, "STREAM_TIMEOUT_MS"), "STREAM_TIMEOUT_MS", 10_000, 100, 120_000),
    streamPollMs: parseInteger(nonEmpty(env, "STREAM_POLL_MS"), "STREAM_POLL_MS", 1_000, 50, 600_000),
    streamRetryBaseMs: parseInteger(nonEmpty(env, "STREAM_RETRY_BASE_MS"), "STREAM_RETRY_BASE_MS", 1_000, 10, 3_600_000),
    streamFileRoot: streamFileRoot(env, databaseUrl),
    sealPrivateKeyFile: nonEmpty(env, "SEAL_PRIVATE_KEY_FILE"),
    sealPublicKeyFile: nonEmpty(env, "SEAL_PUBLIC_KEY_FILE"),
    sealIntervalMs: parseInterval(nonEmpty(env, "SEAL_INTERVAL_MS"), "SEAL_INTERVAL_MS", 60_000, 100),
    verifyIntervalMs: parseInterval(nonEmpty(env, "VERIFY_INTERVAL_MS"), "VERIFY_INTERVAL_MS", 86_400_000, 1_000),
  };
}

/**
 * STREAM_FILE_ROOT as an absolute path; the embedded default writes file
 * streams under DATA_DIR/streams, a DATABASE_URL deployment only where told.
 */
function streamFileRoot(env: NodeJS.ProcessEnv, databaseUrl: string | null): string | null {
  const root = nonEmpty(env, "STREAM_FILE_ROOT");
  if (root) return path.resolve(root);
  return databaseUrl === null ? path.join(path.resolve(nonEmpty(env, "DATA_DIR") ?? ".data"), "streams") : null;
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
