// The page shows what the token's scope allows, and nothing else.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { listedCount, listedIds, newPage, signIn, startHarness, type Harness } from "./support/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h?.close();
});

async function expectedIds(where: string, params: unknown[]): Promise<string[]> {
  const { rows } = await h.db.owner.query<{ id: string }>(
    `select id::text from audit.log where ${where} and occurred_at >= now() - interval '30 days' order by occurred_at desc, id desc`, params);
  return rows.map((r) => r.id);
}

describe("scope", () => {
  test("a tenant admin sees the entries of every account of the tenant, and only those", async () => {
    const { context, page } = await newPage(h);
    await signIn(h, page, h.tenantAdmin);
    const expected = await expectedIds("tenant_id = $1", [h.seed.tenantId]);
    expect(await listedCount(page)).toBe(expected.length);
    const ids = await listedIds(page, true);
    expect(ids).toEqual(expected);
    const accounts = await page.locator("#rows td[data-account]").evaluateAll((cells) => [...new Set(cells.map((c) => (c as HTMLElement).dataset.account))]);
    expect(accounts.sort()).toEqual(["", h.seed.finAccountId, h.seed.opsAccountId].sort());
    await expect(page.locator("#rows").textContent()).resolves.not.toContain("Globex");
    await context.close();
  });

  test("an account admin sees only the entries of their account", async () => {
    const { context, page } = await newPage(h);
    await signIn(h, page, h.accountAdmin);
    const expected = await expectedIds("tenant_id = $1 and account_id = $2", [h.seed.tenantId, h.seed.opsAccountId]);
    expect(expected.length).toBeGreaterThan(10);
    expect(await listedCount(page)).toBe(expected.length);
    expect(await listedIds(page, true)).toEqual(expected);
    const accounts = await page.locator("#rows td[data-account]").evaluateAll((cells) => [...new Set(cells.map((c) => (c as HTMLElement).dataset.account))]);
    expect(accounts).toEqual([h.seed.opsAccountId]);
    await context.close();
  });

  test("the sidebar layout has Audit Logs selected; pages load as the list scrolls", async () => {
    const { context, page } = await newPage(h);
    await signIn(h, page, h.tenantAdmin);
    const current = page.locator('nav[aria-label="Main"] [aria-current="page"]');
    await expect(current.textContent()).resolves.toContain("Audit Logs");
    // This server does not serve GraphiQL, so the page does not link to it.
    await page.waitForFunction(() => !document.querySelector('a[href="/graphiql"]'));
    expect(await page.locator("#rows tr[data-id]").count()).toBe(50);
    await expect(page.locator("#more").textContent()).resolves.toContain("Showing 50");
    await page.locator("#load-more").scrollIntoViewIfNeeded();
    await page.waitForFunction(() => document.querySelectorAll("#rows tr[data-id]").length > 50);
    await page.locator("#end-of-list").waitFor();
    expect(await page.locator("#rows tr[data-id]").count()).toBe(await listedCount(page));
    await context.close();
  });
});
