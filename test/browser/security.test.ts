// The Security view: the sidebar's count of open alerts, the alert list with
// its filters in the URL, the details panel with the alert's entries (each a
// link into Audit Logs), "Open in Audit Logs" showing exactly the alert's
// entries, acknowledging and resolving as a tenant admin (recorded as admin
// actions), and what an account admin sees (its account's alerts, no
// controls). Alerts are written as the owner, as audit.detect() writes them,
// over entries the seed wrote through the business tables.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  listedCount, listedIds, newPage, queryOf, signIn, startHarness, waitForList, type Harness,
} from "./support/harness.ts";
import {
  badgeCount, insertAlert, listedAlertIds, signInAt, waitForAlertDetails, waitForAlerts, waitForBadge,
} from "./support/security.ts";

let h: Harness;
const HOUR = 3600_000;
/** Alerts of Acme by role; `globex` is the other tenant's. */
const alert = {} as {
  massOps: string; // mass_change, medium, open, account Operations: Olga's 40 process edits
  roleFin: string; // role_escalation, high, open, account Finance: Max made admin
  keyFin: string; // unexpected_api_key_creator, low, acknowledged, account Finance
  afterHours: string; // after_hours_settings_change, high, open, tenant level (entries of Operations)
  resolvedOps: string; // mass_change, medium, resolved, account Operations
  globex: string;
};
const entries = {} as Record<keyof typeof alert, string[]>;

/** Ids of audit.log entries, newest first (as lists show them). */
async function ids(where: string, params: unknown[]): Promise<string[]> {
  const { rows } = await h.db.owner.query<{ id: string }>(`select id::text from audit.log l where ${where} order by occurred_at desc, id desc`, params);
  return rows.map((r) => r.id);
}

async function statusOf(id: string): Promise<string> {
  const { rows } = await h.db.owner.query<{ status: string }>("select status from audit.alerts where id = $1", [id]);
  return rows[0]!.status;
}

/** Open alerts of Acme in the owner's view, in an account's scope when given. */
async function openCount(accountId?: string): Promise<number> {
  const { rows } = await h.db.owner.query<{ n: string }>(
    "select count(*)::text as n from audit.alerts where tenant_id = $1 and status = 'open' and ($2::uuid is null or account_id = $2)",
    [h.seed.tenantId, accountId ?? null]);
  return Number(rows[0]!.n);
}

beforeAll(async () => {
  h = await startHarness();
  const { tenantId, opsAccountId, finAccountId, ada, max, olga, otherTenantId } = h.seed;
  entries.massOps = await ids("tenant_id = $1 and account_id = $2 and actor_id = $3 and event = 'process.updated'", [tenantId, opsAccountId, olga.id]);
  entries.roleFin = await ids("tenant_id = $1 and actor_id = $2 and event = 'member.role_updated'", [tenantId, ada.id]);
  entries.keyFin = await ids("tenant_id = $1 and event = 'api_key.created'", [tenantId]);
  entries.afterHours = await ids("tenant_id = $1 and account_id = $2 and resource_type = 'settings'", [tenantId, opsAccountId]);
  entries.resolvedOps = entries.massOps.slice(-5);
  entries.globex = await ids("tenant_id = $1", [otherTenantId]);
  expect(entries.massOps).toHaveLength(40);
  expect(entries.roleFin).toHaveLength(1);
  expect(entries.keyFin).toHaveLength(1);
  expect(entries.afterHours).toHaveLength(2);
  const at = (hoursAgo: number) => new Date(Date.now() - hoursAgo * HOUR).toISOString();
  alert.resolvedOps = await insertAlert(h.db.owner, {
    tenantId, accountId: opsAccountId, detector: "mass_change", severity: "medium", status: "resolved", detectedAt: at(120),
    entryIds: entries.resolvedOps, summary: "Olga Ops updated 5 processes in 1 day",
  });
  alert.afterHours = await insertAlert(h.db.owner, {
    tenantId, accountId: null, detector: "after_hours_settings_change", severity: "high", detectedAt: at(4),
    entryIds: entries.afterHours, summary: "Olga Ops made 2 changes (rpa.credentials) outside business hours",
  });
  alert.keyFin = await insertAlert(h.db.owner, {
    tenantId, accountId: finAccountId, detector: "unexpected_api_key_creator", severity: "low", status: "acknowledged", detectedAt: at(3),
    entryIds: entries.keyFin, summary: "Max Member created an API key for the first time (CI deploy)",
  });
  alert.roleFin = await insertAlert(h.db.owner, {
    tenantId, accountId: finAccountId, detector: "role_escalation", severity: "high", detectedAt: at(2),
    entryIds: entries.roleFin, summary: "Ada Admin made 1 user admin",
  });
  alert.massOps = await insertAlert(h.db.owner, {
    tenantId, accountId: opsAccountId, detector: "mass_change", severity: "medium", detectedAt: at(1),
    entryIds: entries.massOps, summary: "Olga Ops updated 40 processes in 13 days",
  });
  alert.globex = await insertAlert(h.db.owner, {
    tenantId: otherTenantId, detector: "mass_change", severity: "high", detectedAt: at(0.5),
    entryIds: entries.globex, summary: "Gus Globex did something secret",
  });
  void max;
});
afterAll(async () => {
  await h?.close();
});

