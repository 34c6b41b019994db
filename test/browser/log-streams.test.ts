// The Log streams view (/log-streams, tenant admins), end to end in Chromium
// over a real server and database: an https stream to a local receiver
// (the server allows private addresses, as WEBHOOK_ALLOW_PRIVATE does) shows
// its signing secret once and then nowhere; a Splunk stream without its
// token gets the API's error on the token field; pause and resume, replay
// from a UTC time, the last error of a failing stream, delete after a
// confirmation, editing a stream in its item (and the API's refusal of a
// secret for an https stream); each change on record; the status polled while the view is
// open only; account admins get no section. No stream worker runs: the
// states shown (catching up, paused, failing) come from the database alone.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { chromium, type Browser, type Page, type Request } from "playwright-core";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createLogger } from "../../src/log.ts";
import { startServer, type RunningServer } from "../../src/server/app.ts";
import { webRoutes } from "../../src/server/routes/web-routes.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { CHROMIUM, JWT_SECRET, RESULTS_DIR, makeToken, newPage } from "./support/harness.ts";
import { signInAt } from "./support/security.ts";
import { seedWebData, type WebSeed } from "./support/seed.ts";

let db: TestDatabase;
let seed: WebSeed;
let server: RunningServer;
let browser: Browser;
let receiver: Server;
let receiverUrl: string;
let tenantAdmin: string;
let accountAdmin: string;

beforeAll(async () => {
  db = await createTestDatabase();
  seed = await seedWebData(db.app, db.owner);
  tenantAdmin = makeToken({ sub: seed.ada.id, tenant_id: seed.tenantId, role: "tenant_admin" });
  accountAdmin = makeToken({ sub: seed.olga.id, tenant_id: seed.tenantId, role: "account_admin", account_id: seed.opsAccountId });
  // As the harness serves the page, plus private addresses for the local receiver.
  server = await startServer({
    authUrl: db.authUrl,
    jwt: { algorithm: "HS256", key: JWT_SECRET },
    port: 0,
    logger: createLogger(process.env.LOG_LEVEL ?? "warn"),
    routes: webRoutes({ demoTokens: null, exportBatchSize: 7 }),
    webhookAllowPrivate: true,
  });
  // The streams' receiver: a local address the server accepts only because
  // private addresses are allowed. (No worker delivers here, so it gets nothing.)
  receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => res.writeHead(200).end());
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
});

afterAll(async () => {
  await browser?.close().catch(() => undefined);
  await new Promise((resolve) => receiver?.close(resolve));
  await server?.close();
  await db?.drop();
});

interface StoredStream {
  id: string;
  name: string;
  kind: string;
  settings: Record<string, unknown>;
  enabled: boolean;
  replayed_from: Date | null;
  failures: number;
  pending: string | null;
}

async function storedStreams(): Promise<StoredStream[]> {
  const { rows } = await db.owner.query<StoredStream>(
    `select s.id, s.name, s.kind, s.settings, s.enabled, s.replayed_from, s.failures, (audit.log_streams_status(s)).pending_entries::text as pending
       from audit.log_streams s where s.tenant_id = $1 order by s.created_at`, [seed.tenantId]);
  return rows;
}

async function streamEvents(): Promise<string[]> {
  const { rows } = await db.owner.query<{ event: string }>(
    "select event from audit.log where tenant_id = $1 and event like 'log_stream.%' order by id", [seed.tenantId]);
  return rows.map((r) => r.event);
}

/** The GraphQL operations the page sends, by operation name. */
function captureOperations(page: Page): string[] {
  const names: string[] = [];
  page.on("request", (request: Request) => {
    if (!request.url().endsWith("/graphql") || request.method() !== "POST") return;
    const body = request.postDataJSON() as { query: string };
    const name = /^\s*(?:query|mutation)\s+(\w+)/.exec(body.query)?.[1];
    if (name) names.push(name);
  });
  return names;
}

/** Signs in as the tenant admin and opens Log streams from the sidebar. */
async function openStreams(page: Page): Promise<void> {
  await signInAt({ server }, page, tenantAdmin, "/");
  await page.locator("#nav-streams").click();
  await page.waitForSelector("#stream-list:not([aria-busy])");
  await page.waitForSelector("#stream-count[data-count]");
}

const item = (page: Page, name: string) => page.locator("#stream-list li.stream", { has: page.getByRole("heading", { name, exact: true }) });

