// The Security view's end-to-end helpers: alerts written as the owner (as
// audit.detect() writes them, test/server/security/support.ts), detection run
// until the log's entries so far are consumed, and the view's waits.
import type pg from "pg";
import type { Page } from "playwright-core";
import type { RunningServer } from "../../../src/server/app.ts";

export { insertAlert, type AlertSpec } from "../../server/security/support.ts";

/**
 * Runs `select audit.detect()` as the owner until the detectors' watermark
 * has passed every transaction committed so far (their entries are
 * consumed), within a deadline: the xmin horizon is cluster-wide, so other
 * test files' transactions can hold it back for a while.
 */
export async function detectEverything(owner: pg.Pool, timeoutMs = 120_000): Promise<number> {
  const { rows } = await owner.query<{ xid: string }>("select txid_current()::text as xid");
  const target = BigInt(rows[0]!.xid);
  const deadline = Date.now() + timeoutMs;
  let changed = 0;
  for (;;) {
    const round = await owner.query<{ n: number | null }>("select audit.detect() as n");
    changed += round.rows[0]!.n ?? 0;
    const w = await owner.query<{ w: string }>("select watermark::text as w from audit_private.log_consumers where consumer = 'detectors'");
    if (w.rows[0] && BigInt(w.rows[0].w) > target) return changed;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the detectors to consume transaction ${target}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Opens the page at `path` (e.g. "/security?status=all") and signs in by pasting the token. */
export async function signInAt(h: { server: RunningServer }, page: Page, token: string, path: string): Promise<void> {
  await page.goto(`${h.server.url}${path}`);
  await page.getByLabel("Access token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** Waits until the alert list's first page and count have loaded. */
export async function waitForAlerts(page: Page): Promise<void> {
  await page.waitForSelector("#security-alerts:not([hidden]) #alerts:not([aria-busy])");
  await page.waitForSelector("#alert-count[data-count]");
}

/** Ids of the alerts listed, in order. */
export async function listedAlertIds(page: Page): Promise<string[]> {
  return page.locator("#alert-rows tr[data-id]").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.id ?? ""));
}

/** The sidebar's count of open alerts, once it has loaded. */
export async function badgeCount(page: Page): Promise<number> {
  await page.waitForSelector("#security-badge[data-count]", { state: "attached" });
  return Number(await page.getAttribute("#security-badge", "data-count"));
}

/** Waits until the badge shows `n` open alerts. */
export async function waitForBadge(page: Page, n: number): Promise<void> {
  await page.waitForFunction((want) => document.querySelector<HTMLElement>("#security-badge")?.dataset.count === String(want), n);
}

/** Waits until the details panel shows the alert, loaded. */
export async function waitForAlertDetails(page: Page, id: string): Promise<void> {
  await page.waitForSelector(`#alert-details:not([hidden]):not([aria-busy]) .details-inner[data-alert="${id}"]`);
}
