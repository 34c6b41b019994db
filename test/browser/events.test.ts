// Application events (recorded by the application with audit.record_event:
// sign-ins, runs, exports of data) and access events (recorded by the API
// with audit.record_access: reads and exports of the audit log) read
// naturally: the catalogue's description, the entity's name, the action, and
// their context instead of an empty change. They are found by their action
// and resource like any entry; "Access" finds the log's own access events,
// an export done on the page among them.
import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, expect, test } from "vitest";
import { csvRecords } from "./support/csv.ts";
import { withAuditContext } from "../../src/application/audit-context.ts";
import {
  expectedIds, listedCount, listedIds, newPage, queryOf, signIn, startHarness, waitForList, type Harness,
} from "./support/harness.ts";

let h: Harness;
const ids = { signedIn: "", runRequested: "", dataExported: "", exportStarted: "", exportFinished: "", viewed: "" };
const exportId = randomUUID();
const dataExportId = randomUUID();
const exportedFrom = "2026-01-01T00:00:00.000Z";
const exportedTo = "2026-02-01T00:00:00.000Z";

beforeAll(async () => {
  // The server records exports (npm start's default, ACCESS_LOG=exports).
  h = await startHarness({ accessLog: "exports" });
  const { tenantId, opsAccountId, ada, olga, processes } = h.seed;
  // Application events, as the application writes them: app_user, after audit.set_context.
  await withAuditContext(h.db.app, { actor_type: "user", actor_id: ada.id, request_id: "req-signin", ip: "198.51.100.4" }, async (c) => {
    ids.signedIn = (await c.query<{ id: string }>("select audit.record_event('user.signed_in', $1, null, $2, $3, $4)::text as id",
      [tenantId, ada.id, JSON.stringify({ method: "password", mfa: true }), ada.email])).rows[0]!.id;
  });
  await withAuditContext(h.db.app, { actor_type: "user", actor_id: olga.id, request_id: "req-run" }, async (c) => {
    ids.runRequested = (await c.query<{ id: string }>("select audit.record_event('process.run_requested', $1, $2, $3, $4, $5)::text as id",
      [tenantId, opsAccountId, processes.ops, JSON.stringify({ trigger: "manual" }), "Invoice sync"])).rows[0]!.id;
    // No label: the list falls back to the entity's short id.
    ids.dataExported = (await c.query<{ id: string }>("select audit.record_event('data.exported', $1, $2, $3, $4)::text as id",
      [tenantId, opsAccountId, dataExportId, JSON.stringify({ format: "csv", entries: 1234 })])).rows[0]!.id;
  });
  // Access events, as the API writes them: the admin's role and verified claims in the transaction.
  const client = await h.db.owner.connect();
  try {
    await client.query("begin");
    await client.query("set local role audit_tenant_admin");
    await client.query(`select set_config('jwt.claims.role', 'tenant_admin', true), set_config('jwt.claims.tenant_id', $1, true),
                               set_config('jwt.claims.sub', $2, true)`, [tenantId, ada.id]);
    const filter = { resource: "settings", from: exportedFrom, to: exportedTo };
    ids.exportStarted = (await client.query<{ id: string }>("select audit.record_access('audit_log.exported', $1, $2)::text as id",
      [exportId, JSON.stringify({ format: "csv", filter })])).rows[0]!.id;
    ids.exportFinished = (await client.query<{ id: string }>("select audit.record_access('audit_log.export_finished', $1, $2)::text as id",
      [exportId, JSON.stringify({ format: "csv", filter, entries: 3, status: "finished" })])).rows[0]!.id;
    // A read of the log, with the API's filter as the API records it.
    const read = { filter: { occurredAt: { greaterThanOrEqualTo: exportedFrom, lessThan: exportedTo }, resourceType: { equalTo: "settings" } }, first: 50 };
    ids.viewed = (await client.query<{ id: string }>("select audit.record_access('audit_log.viewed', $1, $2, 'Audit log', 'key-1')::text as id",
      [tenantId, JSON.stringify(read)])).rows[0]!.id;
    await client.query("commit");
  } finally {
    client.release();
  }
});
afterAll(async () => {
  await h?.close();
});

test("an application event reads naturally: description, entity name, action and its context, no empty change", async () => {
  const { context, page } = await newPage(h);
  await signIn(h, page, h.tenantAdmin, "?action=user.signed_in");
  expect(await listedIds(page)).toEqual([ids.signedIn]);
  const row = page.locator(`#rows tr[data-id="${ids.signedIn}"]`);
  await expect(row.locator(".col-what").innerText()).resolves.toBe("User signed in · ada@acme.test\nSign in · Application event");
  await expect(row.locator(".col-who .strong").textContent()).resolves.toBe("Ada Admin");

  await row.locator(".row-open").click();
  const panel = page.locator("#details");
  await panel.waitFor({ state: "visible" });
  await expect(panel.locator("#details-title").textContent()).resolves.toBe("User signed in");
  await expect(panel.locator("#details-kind").textContent()).resolves.toBe("Application event");
  await expect(panel.locator("#details-entity-label").textContent()).resolves.toBe("ada@acme.test");
  await expect(panel.locator("#details-entity-id").textContent()).resolves.toBe(h.seed.ada.id);
  // An event changes no values: no change table, no "nothing recorded" placeholder; its context instead.
  expect(await panel.locator("#details-changes").count()).toBe(0);
  expect(await panel.locator("table.changes").count()).toBe(0);
  await expect(panel.locator('[data-context="method"]').textContent()).resolves.toBe("password");
  await expect(panel.locator('[data-context="mfa"]').textContent()).resolves.toBe("true");
  await expect(panel.locator('[data-context="request_id"]').textContent()).resolves.toBe("req-signin");
  await expect(panel.locator('[data-context="ip"]').textContent()).resolves.toBe("198.51.100.4");
  await context.close();
});