/** Fills the common fields of the form (opened with "New stream"). */
async function startForm(page: Page, name: string, kind: string): Promise<void> {
  await page.locator("#stream-new").click();
  await page.locator("#stream-form").waitFor();
  await page.getByLabel("Name", { exact: true }).fill(name);
  await page.getByRole("radio", { name: kind, exact: true }).check();
}

const utcMinute = (ms: number) => new Date(ms).toISOString().slice(0, 16);

/** The API's answer to the tenant admin, as any client of it gets it. */
async function apiData<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const res = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${tenantAdmin}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown[] };
  if (!body.data || body.errors?.length) throw new Error(`GraphQL request failed (${res.status}): ${JSON.stringify(body.errors ?? body)}`);
  return body.data;
}

async function storedSecret(id: string): Promise<string | null> {
  const { rows } = await db.owner.query<{ secret: string | null }>("select secret from audit_private.log_stream_secrets where stream_id = $1", [id]);
  return rows[0]?.secret ?? null;
}

test("a tenant admin creates an https stream: the signing secret is shown once with a copy button, then is gone from the page", async () => {
  const { context, page } = await newPage({ browser });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: server.url });
  await openStreams(page);
  expect(new URL(page.url()).pathname).toBe("/log-streams");
  await expect(page.locator("#nav-streams").getAttribute("aria-current")).resolves.toBe("page");
  await expect(page.title()).resolves.toBe("Log streams · Audit Trail");
  await expect(page.locator("#streams-empty").textContent()).resolves.toMatch(/No log streams yet/);
  await expect(page.locator("#stream-count").textContent()).resolves.toBe("0 of 20 streams");

  // The form checks what it converts itself: a missing name, a URL that is not one
  await startForm(page, "", "HTTPS endpoint");
  await page.getByLabel("Receiver URL").fill("siem.example.com");
  await page.locator("#stream-create").click();
  await expect(page.locator("#stream-name-error").textContent()).resolves.toMatch(/^Give the stream a name/);
  await expect(page.locator("#stream-url-error").textContent()).resolves.toMatch(/^That is not a full URL/);
  await expect(page.locator("#stream-name").getAttribute("aria-invalid")).resolves.toBe("true");
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("stream-name");
  expect(await storedStreams()).toEqual([]);

  await page.getByLabel("Name", { exact: true }).fill("SIEM");
  await page.getByLabel("Receiver URL").fill(`${receiverUrl}/ingest`);
  await expect(page.locator("#stream-https-note").textContent()).resolves.toMatch(/generated when you create the stream and shown once/);
  await page.locator("#stream-create").click();
  await page.locator("#stream-secret").waitFor();
  const secret = (await page.locator("#stream-secret-value").textContent())!;
  expect(secret).toMatch(/^whsec_[0-9a-f]{64}$/);
  await expect(page.locator("#stream-secret").textContent()).resolves.toMatch(/Shown once: copy it now\./);
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("stream-secret-title");
  // The form is gone; the stream is listed
  expect(await page.locator("#stream-form").count()).toBe(0);
  await item(page, "SIEM").waitFor();
  await expect(item(page, "SIEM").locator(".stream-destination").textContent()).resolves.toBe(`HTTPS endpoint ${receiverUrl} · Audit entries`);
  const [stored] = await storedStreams();
  expect(stored).toMatchObject({ name: "SIEM", kind: "https", settings: { url: `${receiverUrl}/ingest` }, enabled: true, replayed_from: null });
  const { rows } = await db.owner.query<{ secret: string }>("select secret from audit_private.log_stream_secrets where stream_id = $1", [stored!.id]);
  expect(rows[0]!.secret).toBe(secret);

  // Copy puts it on the clipboard
  await page.getByRole("button", { name: "Copy the signing secret" }).click();
  await page.waitForFunction(() => document.querySelector("#stream-secret-copy")?.textContent === "Copied");
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(secret);

  // Dismissed, it is nowhere on the page, nor in the tab's storage
  await page.getByRole("button", { name: "I have stored the secret" }).click();
  expect(await page.locator("#stream-secret").count()).toBe(0);
  expect(await page.content()).not.toContain(secret);
  expect(await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }))).not.toContain(secret);
  expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("SIEM");
  // ...nor after a reload (the API never returns it again)
  await page.reload();
  await page.waitForSelector("#stream-list:not([aria-busy])");
  await item(page, "SIEM").waitFor();
  expect(await page.content()).not.toContain(secret);
  expect(await streamEvents()).toEqual(["log_stream.created"]);
  await context.close();
});

