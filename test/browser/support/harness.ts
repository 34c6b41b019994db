// The page's end-to-end set-up: a real database (cloned per file), the real
// server on an ephemeral port with the page's routes, and headless Chromium
// (Debian's package) driven by playwright-core.
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import jwt from "jsonwebtoken";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { vi } from "vitest";
import { loadDemo } from "../../../src/demo/load.ts";
import { signDemoTokens } from "../../../src/demo/tokens.ts";
import { createLogger } from "../../../src/log.ts";
import type { AccessLogMode } from "../../../src/server/access-log-mode.ts";
import { startServer, type RunningServer } from "../../../src/server/app.ts";
import { DEFAULT_DIST_DIR } from "../../../src/server/routes/page.ts";
import { webRoutes } from "../../../src/server/routes/web-routes.ts";
import type { DemoToken } from "../../../src/shared/demo-token.ts";
import { createTestDatabase, type TestDatabase } from "../../support/database.ts";
import { seedWebData, type WebSeed } from "./seed.ts";

// A browser, a server and PostgreSQL share two cores with the rest of the
// suite: generous limits keep a busy machine from failing a correct page.
vi.setConfig({ testTimeout: 180_000, hookTimeout: 300_000 });
const BROWSER_TIMEOUT_MS = 60_000;

export const JWT_SECRET = "e2e-secret-0123456789abcdefghijklmnopqrstuvwxyz";
export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
export const RESULTS_DIR = path.resolve("test-results");

export interface TokenClaims {
  sub: string;
  tenant_id: string;
  role: "tenant_admin" | "account_admin";
  account_id?: string;
}

/** A signed admin token, valid for `seconds` (negative: already expired). */
export function makeToken(claims: TokenClaims, seconds = 3600): string {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ ...claims, iat: now - 10, exp: now + seconds }, JWT_SECRET, { algorithm: "HS256" });
}

export interface Harness {
  db: TestDatabase;
  server: RunningServer;
  seed: WebSeed;
  browser: Browser;
  tenantAdmin: string;
  accountAdmin: string;
  close(): Promise<void>;
}

export interface HarnessOptions {
  demoTokens?: (seed: WebSeed) => DemoToken[];
  /**
   * Entries per export query. Small by default so that exports cross many
   * keyset boundaries, some between entries of the same instant.
   */
  exportBatchSize?: number;
  /** The server's access log (ACCESS_LOG); off unless a test is about it, as in startServer. */
  accessLog?: AccessLogMode;
}