describe("the sidebar and the list", () => {
  test("the sidebar counts open alerts; Security lists open and acknowledged alerts, newest first, with what they are", async () => {
    const { context, page } = await newPage(h);
    await signIn(h, page, h.tenantAdmin);
    expect(await badgeCount(page)).toBe(3);
    await expect(page.locator("#security-badge").getAttribute("title")).resolves.toBe("3 open security alerts");
    await expect(page.locator("#nav-security").textContent()).resolves.toContain("Security");

    await page.locator("#nav-security").click();
    await waitForAlerts(page);
    expect(new URL(page.url()).pathname).toBe("/security");
    await expect(page.locator('nav[aria-label="Main"] [aria-current="page"]').textContent()).resolves.toContain("Security");
    expect(await page.title()).toMatch(/^Security/);
    expect(await page.locator("#app").isHidden()).toBe(true);
    expect(await listedAlertIds(page)).toEqual([alert.massOps, alert.roleFin, alert.keyFin, alert.afterHours]);
    await expect(page.locator("#alert-count").textContent()).resolves.toBe("4 alerts");

    const row = (id: string) => page.locator(`#alert-rows tr[data-id="${id}"]`);
    // Severity as a word (and a shape) as well as a colour
    await expect(row(alert.roleFin).locator(".col-severity").innerText()).resolves.toMatch(/High$/);
    await expect(row(alert.keyFin).locator(".col-severity").innerText()).resolves.toMatch(/Low$/);
    await expect(row(alert.massOps).locator(".col-severity").innerText()).resolves.toMatch(/Medium$/);
    await expect(row(alert.roleFin).locator(".detector-name").textContent()).resolves.toBe("Role escalation");
    await expect(row(alert.afterHours).locator(".detector-name").textContent()).resolves.toBe("After-hours change");
    await expect(row(alert.massOps).locator(".row-open").textContent()).resolves.toBe("Olga Ops updated 40 processes in 13 days");
    await expect(row(alert.massOps).locator(".col-actor .strong").textContent()).resolves.toBe("Olga Ops");
    await expect(row(alert.massOps).locator(".col-count").textContent()).resolves.toBe("40");
    await expect(row(alert.keyFin).locator(".col-status").textContent()).resolves.toBe("Acknowledged");
    await expect(row(alert.roleFin).locator(".col-status").textContent()).resolves.toBe("Open");
    // Accounts by name; the tenant-level alert says so
    await page.waitForFunction((id) => document.querySelector(`#alert-rows tr[data-id="${id}"] .account-name`)?.textContent === "Finance", alert.roleFin);
    await expect(row(alert.afterHours).locator(".account-name").textContent()).resolves.toBe("Tenant level");
    // The time: relative, the exact instant on hover (local and UTC)
    const time = row(alert.roleFin).locator(".col-alert-when time");
    await expect(time.textContent()).resolves.toMatch(/ago$/);
    await expect(time.getAttribute("title")).resolves.toMatch(/UTC$/);
    await expect(page.locator("#alert-rows").textContent()).resolves.not.toContain("Globex");

    // Back and Forward move between the views; a reload keeps the view
    await page.goBack();
    await waitForList(page);
    expect(new URL(page.url()).pathname).toBe("/");
    expect(await page.locator("#security-view").isHidden()).toBe(true);
    await expect(page.locator('nav[aria-label="Main"] [aria-current="page"]').textContent()).resolves.toContain("Audit Logs");
    await page.goForward();
    await waitForAlerts(page);
    await page.reload();
    await waitForAlerts(page);
    expect(await listedAlertIds(page)).toEqual([alert.massOps, alert.roleFin, alert.keyFin, alert.afterHours]);
    await context.close();
  });

  test("filters by status, severity and detector, kept in the URL through reload and Back; an empty result says so", async () => {
    const { context, page } = await newPage(h);
    await signInAt(h, page, h.tenantAdmin, "/security");
    await waitForAlerts(page);
    await expect(page.locator("#alert-filter-status option:checked").textContent()).resolves.toBe("Open and acknowledged");

    await page.selectOption("#alert-filter-status", "resolved");
    await waitForAlerts(page);
    expect(queryOf(page).get("status")).toBe("resolved");
    expect(await listedAlertIds(page)).toEqual([alert.resolvedOps]);

    await page.selectOption("#alert-filter-status", "all");
    await waitForAlerts(page);
    expect(await listedAlertIds(page)).toEqual([alert.massOps, alert.roleFin, alert.keyFin, alert.afterHours, alert.resolvedOps]);
    await page.selectOption("#alert-filter-severity", "high");
    await waitForAlerts(page);
    expect(queryOf(page).toString()).toBe("status=all&severity=high");
    expect(await listedAlertIds(page)).toEqual([alert.roleFin, alert.afterHours]);

    await page.reload();
    await waitForAlerts(page);
    expect(await listedAlertIds(page)).toEqual([alert.roleFin, alert.afterHours]);
    await expect(page.locator("#alert-filter-severity").inputValue()).resolves.toBe("high");
    await page.goBack();
    await waitForAlerts(page);
    expect(queryOf(page).toString()).toBe("status=all");
    await expect(page.locator("#alert-filter-severity").inputValue()).resolves.toBe("");
    expect(await listedAlertIds(page)).toHaveLength(5);

    await page.selectOption("#alert-filter-detector", "mass_change");
    await waitForAlerts(page);
    expect(queryOf(page).get("detector")).toBe("mass_change");
    expect(await listedAlertIds(page)).toEqual([alert.massOps, alert.resolvedOps]);

    await page.selectOption("#alert-filter-detector", "member_addition_burst");
    await waitForAlerts(page);
    expect(await listedAlertIds(page)).toEqual([]);
    await expect(page.locator("#alerts-empty .empty-title").textContent()).resolves.toBe("No alerts match");
    await expect(page.locator("#alert-count").textContent()).resolves.toBe("0 alerts");
    await page.locator("#alerts-empty button").click();
    await waitForAlerts(page);
    expect(queryOf(page).toString()).toBe("");
    expect(await listedAlertIds(page)).toHaveLength(4);
    await context.close();
  });
});

