// The Audit Logs header's tamper-evidence line: "Sealed up to <time>" and the
// last verification (not yet, with findings in the danger style, without
// findings in the success style), the newest seal's number and hash in a
// popover (monospace, copyable, with the sentence on keeping it outside the
// database), for tenant and account admins; and a page that works without
// the line when sealStatus fails. Seals are made as the owner through the
// sealer's SQL path with stand-in signatures; verification results are
// inserted as the owner, as `npm run verify` records them.
import path from "node:path";
import type pg from "pg";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { listedIds, newPage, RESULTS_DIR, signIn, startHarness, waitForList, type Harness } from "./support/harness.ts";

let h: Harness;

const SIGNATURE = `${"A".repeat(40)}${"b".repeat(40)}012345==`;
const ANCHOR = "Keep this hash outside the database: it anchors your log's seal chain.";

/**
 * Runs sealing rounds as the owner (begin_round, stage_seals, commit_seals,
 * end_round in one transaction, as src/sealing does) until the watermark has
 * passed every transaction committed so far.
 */
async function sealEverything(owner: pg.Pool, timeoutMs = 120_000): Promise<void> {
  const { rows } = await owner.query<{ xid: string }>("select txid_current()::text as xid");
  const target = BigInt(rows[0]!.xid);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = await owner.connect();
    let to: string | null = null;
    try {
      await client.query("begin");
      const round = await client.query<{ from_xid: string | null; to_xid: string | null }>(
        "select from_xid::text, to_xid::text from audit_private.begin_round('seals', 1000000)",
      );
      const { from_xid: from, to_xid } = round.rows[0]!;
      to = to_xid;
      if (from !== null && to !== null) {
        const staged = await client.query<{ tenant_id: string; seq: string; seal_hash: string; entry_count: number }>(
          "select tenant_id, seq::text, seal_hash, entry_count from audit_private.stage_seals($1, $2, '0123456789abcdef')", [from, to]);
        if (staged.rows.length > 0) {
          const signatures = staged.rows.map((s) => ({ tenant_id: s.tenant_id, seq: s.seq, seal_hash: s.seal_hash, signature: SIGNATURE }));
          await client.query("select audit_private.commit_seals($1::jsonb)", [JSON.stringify(signatures)]);
        }
        await client.query("select audit_private.end_round('seals', $1, $2)", [to, staged.rows.reduce((n, s) => n + s.entry_count, 0)]);
      }
      await client.query("commit");
    } catch (err) {
      await client.query("rollback").catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
    if (to !== null && BigInt(to) > target) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the sealer to pass transaction ${target}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function verified(tenantId: string, findings: Record<string, number>, signaturesChecked: boolean, minutesAgo: number): Promise<void> {
  await h.db.owner.query(
    `insert into audit.verifications (tenant_id, verified_at, verified_by, seals_checked, entries_checked, findings, signatures_checked)
     values ($1, now() - make_interval(mins => $2), 'npm run verify', 1, 10, $3, $4)`,
    [tenantId, minutesAgo, JSON.stringify(findings), signaturesChecked]);
}

async function newestSeal(tenantId: string): Promise<{ seq: string; seal_hash: string }> {
  const { rows } = await h.db.owner.query<{ seq: string; seal_hash: string }>(
    "select seq::text, seal_hash from audit.seals where tenant_id = $1 order by seq desc limit 1", [tenantId]);
  return rows[0]!;
}

/** Waits for the line, and returns its parts' text. */
async function statusLine(page: Page): Promise<{ sealed: string; verification: string; state: string | null; className: string }> {
  await page.waitForSelector("#seal-status:not([hidden]) #seal-verification");
  const verification = page.locator("#seal-verification");
  return {
    sealed: (await page.locator("#seal-sealed").innerText()).trim(),
    verification: (await verification.innerText()).replace(/\s+/g, " ").trim(),
    state: await verification.getAttribute("data-state"),
    className: (await verification.getAttribute("class")) ?? "",
  };
}

beforeAll(async () => {
  h = await startHarness();
  await sealEverything(h.db.owner);
});
afterAll(async () => {
  await h?.close();
});

describe("the seal status line", () => {
  test("before any verification: sealed up to the last round, not verified yet", async () => {
    const { context, page } = await newPage(h);
    await signIn(h, page, h.tenantAdmin);
    const line = await statusLine(page);
    expect(line.sealed).toMatch(/^Sealed up to \S/);
    expect(line.verification).toBe("Not verified yet");
    expect(line.state).toBe("unverified");
    const { rows } = await h.db.owner.query<{ at: Date }>("select last_round_at as at from audit_private.log_consumers where consumer = 'seals'");
    const datetime = await page.locator("#seal-sealed time").getAttribute("datetime");
    expect(Date.parse(datetime!)).toBe(rows[0]!.at.getTime());
    // Local time (the browser's time zone, Europe/Berlin here), as the list shows its times.
    const local = await page.evaluate((iso) => new Intl.DateTimeFormat(undefined, {
      month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).format(new Date(iso)), datetime!);
    if (new Date(datetime!).getFullYear() === new Date().getFullYear()) expect(line.sealed).toBe(`Sealed up to ${local}`);
    await context.close();
  });

  test("a verification with findings reads in the danger style; the popover shows the newest seal's number and hash, to copy", async () => {
    await verified(h.seed.tenantId, {}, false, 60);
    await verified(h.seed.tenantId, { chain_broken: 1, modified: 2 }, true, 5);
    const seal = await newestSeal(h.seed.tenantId);
    const { context, page } = await newPage(h);
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: h.server.url });
    await signIn(h, page, h.tenantAdmin);
    const line = await statusLine(page);
    expect(line.verification).toMatch(/^!?\s?Verified 5 minutes ago: 2 modified, 1 chain broken$/);
    expect(line.state).toBe("findings");
    expect(line.className).toContain("seal-findings");
    const color = await page.locator("#seal-verification").evaluate((el) => getComputedStyle(el).color);
    expect(color).toBe("rgb(185, 28, 28)"); // --danger
    await expect(page.locator("#seal-verification time").getAttribute("title")).resolves.toMatch(/\d{2}:\d{2}:\d{2}/);

    expect(await page.locator("#seal-hash").isVisible()).toBe(false);
    await page.getByText("Seal details").click();
    await page.waitForSelector("#seal-hash", { state: "visible" });
    await expect(page.locator("#seal-newest strong").textContent()).resolves.toBe(`Seal #${seal.seq}`);
    await expect(page.locator("#seal-hash").textContent()).resolves.toBe(seal.seal_hash);
    const font = await page.locator("#seal-hash").evaluate((el) => getComputedStyle(el).fontFamily);
    expect(font).toMatch(/mono/i);
    await expect(page.locator(".seal-popover").innerText()).resolves.toContain(ANCHOR);
    await expect(page.locator("#seal-signatures").innerText()).resolves.toMatch(/^The last verification checked the seals' signatures\./);
    await page.screenshot({ path: path.join(RESULTS_DIR, "page-seal-status.png"), clip: { x: 0, y: 0, width: 1440, height: 360 } });

    await page.locator("#seal-copy").click();
    await page.waitForFunction(() => document.querySelector("#seal-copy")?.textContent === "Copied");
    await expect(page.evaluate(() => navigator.clipboard.readText())).resolves.toBe(seal.seal_hash);

    // Escape closes the popover; so does a click elsewhere.
    await page.keyboard.press("Escape");
    await page.waitForSelector("#seal-hash", { state: "hidden" });
    await page.getByText("Seal details").click();
    await page.waitForSelector("#seal-hash", { state: "visible" });
    await page.getByRole("heading", { name: "Audit Logs", exact: true }).click();
    await page.waitForSelector("#seal-hash", { state: "hidden" });
    await context.close();
  });

  test("a verification without findings reads in the success style", async () => {
    await verified(h.seed.tenantId, {}, false, 2);
    const { context, page } = await newPage(h);
    await signIn(h, page, h.tenantAdmin);
    const line = await statusLine(page);
    expect(line.verification).toMatch(/^✓?\s?Verified 2 minutes ago: no findings$/);
    expect(line.state).toBe("ok");
    expect(line.className).toContain("seal-ok");
    const color = await page.locator("#seal-verification").evaluate((el) => getComputedStyle(el).color);
    expect(color).toBe("rgb(22, 101, 52)");
    await page.getByText("Seal details").click();
    await expect(page.locator("#seal-signatures").innerText()).resolves.toMatch(/^The last verification did not check the seals' signatures\./);
    await context.close();
  });

  test("an account admin sees its tenant's line too", async () => {
    const seal = await newestSeal(h.seed.tenantId);
    const { context, page } = await newPage(h);
    await signIn(h, page, h.accountAdmin);
    const line = await statusLine(page);
    expect(line.sealed).toMatch(/^Sealed up to \S/);
    expect(line.state).toBe("ok");
    await page.getByText("Seal details").click();
    await expect(page.locator("#seal-hash").textContent()).resolves.toBe(seal.seal_hash);
    await context.close();
  });

  test("when sealStatus fails, the line is absent and the page works", async () => {
    const { context, page } = await newPage(h);
    let refused = 0;
    await page.route("**/graphql", async (route) => {
      if (route.request().postData()?.includes("sealStatus")) {
        refused++;
        await route.fulfill({ status: 400, contentType: "application/json", body: JSON.stringify({ errors: [{ message: "Cannot query field \"sealStatus\" on type \"Query\".", extensions: { code: "GRAPHQL_VALIDATION_FAILED" } }] }) });
        return;
      }
      await route.continue();
    });
    await signIn(h, page, h.tenantAdmin);
    await waitForList(page);
    await page.waitForFunction(() => document.querySelectorAll("#rows tr[data-id]").length > 0);
    expect(refused).toBeGreaterThan(0);
    expect(await page.locator("#seal-status").isHidden()).toBe(true);
    expect(await page.locator("#seal-status").innerHTML()).toBe("");
    expect(await page.locator("#list-status").innerText()).toBe("");
    expect((await listedIds(page)).length).toBeGreaterThan(0);
    await context.close();
  });
});
