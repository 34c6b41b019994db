// The detector settings form (Security → Detector settings, tenant admins):
// the time zone picker, business hours and each detector's settings; Save
// sends one patch of what changed, the saved state comes back and survives a
// reload, the change is on record; the API's validation message is shown on
// the field it names and nothing changes; account admins get no form.
import type { Page, Request } from "playwright-core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { listedIds, newPage, startHarness, waitForList, type Harness } from "./support/harness.ts";
import { signInAt } from "./support/security.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

async function storedSettings(): Promise<Record<string, any> | null> {
  const { rows } = await h.db.owner.query("select settings from audit.detector_settings where tenant_id = $1", [h.seed.tenantId]);
  return rows[0]?.settings ?? null;
}

async function policyUpdates(): Promise<number> {
  const { rows } = await h.db.owner.query<{ n: string }>(
    "select count(*)::text as n from audit.log where tenant_id = $1 and event = 'security_policy.updated'", [h.seed.tenantId]);
  return Number(rows[0]!.n);
}

/** Opens the settings as the tenant admin and waits for the form. */
async function openSettings(page: Page): Promise<void> {
  await signInAt(h, page, h.tenantAdmin, "/security/settings");
  await page.locator("#settings-form").waitFor();
}

/** The patches the page sends to updateDetectorSettings. */
function capturePatches(page: Page): Record<string, unknown>[] {
  const patches: Record<string, unknown>[] = [];
  page.on("request", (request: Request) => {
    if (!request.url().endsWith("/graphql") || request.method() !== "POST") return;
    const body = request.postDataJSON() as { query: string; variables: { patch?: Record<string, unknown> } };
    if (body.query.includes("updateDetectorSettings")) patches.push(body.variables.patch!);
  });
  return patches;
}

test("the form shows the tenant's settings; the time zone picker offers the browser's IANA names and UTC", async () => {
  const { context, page } = await newPage(h);
  await openSettings(page);
  expect(new URL(page.url()).pathname).toBe("/security/settings");
  await expect(page.locator("#tab-settings").getAttribute("aria-current")).resolves.toBe("page");
  await expect(page.locator("#settings-time-zone").inputValue()).resolves.toBe("UTC");
  await expect(page.locator("#settings-time-zone-now").textContent()).resolves.toMatch(/^Now \w{3} \d\d:\d\d there\.$/);
  const zones = await page.locator("#time-zone-names option").evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
  expect(zones.length).toBeGreaterThan(300);
  expect(zones[0]).toBe("UTC");
  expect(zones).toEqual(expect.arrayContaining(["Europe/Berlin", "America/New_York", "Asia/Tokyo"]));
  // Monday to Friday, 08:00-18:00
  const days = await page.locator('#settings-days input[type="checkbox"]').evaluateAll((bs) => bs.map((b) => (b as HTMLInputElement).checked));
  expect(days).toEqual([true, true, true, true, true, false, false]);
  await expect(page.locator("#settings-start").inputValue()).resolves.toBe("08:00");
  await expect(page.locator("#settings-end").inputValue()).resolves.toBe("18:00");
  // Every detector: a switch and its own settings
  const cards = await page.locator(".detector-card").evaluateAll((cs) => cs.map((c) => (c as HTMLElement).dataset.detector));
  expect(cards).toEqual(["role_escalation", "member_addition_burst", "unexpected_api_key_creator", "after_hours_settings_change", "mass_change"]);
  for (const d of cards) expect(await page.locator(`#settings-${d}-enabled`).isChecked(), d).toBe(true);
  await expect(page.locator("#settings-mass_change-threshold").inputValue()).resolves.toBe("50");
  await expect(page.locator("#settings-member_addition_burst-threshold").inputValue()).resolves.toBe("10");
  await expect(page.locator("#settings-role_escalation-min_role").inputValue()).resolves.toBe("admin");
  await expect(page.locator("#settings-unexpected_api_key_creator-first_time_creator").isChecked()).resolves.toBe(true);
  await expect(page.locator("#settings-after_hours_settings_change-credential_keys").inputValue()).resolves.toBe("rpa.credentials");
  await expect(page.getByRole("switch", { name: "Mass change: enabled" }).isChecked()).resolves.toBe(true);
  // Nothing to save yet
  expect(await page.locator("#settings-save").isDisabled()).toBe(true);
  await context.close();
});

