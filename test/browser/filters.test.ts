// Each filter narrows the list and is written to the URL; a reload (or a
// shared link) shows the same view; the chart agrees with the list.
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, test } from "vitest";
import type { BrowserContext, Page } from "playwright-core";
import {
  expectedIds, listedCount, listedIds, newPage, queryOf, signIn, startHarness, waitForList, type Harness,
} from "./support/harness.ts";

let h: Harness;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});
beforeEach(async () => {
  ({ context, page } = await newPage(h));
  await signIn(h, page, h.tenantAdmin);
});
afterEach(async () => {
  await context.close();
});

async function expectList(ids: string[]): Promise<void> {
  expect(ids.length).toBeGreaterThan(0);
  expect(await listedCount(page)).toBe(ids.length);
  expect(await listedIds(page, true)).toEqual(ids);
}

describe("filters", () => {
  test("action type: a whole action, or one catalogued event", async () => {
    const all = await listedCount(page);
    await page.selectOption("#filter-action", "update");
    await waitForList(page);
    expect(queryOf(page).get("action")).toBe("update");
    await expectList(await expectedIds(h, { where: "l.action = 'update'" }));
    expect(await listedCount(page)).toBeLessThan(all);

    await page.selectOption("#filter-action", "member.removed");
    await waitForList(page);
    expect(queryOf(page).get("action")).toBe("member.removed");
    await expectList(await expectedIds(h, { where: "l.event = 'member.removed'" }));
    await expect(page.locator("#rows .row-open").allTextContents()).resolves.toEqual(["Member removed"]);
  });

  test("resource type", async () => {
    await page.selectOption("#filter-resource", "settings");
    await waitForList(page);
    expect(queryOf(page).get("resource")).toBe("settings");
    await expectList(await expectedIds(h, { where: "l.resource_type = 'settings'" }));
    const tags = await page.locator("#rows .col-resource .tag").allTextContents();
    expect(new Set(tags)).toEqual(new Set(["Settings"]));
  });

  test("date range: last 24 hours, 7 days, and a custom range", async () => {
    await page.selectOption("#filter-range", "24h");
    await waitForList(page);
    expect(queryOf(page).get("range")).toBe("24h");
    await expectList(await expectedIds(h, { since: "24 hours" }));

    await page.selectOption("#filter-range", "7d");
    await waitForList(page);
    expect(queryOf(page).get("range")).toBe("7d");
    await expectList(await expectedIds(h, { since: "7 days" }));

    // Custom: from 10 days ago to 5 days ago, typed in local time.
    await page.selectOption("#filter-range", "custom");
    await waitForList(page);
    // Both instants from one clock reading: read apart, a minute boundary
    // between them would add a minute to the typed range.
    const day = 24 * 3600_000;
    const [fromText, toText] = await page.evaluate((msAgo) => {
      const now = Date.now();
      const pad = (n: number) => String(n).padStart(2, "0");
      const local = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
      return msAgo.map((ms) => local(new Date(now - ms)));
    }, [10 * day, 5 * day]);
    await page.fill("#filter-from", fromText!);
    await page.locator("#filter-from").dispatchEvent("change");
    await waitForList(page);
    await page.fill("#filter-to", toText!);
    await page.locator("#filter-to").dispatchEvent("change");
    await waitForList(page);
    const q = queryOf(page);
    expect(q.get("range")).toBe("custom");
    const from = q.get("from")!;
    const to = q.get("to")!;
    expect(Date.parse(to) - Date.parse(from)).toBeCloseTo(5 * day, -5);
    const { rows } = await h.db.owner.query<{ id: string }>(
      "select id::text from audit.log where tenant_id = $1 and occurred_at >= $2 and occurred_at < $3 order by occurred_at desc, id desc",
      [h.seed.tenantId, from, to]);
    await expectList(rows.map((r) => r.id));
  });

  test("user: the actors that occur, by name and email", async () => {
    // The menu is filled from an aggregate the page asks for after the first page.
    await page.waitForFunction(() => document.querySelectorAll("#filter-user option").length > 1);
    const options = await page.locator("#filter-user option").allTextContents();
    expect(options).toEqual(expect.arrayContaining(["Anyone", "Max Member <max@acme.test>", "Olga Ops <olga@acme.test>", "Ada Admin <ada@acme.test>"]));
    expect(options.join(" ")).not.toContain("Globex");
    await page.selectOption("#filter-user", h.seed.max.id);
    await waitForList(page);
    expect(queryOf(page).get("user")).toBe(h.seed.max.id);
    await expectList(await expectedIds(h, { where: "l.actor_id = $2", params: [h.seed.max.id] }));
    const who = await page.locator("#rows .col-who .strong").allTextContents();
    expect(new Set(who)).toEqual(new Set(["Max Member"]));
  });

  test("entity id", async () => {
    await page.fill("#filter-entity", h.seed.settingsId);
    await page.press("#filter-entity", "Enter");
    await waitForList(page);
    expect(queryOf(page).get("entity")).toBe(h.seed.settingsId);
    await expectList(await expectedIds(h, { where: "l.entity_id = $2", params: [h.seed.settingsId] }));
  });

  test("a reload, or the same link in a new tab, keeps the filters", async () => {
    await page.selectOption("#filter-resource", "process");
    await waitForList(page);
    await page.selectOption("#filter-user", h.seed.olga.id);
    await waitForList(page);
    await page.selectOption("#filter-range", "7d");
    await waitForList(page);
    const expected = await expectedIds(h, { where: "l.resource_type = 'process' and l.actor_id = $2", params: [h.seed.olga.id], since: "7 days" });
    await expectList(expected);
    const url = page.url();

    await page.reload();
    await waitForList(page);
    expect(page.url()).toBe(url);
    expect(await page.inputValue("#filter-resource")).toBe("process");
    expect(await page.inputValue("#filter-range")).toBe("7d");
    await page.waitForFunction((id) => (document.querySelector("#filter-user") as HTMLSelectElement).value === id, h.seed.olga.id);
    await expectList(expected);

    // Back goes to the previous view.
    await page.goBack();
    await waitForList(page);
    expect(queryOf(page).get("range")).toBeNull();
    expect(await page.inputValue("#filter-range")).toBe("30d");
  });

  test("clear filters returns to the default view", async () => {
    await page.selectOption("#filter-resource", "member");
    await waitForList(page);
    await page.getByRole("button", { name: "Clear filters" }).first().click();
    await waitForList(page);
    expect(new URL(page.url()).search).toBe("");
    await expectList(await expectedIds(h));
  });
});