describe("an alert's details", () => {
  test("summary, severity, detector with its explanation, actor, times, history, and its newest entries; an entry opens in Audit Logs", async () => {
    const { context, page } = await newPage(h);
    await signInAt(h, page, h.tenantAdmin, "/security");
    await waitForAlerts(page);
    await page.locator(`#alert-rows tr[data-id="${alert.massOps}"] .row-open`).click();
    await waitForAlertDetails(page, alert.massOps);
    expect(queryOf(page).get("alert")).toBe(alert.massOps);
    const panel = page.locator("#alert-details");
    await expect(panel.locator("#alert-details-title").textContent()).resolves.toBe("Olga Ops updated 40 processes in 13 days");
    await expect(panel.locator("#alert-severity").innerText()).resolves.toMatch(/Medium$/);
    await expect(panel.locator("#alert-status").textContent()).resolves.toBe("Open");
    await expect(panel.locator("#alert-detector .strong").textContent()).resolves.toBe("Mass change");
    await expect(panel.locator("#alert-detector-explanation").textContent()).resolves.toMatch(/deleted or updated more entities of one kind/);
    await expect(panel.locator("#alert-actor").innerText()).resolves.toContain("Olga Ops · olga@acme.test");
    await page.waitForFunction(() => document.querySelector("#alert-account")?.textContent === "Operations");
    await expect(panel.locator("#alert-entry-count").textContent()).resolves.toBe("40");
    // First and last seen: local time (the browser's, Europe/Berlin here), with the UTC instant
    const { rows } = await h.db.owner.query<{ first_at: Date; last_at: Date }>("select first_at, last_at from audit.alerts where id = $1", [alert.massOps]);
    const utc = (d: Date) => d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    await expect(panel.locator("#alert-first .utc").textContent()).resolves.toBe(utc(rows[0]!.first_at));
    await expect(panel.locator("#alert-last .utc").textContent()).resolves.toBe(utc(rows[0]!.last_at));
    await expect(panel.locator("#alert-first time").getAttribute("datetime")).resolves.toBe(rows[0]!.first_at.toISOString());
    await expect(panel.locator("#alert-history").innerText()).resolves.toMatch(/^Detected/);
    // The newest 20 entries, each a link to itself in Audit Logs
    const listed = await panel.locator("#alert-entries li").evaluateAll((lis) => lis.map((li) => (li as HTMLElement).dataset.id));
    expect(listed).toEqual(entries.massOps.slice(0, 20));
    await expect(panel.locator("#alert-entries-caption").textContent()).resolves.toBe('The newest 20 of 40; "Open in Audit Logs" lists them all.');
    await expect(panel.locator("#alert-entries li").first().innerText()).resolves.toMatch(/^Process updated · Invoice sync\n.* · Olga Ops · Update$/);
    // Tenant admins can act on it
    await expect(panel.locator("#alert-acknowledge").isVisible()).resolves.toBe(true);
    await expect(panel.locator("#alert-resolve").isVisible()).resolves.toBe(true);

    // A reload keeps the alert open
    await page.reload();
    await waitForAlertDetails(page, alert.massOps);

    const entry = entries.massOps[3]!;
    await panel.locator(`#alert-entries li[data-id="${entry}"] a`).click();
    await waitForList(page);
    expect(new URL(page.url()).pathname).toBe("/");
    expect(queryOf(page).get("alert")).toBe(alert.massOps);
    const details = page.locator("#details");
    await details.waitFor({ state: "visible" });
    expect(await details.getAttribute("data-id")).toBe(entry);
    await expect(details.locator("#details-title").textContent()).resolves.toBe("Process updated");
    expect(await page.locator("#alert-details").isHidden()).toBe(true);
    // Closing the entry drops it from the URL; the alert filter stays
    await page.keyboard.press("Escape");
    await details.waitFor({ state: "hidden" });
    expect(queryOf(page).get("entry")).toBeNull();
    expect(queryOf(page).get("alert")).toBe(alert.massOps);
    // Back to the alert
    await page.goBack();
    await waitForAlertDetails(page, alert.massOps);
    await context.close();
  });

  test("Open in Audit Logs lists exactly the alert's entries, and exports exactly them; the chip removes the filter", async () => {
    const { context, page } = await newPage(h);
    for (const key of ["massOps", "afterHours"] as const) {
      await signInAt(h, page, h.tenantAdmin, `/security?status=all&alert=${alert[key]}`);
      await waitForAlertDetails(page, alert[key]);
      await page.locator("#alert-open-audit-logs").click();
      await waitForList(page);
      expect(queryOf(page).get("alert")).toBe(alert[key]);
      expect(await listedCount(page), key).toBe(entries[key].length);
      expect(await listedIds(page, true), key).toEqual(entries[key]);
      const chip = page.locator("#filter-alert");
      await expect(chip.locator("a").textContent()).resolves.toBe(`Alert #${alert[key]}`);
      await expect(page.locator("#filter-alert-remove").getAttribute("aria-label")).resolves.toBe(`Remove the filter Alert #${alert[key]}`);
      // The export is filtered by the alert too: exactly the listed entries
      const [file] = await Promise.all([page.waitForEvent("download"), page.click("#export-jsonl")]);
      const exported = readFileSync((await file.path())!, "utf8").trim().split("\n")
        .map((line) => JSON.parse(line) as { id: string }).filter((l) => !("type" in l)).map((l) => l.id); // (not the proof's lines)
      expect(exported, key).toEqual(entries[key]);
      await page.evaluate(() => sessionStorage.clear());
    }
    await signIn(h, page, h.tenantAdmin, `?alert=${alert.afterHours}&range=custom&from=2000-01-01T00:00:00.000Z`);
    await page.locator("#filter-alert-remove").click();
    await waitForList(page);
    expect(queryOf(page).get("alert")).toBeNull();
    expect(await page.locator("#filter-alert").count()).toBe(0);
    expect(await page.locator("#export-csv").isDisabled()).toBe(false);
    expect(await listedCount(page)).toBeGreaterThan(entries.afterHours.length);
    // Back brings the alert filter back; the chip's link leads to the alert
    await page.goBack();
    await waitForList(page);
    expect(await listedIds(page, true)).toEqual(entries.afterHours);
    await page.locator("#filter-alert a").click();
    await waitForAlertDetails(page, alert.afterHours);
    expect(new URL(page.url()).pathname).toBe("/security");
    await context.close();
  });
});

