// The Security view with the embedded demo, as `npm start` shows it once the
// detectors have read the demo's story: its alerts, the details of the mass
// deletion, the detector settings, and the account admin's view.
// Screenshots go to test-results/; the main one also to docs/security.png for
// the README when missing (UPDATE_DOCS_SCREENSHOT=1 refreshes it).
import { existsSync } from "node:fs";
import { copyFile, mkdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { newPage, RESULTS_DIR, startDemoHarness, waitForList, type DemoHarness } from "./support/harness.ts";
import { badgeCount, detectEverything, listedAlertIds, waitForAlertDetails, waitForAlerts } from "./support/security.ts";

let h: DemoHarness;
beforeAll(async () => {
  h = await startDemoHarness();
  // What the server's detection loop does every DETECT_INTERVAL_MS, until the demo's story is read.
  await detectEverything(h.db.owner);
}, 300_000);
afterAll(async () => {
  await h?.close();
});

test("the demo's tenant admin sees the story's alerts, the mass deletion's details and the settings", async () => {
  const { context, page } = await newPage(h);
  await page.goto(h.server.url);
  await page.getByRole("button", { name: /Tenant admin/ }).click();
  await waitForList(page);
  const open = await badgeCount(page);
  expect(open).toBeGreaterThan(0);

  await page.locator("#nav-security").click();
  await waitForAlerts(page);
  const ids = await listedAlertIds(page);
  expect(ids.length).toBeGreaterThanOrEqual(open);
  const summaries = await page.locator("#alert-rows .row-open").allTextContents();
  expect(summaries.some((s) => /^Max Mustermann.* deleted or removed/.test(s)), summaries.join("\n")).toBe(true);
  expect(summaries.some((s) => /^Max Mustermann.* raised their own role/.test(s)), summaries.join("\n")).toBe(true);
  expect(summaries.some((s) => /^Oscar Ortiz.*outside business hours/.test(s)), summaries.join("\n")).toBe(true);
  const detectors = await page.locator("#alert-rows tr[data-id]").evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.detector));
  expect(detectors).toEqual(expect.arrayContaining(["mass_change", "role_escalation", "unexpected_api_key_creator", "after_hours_settings_change"]));

  const deletion = page.locator('#alert-rows tr[data-detector="mass_change"][data-severity="high"]').first();
  const id = (await deletion.getAttribute("data-id"))!;
  await deletion.locator(".row-open").click();
  await waitForAlertDetails(page, id);
  await page.waitForFunction(() => document.querySelectorAll("#alert-entries li").length > 0);
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.waitForTimeout(200);
  const shot = path.join(RESULTS_DIR, "page-security.png");
  await page.screenshot({ path: shot });
  const docsShot = path.join("docs", "security.png");
  if (process.env.UPDATE_DOCS_SCREENSHOT === "1" || !existsSync(docsShot)) {
    await mkdir("docs", { recursive: true });
    await copyFile(shot, docsShot);
  }

  // Its entries in Audit Logs: as many as the alert counts
  const entryCount = Number(await page.getAttribute("#alert-entry-count", "data-count"));
  expect(entryCount).toBeGreaterThan(0);
  await page.locator("#alert-open-audit-logs").click();
  await waitForList(page);
  expect(Number(await page.getAttribute("#count", "data-count"))).toBe(entryCount);
  await page.screenshot({ path: path.join(RESULTS_DIR, "page-security-entries.png") });

  await page.goto(`${h.server.url}/security/settings`);
  await page.locator("#settings-form").waitFor();
  await expect(page.locator("#settings-time-zone").inputValue()).resolves.toBe("Europe/Berlin");
  await page.screenshot({ path: path.join(RESULTS_DIR, "page-security-settings.png"), fullPage: true });
  await context.close();
});

test("the demo's account admin sees its account's alerts, without controls", async () => {
  const { context, page } = await newPage(h);
  await page.goto(h.server.url);
  await page.getByRole("button", { name: /Account admin/ }).click();
  await waitForList(page);
  await page.locator("#nav-security").click();
  await waitForAlerts(page);
  const accounts = await page.locator("#alert-rows .account-name").evaluateAll((els) => [...new Set(els.map((e) => (e as HTMLElement).dataset.accountName ?? ""))]);
  expect(accounts.length).toBeLessThanOrEqual(1);
  expect(accounts).not.toContain("");
  const first = (await listedAlertIds(page))[0];
  if (first) {
    await page.locator(`#alert-rows tr[data-id="${first}"] .row-open`).click();
    await waitForAlertDetails(page, first);
    expect(await page.locator("#alert-actions").count()).toBe(0);
  }
  await page.screenshot({ path: path.join(RESULTS_DIR, "page-security-account-admin.png") });
  await context.close();
});