describe("activity chart", () => {
  test("its total matches the list's count, for every view", async () => {
    for (const select of [null, ["#filter-resource", "process"], ["#filter-range", "7d"], ["#filter-action", "update"]] as const) {
      if (select) {
        await page.selectOption(select[0], select[1]);
        await waitForList(page);
      }
      await page.waitForSelector("#chart[data-total]");
      const total = Number(await page.getAttribute("#chart", "data-total"));
      const bars = await page.locator("#chart .bar").evaluateAll((els) => els.reduce((a, el) => a + Number(el.getAttribute("data-count")), 0));
      expect(total).toBe(await listedCount(page));
      expect(bars).toBe(total);
    }
  });

  test("selecting a day narrows the range to that day", async () => {
    await page.waitForSelector("#chart[data-total]");
    const bar = page.locator("#chart .bar[data-count]:not([data-count='0'])").last();
    const count = Number(await bar.getAttribute("data-count"));
    const start = (await bar.getAttribute("data-start"))!;
    await bar.click();
    await waitForList(page);
    const q = queryOf(page);
    expect(q.get("range")).toBe("custom");
    expect(Date.parse(q.get("from")!)).toBeGreaterThanOrEqual(Date.parse(start));
    expect(Date.parse(q.get("to")!)).toBeLessThanOrEqual(Date.parse(start) + 24 * 3600_000);
    expect(await listedCount(page)).toBe(count);
    const { rows } = await h.db.owner.query<{ n: string }>(
      "select count(*)::text as n from audit.log where tenant_id = $1 and occurred_at >= $2 and occurred_at < $3",
      [h.seed.tenantId, q.get("from"), q.get("to")]);
    expect(Number(rows[0]!.n)).toBe(count);
    // Keyboard: the chart is one tab stop, the arrows move between bars, Enter
    // narrows (now to one of the day's hourly buckets).
    await page.waitForSelector("#chart[data-total]");
    const stop = page.locator("#chart .bar[tabindex='0']");
    expect(await stop.count()).toBe(1);
    const starts = await page.locator("#chart .bar").evaluateAll((bars) => bars.map((b) => Number(b.getAttribute("data-count"))));
    const target = starts.findIndex((n) => n > 0);
    const hourCount = starts[target]!;
    await stop.focus();
    await page.keyboard.press("Home");
    for (let i = 0; i < target; i++) await page.keyboard.press("ArrowRight");
    expect(await page.evaluate(() => document.activeElement?.getAttribute("data-count"))).toBe(String(hourCount));
    await page.keyboard.press("Enter");
    await waitForList(page);
    expect(await listedCount(page)).toBe(hourCount);
  });
});
