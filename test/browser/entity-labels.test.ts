// Entity labels: each entry names its entity as it was called when the entry
// was written (a snapshot), in the list and in the details panel, and the
// list can be searched by that name, the search kept in the URL.
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Page } from "playwright-core";
import { withAuditContext } from "../../src/application/audit-context.ts";
import {
  expectedIds, listedCount, listedIds, newPage, queryOf, signIn, startHarness, waitForList, type Harness,
} from "./support/harness.ts";

let h: Harness;
let renameId: string;

beforeAll(async () => {
  h = await startHarness();
  // The Operations process ("Invoice sync" in the seed) is renamed now: its
  // earlier entries keep the old name, the rename's entry has the new one.
  await withAuditContext(h.db.app, { actor_type: "user", actor_id: h.seed.olga.id, request_id: "req-rename" }, async (c) => {
    await c.query("update app.processes set name = 'Invoice bot' where id = $1", [h.seed.processes.ops]);
  });
  const { rows } = await h.db.owner.query<{ id: string }>(
    "select id::text from audit.log where entity_id = $1 and context->>'request_id' = 'req-rename'", [h.seed.processes.ops]);
  expect(rows).toHaveLength(1);
  renameId = rows[0]!.id;
});
afterAll(async () => {
  await h?.close();
});

/** Each listed entry's id and the entity name shown next to its description. */
async function listedNames(page: Page): Promise<Map<string, string>> {
  const pairs = await page.locator("#rows tr[data-id]").evaluateAll((rows) => rows.map((r) => [
    (r as HTMLElement).dataset.id ?? "",
    (r.querySelector(".col-what .entity-name")?.textContent ?? "").replace(/^ · /, ""),
  ] as [string, string]));
  return new Map(pairs);
}

async function labelsOf(ids: string[]): Promise<Map<string, string | null>> {
  const { rows } = await h.db.owner.query<{ id: string; entity_label: string | null }>(
    "select id::text, entity_label from audit.log where id = any($1::bigint[])", [ids]);
  return new Map(rows.map((r) => [r.id, r.entity_label]));
}

test("a labelled entry shows its label next to the event in the list, and by name and id in the details panel", async () => {
  const { context, page } = await newPage(h);
  await signIn(h, page, h.tenantAdmin, `?entity=${h.seed.processes.ops}`);
  const row = page.locator(`#rows tr[data-id="${renameId}"]`);
  await expect(row.locator(".col-what").innerText()).resolves.toMatch(/^Process updated · Invoice bot\n/);
  await expect(row.locator(".row-open").getAttribute("aria-label")).resolves.toBe("Process updated · Invoice bot: show details");

  await row.locator(".row-open").click();
  const panel = page.locator("#details");
  await panel.waitFor({ state: "visible" });
  await expect(panel.locator("#details-title").textContent()).resolves.toBe("Process updated");
  await expect(panel.locator("#details-entity-label").textContent()).resolves.toBe("Invoice bot");
  await expect(panel.locator("#details-entity-id").textContent()).resolves.toBe(h.seed.processes.ops);
  // The rename itself is the change: old name → new name.
  await expect(panel.locator('tr[data-field="name"] td.old').textContent()).resolves.toBe("Invoice sync");
  await expect(panel.locator('tr[data-field="name"] td.new').textContent()).resolves.toBe("Invoice bot");
  await context.close();
});

test("a rename keeps the earlier entries' label: each entry shows the name of its time", async () => {
  const { context, page } = await newPage(h);
  await signIn(h, page, h.tenantAdmin, `?entity=${h.seed.processes.ops}`);
  const ids = await listedIds(page, true);
  expect(ids).toEqual(await expectedIds(h, { where: "l.entity_id = $2", params: [h.seed.processes.ops] }));
  const shown = await listedNames(page);
  const recorded = await labelsOf(ids);
  for (const id of ids) expect(shown.get(id)).toBe(recorded.get(id));
  // Newest first: the rename reads "Invoice bot", everything before it "Invoice sync".
  expect(ids[0]).toBe(renameId);
  expect(new Set(ids.slice(1).map((id) => shown.get(id)))).toEqual(new Set(["Invoice sync"]));

  // An older entry's panel names the entity as it was called then.
  await page.locator(`#rows tr[data-id="${ids.at(-1)}"] .row-open`).click();
  await page.locator("#details").waitFor({ state: "visible" });
  await expect(page.locator("#details-entity-label").textContent()).resolves.toBe("Invoice sync");
  await context.close();
});

test("searching by entity name filters the list by the names recorded, and the URL keeps the search", async () => {
  const { context, page } = await newPage(h);
  await signIn(h, page, h.tenantAdmin);
  await page.getByLabel("Entity name").fill("Invoice s");
  await page.press("#filter-label", "Enter");
  await waitForList(page);
  expect(queryOf(page).get("label")).toBe("Invoice s");
  // The old name finds the entries written under it, not the rename.
  const before = await expectedIds(h, { where: "starts_with(l.entity_label, $2)", params: ["Invoice s"] });
  expect(before.length).toBeGreaterThan(1);
  expect(before).not.toContain(renameId);
  expect(await listedCount(page)).toBe(before.length);
  expect(await listedIds(page, true)).toEqual(before);
  expect(new Set((await listedNames(page)).values())).toEqual(new Set(["Invoice sync"]));

  // A reload (or the link shared) shows the same search.
  await page.reload();
  await waitForList(page);
  expect(await page.inputValue("#filter-label")).toBe("Invoice s");
  expect(await listedIds(page, true)).toEqual(before);

  // A shorter prefix finds both names; the rename is newest.
  await page.fill("#filter-label", "Invoice");
  await page.press("#filter-label", "Enter");
  await waitForList(page);
  expect(queryOf(page).get("label")).toBe("Invoice");
  const both = await expectedIds(h, { where: "starts_with(l.entity_label, $2)", params: ["Invoice"] });
  expect(await listedIds(page, true)).toEqual(both);
  expect(both[0]).toBe(renameId);

  // Back returns to the previous search; clearing the filters drops it.
  await page.goBack();
  await waitForList(page);
  expect(queryOf(page).get("label")).toBe("Invoice s");
  expect(await page.inputValue("#filter-label")).toBe("Invoice s");
  await page.getByRole("button", { name: "Clear filters" }).first().click();
  await waitForList(page);
  expect(queryOf(page).get("label")).toBeNull();
  expect(await page.inputValue("#filter-label")).toBe("");
  await context.close();
});

test("the entity-name search combines with the other filters, and an account admin searches only their account", async () => {
  const { context, page } = await newPage(h);
  // "Payroll export" is the Finance account's process: outside the Operations admin's scope.
  await signIn(h, page, h.accountAdmin, "?label=Payroll");
  expect(await listedCount(page)).toBe(0);
  await page.fill("#filter-label", "Invoice");
  await page.press("#filter-label", "Enter");
  await waitForList(page);
  await page.selectOption("#filter-action", "update");
  await waitForList(page);
  expect(queryOf(page).get("label")).toBe("Invoice");
  expect(queryOf(page).get("action")).toBe("update");
  const expected = await expectedIds(h, {
    where: "starts_with(l.entity_label, $2) and l.action = 'update'", params: ["Invoice"], accountId: h.seed.opsAccountId,
  });
  expect(expected.length).toBeGreaterThan(0);
  expect(await listedIds(page, true)).toEqual(expected);
  await context.close();
});