test("a Splunk stream without its token: the API's message beside the form, on the token field; with the token it is created", async () => {
  const { context, page } = await newPage({ browser });
  const operations = captureOperations(page);
  await openStreams(page);
  const before = await storedStreams();
  await startForm(page, "Splunk production", "Splunk");
  // Splunk's own fields
  await expect(page.getByLabel("HTTP Event Collector token").getAttribute("type")).resolves.toBe("password");
  await page.getByLabel("HTTP Event Collector URL").fill(`${receiverUrl}/services/collector/event`);
  await page.getByLabel("Index (optional)").fill("audit");
  await page.locator("#stream-create").click();
  await page.locator("#stream-form-error:not(.empty)").waitFor();
  await expect(page.locator("#stream-form-error-message").textContent())
    .resolves.toBe("A splunk stream needs its secret (the HTTP Event Collector token)");
  await expect(page.locator("#stream-form-error").getAttribute("role")).resolves.toBe("alert");
  await expect(page.locator("#stream-secret").getAttribute("aria-invalid")).resolves.toBe("true");
  await expect(page.locator("#stream-secret").getAttribute("aria-describedby")).resolves.toContain("stream-form-error");
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("stream-secret");
  expect(operations.filter((o) => o === "CreateLogStream")).toHaveLength(1);
  expect(await storedStreams()).toEqual(before);

  // Switching kinds keeps the URL typed; the token is typed for Splunk only
  await page.getByRole("radio", { name: "Elasticsearch", exact: true }).check();
  await expect(page.getByLabel("Elasticsearch URL").inputValue()).resolves.toBe(`${receiverUrl}/services/collector/event`);
  await expect(page.getByLabel("Index", { exact: true }).inputValue()).resolves.toBe("audit-trail");
  await page.getByRole("radio", { name: "Splunk", exact: true }).check();
  // (an index is the kind's own: Elasticsearch's default does not become Splunk's)
  await expect(page.getByLabel("Index (optional)").inputValue()).resolves.toBe("");
  await page.getByLabel("Index (optional)").fill("audit");

  const token = "0c6d2f4e-hec-token-5a1b";
  await page.getByLabel("HTTP Event Collector token").fill(token);
  await page.locator("#stream-create").click();
  await page.waitForFunction(() => /^Created “Splunk production”/.test(document.querySelector("#streams-done")?.textContent ?? ""));
  await item(page, "Splunk production").waitFor();
  expect(await page.locator("#stream-form").count()).toBe(0);
  expect(await page.locator("#stream-secret").count()).toBe(0);
  expect(await page.content()).not.toContain(token);
  const created = (await storedStreams()).find((s) => s.name === "Splunk production")!;
  expect(created.settings).toEqual({ url: `${receiverUrl}/services/collector/event`, index: "audit" });
  await expect(item(page, "Splunk production").locator(".stream-destination").textContent()).resolves.toBe(`Splunk ${receiverUrl} · index audit · Audit entries`);
  await context.close();
});

test("pause and resume; a failing stream shows its last error and can be retried now", async () => {
  const { context, page } = await newPage({ browser });
  await openStreams(page);
  const siem = item(page, "SIEM");
  await siem.waitFor();
  await page.getByRole("button", { name: "Pause SIEM" }).click();
  await siem.locator('.stream-state[data-state="paused"]').waitFor();
  await expect(siem.locator(".stream-state").textContent()).resolves.toBe("❚❚Paused");
  await expect(siem.locator(".stream-feedback").textContent()).resolves.toMatch(/^Paused\. Nothing is delivered until you resume/);
  expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Resume SIEM");
  expect((await storedStreams()).find((s) => s.name === "SIEM")!.enabled).toBe(false);

  await page.getByRole("button", { name: "Resume SIEM" }).click();
  await siem.locator('.stream-state:not([data-state="paused"])').waitFor();
  expect((await storedStreams()).find((s) => s.name === "SIEM")!.enabled).toBe(true);
  await expect(siem.locator(".stream-feedback").textContent()).resolves.toMatch(/^Resumed/);

  // Failing deliveries, as the worker records them: the poll brings the error to the page
  await db.owner.query(
    `update audit.log_streams set failures = 3, last_error = 'HTTP 503: Service Unavailable', last_error_at = now() - interval '2 minutes',
            last_status_code = 503, next_attempt_at = now() + interval '4 minutes' where tenant_id = $1 and name = 'SIEM'`, [seed.tenantId]);
  await siem.locator('.stream-state[data-state="failing"]').waitFor({ timeout: 15_000 });
  await expect(siem.locator(".stream-error").textContent())
    .resolves.toMatch(/^The last 3 deliveries failed · next try in 4 minutes\. .*Last error 2 minutes ago: HTTP 503: Service Unavailable$/);
  await page.getByRole("button", { name: "Retry now SIEM" }).click();
  await siem.locator('.stream-state:not([data-state="failing"])').waitFor();
  expect(await siem.locator(".stream-error").count()).toBe(0);
  expect((await storedStreams()).find((s) => s.name === "SIEM")!.failures).toBe(0);
  await context.close();
});

