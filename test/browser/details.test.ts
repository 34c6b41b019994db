// The details panel: the change field by field, redaction, context, raw JSON;
// reachable and closable with the keyboard.
import { afterAll, beforeAll, expect, test } from "vitest";
import { newPage, signIn, startHarness, waitForList, type Harness } from "./support/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

test("a settings change shows old and new values, secrets as redacted, and the request context", async () => {
  const { context, page } = await newPage(h);
  await signIn(h, page, h.tenantAdmin, `?resource=settings`);
  const { rows } = await h.db.owner.query<{ id: string }>(
    "select id::text from audit.log where entity_id = $1 and old_values is not null and new_values is not null", [h.seed.settingsId]);
  const id = rows[0]!.id;
  await page.locator(`#rows tr[data-id="${id}"] .row-open`).click();
  const panel = page.locator("#details");
  await panel.waitFor({ state: "visible" });
  expect(await panel.getAttribute("data-id")).toBe(id);
  await expect(panel.locator("#details-title").textContent()).resolves.toBe("Settings updated");

  const value = panel.locator('tr[data-field="value"]');
  const oldCell = (await value.locator("td.old").textContent())!;
  const newCell = (await value.locator("td.new").textContent())!;
  expect(oldCell).toContain('"username": "bot"');
  expect(newCell).toContain('"username": "rpa-bot"');
  // The secret is shown as redacted on both sides, never as a value.
  expect(await value.locator("td.old .redacted").count()).toBe(1);
  expect(await value.locator("td.new .redacted").count()).toBe(1);
  const text = (await panel.textContent())!;
  expect(text).not.toContain("s3cret");

  await expect(panel.locator('[data-context="request_id"]').textContent()).resolves.toBe("req-2002");
  await expect(panel.locator('[data-context="ip"]').textContent()).resolves.toBe("203.0.113.9");
  await expect(panel.locator('[data-context="user_agent"]').textContent()).resolves.toBe("Mozilla/5.0 (E2E) Chromium");
  expect(text).toContain("Olga Ops");
  expect(text).toContain("olga@acme.test");

  const raw = JSON.parse((await panel.locator("pre.raw").textContent())!) as Record<string, unknown>;
  expect(raw.id).toBe(id);
  expect(raw.oldValues).toEqual({ value: { username: "bot", password: "[redacted]" } });
  expect(raw.newValues).toEqual({ value: { username: "rpa-bot", password: "[redacted]" } });
  await context.close();
});

test("a role change reads old → new; the keyboard opens and closes the panel", async () => {
  const { context, page } = await newPage(h);
  await signIn(h, page, h.tenantAdmin, "?action=member.role_updated");
  const button = page.locator("#rows .row-open").first();
  await button.focus();
  await page.keyboard.press("Enter");
  const panel = page.locator("#details");
  await panel.waitFor({ state: "visible" });
  // Focus moves into the panel (its close button).
  expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Close details");
  const role = panel.locator('tr[data-field="role"]');
  await expect(role.locator("td.old").textContent()).resolves.toBe("member");
  await expect(role.locator("td.new").textContent()).resolves.toBe("admin");
  await page.keyboard.press("Escape");
  await panel.waitFor({ state: "hidden" });
  // Focus returns to the row it came from.
  expect(await page.evaluate(() => document.activeElement?.classList.contains("row-open"))).toBe(true);
  await context.close();
});

test("an API key creation shows the key hash redacted, and 'show all entries of this entity' filters by it", async () => {
  const { context, page } = await newPage(h);
  await signIn(h, page, h.tenantAdmin, "?resource=api_key");
  await page.locator("#rows .row-open").first().click();
  const panel = page.locator("#details");
  await panel.waitFor({ state: "visible" });
  await expect(panel.locator('tr[data-field="key_hash"] .redacted').count()).resolves.toBe(1);
  await expect(panel.locator('tr[data-field="name"] td.new').textContent()).resolves.toBe("CI deploy");
  // A creation has only new values.
  expect(await panel.locator("td.old").count()).toBe(0);
  await panel.getByRole("button", { name: "Show all entries of this entity" }).click();
  await waitForList(page);
  expect(new URL(page.url()).searchParams.get("entity")).toBe(h.seed.apiKeyId);
  await context.close();
});