test("application events are found by their action and resource; without a label the entity's short id shows", async () => {
  const { context, page } = await newPage(h);
  await signIn(h, page, h.tenantAdmin);
  // The menus group the catalogue's events by who writes them.
  await page.waitForFunction(() => document.querySelectorAll("#filter-action optgroup").length > 2);
  const groups = await page.locator("#filter-action optgroup").evaluateAll((gs) => gs.map((g) => g.getAttribute("label")));
  expect(groups).toEqual(["Action type", "Changes", "Application events", "Access to the audit log", "Admin actions"]);
  const appEvents = await page.locator('#filter-action optgroup[label="Application events"] option').allTextContents();
  expect(appEvents).toEqual(expect.arrayContaining(["User signed in", "Sign-in failed", "Process run requested", "Settings viewed"]));
  const actionTypes = await page.locator('#filter-action optgroup[label="Action type"] option').allTextContents();
  expect(actionTypes).toEqual(expect.arrayContaining(["Sign in", "Failed sign-in", "Sign out", "View", "Export", "Export finished", "Run"]));

  await page.selectOption("#filter-action", "sign_in");
  await waitForList(page);
  expect(queryOf(page).get("action")).toBe("sign_in");
  expect(await listedIds(page, true)).toEqual(await expectedIds(h, { where: "l.action = 'sign_in'" }));

  await page.selectOption("#filter-action", "process.run_requested");
  await waitForList(page);
  expect(await listedIds(page, true)).toEqual([ids.runRequested]);
  await expect(page.locator("#rows .col-what").innerText()).resolves.toBe("Process run requested · Invoice sync\nRun · Application event");

  // By resource: the run is among the process's entries, with the changes.
  await page.selectOption("#filter-action", "");
  await waitForList(page);
  await page.selectOption("#filter-resource", "process");
  await waitForList(page);
  const processEntries = await expectedIds(h, { where: "l.resource_type = 'process'" });
  expect(processEntries).toContain(ids.runRequested);
  expect(await listedIds(page, true)).toEqual(processEntries);

  await page.selectOption("#filter-resource", "data");
  await waitForList(page);
  expect(await listedIds(page, true)).toEqual([ids.dataExported]);
  await expect(page.locator("#rows .col-what .entity-name").textContent()).resolves.toBe(` · ${dataExportId.slice(0, 8)}…`);
  await page.locator("#rows .row-open").click();
  await page.locator("#details").waitFor({ state: "visible" });
  expect(await page.locator("#details-entity-label").count()).toBe(0);
  await expect(page.locator("#details-entity-id").textContent()).resolves.toBe(dataExportId);
  await expect(page.locator('#details [data-context="format"]').textContent()).resolves.toBe("CSV");
  await expect(page.locator('#details [data-context="entries"]').textContent()).resolves.toBe("1,234");
  await context.close();
});

