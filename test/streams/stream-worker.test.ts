// Log streams end to end: configured through the GraphQL API by a tenant
// admin, delivered by the worker from the real log to a local receiver that
// de-duplicates by entry id, through failures, a worker that dies between a
// delivery and its acknowledgement, late commits, pauses, replays, filters,
// and another tenant's attempts to see or steer the stream.
import http from "node:http";
import type { AddressInfo } from "node:net";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.ts";
import type { RunningServer } from "../../src/server/app.ts";
import { verifyWebhookSignature } from "../../src/server/webhooks/signature.ts";
import { LogStreamWorker, type StreamWorkerOptions } from "../../src/streams/stream-worker.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { asUser, createLandscape, type Landscape } from "../support/fixtures.ts";
import { accountAdmin, gql, startTestServer, tenantAdmin } from "../server/helpers.ts";

let db: TestDatabase;
let server: RunningServer;
let acme: Landscape;
let globex: Landscape;
const workers: LogStreamWorker[] = [];
const receivers: TestReceiver[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db, { webhookAllowPrivate: true });
  acme = await createLandscape(db.app, "Acme");
  globex = await createLandscape(db.app, "Globex");
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  await db.owner.query("delete from audit.log_streams");
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

function worker(options: Partial<StreamWorkerOptions> = {}): LogStreamWorker {
  const w = new LogStreamWorker({
    ownerUrl: db.ownerUrl,
    readerPool: server.pool,
    logger: createLogger(process.env.LOG_LEVEL ?? "silent"),
    allowPrivate: true,
    timeoutMs: 1_000,
    pollMs: 50,
    retryBaseMs: 20,
    retryMaxMs: 100,
    sliceMs: 2_000,
    ...options,
  });
  workers.push(w);
  return w;
}

interface Delivered {
  id: string;
  transactionId: string;
  tenantId: string;
  accountId: string | null;
  occurredAt: string;
  event: string;
  resourceType: string;
  action: string;
  newValues: unknown;
}

interface TestReceiver {
  url: string;
  /** Every batch taken (answered 2xx), in arrival order, parsed. */
  batches: Delivered[][];
  /** Each entry id and how many times it arrived in a taken batch. */
  seen: Map<string, number>;
  /** Requests of any outcome. */
  requests: number;
  badSignatures: number;
  close(): Promise<void>;
}