describe("scope", () => {
  test("an account admin sees its account's alerts only: no tenant-level alert, no acknowledge, resolve or settings", async () => {
    const { context, page } = await newPage(h);
    await signIn(h, page, h.accountAdmin);
    expect(await badgeCount(page)).toBe(await openCount(h.seed.opsAccountId));
    expect(await badgeCount(page)).toBe(1);
    await page.locator("#nav-security").click();
    await waitForAlerts(page);
    expect(await listedAlertIds(page)).toEqual([alert.massOps]);
    await page.selectOption("#alert-filter-status", "all");
    await waitForAlerts(page);
    expect(await listedAlertIds(page)).toEqual([alert.massOps, alert.resolvedOps]);
    await expect(page.locator("#security-scope-line").textContent()).resolves.toMatch(/your account/);
    // No settings tab
    expect(await page.locator("#tab-settings").count()).toBe(0);
    await page.locator(`#alert-rows tr[data-id="${alert.massOps}"] .row-open`).click();
    await waitForAlertDetails(page, alert.massOps);
    expect(await page.locator("#alert-actions").count()).toBe(0);
    expect(await page.locator("#alert-acknowledge").count()).toBe(0);
    expect(await page.locator("#alert-resolve").count()).toBe(0);
    // Its entries are the account's
    expect(await page.locator("#alert-entries li").count()).toBe(20);
    // The tenant-level alert and another account's are not found, even by their link
    for (const id of [alert.afterHours, alert.roleFin, alert.globex]) {
      await page.goto(`${h.server.url}/security?alert=${id}`);
      await page.locator("#alert-not-found").waitFor();
      expect(await listedAlertIds(page)).not.toContain(id);
    }
    // The settings are not for account admins
    await page.goto(`${h.server.url}/security/settings`);
    await page.locator("#settings-forbidden").waitFor();
    expect(await page.locator("#settings-form").count()).toBe(0);
    // And the API refuses the mutation anyway
    const refused = await page.evaluate(async (id) => {
      const token = sessionStorage.getItem("audit-trail.token");
      const res = await fetch("/graphql", {
        method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query: "mutation ($id: BigInt!) { acknowledgeSecurityAlert(input: { id: $id }) { securityAlert { id } } }", variables: { id } }),
      });
      return (await res.json()) as { errors?: { extensions?: { code?: string } }[] };
    }, alert.massOps);
    expect(refused.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    expect(await statusOf(alert.massOps)).toBe("open");
    await context.close();
  });
});

