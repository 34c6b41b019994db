// Benchmark (not part of npm test): how fast the page is with a large log
// behind it. Run with
//   npm run bench:page                       (2,000,000 entries)
//   WEB_SCALE_ROWS=500000 npm run bench:page  (another size)
// It bulk-loads that many entries into one tenant (spread over six months,
// moved into their years' partitions), then times the page as an admin sees it.
import { afterAll, beforeAll, expect, test } from "vitest";
import { listedCount, newPage, signIn, startHarness, waitForList, type Harness } from "../../test/browser/support/harness.ts";

const ROWS = Number(process.env.WEB_SCALE_ROWS ?? 2_000_000);
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ exportBatchSize: 1000 });
  const started = Date.now();
  await h.db.owner.query(
    `insert into audit.log (occurred_at, tenant_id, account_id, actor_type, actor_id, actor_email, actor_name, action, resource_type, entity_id, event, new_values, context)
     select now() - (g * (interval '180 days' / $6::int)), $1,
            case g % 3 when 0 then $2::uuid when 1 then $3::uuid else null end,
            'user', case g % 2 when 0 then $4::uuid else $5::uuid end, 'bulk@acme.test', 'Bulk Loader',
            (array['create','update','delete'])[1 + g % 3], (array['process','job','settings','member'])[1 + g % 4],
            md5(g::text), (array['process.created','job.completed','settings.updated','member.added'])[1 + g % 4],
            jsonb_build_object('n', g), jsonb_build_object('request_id', 'bulk-' || g)
       from generate_series(1, $6::int) g`,
    [h.seed.tenantId, h.seed.opsAccountId, h.seed.finAccountId, h.seed.max.id, h.seed.olga.id, ROWS]);
  await h.db.owner.query("select audit.ensure_partitions()");
  await h.db.owner.query("analyze audit.log");
  console.log(`loaded ${ROWS} entries in ${Date.now() - started} ms`);
}, 1_800_000);
afterAll(async () => {
  await h?.close();
});

async function timeView(token: string, query: string, label: string): Promise<number> {
  const { context, page } = await newPage(h);
  await signIn(h, page, token);
  const started = Date.now();
  await page.goto(`${h.server.url}/${query}`);
  await page.waitForSelector("#entries:not([aria-busy])");
  const firstPage = Number(await page.evaluate(() => document.body.dataset.firstPageMs));
  const shown = Date.now() - started;
  await waitForList(page);
  const counted = Date.now() - started;
  await page.waitForSelector("#chart[data-total]", { timeout: 60_000 });
  const charted = Date.now() - started;
  console.log(`${label}: first page request ${firstPage} ms, rows on screen after ${shown} ms (incl. page load), count ${await listedCount(page)} after ${counted} ms, chart after ${charted} ms`);
  await context.close();
  return firstPage;
}

test("the first page shows in well under a second with a large log", async () => {
  for (const [label, query] of [["30 days", ""], ["7 days, resource settings", "?range=7d&resource=settings"], ["24 hours", "?range=24h"]]) {
    expect(await timeView(h.tenantAdmin, query!, `tenant admin, ${label}`)).toBeLessThan(1000);
    expect(await timeView(h.accountAdmin, query!, `account admin, ${label}`)).toBeLessThan(1000);
  }
}, 600_000);

test("the export streams a large range at a steady pace", async () => {
  const from = new Date(Date.now() - 30 * 24 * 3600_000).toISOString();
  const started = Date.now();
  const response = await fetch(`${h.server.url}/export?format=csv&from=${from}`, { headers: { authorization: `Bearer ${h.tenantAdmin}` } });
  expect(response.status).toBe(200);
  const firstByte = Date.now() - started;
  let bytes = 0;
  let lines = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.byteLength;
    for (const b of chunk) if (b === 10) lines++;
  }
  const ms = Date.now() - started;
  console.log(`export of ${lines - 1} entries (${(bytes / 1e6).toFixed(1)} MB CSV): first byte after ${firstByte} ms, done in ${ms} ms (${Math.round((lines - 1) / (ms / 1000))} entries/s)`);
  expect(lines - 1).toBeGreaterThan(0);
}, 600_000);
