// `npm start` on a fresh data folder, as a newcomer runs it: the embedded
// PostgreSQL, migrations, the demo, one ready line with the URL, tokens that
// work, a health check, and a clean stop on SIGTERM (no server left, no
// stale lock file). A second start reuses the folder: no second demo, and
// the tokens of the first start still work (the secret is kept).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gql } from "./helpers.ts";

const projectRoot = fileURLToPath(new URL("../../", import.meta.url));

interface App {
  child: ChildProcess;
  /** The server process itself (npm does not pass signals on). */
  pid: number;
  url: string;
  tokens: { tenantAdmin: string; accountAdmin: string };
  output: () => string;
  exited: Promise<number | null>;
}

function startApp(dataDir: string): Promise<App> {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: "0", EMBEDDED_PG_PORT: "0", LOG_LEVEL: "info" };
  for (const name of ["DATABASE_URL", "AUTH_DATABASE_URL", "JWT_SECRET", "JWT_PUBLIC_KEY", "JWT_PUBLIC_KEY_FILE", "NODE_ENV", "GRAPHIQL", "GRAPHQL_INTROSPECTION"]) {
    delete env[name];
  }
  const child = spawn("npm", ["start", "--ignore-scripts"], { cwd: projectRoot, env, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm start did not get ready in time:\n${out}`)), 120_000);
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      const ready = out.split("\n").map((line) => {
        try {
          return JSON.parse(line) as { msg?: string; url?: string; pid?: number };
        } catch {
          return null;
        }
      }).find((entry) => entry?.msg?.startsWith("ready:"));
      if (!ready) return;
      clearTimeout(timer);
      const lines = out.split("\n");
      const tokenAfter = (label: string) => lines[lines.findIndex((l) => l.includes(label)) + 1]?.trim() ?? "";
      resolve({
        child,
        pid: ready.pid!,
        url: ready.url!,
        tokens: { tenantAdmin: tokenAfter("Tenant admin of"), accountAdmin: tokenAfter("Account admin of") },
        output: () => out,
        exited,
      });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`npm start exited (${code}) before it was ready:\n${out}`));
    });
  });
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function stop(app: App): Promise<number | null> {
  process.kill(app.pid, "SIGTERM");
  return app.exited;
}

let dataDir: string;
let running: App | null = null;

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(tmpdir(), "audit-trail-start-"));
});
afterAll(async () => {
  if (running && isRunning(running.pid)) await stop(running);
  await rm(dataDir, { recursive: true, force: true });
});

describe("npm start on a fresh data folder", () => {
  let first: { total: number; tenantToken: string };

  it("loads the demo, prints tokens and one ready line, serves GraphQL and /healthz, and stops cleanly", async () => {
    const app = (running = await startApp(dataDir));
    const out = app.output();
    expect(out).toMatch(/loading the demo data/);
    expect(out).toMatch(/"msg":"demo data loaded"/);
    expect(out.match(/"msg":"ready: /g)).toHaveLength(1);
    expect(app.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(out).toContain(`Open ${app.url}/graphiql`);

    const health = await fetch(`${app.url}/healthz`);
    expect(await health.json()).toEqual({ status: "ok", database: "ok" });

    const tenant = await gql(app, app.tokens.tenantAdmin, "{ auditLogs(first: 5) { totalCount nodes { occurredAt actorEmail event } } }");
    expect(tenant.status).toBe(200);
    expect(tenant.body.data.auditLogs.totalCount).toBeGreaterThan(1_000);
    expect(tenant.body.data.auditLogs.nodes).toHaveLength(5);
    const account = await gql(app, app.tokens.accountAdmin, "{ auditLogs { totalCount } }");
    expect(account.body.data.auditLogs.totalCount).toBeGreaterThan(0);
    expect(account.body.data.auditLogs.totalCount).toBeLessThan(tenant.body.data.auditLogs.totalCount);
    expect((await gql(app, null, "{ auditLogs { totalCount } }")).status).toBe(401);

    // The first detection round runs once the demo is loaded: its incidents are alerts.
    const alertsQuery = "{ securityAlerts(first: 100) { totalCount nodes { detector severity summary accountId } } }";
    let alerts: { totalCount: number; nodes: { detector: string; severity: string; summary: string; accountId: string | null }[] } | null = null;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 250))) {
      alerts = (await gql(app, app.tokens.tenantAdmin, alertsQuery)).body.data.securityAlerts;
      if (alerts && alerts.nodes.some((a) => a.detector === "mass_change")) break;
    }
    const detectors = new Set(alerts!.nodes.map((a) => a.detector));
    expect([...detectors].sort()).toEqual(["after_hours_settings_change", "mass_change", "role_escalation", "unexpected_api_key_creator"]);
    expect(alerts!.nodes.find((a) => a.detector === "mass_change")).toMatchObject({ severity: "high", summary: expect.stringMatching(/^Max Mustermann .* 20 processes/) });
    expect(out).not.toMatch(/"msg":"detection round failed"/);
    const accountAlerts = (await gql(app, app.tokens.accountAdmin, alertsQuery)).body.data.securityAlerts;
    expect(accountAlerts.totalCount).toBeGreaterThan(0);
    expect(accountAlerts.totalCount).toBeLessThan(alerts!.totalCount);
    expect(new Set(accountAlerts.nodes.map((a: { accountId: string | null }) => a.accountId)).size).toBe(1);
    expect((await fetch(`${app.url}/graphiql`)).status).toBe(200);
    first = { total: tenant.body.data.auditLogs.totalCount, tenantToken: app.tokens.tenantAdmin };

    expect(await stop(app)).toBe(0);
    expect(app.output()).toMatch(/"msg":"embedded PostgreSQL stopped"/);
    expect(app.output()).toMatch(/"msg":"stopped"/);
    expect(isRunning(app.pid)).toBe(false);
    expect(existsSync(path.join(dataDir, "pg", "postmaster.pid"))).toBe(false);
    running = null;
  });

  it("starts again on the same folder without a second demo; earlier tokens still work", async () => {
    const app = (running = await startApp(dataDir));
    expect(app.output()).not.toMatch(/loading the demo data/);
    expect(app.tokens.tenantAdmin).toMatch(/^ey/);
    const again = await gql(app, first.tenantToken, "{ auditLogs { totalCount } }");
    expect(again.body.data.auditLogs.totalCount).toBe(first.total);
    expect(await stop(app)).toBe(0);
    expect(existsSync(path.join(dataDir, "pg", "postmaster.pid"))).toBe(false);
    running = null;
  });
});