test("replay from a UTC time: a future time is refused on the field; a past one sends the stream back, with what waits", async () => {
  const { context, page } = await newPage({ browser });
  await openStreams(page);
  const siem = item(page, "SIEM");
  await siem.waitFor();
  await page.getByRole("button", { name: "Replay… SIEM" }).click();
  const from = page.getByLabel("Replay from (UTC)");
  await expect(from.getAttribute("type")).resolves.toBe("datetime-local");
  await expect(page.getByRole("button", { name: "Replay… SIEM" }).getAttribute("aria-expanded")).resolves.toBe("true");
  await from.fill(utcMinute(Date.now() + 2 * 86_400_000));
  await page.getByRole("button", { name: "Replay from this time" }).click();
  await expect(siem.locator(".stream-panel .field-error").textContent()).resolves.toMatch(/is in the future: choose a time up to now\.$/);
  await expect(from.getAttribute("aria-invalid")).resolves.toBe("true");

  // Escape closes the panel, back on its button
  await from.press("Escape");
  expect(await siem.locator(".stream-panel-form").count()).toBe(0);
  expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Replay… SIEM");

  await page.getByRole("button", { name: "Replay… SIEM" }).click();
  const since = Date.now() - 21 * 86_400_000;
  await page.getByLabel("Replay from (UTC)").fill(utcMinute(since));
  await page.getByRole("button", { name: "Replay from this time" }).click();
  await page.waitForFunction(() => /^Replaying from /.test(document.querySelector("#stream-list .stream-feedback")?.textContent ?? ""));
  const stored = (await storedStreams()).find((s) => s.name === "SIEM")!;
  // The minute typed, read as UTC
  expect(stored.replayed_from?.toISOString()).toBe(`${utcMinute(since)}:00.000Z`);
  expect(Number(stored.pending)).toBeGreaterThan(70);
  await page.waitForFunction((n) => document.querySelector('#stream-list li.stream [data-pending]')?.getAttribute("data-pending") === n, stored.pending);
  await expect(siem.locator(".stream-state").getAttribute("data-state")).resolves.toBe("catching_up");
  await expect(siem.locator(".stream-facts").textContent()).resolves.toContain(`Replayedfrom ${utcMinute(since).replace("T", " ")} UTC`);
  await expect(siem.locator("[data-pending]").textContent()).resolves.toMatch(/^\d+ entries · 2\d days( \d+ h)? behind/);
  await context.close();
});

test("delete asks first; Cancel keeps the stream, Delete stream removes it; every change is on record", async () => {
  const { context, page } = await newPage({ browser });
  await openStreams(page);
  const splunk = item(page, "Splunk production");
  await splunk.waitFor();
  await page.getByRole("button", { name: "Delete… Splunk production" }).click();
  await expect(splunk.locator(".stream-panel").textContent()).resolves.toMatch(/^Delete “Splunk production”\?.*cannot be undone/);
  expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Cancel");
  await page.keyboard.press("Enter");
  expect(await splunk.locator(".stream-panel-form").count()).toBe(0);
  expect((await storedStreams()).map((s) => s.name)).toContain("Splunk production");

  await page.getByRole("button", { name: "Delete… Splunk production" }).click();
  await page.getByRole("button", { name: "Delete stream" }).click();
  await page.waitForFunction(() => document.querySelector("#streams-done")?.textContent === "Deleted “Splunk production”.");
  expect(await splunk.count()).toBe(0);
  expect((await storedStreams()).map((s) => s.name)).toEqual(["SIEM"]);
  await expect(page.locator("#stream-count").textContent()).resolves.toBe("1 of 20 streams");
  expect(await streamEvents()).toEqual([
    "log_stream.created", "log_stream.created", "log_stream.paused", "log_stream.resumed", "log_stream.replayed", "log_stream.deleted",
  ]);
  await context.close();
});

