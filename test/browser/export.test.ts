// Export: every entry matching the page's filters, streamed by the server
// with the admin's scope, as CSV and JSON Lines.
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Page } from "playwright-core";
import { verifyExport } from "../../src/sealing/export-verify.ts";
import { csvRecords } from "./support/csv.ts";
import { expectedIds, listedCount, makeToken, newPage, shownCount, signIn, startHarness, type Harness } from "./support/harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ exportBatchSize: 7 });
});
afterAll(async () => {
  await h?.close();
});

async function download(page: Page, button: string): Promise<{ name: string; text: string; path: string }> {
  const [file] = await Promise.all([page.waitForEvent("download"), page.click(button)]);
  const path = await file.path();
  return { name: file.suggestedFilename(), text: await readFile(path, "utf8"), path };
}

/** A JSON Lines export's lines: the header, the entries (no "type"), then the proof (seals, proofs, the end line). */
function jsonlParts(text: string): { header: Record<string, unknown>; entries: Record<string, unknown>[]; trailer: Record<string, unknown>[] } {
  const [header, ...rest] = text.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  const entries = rest.filter((l) => !("type" in l));
  expect(rest.slice(0, entries.length)).toEqual(entries);
  const trailer = rest.slice(entries.length);
  expect(header).toMatchObject({ type: "header", format: "audit-trail export", version: 1, proof: "inline" });
  expect(trailer.at(-1)).toMatchObject({ type: "end", entries: entries.length });
  return { header: header!, entries, trailer };
}

interface DbEntry {
  id: string;
  occurred_at: string;
  account_id: string | null;
  actor_email: string | null;
  actor_type: string;
  event: string;
  entity_id: string;
  description: string;
  old_values: unknown;
  new_values: unknown;
  context: unknown;
}

async function dbEntries(ids: string[]): Promise<Map<string, DbEntry>> {
  const { rows } = await h.db.owner.query<DbEntry>(
    `select l.id::text, to_char(l.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as occurred_at, l.account_id, l.actor_email,
            l.actor_type, l.event, l.entity_id, e.description, l.old_values, l.new_values, l.context
       from audit.log l join audit.events e using (event) where l.id = any($1::bigint[])`, [ids]);
  return new Map(rows.map((r) => [r.id, r]));
}

