// The embedded demo as a newcomer meets it: one-click sign-in, then the page
// with the demo data. Screenshots go to test-results/; the main one also to
// docs/screenshot.png for the README (UPDATE_DOCS_SCREENSHOT=1 refreshes it).
import { existsSync } from "node:fs";
import { copyFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { newPage, RESULTS_DIR, startDemoHarness, waitForList, type DemoHarness } from "./support/harness.ts";

let h: DemoHarness;
beforeAll(async () => {
  h = await startDemoHarness();
}, 300_000);
afterAll(async () => {
  await h?.close();
});

test("the demo offers one-click sign-in; the page shows the demo data", async () => {
  const { context, page } = await newPage(h);
  await page.goto(h.server.url);
  await page.getByRole("button", { name: /Tenant admin/ }).waitFor();
  await page.screenshot({ path: path.join(RESULTS_DIR, "page-signin.png") });
  await page.getByRole("button", { name: /Tenant admin/ }).click();
  await waitForList(page);
  await page.waitForSelector("#chart[data-total]");
  await page.waitForFunction(() => (document.querySelector("#filter-user") as HTMLSelectElement).options.length > 1);
  expect(Number(await page.getAttribute("#count", "data-count"))).toBeGreaterThan(0);
  expect(Number(await page.getAttribute("#chart", "data-total"))).toBe(Number(await page.getAttribute("#count", "data-count")));
  await page.waitForTimeout(200);
  const shot = path.join(RESULTS_DIR, "page-audit-logs.png");
  await page.screenshot({ path: shot });
  // The README's picture is refreshed on request (or when missing), so that
  // ordinary test runs leave the work tree clean.
  const docsShot = path.join("docs", "screenshot.png");
  if (process.env.UPDATE_DOCS_SCREENSHOT === "1" || !existsSync(docsShot)) {
    await mkdir("docs", { recursive: true });
    await copyFile(shot, docsShot);
  }

  await page.locator("#rows .row-open").first().click();
  await page.waitForSelector("#details:not([hidden])");
  await page.screenshot({ path: path.join(RESULTS_DIR, "page-details.png") });
  await page.keyboard.press("Escape");

  await page.selectOption("#filter-resource", "settings");
  await waitForList(page);
  await page.screenshot({ path: path.join(RESULTS_DIR, "page-settings-filter.png"), fullPage: true });
  await context.close();
});

test("the demo's account admin sees one account", async () => {
  const { context, page } = await newPage(h);
  await page.goto(h.server.url);
  await page.getByRole("button", { name: /Account admin/ }).click();
  await waitForList(page);
  const accounts = await page.locator("#rows td[data-account]").evaluateAll((cells) => [...new Set(cells.map((c) => (c as HTMLElement).dataset.account))]);
  expect(accounts.length).toBe(1);
  await page.waitForSelector("#chart[data-total]");
  await page.screenshot({ path: path.join(RESULTS_DIR, "page-account-admin.png") });
  await context.close();
});