test("the status is polled while the view is open, and not once it is left", async () => {
  const { context, page } = await newPage({ browser });
  const operations = captureOperations(page);
  await openStreams(page);
  const polls = () => operations.filter((o) => o === "LogStreams").length;
  const first = polls();
  await page.waitForTimeout(11_000);
  expect(polls()).toBeGreaterThanOrEqual(first + 2);
  await page.locator("#nav-logs").click();
  await page.waitForSelector("#entries:not([aria-busy])");
  expect(await page.locator("#log-streams-view").isHidden()).toBe(true);
  const left = polls();
  await page.waitForTimeout(7_000);
  expect(polls()).toBe(left);
  await context.close();
});

test("a stream can start from a past UTC time: the log's history from then waits for it; a future start is refused by the form", async () => {
  const { context, page } = await newPage({ browser });
  const operations = captureOperations(page);
  await openStreams(page);
  await startForm(page, "Archive", "HTTPS endpoint");
  await page.getByLabel("Receiver URL").fill(`${receiverUrl}/archive`);
  await expect(page.locator("#stream-start-at").isHidden()).resolves.toBe(true);
  await page.getByRole("radio", { name: "From a date and time" }).check();
  await expect(page.getByLabel("Start from (UTC)").isEnabled()).resolves.toBe(true);
  expect(await page.evaluate(() => document.activeElement?.id)).toBe("stream-start-at");
  await page.getByLabel("Start from (UTC)").fill(utcMinute(Date.now() + 3 * 3600_000));
  await page.locator("#stream-create").click();
  await expect(page.locator("#stream-start-at-error").textContent()).resolves.toMatch(/ UTC is in the future: choose a time up to now/);
  expect(operations).not.toContain("CreateLogStream");

  const since = Date.now() - 7 * 86_400_000;
  await page.getByLabel("Start from (UTC)").fill(utcMinute(since));
  await page.locator("#stream-create").click();
  await page.locator("#stream-secret").waitFor();
  await page.getByRole("button", { name: "I have stored the secret" }).click();
  const stored = (await storedStreams()).find((s) => s.name === "Archive")!;
  expect(stored.replayed_from?.toISOString()).toBe(`${utcMinute(since)}:00.000Z`);
  expect(Number(stored.pending)).toBeGreaterThan(10);
  const archive = item(page, "Archive");
  await expect(archive.locator(".stream-state").getAttribute("data-state")).resolves.toBe("catching_up");
  await expect(archive.locator("[data-pending]").getAttribute("data-pending")).resolves.toBe(stored.pending);
  await expect(archive.locator("[data-entry]").count()).resolves.toBe(0);
  await expect(archive.locator(".stream-facts").textContent()).resolves.toContain("Last deliveredNothing yet");
  await context.close();
});

test("a file stream with a filter: the ticked resource types, actions and accounts are stored, and the list says what it takes", async () => {
  const { context, page } = await newPage({ browser });
  await openStreams(page);
  await startForm(page, "Operations files", "Files");
  await expect(page.locator("#stream-file-note").textContent()).resolves.toMatch(/STREAM_FILE_ROOT/);
  expect(await page.locator("#stream-url").count()).toBe(0);
  expect(await page.locator("#stream-secret").count()).toBe(0);
  await expect(page.locator("#stream-max-mb").isHidden()).resolves.toBe(true);
  await page.getByRole("radio", { name: "At a size" }).check();
  await page.getByLabel("Largest file (MB)").fill("50");
  await page.locator("#stream-filter summary").click();
  await page.getByRole("checkbox", { name: "Process", exact: true }).check();
  await page.getByRole("checkbox", { name: "Update (Action types)" }).check();
  await page.getByRole("checkbox", { name: "Operations", exact: true }).check();
  await page.locator("#stream-form").screenshot({ path: path.join(RESULTS_DIR, "page-log-streams-filter.png") });
  await page.locator("#stream-create").click();
  const files = item(page, "Operations files");
  await files.waitFor();
  const { rows } = await db.owner.query(
    "select settings, resource_types, actions, account_ids from audit.log_streams where tenant_id = $1 and name = 'Operations files'", [seed.tenantId]);
  expect(rows[0]).toEqual({ settings: { rotate: "size", max_bytes: 50 * 1_048_576 }, resource_types: ["process"], actions: ["update"], account_ids: [seed.opsAccountId] });
  await expect(files.locator(".stream-destination").textContent()).resolves.toBe("Files a new file every 50 MB · Audit entries");
  await page.waitForFunction(() => /Operations$/.test(document.querySelector("#stream-list li:last-child [data-filter]")?.textContent ?? ""));
  await expect(files.locator("[data-filter]").textContent()).resolves.toBe("Only resource types Process; actions Update; accounts Operations");
  await page.getByRole("button", { name: "Delete… Operations files" }).click();
  await page.getByRole("button", { name: "Delete stream" }).click();
  await page.waitForFunction(() => document.querySelector("#streams-done")?.textContent === "Deleted “Operations files”.");
  await context.close();
});