test("changing the time zone and a threshold saves one patch of just that; the saved state survives a reload and is on record", async () => {
  const { context, page } = await newPage(h);
  const patches = capturePatches(page);
  await openSettings(page);
  const before = await policyUpdates();
  await page.locator("#settings-time-zone").fill("America/New_York");
  await expect(page.locator("#settings-time-zone-now").textContent()).resolves.toMatch(/^Now /);
  await page.locator("#settings-mass_change-threshold").fill("30");
  await expect(page.locator("#settings-changes").textContent()).resolves.toBe("2 unsaved changes.");
  await page.locator("#settings-save").click();
  await page.waitForFunction(() => /^Saved at /.test(document.querySelector("#settings-status")?.textContent ?? ""));
  expect(patches).toEqual([{ business_hours: { time_zone: "America/New_York" }, detectors: { mass_change: { threshold: 30 } } }]);
  const stored = await storedSettings();
  expect(stored?.business_hours).toEqual({ time_zone: "America/New_York", days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" });
  expect(stored?.detectors.mass_change).toEqual({ enabled: true, threshold: 30, window_minutes: 10 });
  // The form shows the saved state, with nothing left to save
  await expect(page.locator("#settings-time-zone").inputValue()).resolves.toBe("America/New_York");
  expect(await page.locator("#settings-save").isDisabled()).toBe(true);

  await page.reload();
  await page.locator("#settings-form").waitFor();
  await expect(page.locator("#settings-time-zone").inputValue()).resolves.toBe("America/New_York");
  await expect(page.locator("#settings-mass_change-threshold").inputValue()).resolves.toBe("30");
  expect(await policyUpdates()).toBe(before + 1);

  // On record in the Audit Logs, as an admin action
  await page.locator("#nav-logs").click();
  await waitForList(page);
  await page.selectOption("#filter-action", "security_policy.updated");
  await waitForList(page);
  const listed = await listedIds(page);
  expect(listed).toHaveLength(1);
  await expect(page.locator(`#rows tr[data-id="${listed[0]}"] .col-what`).innerText()).resolves.toBe("Detector settings updated · Detector settings\nUpdate · Admin action");
  await context.close();
});

test("business hours and switches: weekdays, an end time, a detector off, a list of keys; Discard restores the saved state", async () => {
  const { context, page } = await newPage(h);
  const patches = capturePatches(page);
  await openSettings(page);
  await page.getByRole("checkbox", { name: "Friday" }).uncheck();
  await page.getByRole("checkbox", { name: "Saturday" }).check();
  await page.locator("#settings-end").fill("17:30");
  await page.getByRole("switch", { name: "Role escalation: enabled" }).uncheck();
  await expect(page.locator("#settings-role_escalation-enabled + .switch-track + .switch-text").textContent()).resolves.toBe("Off");
  await page.locator("#settings-after_hours_settings_change-credential_keys").fill("rpa.credentials\nsmtp.*\n");
  await page.locator("#settings-unexpected_api_key_creator-first_time_creator").uncheck();
  await expect(page.locator("#settings-changes").textContent()).resolves.toBe("5 unsaved changes.");
  // Discard brings back what is saved
  await page.locator("#settings-discard").click();
  await expect(page.getByRole("checkbox", { name: "Friday" }).isChecked()).resolves.toBe(true);
  await expect(page.getByRole("switch", { name: "Role escalation: enabled" }).isChecked()).resolves.toBe(true);
  expect(await page.locator("#settings-save").isDisabled()).toBe(true);

  await page.getByRole("checkbox", { name: "Friday" }).uncheck();
  await page.getByRole("checkbox", { name: "Saturday" }).check();
  await page.locator("#settings-end").fill("17:30");
  await page.getByRole("switch", { name: "Role escalation: enabled" }).uncheck();
  await page.locator("#settings-after_hours_settings_change-credential_keys").fill("rpa.credentials\nsmtp.*\n");
  await page.locator("#settings-save").click();
  await page.waitForFunction(() => /^Saved at /.test(document.querySelector("#settings-status")?.textContent ?? ""));
  expect(patches).toEqual([{
    business_hours: { days: [1, 2, 3, 4, 6], end: "17:30" },
    detectors: { role_escalation: { enabled: false }, after_hours_settings_change: { credential_keys: ["rpa.credentials", "smtp.*"] } },
  }]);
  const stored = await storedSettings();
  expect(stored?.business_hours).toMatchObject({ days: [1, 2, 3, 4, 6], start: "08:00", end: "17:30" });
  expect(stored?.detectors.role_escalation.enabled).toBe(false);
  expect(stored?.detectors.after_hours_settings_change.credential_keys).toEqual(["rpa.credentials", "smtp.*"]);
  await page.reload();
  await page.locator("#settings-form").waitFor();
  await expect(page.getByRole("switch", { name: "Role escalation: enabled" }).isChecked()).resolves.toBe(false);
  await expect(page.getByRole("checkbox", { name: "Saturday" }).isChecked()).resolves.toBe(true);
  await context.close();
});

test("an invalid value shows the API's message on its field, and changes nothing", async () => {
  const { context, page } = await newPage(h);
  await openSettings(page);
  const stored = await storedSettings();
  const before = await policyUpdates();
  await page.locator("#settings-mass_change-threshold").fill("1");
  await page.locator("#settings-time-zone").fill("America/Los_Angeles");
  await page.locator("#settings-save").click();
  await page.locator("#settings-error:not(.empty)").waitFor();
  await expect(page.locator("#settings-error-message").textContent())
    .resolves.toBe("detectors.mass_change.threshold must be a whole number between 2 and 100000, got 1");
  await expect(page.locator("#settings-error").getAttribute("role")).resolves.toBe("alert");
  await expect(page.locator("#settings-mass_change-threshold").getAttribute("aria-invalid")).resolves.toBe("true");
  await expect(page.locator("#settings-mass_change-threshold").getAttribute("aria-describedby")).resolves.toContain("settings-error");
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("settings-mass_change-threshold");
  expect(await storedSettings()).toEqual(stored);
  expect(await policyUpdates()).toBe(before);
  // What was typed stays, to be corrected
  await expect(page.locator("#settings-time-zone").inputValue()).resolves.toBe("America/Los_Angeles");
  expect(await page.locator("#settings-save").isDisabled()).toBe(false);

  // A time zone that is not an IANA name: the API's message, on the picker
  await page.locator("#settings-mass_change-threshold").fill("40");
  await page.locator("#settings-time-zone").fill("UTC+5");
  await page.locator("#settings-save").click();
  await page.waitForFunction(() => /UTC\+5/.test(document.querySelector("#settings-error-message")?.textContent ?? ""));
  await expect(page.locator("#settings-error-message").textContent())
    .resolves.toBe('business_hours.time_zone: unknown time zone "UTC+5"; use an IANA name such as "Europe/Berlin", "America/New_York" or "UTC"');
  await expect(page.locator("#settings-time-zone").getAttribute("aria-invalid")).resolves.toBe("true");
  await expect(page.locator("#settings-mass_change-threshold").getAttribute("aria-invalid")).resolves.toBeNull();
  expect(await storedSettings()).toEqual(stored);

  // Start after end
  await page.locator("#settings-time-zone").fill("Europe/Berlin");
  await page.locator("#settings-start").fill("19:00");
  await page.locator("#settings-save").click();
  await page.waitForFunction(() => /start \(19:00\) must be before end/.test(document.querySelector("#settings-error-message")?.textContent ?? ""));
  await expect(page.locator("#settings-end").getAttribute("aria-invalid")).resolves.toBe("true");
  expect(await storedSettings()).toEqual(stored);
  expect(await policyUpdates()).toBe(before);

  // Fixed, it saves
  await page.locator("#settings-start").fill("07:00");
  await page.locator("#settings-save").click();
  await page.waitForFunction(() => /^Saved at /.test(document.querySelector("#settings-status")?.textContent ?? ""));
  expect(await page.locator("#settings-error:not(.empty)").count()).toBe(0);
  expect((await storedSettings())?.business_hours).toMatchObject({ time_zone: "Europe/Berlin", start: "07:00" });
  expect((await storedSettings())?.detectors.mass_change.threshold).toBe(40);
  await context.close();
});

test("an account admin has no settings: no tab, and the page says why", async () => {
  const { context, page } = await newPage(h);
  await signInAt(h, page, h.accountAdmin, "/security/settings");
  await page.locator("#settings-forbidden").waitFor();
  await expect(page.locator("#settings-forbidden").textContent()).resolves.toMatch(/Only tenant admins/);
  expect(await page.locator("#settings-form").count()).toBe(0);
  expect(await page.locator("#tab-settings").count()).toBe(0);
  await context.close();
});