function checkPrerequisites(): void {
  if (!existsSync(path.join(DEFAULT_DIST_DIR, "index.html"))) {
    throw new Error(`The page is not built (${DEFAULT_DIST_DIR}): run npm run build (npm test runs it first)`);
  }
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM_PATH)`);
  }
}

async function launchBrowser(): Promise<Browser> {
  await mkdir(RESULTS_DIR, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

function serve(db: TestDatabase, routes: Parameters<typeof webRoutes>[0], accessLog?: AccessLogMode): Promise<RunningServer> {
  return startServer({
    accessLog,
    authUrl: db.authUrl,
    jwt: { algorithm: "HS256", key: JWT_SECRET },
    port: 0,
    logger: createLogger(process.env.LOG_LEVEL ?? "warn"),
    routes: webRoutes(routes),
  });
}

/** The page's tests' own small history (support/seed.ts). */
export async function startHarness(options: HarnessOptions = {}): Promise<Harness> {
  checkPrerequisites();
  const db = await createTestDatabase();
  const seed = await seedWebData(db.app, db.owner);
  const tenantAdmin = makeToken({ sub: seed.ada.id, tenant_id: seed.tenantId, role: "tenant_admin" });
  const accountAdmin = makeToken({ sub: seed.olga.id, tenant_id: seed.tenantId, role: "account_admin", account_id: seed.opsAccountId });
  const server = await serve(db, { demoTokens: options.demoTokens?.(seed) ?? null, exportBatchSize: options.exportBatchSize ?? 7 }, options.accessLog);
  const browser = await launchBrowser();
  return {
    db, server, seed, browser, tenantAdmin, accountAdmin,
    async close() {
      await browser.close().catch(() => undefined);
      await server.close();
      await db.drop();
    },
  };
}

export interface DemoHarness {
  db: TestDatabase;
  server: RunningServer;
  browser: Browser;
  close(): Promise<void>;
}

/** The product's demo data set (src/demo), with its one-click demo sign-in, as `npm start` serves it. */
export async function startDemoHarness(): Promise<DemoHarness> {
  checkPrerequisites();
  const db = await createTestDatabase();
  await loadDemo(db.ownerUrl, createLogger(process.env.LOG_LEVEL ?? "warn"));
  const server = await serve(db, { demoTokens: signDemoTokens(JWT_SECRET) });
  const browser = await launchBrowser();
  return {
    db, server, browser,
    async close() {
      await browser.close().catch(() => undefined);
      await server.close();
      await db.drop();
    },
  };
}

/** A fresh browser context (its own sessionStorage) at laptop size. */
export async function newPage(h: { browser: Browser }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await h.browser.newContext({
    viewport: { width: 1440, height: 900 }, acceptDownloads: true, timezoneId: "Europe/Berlin", locale: "en-GB",
  });
  context.setDefaultTimeout(BROWSER_TIMEOUT_MS);
  const page = await context.newPage();
  // A script error in the page fails the test that caused it.
  page.on("pageerror", (err) => {
    throw err;
  });
  return { context, page };
}

/** Opens the page at `query` and signs in by pasting the token. */
export async function signIn(h: { server: RunningServer }, page: Page, token: string, query = ""): Promise<void> {
  await page.goto(`${h.server.url}/${query}`);
  await page.getByLabel("Access token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await waitForList(page);
}

/** Waits until the first page of entries and the count have loaded. */
export async function waitForList(page: Page): Promise<void> {
  await page.waitForSelector("#entries:not([aria-busy])");
  await page.waitForSelector("#count[data-count]");
}

/** Ids of the entries in the list, in order. Loads every page first when asked. */
export async function listedIds(page: Page, all = false): Promise<string[]> {
  if (all) {
    for (;;) {
      const more = page.locator("#load-more");
      if ((await more.count()) === 0) break;
      // The button goes away once the last page is in, possibly between these two calls:
      // a missing button is not waited for (the loop looks again).
      if (await more.isEnabled({ timeout: 1_000 }).catch(() => false)) await more.click({ timeout: 1_000 }).catch(() => undefined);
      await page.waitForTimeout(50);
    }
  }
  return page.locator("#rows tr[data-id]").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id ?? ""));
}

/** The exact count of matching entries the page shows; fails when the page shows a capped count ("10,000+"). */
export async function listedCount(page: Page): Promise<number> {
  const shown = await shownCount(page);
  if (shown.capped) throw new Error(`the page shows a capped count (${shown.text}), not an exact one`);
  return shown.count;
}

/** The count above the list as shown: its number, whether it is capped ("10,000+"), and its text. */
export async function shownCount(page: Page): Promise<{ count: number; capped: boolean; text: string }> {
  const count = page.locator("#count");
  const [value, capped, text] = await Promise.all([count.getAttribute("data-count"), count.getAttribute("data-capped"), count.textContent()]);
  if (value === null || (capped !== "true" && capped !== "false")) throw new Error("the count has not loaded");
  return { count: Number(value), capped: capped === "true", text: (text ?? "").trim() };
}

export function queryOf(page: Page): URLSearchParams {
  return new URL(page.url()).searchParams;
}

export interface Expectation {
  /** SQL conditions on audit.log (alias l), e.g. "l.resource_type = $2". $1 is the tenant. */
  where?: string;
  params?: unknown[];
  /** Only this account's entries (an account admin's scope). */
  accountId?: string;
  /** Lower bound, default: the last 30 days (the page's default range). */
  since?: string;
}

/** Ids the page should list, newest first, computed in SQL as the owner. */
export async function expectedIds(h: Harness, e: Expectation = {}): Promise<string[]> {
  const params: unknown[] = [h.seed.tenantId, ...(e.params ?? [])];
  const conditions = ["l.tenant_id = $1", `l.occurred_at >= now() - interval '${e.since ?? "30 days"}'`];
  if (e.accountId) {
    params.push(e.accountId);
    conditions.push(`l.account_id = $${params.length}`);
  }
  if (e.where) conditions.push(`(${e.where})`);
  const { rows } = await h.db.owner.query<{ id: string }>(
    `select l.id::text from audit.log l where ${conditions.join(" and ")} order by l.occurred_at desc, l.id desc`, params);
  return rows.map((r) => r.id);
}