test("editing a stream: renamed, its filter and format changed, its Splunk token replaced, then a filter removed with the token kept", async () => {
  const { context, page } = await newPage({ browser });
  const operations = captureOperations(page);
  await openStreams(page);
  await startForm(page, "Splunk staging", "Splunk");
  await page.getByLabel("HTTP Event Collector URL").fill(`${receiverUrl}/services/collector/event`);
  await page.getByLabel("Index (optional)").fill("audit");
  await page.getByLabel("HTTP Event Collector token").fill("old-hec-token-0001");
  await page.locator("#stream-create").click();
  await item(page, "Splunk staging").waitFor();
  const id = (await item(page, "Splunk staging").getAttribute("data-id"))!;
  // (by id: the heading changes with the name)
  const splunk = page.locator(`#stream-list li[data-id="${id}"]`);

  // The form in the item, filled from the stream; the token field empty, with its hint; the kind fixed
  await page.getByRole("button", { name: "Edit Splunk staging" }).click();
  const form = splunk.locator("form.stream-edit-form");
  await form.waitFor();
  await expect(page.getByRole("button", { name: "Edit Splunk staging" }).getAttribute("aria-expanded")).resolves.toBe("true");
  await expect(form.getByRole("heading").textContent()).resolves.toBe("Edit “Splunk staging”");
  expect(await page.evaluate(() => (document.activeElement as HTMLInputElement).value)).toBe("Splunk staging");
  await expect(form.getByLabel("HTTP Event Collector URL").inputValue()).resolves.toBe(`${receiverUrl}/services/collector/event`);
  await expect(form.getByLabel("Index (optional)").inputValue()).resolves.toBe("audit");
  const tokenField = form.getByLabel("HTTP Event Collector token");
  await expect(tokenField.inputValue()).resolves.toBe("");
  await expect(tokenField.getAttribute("type")).resolves.toBe("password");
  await expect(form.locator(`#${await tokenField.getAttribute("aria-describedby")}`).textContent()).resolves.toMatch(/^Leave empty to keep the current token/);
  expect(await form.getByRole("radio", { name: "Splunk" }).count()).toBe(0);
  await expect(form.locator(".fixed-kind .tag").textContent()).resolves.toBe("Splunk");
  await expect(form.getByRole("radio", { name: "Audit entries" }).isChecked()).resolves.toBe(true);
  // (no start: a replay moves a stream)
  expect(await form.getByRole("radio", { name: "From now on" }).count()).toBe(0);

  await form.getByLabel("Name", { exact: true }).fill("Splunk security");
  await form.getByRole("radio", { name: "OCSF 1.3 events" }).check();
  await form.locator("summary", { hasText: "Filter" }).click();
  await form.getByRole("checkbox", { name: "Process", exact: true }).check();
  await form.getByRole("checkbox", { name: "Update (Action types)" }).check();
  const token = "new-hec-token-0002";
  await tokenField.fill(token);
  await splunk.screenshot({ path: path.join(RESULTS_DIR, "page-log-streams-edit.png") });
  await form.getByRole("button", { name: "Save" }).click();
  await page.waitForFunction((li) => /^Saved “Splunk security”/.test(document.querySelector(`${li} .stream-feedback`)?.textContent ?? ""),
    `#stream-list li[data-id="${id}"]`);
  // The form is gone with the token typed; the focus is back on the item's button; the list was asked for again
  expect(await form.count()).toBe(0);
  expect(await page.content()).not.toContain(token);
  expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Edit Splunk security");
  await expect(splunk.locator(".stream-name").textContent()).resolves.toBe("Splunk security");
  await expect(splunk.locator(".stream-destination").textContent()).resolves.toBe(`Splunk ${receiverUrl} · index audit · OCSF 1.3 events`);
  await expect(splunk.locator("[data-filter]").textContent()).resolves.toBe("Only resource types Process; actions Update");
  expect(operations.filter((o) => o === "UpdateLogStream")).toHaveLength(1);
  expect(operations.slice(operations.indexOf("UpdateLogStream"))).toContain("LogStreams");

  // Through the API: the stream changed (its settings untouched), and the change is on record (never the token)
  type Streamed = { id: string; name: string; format: string; settings: Record<string, unknown>; resourceTypes: string[] | null; actions: string[] | null };
  type Entry = { entityId: string; oldValues: Record<string, unknown> | null; newValues: Record<string, unknown> | null };
  const read = () => apiData<{ logStreams: Streamed[]; auditLogs: { nodes: Entry[] } }>(
    `query { logStreams { id name format settings resourceTypes actions }
             auditLogs(filter: { event: { equalTo: "log_stream.updated" } }, orderBy: [OCCURRED_AT_DESC]) { nodes { entityId oldValues newValues } } }`);
  const afterFirst = await read();
  expect(afterFirst.logStreams.find((s) => s.id === id)).toEqual({
    id, name: "Splunk security", format: "ocsf", settings: { url: `${receiverUrl}/services/collector/event`, index: "audit" },
    resourceTypes: ["process"], actions: ["update"],
  });
  const updates = afterFirst.auditLogs.nodes.filter((n) => n.entityId === id);
  expect(updates).toHaveLength(1);
  expect(updates[0]).toMatchObject({
    oldValues: { name: "Splunk staging", format: "entry" },
    newValues: { name: "Splunk security", format: "ocsf", resource_types: ["process"], actions: ["update"] },
  });
  expect(JSON.stringify(updates[0])).not.toContain(token);
  expect(await storedSecret(id)).toBe(token);

  // Again: the filter shown open as saved; unticking a list removes that filter; an empty token field keeps the token
  await page.getByRole("button", { name: "Edit Splunk security" }).click();
  await form.waitFor();
  await expect(form.locator("details.form-section").first().getAttribute("open")).resolves.toBe("");
  await expect(form.getByRole("checkbox", { name: "Process", exact: true }).isChecked()).resolves.toBe(true);
  await expect(form.getByRole("radio", { name: "OCSF 1.3 events" }).isChecked()).resolves.toBe(true);
  await form.getByRole("checkbox", { name: "Process", exact: true }).uncheck();
  await form.getByLabel("Index (optional)").fill("security");
  await form.getByRole("button", { name: "Save" }).click();
  await page.waitForFunction((li) => document.querySelector(`${li} form`) === null, `#stream-list li[data-id="${id}"]`);
  await expect(splunk.locator("[data-filter]").textContent()).resolves.toBe("Only actions Update");
  const afterSecond = await read();
  expect(afterSecond.logStreams.find((s) => s.id === id)).toMatchObject({
    settings: { url: `${receiverUrl}/services/collector/event`, index: "security" }, resourceTypes: null, actions: ["update"],
  });
  expect(afterSecond.auditLogs.nodes.filter((n) => n.entityId === id)[0]).toMatchObject({
    oldValues: { settings: { index: "audit" }, resource_types: ["process"] }, newValues: { settings: { index: "security" } },
  });
  expect(await storedSecret(id)).toBe(token);
  await context.close();
});