test("the Access choice finds the audit log's access events, whose export details read as words", async () => {
  const { context, page } = await newPage(h);
  await signIn(h, page, h.tenantAdmin);
  await page.waitForFunction(() => document.querySelectorAll("#filter-resource option").length > 2);
  await page.selectOption("#filter-resource", { label: "Access" });
  await waitForList(page);
  expect(queryOf(page).get("resource")).toBe("audit_log");
  const access = await expectedIds(h, { where: "l.resource_type = 'audit_log'" });
  expect(access).toEqual(expect.arrayContaining([ids.viewed, ids.exportFinished, ids.exportStarted]));
  expect(await listedCount(page)).toBe(access.length);
  expect(await listedIds(page, true)).toEqual(access);
  const whatOf = (id: string) => page.locator(`#rows tr[data-id="${id}"] .col-what`).innerText();
  await expect(whatOf(ids.exportFinished)).resolves.toBe(`Audit log export finished · ${exportId.slice(0, 8)}…\nExport finished · Access`);
  await expect(whatOf(ids.exportStarted)).resolves.toBe(`Audit log export started · ${exportId.slice(0, 8)}…\nExport · Access`);
  await expect(whatOf(ids.viewed)).resolves.toBe("Audit log viewed · Audit log\nView · Access");
  // A reload keeps the choice.
  await page.reload();
  await waitForList(page);
  await page.waitForFunction(() => (document.querySelector("#filter-resource") as HTMLSelectElement).selectedOptions[0]?.textContent === "Access");
  expect(await listedIds(page, true)).toEqual(access);

  await page.locator(`#rows tr[data-id="${ids.exportFinished}"] .row-open`).click();
  const panel = page.locator("#details");
  await panel.waitFor({ state: "visible" });
  await expect(panel.locator("#details-title").textContent()).resolves.toBe("Audit log export finished");
  await expect(panel.locator("#details-kind").textContent()).resolves.toBe("Access");
  expect(await panel.locator("#details-changes").count()).toBe(0);
  await expect(panel.locator('[data-context="format"]').textContent()).resolves.toBe("CSV");
  await expect(panel.locator('[data-context="entries"]').textContent()).resolves.toBe("3");
  await expect(panel.locator('[data-context="status"]').textContent()).resolves.toBe("Finished");
  const filters = await panel.locator('[data-context="filter"] li').allInnerTexts();
  expect(filters[0]).toBe("Resource type: Settings");
  expect(filters[1]).toMatch(/^From: .*2026/);
  expect(filters[2]).toMatch(/^To: .*2026/);
  // Each readable field keeps its raw value in the entry's JSON.
  const raw = JSON.parse((await panel.locator("pre.raw").textContent())!) as { context: Record<string, unknown> };
  expect(raw.context).toMatchObject({ format: "csv", entries: 3, status: "finished", filter: { resource: "settings", from: exportedFrom } });

  // A read: the API's filter reads as words too.
  await page.keyboard.press("Escape");
  await page.locator(`#rows tr[data-id="${ids.viewed}"] .row-open`).click();
  await expect(panel.locator("#details-title").textContent()).resolves.toBe("Audit log viewed");
  const read = await panel.locator('[data-context="filter"] li').allInnerTexts();
  expect(read[0]).toBe("Resource type: Settings");
  expect(read[1]).toMatch(/^When: from .*2026.*, before .*2026/);
  await expect(panel.locator('[data-context="first"]').textContent()).resolves.toBe("50");
  await context.close();
});

test("the account admin does not see the tenant admin's access events", async () => {
  const { context, page } = await newPage(h);
  await signIn(h, page, h.accountAdmin, "?resource=audit_log");
  expect(await listedCount(page)).toBe(0);
  await page.selectOption("#filter-resource", "");
  await waitForList(page);
  const visible = await listedIds(page, true);
  expect(visible).toContain(ids.runRequested);
  expect(visible).not.toContain(ids.exportFinished);
  expect(visible).not.toContain(ids.signedIn);
  await context.close();
});

test("an export done on the page is on record: its start with the filters, its end with the entries and outcome", async () => {
  const { context, page } = await newPage(h);
  await signIn(h, page, h.tenantAdmin, "?resource=settings");
  const before = new Set(await expectedIds(h, { where: "l.resource_type = 'audit_log'" }));
  const [file] = await Promise.all([page.waitForEvent("download"), page.click("#export-csv")]);
  const exported = csvRecords(await readFile(await file.path(), "utf8"));
  expect(exported.length).toBeGreaterThan(0);
  await page.waitForSelector("#export-status[data-rows]");

  await page.selectOption("#filter-resource", { label: "Access" });
  await waitForList(page);
  const added = (await listedIds(page, true)).filter((id) => !before.has(id));
  expect(added).toHaveLength(2);
  const [finished, started] = added as [string, string];
  await expect(page.locator(`#rows tr[data-id="${finished}"] .col-what`).innerText())
    .resolves.toBe("Audit log export finished · CSV export\nExport finished · Access");
  await expect(page.locator(`#rows tr[data-id="${started}"] .col-what`).innerText())
    .resolves.toBe("Audit log export started · CSV export\nExport · Access");
  await expect(page.locator(`#rows tr[data-id="${finished}"] .col-who .strong`).textContent()).resolves.toBe("Ada Admin");

  const panel = page.locator("#details");
  await page.locator(`#rows tr[data-id="${started}"] .row-open`).click();
  await panel.waitFor({ state: "visible" });
  expect(await panel.locator("#details-changes").count()).toBe(0);
  await expect(panel.locator("#details-entity-label").textContent()).resolves.toBe("CSV export");
  await expect(panel.locator('[data-context="format"]').textContent()).resolves.toBe("CSV");
  const filters = await panel.locator('[data-context="filter"] li').allInnerTexts();
  expect(filters[0]).toBe("Resource type: Settings");
  expect(filters.slice(1).map((f) => f.split(":")[0])).toEqual(["From", "To"]);

  await page.keyboard.press("Escape");
  await page.locator(`#rows tr[data-id="${finished}"] .row-open`).click();
  await expect(panel.locator("#details-title").textContent()).resolves.toBe("Audit log export finished");
  await expect(panel.locator('[data-context="entries"]').textContent()).resolves.toBe(String(exported.length));
  await expect(panel.locator('[data-context="status"]').textContent()).resolves.toBe("Completed");
  // Both entries name the same export.
  await expect(panel.locator("#details-entity-id").textContent())
    .resolves.toBe((await h.db.owner.query<{ entity_id: string }>("select entity_id from audit.log where id = $1", [started])).rows[0]!.entity_id);
  await context.close();
});
