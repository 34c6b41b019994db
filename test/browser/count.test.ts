// The count above the list: exact from `activityCounts` (the rollups, cheap
// on any size of log) when the filters allow, the API's capped count
// otherwise ("10,000+" beyond the cap, exact below it), with thousands
// separators, asked for together with the first page rather than after it,
// and never the exact totalCount on the page's paths.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Page, Route } from "playwright-core";
import {
  expectedIds, listedCount, listedIds, newPage, shownCount, signIn, startHarness, waitForList, type Harness,
} from "./support/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

/** The GraphQL operations the page sends, by operation name, with their documents. */
function recordOperations(page: Page, onOperation?: (name: string, route: Route) => Promise<void>): { name: string; query: string }[] {
  const seen: { name: string; query: string }[] = [];
  void page.route("**/graphql", async (route) => {
    const { query } = route.request().postDataJSON() as { query: string };
    const name = /^\s*query\s+(\w+)/.exec(query)?.[1] ?? "(anonymous)";
    seen.push({ name, query });
    await onOperation?.(name, route);
    await route.continue();
  });
  return seen;
}

describe("the count", () => {
  test("is asked for together with the first page, and no request of the page asks for an exact count", async () => {
    const { context, page } = await newPage(h);
    let countRequested!: () => void;
    const countArrived = new Promise<void>((resolve) => (countRequested = resolve));
    let firstPageHeld = false;
    let countWhileFirstPageHeld = false;
    const operations = recordOperations(page, async (name) => {
      if (name === "ActivityTotal") countRequested();
      if (name === "AuditLogPage" && !firstPageHeld) {
        // Hold the first page back: a page that asks for its count only once
        // the first page is in never sends the count meanwhile.
        firstPageHeld = true;
        countWhileFirstPageHeld = await Promise.race([
          countArrived.then(() => true),
          new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 10_000)),
        ]);
      }
    });
    await signIn(h, page, h.tenantAdmin);
    expect(firstPageHeld).toBe(true);
    expect(countWhileFirstPageHeld).toBe(true);

    // The default view, a filter, the next page, the chart, an entity (which
    // the rollups do not count), back to the default view.
    await page.selectOption("#filter-resource", "process");
    await waitForList(page);
    await listedIds(page, true);
    await page.waitForSelector("#chart[data-total]");
    expect(operations.map((o) => o.name)).not.toContain("AuditLogCount");
    expect(operations.map((o) => o.name)).not.toContain("AuditLogActivity");
    await page.selectOption("#filter-resource", "");
    await waitForList(page);
    await page.fill("#filter-entity", h.seed.apiKeyId);
    await page.press("#filter-entity", "Enter");
    await waitForList(page);
    await page.waitForSelector("#chart[data-total]");
    await page.getByRole("button", { name: "Clear filters" }).first().click();
    await waitForList(page);
    await page.reload();
    await waitForList(page);

    const names = new Set(operations.map((o) => o.name));
    for (const name of ["AuditLogPage", "ActivityTotal", "ActivityChart", "AuditLogCount", "AuditLogActivity"]) expect(names).toContain(name);
    for (const o of operations) expect(o.query, o.name).not.toMatch(/totalCount/);
    for (const o of operations.filter((o) => o.name === "AuditLogCount")) expect(o.query).toMatch(/cappedCount\s*{\s*count\s+isCapped\s*}/);
    for (const o of operations.filter((o) => o.name === "ActivityTotal")) expect(o.query).toMatch(/activityCounts\(/);
    await context.close();
  });

  test("is exact beyond 10,000 from the rollups, '10,000+' for a filter only the log answers, with thousands separators", async () => {
    // 10,200 process edits and 1,234 settings changes in account Finance, ten days ago.
    const at = new Date(Date.now() - 10 * 24 * 3600_000).toISOString();
    for (const [n, resource, event, entity] of [
      [10_200, "process", "process.updated", h.seed.processes.fin],
      [1_234, "settings", "settings.updated", h.seed.settingsId],
    ] as const) {
      await h.db.owner.query(
        `insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_id, actor_email, actor_name, action, resource_type, entity_id, event, new_values, context)
         select $2::timestamptz + (g * interval '10 milliseconds'), $1, $3, 'user', $4, 'max@acme.test', 'Max Member', 'update', $5, $6, $7,
                jsonb_build_object('description', 'Bulk ' || g), jsonb_build_object('request_id', 'bulk-' || g)
           from generate_series(1, $8::int) g`,
        [h.seed.tenantId, at, h.seed.finAccountId, h.seed.max.id, resource, entity, event, n]);
    }
    // Rolled up (what the server's consumer does every ROLLUP_INTERVAL_MS).
    await h.db.owner.query("select audit.refresh_rollups()");
    const { context, page } = await newPage(h);
    await signIn(h, page, h.tenantAdmin);
    const all = await expectedIds(h);
    expect(all.length).toBeGreaterThan(10_000);
    expect(await shownCount(page)).toEqual({ count: all.length, capped: false, text: `${all.length.toLocaleString("en-GB")} entries` });
    expect(await page.getAttribute("#count", "title")).toBeNull();
    await page.waitForSelector("#chart[data-total]");
    expect(Number(await page.getAttribute("#chart", "data-total"))).toBe(all.length);

    // Narrowed below the cap: exact, with a thousands separator.
    await page.selectOption("#filter-resource", "settings");
    await waitForList(page);
    const settings = await expectedIds(h, { where: "l.resource_type = 'settings'" });
    expect(settings.length).toBeGreaterThan(1_234);
    expect(settings.length).toBeLessThan(10_000);
    expect(await shownCount(page)).toEqual({ count: settings.length, capped: false, text: `${settings.length.toLocaleString("en-GB")} entries` });
    expect(await page.getAttribute("#count", "title")).toBeNull();
    expect(await listedCount(page)).toBe(settings.length);

    // An entity (counted by the log, capped): the bulk's process has more than 10,000.
    await page.selectOption("#filter-resource", "");
    await waitForList(page);
    await page.fill("#filter-entity", h.seed.processes.fin);
    await page.press("#filter-entity", "Enter");
    await waitForList(page);
    expect(await shownCount(page)).toEqual({ count: 10_000, capped: true, text: "10,000+ entries" });
    expect(await page.getAttribute("#count", "title")).toBe("More than 10,000 entries match. Narrow the filters for an exact count.");
    await expect(listedCount(page)).rejects.toThrow(/capped/);

    // An entity with exactly one entry: "1 entry".
    await page.fill("#filter-entity", h.seed.apiKeyId);
    await page.press("#filter-entity", "Enter");
    await waitForList(page);
    const key = await expectedIds(h, { where: "l.entity_id = $2", params: [h.seed.apiKeyId] });
    expect(key.length).toBe(1);
    expect(await shownCount(page)).toEqual({ count: 1, capped: false, text: "1 entry" });
    await context.close();

    // The account admin of Operations counts none of Finance's bulk entries: exact again.
    const asOps = await newPage(h);
    await signIn(h, asOps.page, h.accountAdmin);
    const ops = await expectedIds(h, { accountId: h.seed.opsAccountId });
    expect(ops.length).toBeGreaterThan(0);
    expect(await shownCount(asOps.page)).toEqual({ count: ops.length, capped: false, text: `${ops.length.toLocaleString("en-GB")} entries` });
    await asOps.context.close();
  });
});