describe("acting on alerts", () => {
  test("a tenant admin acknowledges and resolves with a note: the list and the badge follow, and the Audit Logs record both", async () => {
    const { context, page } = await newPage(h);
    await signInAt(h, page, h.tenantAdmin, `/security?alert=${alert.roleFin}`);
    await waitForAlerts(page);
    await waitForAlertDetails(page, alert.roleFin);
    const open = await openCount();
    await waitForBadge(page, open);
    const panel = page.locator("#alert-details");

    await panel.locator("#alert-acknowledge").click();
    await page.waitForFunction(() => document.querySelector("#alert-status")?.textContent === "Acknowledged");
    await expect(panel.locator("#alert-action-done").textContent()).resolves.toMatch(/^Acknowledged\./);
    await expect(panel.locator("#alert-acknowledged").innerText()).resolves.toMatch(/^Acknowledged by you /);
    expect(await panel.locator("#alert-acknowledge").count()).toBe(0);
    expect(await statusOf(alert.roleFin)).toBe("acknowledged");
    await waitForBadge(page, open - 1);
    await page.waitForFunction((id) => document.querySelector(`#alert-rows tr[data-id="${id}"]`)?.getAttribute("data-status") === "acknowledged", alert.roleFin);

    await panel.locator("#alert-resolve").click();
    await panel.locator("#alert-resolve-note").fill("Max needs admin rights for the Q3 close; approved by the CFO.");
    await panel.locator("#alert-resolve-confirm").click();
    await page.waitForFunction(() => document.querySelector("#alert-status")?.textContent === "Resolved");
    await panel.locator("#alert-action-done").waitFor();
    await expect(panel.locator("#alert-note").textContent()).resolves.toBe("Max needs admin rights for the Q3 close; approved by the CFO.");
    await expect(panel.locator("#alert-resolved").innerText()).resolves.toMatch(/^Resolved by you /);
    expect(await panel.locator("#alert-actions").count()).toBe(0);
    expect(await statusOf(alert.roleFin)).toBe("resolved");
    // The default list (open and acknowledged) no longer has it
    await page.waitForFunction((id) => !document.querySelector(`#alert-rows tr[data-id="${id}"]`), alert.roleFin);
    await waitForAlerts(page);

    // Resolving an open alert directly lowers the badge
    await page.locator(`#alert-rows tr[data-id="${alert.afterHours}"] .row-open`).click();
    await waitForAlertDetails(page, alert.afterHours);
    await panel.locator("#alert-resolve").click();
    await panel.locator("#alert-resolve-confirm").click();
    await page.waitForFunction(() => document.querySelector("#alert-status")?.textContent === "Resolved");
    await waitForBadge(page, open - 2);
    expect(await openCount()).toBe(open - 2);
    expect(await panel.locator("#alert-note").count()).toBe(0);

    // The Audit Logs show the admin's actions, tagged as such
    await page.locator("#nav-logs").click();
    await waitForList(page);
    await page.selectOption("#filter-action", "alert.acknowledged");
    await waitForList(page);
    const acknowledged = await listedIds(page);
    expect(acknowledged).toHaveLength(1);
    const row = page.locator(`#rows tr[data-id="${acknowledged[0]}"]`);
    await expect(row.locator(".col-what").innerText()).resolves.toBe("Security alert acknowledged · Ada Admin made 1 user admin\nAcknowledge · Admin action");
    await expect(row.locator(".col-who .strong").textContent()).resolves.toBe("Ada Admin");
    await page.selectOption("#filter-action", "alert.resolved");
    await waitForList(page);
    expect(await listedIds(page)).toHaveLength(2);
    await page.locator("#rows .row-open").last().click();
    await page.locator("#details").waitFor({ state: "visible" });
    await expect(page.locator("#details-kind").textContent()).resolves.toBe("Admin action");
    const groups = await page.locator("#filter-action optgroup").evaluateAll((gs) => gs.map((g) => g.getAttribute("label")));
    expect(groups).toContain("Admin actions");
    const adminEvents = await page.locator('#filter-action optgroup[label="Admin actions"] option').allTextContents();
    expect(adminEvents).toEqual(expect.arrayContaining(["Detector settings updated", "Security alert acknowledged", "Security alert resolved"]));
    await context.close();
  });

  test("the badge follows new alerts when the tab comes back into view", async () => {
    const { context, page } = await newPage(h);
    await signIn(h, page, h.tenantAdmin);
    const before = await badgeCount(page);
    expect(before).toBe(await openCount());
    await insertAlert(h.db.owner, {
      tenantId: h.seed.tenantId, accountId: h.seed.finAccountId, detector: "unexpected_api_key_creator", severity: "high",
      entryIds: entries.keyFin, summary: "Max Member created an API key without being an admin of the account or tenant",
    });
    await page.evaluate(() => document.dispatchEvent(new Event("visibilitychange")));
    await waitForBadge(page, before + 1);
    await context.close();
  });
});