type Answer = { status: number; body?: string } | "hang" | ((req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>);

/**
 * A JSON Lines receiver checking each request's signature with the stream's
 * secret (once known), answering `answers` in turn, then 200.
 */
async function receiver(answers: Answer[] = [], secret: () => string | null = () => null): Promise<TestReceiver> {
  const r: TestReceiver = { url: "", batches: [], seen: new Map(), requests: 0, badSignatures: 0, close: async () => undefined };
  const srv = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const answer = answers[r.requests++] ?? { status: 200 };
      const s = secret();
      if (s && !verifyWebhookSignature(req.headers["audit-trail-signature"], body, s).ok) r.badSignatures++;
      const take = () => {
        const batch = body.split("\n").filter(Boolean).map((line) => JSON.parse(line) as Delivered);
        r.batches.push(batch);
        for (const e of batch) r.seen.set(e.id, (r.seen.get(e.id) ?? 0) + 1);
      };
      if (answer === "hang") return;
      if (typeof answer === "function") {
        take();
        void answer(req, res);
        return;
      }
      if (answer.status < 300) take();
      res.writeHead(answer.status);
      res.end(answer.body ?? "");
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  r.url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}/ingest`;
  r.close = () => new Promise<void>((resolve) => { srv.closeAllConnections(); srv.close(() => resolve()); });
  receivers.push(r);
  return r;
}

/** A GraphQL request's body: data and errors. */
async function q(target: { url: string }, token: string, query: string, variables?: Record<string, unknown>) {
  return (await gql(target, token, query, variables)).body;
}

const CREATE = `mutation ($input: CreateLogStreamInput!) { createLogStream(input: $input) { logStream { id kind format settings secret } } }`;
const STREAMS = `{ logStreams { id name kind enabled deliveredEntries failures lastError lastStatusCode lastDeliveredEntryId
  status { state pendingEntries lagSeconds positionTransactionId positionEntryId } } }`;

async function createStream(token: string, input: Record<string, unknown>): Promise<{ id: string; secret: string | null }> {
  const res = await q(server, token, CREATE, { input });
  expect(res.errors, JSON.stringify(res.errors)).toBeUndefined();
  return res.data.createLogStream.logStream;
}

/** The tenant's entries as the owner sees them, in stream order. */
async function tenantEntries(tenantId: string, where = "true"): Promise<{ id: string; transaction_id: string; occurred_at: Date }[]> {
  const { rows } = await db.owner.query(
    `select id::text, transaction_id::text, occurred_at from audit.log l where tenant_id = $1 and ${where} order by transaction_id, id`,
    [tenantId],
  );
  return rows;
}

/** Writes `n` audited changes for a landscape, one transaction each. */
async function writeChanges(l: Landscape, n: number, tag: string): Promise<void> {
  for (let i = 0; i < n; i++) {
    await asUser(db.app, l.adminId, (c) => c.query("update app.processes set name = $2 where id = $1", [l.processId, `${tag} ${i}`]));
  }
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const allSeen = (r: TestReceiver, ids: string[]) => ids.every((id) => r.seen.has(id));

describe("a log stream", () => {
  it("delivers every entry of its tenant exactly once after de-duplication, through failures, a restart and a late commit", async () => {
    let secret: string | null = null;
    let tookLate = false;
    const r = await receiver(
      [
        { status: 200 },
        { status: 500, body: "receiver overloaded" },
        "hang", // a timeout
        { status: 413, body: "too large" },
        // taken, but acknowledged only after the worker gave up on it (as when a
        // worker dies between the delivery and moving the position): sent again
        async (_req, res) => {
          setTimeout(() => { tookLate = true; res.writeHead(200); res.end(); }, 1_500);
        },
      ],
      () => secret,
    );
    const created = await createStream(tenantAdmin(acme), {
      name: "SIEM", kind: "https", settings: { url: r.url }, startFrom: new Date(Date.now() - 3_600_000).toISOString(), batchSize: 4,
    });
    secret = created.secret;
    expect(secret).toMatch(/^whsec_[0-9a-f]{64}$/);

    await writeChanges(acme, 8, "busy");
    await writeChanges(globex, 5, "other tenant");
    const w = worker();
    w.start();
    await until("the late acknowledgement", () => tookLate);

    // A transaction that starts first and commits last: what commits after it
    // waits behind it (the horizon), and its own entries still come.
    const late = await db.app.connect();
    await late.query("begin");
    await late.query("select audit.set_context($1::jsonb)", [JSON.stringify({ actor_id: acme.adminId, actor_type: "user" })]);
    await late.query("update app.accounts set name = 'Late Finance' where id = $1", [acme.otherAccountId]);
    await writeChanges(acme, 4, "behind the late one");
    await new Promise((res) => setTimeout(res, 500));
    const behind = (await tenantEntries(acme.tenantId, "new_values->>'name' like 'behind%'")).map((e) => e.id);
    expect(behind.filter((x) => r.seen.has(x))).toEqual([]);

    // a restart: the worker stops (its slice in flight ends) and another one takes over
    await w.stop();
    await late.query("commit");
    late.release();
    await writeChanges(acme, 3, "after the restart");
    worker().start();

    const expected = (await tenantEntries(acme.tenantId)).map((e) => e.id);
    await until("every entry", () => allSeen(r, expected));
    expect(r.badSignatures).toBe(0);
    // Nothing of another tenant, nothing unknown.
    expect([...r.seen.keys()].sort()).toEqual([...expected].sort());
    for (const batch of r.batches) for (const e of batch) expect(e.tenantId).toBe(acme.tenantId);
    // The batch acknowledged too late arrived again (at least once, not exactly once).
    expect([...r.seen.values()].some((n) => n > 1)).toBe(true);
    // In (transaction_id, id) order within each batch, and first arrivals in stream order.
    const key = (e: Delivered) => [BigInt(e.transactionId), BigInt(e.id)] as const;
    const before = (a: readonly [bigint, bigint], b: readonly [bigint, bigint]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
    for (const batch of r.batches) for (let i = 1; i < batch.length; i++) expect(before(key(batch[i - 1]!), key(batch[i]!))).toBe(true);
    // 413: batches got smaller than 4
    expect(r.batches.some((b) => b.length < 4)).toBe(true);

    // The status through the API: live again, the last error kept, nothing pending.
    await until("the status to say live", async () => {
      const s = (await q(server, tenantAdmin(acme), STREAMS)).data.logStreams[0];
      return s.status.state === "live";
    });
    const status = (await q(server, tenantAdmin(acme), STREAMS)).data.logStreams[0];
    expect(status).toMatchObject({ failures: 0, status: { pendingEntries: "0", lagSeconds: "0" } });
    expect(status.lastError).toMatch(/HTTP 413|timed out|HTTP 500: receiver overloaded/);
    // (the batches as received, should this ever differ)
    const received = r.batches.map((b) => b.map((e) => `${e.id}@${e.transactionId}`).join(" ")).join(" | ");
    expect(status.lastDeliveredEntryId, received).toBe(expected.at(-1));
  });

  it("shows a failing receiver's error in its status and delivers nothing twice to another tenant", async () => {
    const r = await receiver(Array.from({ length: 50 }, () => ({ status: 503, body: "maintenance window" })));
    const { id } = await createStream(tenantAdmin(acme), { name: "Down", kind: "https", settings: { url: r.url } });
    await writeChanges(acme, 2, "while down");
    worker().start();
    await until("a recorded failure", async () => {
      const s = (await q(server, tenantAdmin(acme), STREAMS)).data.logStreams.find((x: { id: string }) => x.id === id);
      return s.failures >= 2;
    });
    const s = (await q(server, tenantAdmin(acme), STREAMS)).data.logStreams.find((x: { id: string }) => x.id === id);
    expect(s).toMatchObject({ lastStatusCode: 503, status: { state: "failing" } });
    expect(s.lastError).toBe("HTTP 503: maintenance window");
    expect(Number(s.status.pendingEntries)).toBeGreaterThanOrEqual(2);
    // Globex sees no stream of Acme's, and cannot steer it.
    expect((await q(server, tenantAdmin(globex), STREAMS)).data.logStreams).toEqual([]);
    for (const m of ["pauseLogStream", "resumeLogStream", "deleteLogStream"]) {
      const res = await q(server, tenantAdmin(globex), `mutation ($id: UUID!) { ${m}(input: { id: $id }) { logStream { id } } }`, { id });
      expect(res.errors?.[0]?.message).toMatch(/no log stream with id .* in this tenant/);
    }
    const replay = await q(server, tenantAdmin(globex),
      `mutation ($id: UUID!) { replayLogStream(input: { id: $id, fromTime: "2020-01-01T00:00:00Z" }) { logStream { id } } }`, { id });
    expect(replay.errors?.[0]?.message).toMatch(/no log stream/);
  });

  it("pauses for as long as it likes, resumes where it stopped and replays from a time", async () => {
    const r = await receiver();
    const { id } = await createStream(tenantAdmin(acme), { name: "Replayable", kind: "https", settings: { url: r.url } });
    const w = worker();
    w.start();
    await writeChanges(acme, 3, "first");
    await until("the first three", async () => allSeen(r, (await tenantEntries(acme.tenantId, "new_values->>'name' like 'first%'")).map((e) => e.id)));

    const pause = await q(server, tenantAdmin(acme), `mutation ($id: UUID!) { pauseLogStream(input: { id: $id }) { logStream { enabled status { state } } } }`, { id });
    expect(pause.data.pauseLogStream.logStream).toEqual({ enabled: false, status: { state: "paused" } });
    const during = r.seen.size;
    await writeChanges(acme, 4, "while paused");
    await new Promise((res) => setTimeout(res, 400));
    // (the pause itself is an entry of the stream's tenant; what the worker held may still land)
    const paused = (await q(server, tenantAdmin(acme), STREAMS)).data.logStreams[0];
    expect(Number(paused.status.pendingEntries)).toBeGreaterThanOrEqual(4);
    expect(r.seen.size - during).toBeLessThanOrEqual(1);

    await q(server, tenantAdmin(acme), `mutation ($id: UUID!) { resumeLogStream(input: { id: $id }) { logStream { id } } }`, { id });
    await until("the paused ones", async () => allSeen(r, (await tenantEntries(acme.tenantId, "new_values->>'name' like 'while paused%'")).map((e) => e.id)));

    // Replay from the first "first" entry: everything from there comes again, in order.
    const first = (await tenantEntries(acme.tenantId, "new_values->>'name' = 'first 0'"))[0]!;
    const counts = new Map(r.seen);
    const replay = await q(server, tenantAdmin(acme),
      `mutation ($id: UUID!, $t: Datetime!) { replayLogStream(input: { id: $id, fromTime: $t }) { logStream { replayedFrom } } }`,
      { id, t: first.occurred_at.toISOString() });
    expect(replay.errors).toBeUndefined();
    const again = (await tenantEntries(acme.tenantId, `occurred_at >= '${first.occurred_at.toISOString()}'`)).map((e) => e.id);
    await until("the replay", () => again.every((x) => (r.seen.get(x) ?? 0) > (counts.get(x) ?? 0)));

    // Every change is an audited event of the tenant.
    const { rows } = await db.owner.query(
      "select event from audit.log where tenant_id = $1 and resource_type = 'log_stream' and entity_id = $2 order by id", [acme.tenantId, id]);
    expect(rows.map((x) => x.event)).toEqual(["log_stream.created", "log_stream.paused", "log_stream.resumed", "log_stream.replayed"]);
  });

  it("sends only what its filter lets through", async () => {
    const r = await receiver();
    await createStream(tenantAdmin(acme), {
      name: "Finance processes", kind: "https", settings: { url: r.url }, resourceTypes: ["process"], accountIds: [acme.otherAccountId],
    });
    const w = worker();
    w.start();
    const financeProcess = "00000000-0000-4000-8000-0000000000f1";
    await asUser(db.app, acme.adminId, (c) =>
      c.query("insert into app.processes (id, tenant_id, account_id, name) values ($1, $2, $3, 'Payroll')", [financeProcess, acme.tenantId, acme.otherAccountId]));
    await writeChanges(acme, 2, "operations");
    await asUser(db.app, acme.adminId, (c) => c.query("update app.processes set name = 'Payroll v2' where id = $1", [financeProcess]));
    const wanted = (await tenantEntries(acme.tenantId, `account_id = '${acme.otherAccountId}' and resource_type = 'process'`)).map((e) => e.id);
    expect(wanted).toHaveLength(2);
    await until("the finance process entries", () => allSeen(r, wanted));
    await new Promise((res) => setTimeout(res, 300));
    expect([...r.seen.keys()].sort()).toEqual([...wanted].sort());
  });

  it("refuses what would widen it or reach inside the network", async () => {
    const token = tenantAdmin(acme);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ name: "x", kind: "https", settings: { url: "https://siem.example.com" }, accountIds: [globex.accountId] }, /no account .* in this tenant/],
      [{ name: "x", kind: "file", settings: { path: "/etc" } }, /unknown setting path for a file stream/],
      [{ name: "x", kind: "splunk", settings: { url: "https://splunk.example.com:8088/services/collector/event" } }, /needs its secret \(the HTTP Event Collector token\)/],
      [{ name: "x", kind: "https", settings: { url: "https://siem.example.com" }, secret: "mine" }, /signing secret is generated/],
      [{ name: "x", kind: "syslog", settings: {} }, /kind must be one of https, splunk, datadog, elastic, file/],
      [{ name: "x", kind: "elastic", settings: { url: "https://es.example.com", index: "_Bad" }, secret: "k" }, /not a valid Elasticsearch index name/],
      [{ name: "x", kind: "datadog", settings: { site: "datadoghq.evil" }, secret: "k" }, /unknown Datadog site/],
    ];
    for (const [input, message] of cases) {
      const res = await q(server, token, CREATE, { input });
      expect(res.errors?.[0]?.message, JSON.stringify(input)).toMatch(message);
    }
    const res = await q(server, accountAdmin(acme), CREATE, { input: { name: "x", kind: "https", settings: { url: "https://siem.example.com" } } });
    expect(res.errors?.[0]?.message).toMatch(/only tenant admins can configure log streams/);
    expect((await q(server, accountAdmin(acme), STREAMS)).data.logStreams).toEqual([]);

    // Without WEBHOOK_ALLOW_PRIVATE: http and private addresses are refused when configured...
    const strict = await startTestServer(db);
    try {
      for (const url of ["http://siem.example.com", "https://127.0.0.1:8088", "https://10.1.2.3", "https://localhost"]) {
        const r2 = await q(strict, token, CREATE, { input: { name: "x", kind: "https", settings: { url } } });
        expect(r2.errors?.[0]?.message, url).toMatch(/https|loopback|private/);
      }
    } finally {
      await strict.close();
    }
    // ... and when delivered (the address is checked again at connection time).
    const r = await receiver();
    const { id } = await createStream(token, { name: "Inside", kind: "https", settings: { url: r.url } });
    await writeChanges(acme, 1, "ssrf");
    worker({ allowPrivate: false }).start();
    await until("the refusal", async () => {
      const { rows } = await db.owner.query("select last_error from audit.log_streams where id = $1", [id]);
      return rows[0]?.last_error !== null;
    });
    const { rows } = await db.owner.query("select last_error from audit.log_streams where id = $1", [id]);
    expect(rows[0].last_error).toMatch(/https|loopback|private/);
    expect(r.requests).toBe(0);
  });

  it("writes a file stream under STREAM_FILE_ROOT/<tenant>/<stream>/ only", async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), "streams-"));
    try {
      const { id } = await createStream(tenantAdmin(acme), { name: "Vector", kind: "file", settings: { rotate: "size", max_bytes: 1048576 } });
      await writeChanges(acme, 3, "to file");
      worker({ fileRoot: root }).start();
      const wanted = (await tenantEntries(acme.tenantId, "new_values->>'name' like 'to file%'")).map((e) => e.id);
      const dir = path.join(root, acme.tenantId, id);
      const read = async () => {
        const files = await fs.readdir(dir).catch(() => [] as string[]);
        const lines = (await Promise.all(files.map((f) => fs.readFile(path.join(dir, f), "utf8")))).join("").split("\n").filter(Boolean);
        return new Set(lines.map((l) => (JSON.parse(l) as Delivered).id));
      };
      await until("the file's lines", async () => { const ids = await read(); return wanted.every((x) => ids.has(x)); });
      expect(await fs.readdir(root)).toEqual([acme.tenantId]);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