test("editing an https stream: no secret to give; one sent anyway is refused, with the API's message beside the form", async () => {
  const { context, page } = await newPage({ browser });
  await openStreams(page);
  const siem = item(page, "SIEM");
  await siem.waitFor();
  const id = (await siem.getAttribute("data-id"))!;
  await page.getByRole("button", { name: "Edit SIEM" }).click();
  const form = siem.locator("form.stream-edit-form");
  await form.waitFor();
  await expect(form.getByLabel("Receiver URL").inputValue()).resolves.toBe(`${receiverUrl}/ingest`);
  expect(await form.locator('input[type="password"]').count()).toBe(0);
  await expect(form.locator(`#stream-${id}-edit-https-note`).textContent()).resolves.toMatch(/^The signing secret stays the one shown when the stream was created/);

  // The page offers none; a client that sends one (here the page's own request, rewritten) is refused
  await page.route("**/graphql", async (route) => {
    const body = route.request().postDataJSON() as { query: string; variables: { input: Record<string, unknown> } };
    if (!/^\s*mutation UpdateLogStream/.test(body.query)) return route.continue();
    return route.continue({ postData: JSON.stringify({ ...body, variables: { input: { ...body.variables.input, secret: "whsec_0123" } } }) });
  });
  await form.getByLabel("Name", { exact: true }).fill("SIEM renamed");
  await form.getByRole("button", { name: "Save" }).click();
  const error = form.locator(`#stream-${id}-edit-form-error`);
  await form.locator(`#stream-${id}-edit-form-error:not(.empty)`).waitFor();
  await expect(error.getAttribute("role")).resolves.toBe("alert");
  await expect(error.textContent()).resolves.toBe("The changes were not saved. An https stream's secret cannot be set");
  // (the form has no such field: the message itself takes the focus)
  expect(await page.evaluate(() => document.activeElement?.id)).toBe(`stream-${id}-edit-form-error`);
  await expect(form.getByRole("button", { name: "Save" }).isEnabled()).resolves.toBe(true);
  await page.unroute("**/graphql");
  expect((await storedStreams()).find((s) => s.id === id)!.name).toBe("SIEM");

  // Escape closes the form, back on its button; nothing changed
  await form.getByLabel("Name", { exact: true }).press("Escape");
  expect(await form.count()).toBe(0);
  expect(await page.evaluate(() => document.activeElement?.getAttribute("aria-label"))).toBe("Edit SIEM");
  await expect(page.getByRole("button", { name: "Edit SIEM" }).getAttribute("aria-expanded")).resolves.toBe("false");
  const { rows } = await db.owner.query("select 1 from audit.log where tenant_id = $1 and event = 'log_stream.updated' and entity_id = $2", [seed.tenantId, id]);
  expect(rows).toEqual([]);
  await context.close();
});