describe("export", () => {
  test("CSV of the filtered view matches the filtered entries exactly", async () => {
    const { context, page } = await newPage(h);
    await signIn(h, page, h.tenantAdmin, "?resource=process&range=7d");
    const expected = await expectedIds(h, { where: "l.resource_type = 'process'", since: "7 days" });
    expect(await listedCount(page)).toBe(expected.length);

    const { name, text } = await download(page, "#export-csv");
    expect(name).toMatch(/^audit-log-.*\.csv$/);
    const records = csvRecords(text);
    expect(records.map((r) => r.id)).toEqual(expected);
    const db = await dbEntries(expected);
    for (const r of records) {
      const e = db.get(r.id!)!;
      expect(r.occurredAt).toBe(e.occurred_at);
      expect(r.tenantId).toBe(h.seed.tenantId);
      expect(r.accountId).toBe(e.account_id ?? "");
      expect(r.actorEmail).toBe(e.actor_email ?? "");
      expect(r.actorType).toBe(e.actor_type);
      expect(r.event).toBe(e.event);
      expect(r.entityId).toBe(e.entity_id);
      expect(r.description).toBe(e.description);
      expect(JSON.parse(r.oldValues!)).toEqual(e.old_values);
      expect(JSON.parse(r.newValues!)).toEqual(e.new_values);
      expect(JSON.parse(r.context!)).toEqual(e.context);
    }
    await page.waitForSelector("#export-status[data-rows]");
    expect(Number(await page.getAttribute("#export-status", "data-rows"))).toBe(expected.length);
    await expect(page.locator("#export-status").textContent()).resolves.toContain(`Exported ${expected.length} entries`);
    await context.close();
  });

  test("JSON Lines of an account admin's view hold only that account's entries, secrets redacted", async () => {
    const { context, page } = await newPage(h);
    await signIn(h, page, h.accountAdmin);
    const expected = await expectedIds(h, { accountId: h.seed.opsAccountId });
    const { name, text } = await download(page, "#export-jsonl");
    expect(name).toMatch(/\.jsonl$/);
    const { header, entries: lines } = jsonlParts(text);
    // an account admin's export is never complete: other accounts' entries share its seals
    expect(header.completeness).toBe("filtered");
    expect(lines.map((l) => l.id)).toEqual(expected);
    expect(new Set(lines.map((l) => l.accountId))).toEqual(new Set([h.seed.opsAccountId]));
    expect(text).not.toContain("s3cret");
    expect(text).not.toContain("Globex");
    const settings = lines.find((l) => l.event === "settings.updated" && l.oldValues !== null);
    expect(settings?.newValues).toEqual({ value: { username: "rpa-bot", password: "[redacted]" } });
    // the page counts the entries, not the header and proof lines
    await page.waitForSelector("#export-status[data-rows]");
    expect(Number(await page.getAttribute("#export-status", "data-rows"))).toBe(expected.length);
    await context.close();
  });

  test("the endpoint streams in batches with the same scope, and refuses bad requests", async () => {
    const url = `${h.server.url}/export?format=csv`;
    expect((await fetch(url)).status).toBe(401);
    const expired = makeToken({ sub: h.seed.ada.id, tenant_id: h.seed.tenantId, role: "tenant_admin" }, -60);
    const refused = await fetch(url, { headers: { authorization: `Bearer ${expired}` } });
    expect(refused.status).toBe(401);
    expect(JSON.stringify(await refused.json())).toContain("TOKEN_EXPIRED");
    const auth = { authorization: `Bearer ${h.tenantAdmin}` };
    expect((await fetch(`${h.server.url}/export?format=xlsx`, { headers: auth })).status).toBe(400);
    expect((await fetch(`${h.server.url}/export?user=not-a-uuid`, { headers: auth })).status).toBe(400);
    expect((await fetch(`${h.server.url}/export?tenant=${h.seed.otherTenantId}`, { headers: auth })).status).toBe(400);

    // No filters at all: the tenant's whole log, never another tenant's.
    const all = await fetch(`${h.server.url}/export?format=jsonl`, { headers: auth });
    expect(all.status).toBe(200);
    expect(all.headers.get("content-type")).toContain("application/x-ndjson");
    const { header, entries: ids } = jsonlParts(await all.text());
    // a tenant admin's export without filters is the complete log of the tenant
    expect(header).toMatchObject({ filter: {}, completeness: "complete" });
    const { rows } = await h.db.owner.query<{ id: string }>("select id::text from audit.log where tenant_id = $1 order by occurred_at desc, id desc", [h.seed.tenantId]);
    expect(ids.map((r) => r.id)).toEqual(rows.map((r) => r.id));
    expect(new Set(ids.map((r) => r.tenantId))).toEqual(new Set([h.seed.tenantId]));
  });

  test("a large export shows its progress and delivers every entry", async () => {
    // 20 000 entries of one day, two months back: written directly, as a bulk load would.
    const day = new Date(Date.now() - 60 * 24 * 3600_000);
    day.setUTCHours(0, 0, 0, 0);
    await h.db.owner.query(
      `insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_id, actor_email, actor_name, action, resource_type, entity_id, event, new_values, context)
       select $2::timestamptz + (g * interval '4 seconds'), $1, $3, 'user', $4, 'max@acme.test', 'Max Member', 'update', 'process', $5, 'process.updated',
              jsonb_build_object('description', 'Bulk ' || g), jsonb_build_object('request_id', 'bulk-' || g)
         from generate_series(1, 20000) g`,
      [h.seed.tenantId, day.toISOString(), h.seed.finAccountId, h.seed.max.id, h.seed.processes.fin]);
    const from = day.toISOString();
    const to = new Date(day.getTime() + 24 * 3600_000).toISOString();
    const exportAll = async (query: string, count: { count: number; capped: boolean; text: string }, progress: RegExp) => {
      const { context, page } = await newPage(h);
      await signIn(h, page, h.tenantAdmin, query);
      await page.waitForSelector("#count[data-count]");
      expect(await shownCount(page)).toEqual(count);
      const downloaded = page.waitForEvent("download");
      await page.click("#export-csv");
      await page.waitForSelector("#export-progress");
      await expect(page.locator("#export-status").textContent()).resolves.toMatch(progress);
      const file = await downloaded;
      const records = csvRecords(await readFile(await file.path(), "utf8"));
      expect(records.length).toBe(20000);
      expect(new Set(records.map((r) => r.id)).size).toBe(20000);
      expect(records[0]!.description).toBe("Process updated");
      await page.waitForSelector("#export-status[data-rows='20000']");
      await context.close();
    };

    // A range: the page's count is exact (activityCounts), so the progress counts against it.
    await exportAll(`?range=custom&from=${from}&to=${to}`, { count: 20000, capped: false, text: "20,000 entries" },
      /^(Exporting… [\d,]+ of 20,000 entries|Starting export…)$/);

    // The entity's entries: counted by the log up to 10,000 ("10,000+"), and the export still has them all,
    // with no exact total to show progress against: the running number only.
    const entity = `?range=custom&from=${from}&to=${to}&entity=${h.seed.processes.fin}`;
    await exportAll(entity, { count: 10000, capped: true, text: "10,000+ entries" }, /^(Exporting… [\d,]+ entries|Starting export…)$/);
  });
  test("the CSV's proof sidecar, offered next to the CSV, is for the same filters and checks the CSV offline", async () => {
    const { context, page } = await newPage(h);
    await signIn(h, page, h.tenantAdmin, "?resource=process&range=7d");
    const expected = await expectedIds(h, { where: "l.resource_type = 'process'", since: "7 days" });
    const csv = await download(page, "#export-csv");
    await page.waitForSelector("#export-status[data-rows]");
    expect(await page.locator("#export-csv-proof").textContent()).toBe("Proof for the CSV (sidecar)");
    const proof = await download(page, "#export-csv-proof");
    expect(proof.name).toMatch(/^audit-log-.*\.proof\.jsonl$/);
    const [header, ...rest] = proof.text.trimEnd().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(header).toMatchObject({ type: "header", proof: "sidecar", for: "csv", completeness: "filtered", filter: { resource: "process" } });
    // (nothing is sealed in this database: every entry is listed as not sealed yet)
    expect(rest.at(-1)).toEqual({ type: "end", entries: expected.length, proved: 0, unsealed: expected, seals: 0 });
    await page.waitForSelector("#export-status[data-proof-entries]");
    await expect(page.locator("#export-status").textContent()).resolves.toMatch(
      new RegExp(`^Saved the CSV's proof to audit-log-.*\\.proof\\.jsonl: 0 of ${expected.length} entries sealed, ${expected.length} not sealed yet$`));
    const result = await verifyExport({ file: csv.path, proofFile: proof.path });
    expect(result.findings).toEqual([]);
    expect(result).toMatchObject({ ok: true, entries: expected.length, proved: 0, unsealed: expected });
    await context.close();
  });

  test("the entity-name search reaches the export: the file holds exactly the listed entries", async () => {
    const { context, page } = await newPage(h);
    // in any case, as people type names
    await signIn(h, page, h.tenantAdmin, "?label=iNVOICE");
    const expected = await expectedIds(h, { where: "lower(l.entity_label) like 'invoice%'", params: [] });
    expect(expected.length).toBeGreaterThan(0);
    expect(await listedCount(page)).toBe(expected.length);
    const { text } = await download(page, "#export-csv");
    expect(csvRecords(text).map((r) => r.id)).toEqual(expected);
    await context.close();
  });
});