describe("paging, keyboard and errors", () => {
  test("Load more pages through many alerts with the API's cursors, newest first, none skipped or repeated", async () => {
    // 60 more resolved alerts (the badge counts open ones only), detected a day ago, a minute apart
    for (let i = 0; i < 60; i++) {
      await insertAlert(h.db.owner, {
        tenantId: h.seed.tenantId, accountId: h.seed.opsAccountId, detector: "mass_change", severity: "low", status: "resolved",
        detectedAt: new Date(Date.now() - 24 * HOUR - i * 60_000).toISOString(), entryIds: entries.resolvedOps, summary: `Old burst ${i}`,
      });
    }
    const { rows } = await h.db.owner.query<{ id: string }>(
      "select id::text from audit.alerts where tenant_id = $1 and status = 'resolved' order by detected_at desc, id desc", [h.seed.tenantId]);
    const want = rows.map((r) => r.id);
    expect(want.length).toBeGreaterThan(60);
    const { context, page } = await newPage(h);
    await signInAt(h, page, h.tenantAdmin, "/security?status=resolved");
    await waitForAlerts(page);
    expect(await listedAlertIds(page)).toHaveLength(50);
    await expect(page.locator("#alert-count").textContent()).resolves.toBe(`${want.length} alerts`);
    await expect(page.locator("#alerts-more").textContent()).resolves.toContain(`Showing 50 of ${want.length}`);
    await page.locator("#alerts-load-more").click();
    await page.locator("#alerts-end").waitFor();
    expect(await listedAlertIds(page)).toEqual(want);
    await context.close();
  });

  test("the keyboard opens and closes an alert; focus returns to its row", async () => {
    const { context, page } = await newPage(h);
    await signInAt(h, page, h.tenantAdmin, "/security");
    await waitForAlerts(page);
    const first = (await listedAlertIds(page))[0]!;
    await page.locator(`#alert-rows tr[data-id="${first}"] .row-open`).focus();
    await page.keyboard.press("Enter");
    await waitForAlertDetails(page, first);
    expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Close alert details");
    await page.keyboard.press("Escape");
    await page.locator("#alert-details").waitFor({ state: "hidden" });
    expect(queryOf(page).get("alert")).toBeNull();
    expect(await page.evaluate(() => document.activeElement?.closest("tr")?.dataset.id)).toBe(first);
    await context.close();
  });

  test("a network error in the list says so and offers to try again", async () => {
    const { context, page } = await newPage(h);
    await signInAt(h, page, h.tenantAdmin, "/security");
    await waitForAlerts(page);
    await page.route("**/graphql", (route) => route.abort("connectionrefused"));
    await page.selectOption("#alert-filter-severity", "low");
    const status = page.locator("#alerts-status");
    await status.getByRole("button", { name: "Try again" }).waitFor();
    await expect(status.textContent()).resolves.toMatch(/could not be reached/i);
    await page.unroute("**/graphql");
    await status.getByRole("button", { name: "Try again" }).click();
    await waitForAlerts(page);
    expect((await listedAlertIds(page)).length).toBeGreaterThan(0);
    await context.close();
  });
});