test("an account admin is not offered the section, and the address says only tenant admins manage streams", async () => {
  const { context, page } = await newPage({ browser });
  const operations = captureOperations(page);
  await signInAt({ server }, page, accountAdmin, "/");
  await page.waitForSelector("#entries:not([aria-busy])");
  expect(await page.locator("#nav-streams").isVisible()).toBe(false);
  await page.goto(`${server.url}/log-streams`);
  await page.locator("#streams-forbidden").waitFor();
  await expect(page.locator("#streams-forbidden").textContent()).resolves.toMatch(/^Only tenant admins manage log streams/);
  expect(await page.locator("#stream-new").count()).toBe(0);
  expect(await page.locator("#stream-list").count()).toBe(0);
  expect(operations).not.toContain("LogStreams");
  await context.close();
});

test("screenshot: the section with streams in each state", async () => {
  const { context, page } = await newPage({ browser });
  await openStreams(page);
  // A paused Datadog stream and a failing Elasticsearch one, created through the form
  await startForm(page, "Datadog EU", "Datadog");
  await page.getByLabel("Site").selectOption("datadoghq.eu");
  await page.getByLabel("Datadog API key").fill("dd-api-key-0123456789abcdef");
  await page.getByLabel("Tags (optional)").fill("env:prod,team:security");
  await page.getByRole("radio", { name: "OCSF 1.3 events" }).check();
  await page.locator("#stream-create").click();
  await item(page, "Datadog EU").waitFor();
  await page.getByRole("button", { name: "Pause Datadog EU" }).click();
  await item(page, "Datadog EU").locator('.stream-state[data-state="paused"]').waitFor();
  await startForm(page, "Elastic archive", "Elasticsearch");
  await page.getByLabel("Elasticsearch URL").fill(`${receiverUrl}/es`);
  await page.getByLabel("Elasticsearch API key").fill("ZWxhc3RpYzpzZWNyZXQ=");
  await page.locator("#stream-create").click();
  await item(page, "Elastic archive").waitFor();
  await db.owner.query(
    `update audit.log_streams set failures = 2, last_error = 'HTTP 401: {"error":"security_exception","reason":"unable to authenticate with provided credentials"}',
            last_error_at = now() - interval '40 seconds', last_status_code = 401, next_attempt_at = now() + interval '90 seconds'
      where tenant_id = $1 and name = 'Elastic archive'`, [seed.tenantId]);
  await item(page, "Elastic archive").locator('.stream-state[data-state="failing"]').waitFor({ timeout: 15_000 });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.setViewportSize({ width: 1440, height: 1100 });
  await page.waitForTimeout(200);
  await page.screenshot({ path: "/tmp/log-streams.png", fullPage: true });
  await page.screenshot({ path: path.join(RESULTS_DIR, "page-log-streams.png"), fullPage: true });
  await page.locator("#stream-new").click();
  await page.locator("#stream-form").waitFor();
  await page.getByRole("radio", { name: "Splunk", exact: true }).check();
  await page.screenshot({ path: path.join(RESULTS_DIR, "page-log-streams-form.png"), fullPage: true });
  await context.close();
});
