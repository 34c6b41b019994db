// The HTTP destinations against local receivers that check each vendor's
// authentication and envelope exactly and answer as the vendor does:
// generic HTTPS (signed JSON Lines), Splunk HEC, Datadog's logs intake,
// Elasticsearch _bulk (409 duplicates delivered, a refused item fails the
// batch). Outcomes for 4xx, 5xx, 413, timeouts and refused private
// addresses; the secret and the URL's path and query never in an error.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { safePost } from "../../src/server/webhooks/safe-post.ts";
import { verifyWebhookSignature } from "../../src/server/webhooks/signature.ts";
import { openDestination, streamDocument } from "../../src/streams/destinations/index.ts";
import { DATADOG_MAX_LOGS, datadogBodies } from "../../src/streams/destinations/datadog.ts";
import { bulkUrl } from "../../src/streams/destinations/elastic.ts";
import { hecTime } from "../../src/streams/destinations/splunk.ts";
import type { DeliveryOutcome, DestinationOptions, StreamEntry, StreamFormat, StreamKind, StreamTarget } from "../../src/streams/stream-types.ts";
import { startReceiver, type Receiver, type ReceivedRequest } from "../server/webhooks/receiver.ts";

const TENANT = "0b3c1a52-51a8-4a3e-9d6c-2f1f0d7c9e11";
const STREAM = "7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a098";
const SECRET = "whsec_s3cr3t-never-shown";
const TOKEN = "b6f1c2d3-hec-token-never-shown";
const DD_KEY = "dd0123456789abcdef-never-shown";
const ES_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw-never-shown";
const OPTIONS: DestinationOptions = { allowPrivate: true, timeoutMs: 2_000, fileRoot: null };

function entry(id: string, over: Partial<StreamEntry> = {}): StreamEntry {
  return {
    id,
    occurredAt: "2025-03-04T05:06:07.123456Z",
    tenantId: TENANT,
    accountId: null,
    actorType: "user",
    actorId: "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
    actorEmail: "ada@example.com",
    actorName: "Ada Lovelace",
    action: "update",
    resourceType: "settings",
    entityId: "billing.rate",
    entityLabel: "billing.rate",
    event: "settings.updated",
    description: "Settings updated",
    oldValues: '{"rate": 1.25}',
    // PostgreSQL's jsonb text: the numbers exactly as stored
    newValues: '{"big": 12345678901234567890, "rate": 1.50}',
    context: '{"ip": "203.0.113.7", "request_id": "req-1"}',
    transactionId: "77",
    ...over,
  };
}

const BATCH = [entry("101"), entry("102", { occurredAt: "2025-03-04T05:06:08.000999Z" }), entry("103", { event: "user.signed_in", action: "sign_in", resourceType: "user" })];

function target(kind: StreamKind, settings: Record<string, unknown>, secret: string | null, format: StreamFormat = "entry"): StreamTarget {
  return { tenantId: TENANT, streamId: STREAM, kind, settings, secret, format };
}

async function deliver(t: StreamTarget, entries: readonly StreamEntry[] = BATCH, options: DestinationOptions = OPTIONS): Promise<DeliveryOutcome> {
  const destination = openDestination(t, options);
  try {
    return await destination.deliver(entries);
  } finally {
    await destination.close();
  }
}

/** The error of a failed outcome (and that it failed). */
function failure(outcome: DeliveryOutcome): Extract<DeliveryOutcome, { ok: false }> {
  expect(outcome.ok).toBe(false);
  return outcome as Extract<DeliveryOutcome, { ok: false }>;
}

function noSecrets(text: string) {
  for (const secret of [SECRET, TOKEN, DD_KEY, ES_KEY, "tok3n-in-query", "/private/path"]) expect(text).not.toContain(secret);
}

const receivers: Receiver[] = [];
async function receiver(answer: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(answer);
  receivers.push(r);
  return r;
}
afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
});

describe("the documents", () => {
  it("entry: the export's JSON Lines entry, jsonb text as stored; ocsf: the OCSF event", () => {
    const doc = streamDocument(BATCH[0]!, "entry");
    expect(doc).not.toContain("\n");
    expect(doc).toContain('"newValues":{"big": 12345678901234567890, "rate": 1.50}');
    expect(JSON.parse(doc)).toMatchObject({ id: "101", event: "settings.updated", newValues: { rate: 1.5 } });
    const ocsf = streamDocument(BATCH[0]!, "ocsf");
    expect(JSON.parse(ocsf)).toMatchObject({ class_uid: 6003, type_uid: 600303, metadata: { uid: "101" } });
    expect(ocsf).toContain('"new_values":{"big":12345678901234567890,"rate":1.50}');
  });
});

describe("safePost's stream options", () => {
  it("contentType, userAgent and readBody; webhooks' defaults unchanged", async () => {
    const r = await receiver(() => ({ status: 200, body: '{"fine":true}' }));
    const plain = await safePost(`${r.origin}/x`, "{}", { timeoutMs: 2_000, allowPrivate: true });
    expect(plain).toEqual({ statusCode: 200, error: null, durationMs: expect.any(Number) });
    expect(r.received[0]!.headers).toMatchObject({ "content-type": "application/json", "user-agent": "Audit-Trail-Webhooks/1" });
    const read = await safePost(`${r.origin}/x`, "a\n", { timeoutMs: 2_000, allowPrivate: true, contentType: "application/x-ndjson", userAgent: "Audit-Trail-Streams/1", readBody: true });
    expect(read).toEqual({ statusCode: 200, error: null, durationMs: expect.any(Number), body: '{"fine":true}' });
    expect(r.received[1]!.headers).toMatchObject({ "content-type": "application/x-ndjson", "user-agent": "Audit-Trail-Streams/1" });
    const cut = await safePost(`${r.origin}/x`, "", { timeoutMs: 2_000, allowPrivate: true, readBody: true, maxResponseBytes: 5 });
    expect(cut.body).toBe('{"fin');
  });
});

describe("https: signed JSON Lines", () => {
  let r: Receiver;
  beforeAll(async () => {
    r = await receiver((req) => {
      if (req.path.startsWith("/fail")) return { status: 500, body: `upstream broke at ${req.path}` };
      if (req.path.startsWith("/big")) return { status: 413, body: "Payload Too Large" };
      if (req.path.startsWith("/redirect")) return { status: 307, headers: { location: `${r.origin}/private/path?token=tok3n-in-query` } };
      if (req.path.startsWith("/hang")) return null;
      return { status: 204 };
    });
  });

  it("posts one line per entry with the signature and the batch's headers", async () => {
    const outcome = await deliver(target("https", { url: `${r.origin}/ingest?tenant=acme` }, SECRET));
    expect(outcome).toEqual({ ok: true, durationMs: expect.any(Number) });
    const req = r.received.at(-1)!;
    expect(req.method).toBe("POST");
    expect(req.path).toBe("/ingest?tenant=acme");
    expect(req.body).toBe(BATCH.map((e) => `${streamDocument(e, "entry")}\n`).join(""));
    expect(req.body).toContain('"rate": 1.50');
    expect(req.headers).toMatchObject({
      "content-type": "application/x-ndjson",
      "user-agent": "Audit-Trail-Streams/1",
      "audit-trail-stream-id": STREAM,
      "audit-trail-batch-first-id": "101",
      "audit-trail-batch-last-id": "103",
      "audit-trail-batch-count": "3",
    });
    expect(verifyWebhookSignature(req.headers["audit-trail-signature"], req.body, SECRET)).toMatchObject({ ok: true });
    expect(verifyWebhookSignature(req.headers["audit-trail-signature"], req.body, "whsec_other")).toMatchObject({ ok: false });
    expect(JSON.stringify(req.headers)).not.toContain(SECRET);
  });

  it("writes OCSF events in the ocsf format", async () => {
    expect((await deliver(target("https", { url: `${r.origin}/ocsf` }, SECRET, "ocsf"))).ok).toBe(true);
    const lines = r.received.at(-1)!.body.trimEnd().split("\n");
    expect(lines.map((l) => JSON.parse(l).class_uid)).toEqual([6003, 6003, 3002]);
    expect(lines[0]).toContain('"rate":1.50');
  });

  it("reports 5xx, 413 (tooLarge), redirects and timeouts without the URL's path or query", async () => {
    const five = failure(await deliver(target("https", { url: `${r.origin}/fail/private/path?token=tok3n-in-query` }, SECRET)));
    expect(five).toMatchObject({ statusCode: 500, error: "HTTP 500: upstream broke at [redacted]" });
    expect(five.tooLarge).toBeUndefined();
    expect(failure(await deliver(target("https", { url: `${r.origin}/big` }, SECRET)))).toMatchObject({ statusCode: 413, tooLarge: true, error: "HTTP 413: Payload Too Large" });
    const redirect = failure(await deliver(target("https", { url: `${r.origin}/redirect` }, SECRET)));
    expect(redirect.error).toBe(`HTTP 307: redirects are not followed (Location: ${r.origin}/…)`);
    const hang = failure(await deliver(target("https", { url: `${r.origin}/hang` }, SECRET), BATCH, { ...OPTIONS, timeoutMs: 300 }));
    expect(hang).toMatchObject({ statusCode: null, error: `timed out after 300 ms (127.0.0.1:${r.port})` });
    for (const o of [five, redirect, hang]) noSecrets(o.error);
  });

  it("refuses without a URL or a secret", async () => {
    expect(failure(await deliver(target("https", {}, SECRET))).error).toBe("the stream has no URL");
    expect(failure(await deliver(target("https", { url: `${r.origin}/` }, null))).error).toBe("the stream has no signing secret");
  });
});

describe("private addresses, without allowPrivate", () => {
  let trap: Receiver;
  beforeAll(async () => {
    trap = await receiver(() => ({ status: 200, body: '{"text":"Success","code":0}' }));
  });

  it.each<[StreamKind, string | null]>([
    ["https", SECRET],
    ["splunk", TOKEN],
    ["datadog", DD_KEY],
    ["elastic", ES_KEY],
  ])("%s: refused as webhooks are, before any connection", async (kind, secret) => {
    const strict = { ...OPTIONS, allowPrivate: false };
    const loopback = failure(await deliver(target(kind, { url: `https://127.0.0.1:${trap.port}/private/path`, index: "audit" }, secret), BATCH, strict));
    expect(loopback).toMatchObject({ statusCode: null, error: /^127\.0\.0\.1 is a loopback address; webhooks go to public addresses only/ });
    const named = failure(await deliver(target(kind, { url: `https://localhost:${trap.port}/`, index: "audit" }, secret), BATCH, strict));
    expect(named.error).toMatch(/^localhost resolves to (127\.0\.0\.1|::1), a loopback address/);
    const plain = failure(await deliver(target(kind, { url: `http://logs.example.com/`, index: "audit" }, secret), BATCH, strict));
    expect(plain.error).toMatch(/must use https/);
    expect(trap.connections).toBe(0);
    for (const o of [loopback, named, plain]) noSecrets(o.error);
  });
});

// --- Splunk HEC -------------------------------------------------------------

/** Answers as HEC does: 401/403 for the token, 400 for a malformed event, else Success. */
function hec(req: ReceivedRequest): { status: number; body: string } {
  const auth = req.headers.authorization;
  if (auth === undefined) return { status: 401, body: '{"text":"Token is required","code":2}' };
  if (auth !== `Splunk ${TOKEN}`) return { status: 403, body: `{"text":"Invalid token (got ${auth})","code":4}` };
  if (req.path !== "/services/collector/event") return { status: 404, body: '{"text":"The requested URL was not found on this server.","code":404}' };
  const lines = req.body.split("\n");
  for (const [i, line] of lines.entries()) {
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(line);
    } catch {
      return { status: 400, body: `{"text":"Invalid data format","code":6,"invalid-event-number":${i}}` };
    }
    if (!("event" in event) || typeof event.time !== "number") return { status: 400, body: `{"text":"Event field is required","code":12,"invalid-event-number":${i}}` };
  }
  if (lines.some((l) => l.includes('"busy"'))) return { status: 200, body: '{"text":"Server is busy","code":9}' };
  return { status: 200, body: '{"text":"Success","code":0}' };
}

describe("splunk: HEC events", () => {
  let r: Receiver;
  beforeAll(async () => {
    r = await receiver(hec);
  });

  it("posts one HEC event per entry, the document spliced in, with the token", async () => {
    const url = `${r.origin}/services/collector/event`;
    expect(await deliver(target("splunk", { url }, TOKEN))).toEqual({ ok: true, durationMs: expect.any(Number) });
    const req = r.received.at(-1)!;
    expect(req.headers).toMatchObject({ authorization: `Splunk ${TOKEN}`, "content-type": "application/json", "user-agent": "Audit-Trail-Streams/1" });
    const lines = req.body.split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toBe(`{"time":1741064767.123,"source":"audit-trail","sourcetype":"audit-trail:entry","event":${streamDocument(BATCH[0]!, "entry")}}`);
    expect(lines[0]).toContain('"rate": 1.50');
    expect(JSON.parse(lines[1]!)).toMatchObject({ time: 1741064768, event: { id: "102" } });
    expect(lines[1]).toMatch(/^\{"time":1741064768\.000,/);

    expect((await deliver(target("splunk", { url, index: "audit", source: "acme", sourcetype: "acme:audit" }, TOKEN, "ocsf"))).ok).toBe(true);
    const ocsf = r.received.at(-1)!.body.split("\n");
    expect(ocsf[2]).toBe(`{"time":1741064767.123,"source":"acme","sourcetype":"acme:audit","index":"audit","event":${streamDocument(BATCH[2]!, "ocsf")}}`);
    expect((await deliver(target("splunk", { url }, TOKEN, "ocsf"))).ok).toBe(true);
    expect(JSON.parse(r.received.at(-1)!.body.split("\n")[0]!)).toMatchObject({ sourcetype: "audit-trail:ocsf", event: { class_uid: 6003 } });
  });

  it("fails on a bad token (never shown), a nonzero code in a 2xx, and a 413", async () => {
    const url = `${r.origin}/services/collector/event`;
    const bad = failure(await deliver(target("splunk", { url }, "wrong-token")));
    expect(bad).toMatchObject({ statusCode: 403, error: 'HTTP 403: {"text":"Invalid token (got Splunk [redacted])","code":4}' });
    const busy = failure(await deliver(target("splunk", { url }, TOKEN), [entry("104", { entityLabel: "busy" })]));
    expect(busy).toMatchObject({ statusCode: 200, error: "Splunk HEC answered HTTP 200 with code 9: Server is busy" });
    const missing = failure(await deliver(target("splunk", { url: `${r.origin}/services/collector/raw` }, TOKEN)));
    expect(missing.statusCode).toBe(404);
    const tooBig = await receiver(() => ({ status: 413, body: '{"text":"Content-Length of 9000000 too large (maximum is 1000000)","code":27}' }));
    expect(failure(await deliver(target("splunk", { url: `${tooBig.origin}/services/collector/event` }, TOKEN)))).toMatchObject({ statusCode: 413, tooLarge: true });
    for (const o of [bad, busy, missing]) noSecrets(o.error);
    expect(failure(await deliver(target("splunk", { url }, null))).error).toBe("the stream has no HEC token");
  });

  it("time: epoch seconds with milliseconds, cut from microseconds", () => {
    expect(hecTime("2025-03-04T05:06:07.123999Z")).toBe("1741064767.123");
    expect(hecTime("1970-01-01T00:00:00.000001Z")).toBe("0.000");
  });
});

// --- Datadog ------------------------------------------------------------------

/** Answers as the logs intake does: 403 for the key, 400 for a body that is not logs, 413 past its limits, else 202 {}. */
function datadog(fail: (index: number) => boolean = () => false) {
  return (req: ReceivedRequest, index: number) => {
    if (req.headers["dd-api-key"] !== DD_KEY) return { status: 403, body: '{"errors":[{"status":"403","title":"Forbidden","detail":"Forbidden"}]}' };
    if (req.headers["content-type"] !== "application/json") return { status: 400, body: '{"errors":["bad content type"]}' };
    if (Buffer.byteLength(req.body) > 5_000_000) return { status: 413, body: '{"errors":[{"status":"413","title":"Request Entity Too Large"}]}' };
    let logs: unknown;
    try {
      logs = JSON.parse(req.body);
    } catch {
      return { status: 400, body: '{"errors":["invalid JSON"]}' };
    }
    if (!Array.isArray(logs) || logs.length > 1_000) return { status: 413, body: '{"errors":["too many logs"]}' };
    if (fail(index)) return { status: 500, body: '{"errors":["Internal Server Error"]}' };
    return { status: 202, body: "{}" };
  };
}

describe("datadog: the logs intake", () => {
  it("posts a JSON array of logs with the key, the tags and the document", async () => {
    const r = await receiver(datadog());
    const t = target("datadog", { url: `${r.origin}/api/v2/logs`, service: "acme-audit", tags: "env:prod,team:sec" }, DD_KEY);
    expect(await deliver(t)).toEqual({ ok: true, durationMs: expect.any(Number) });
    const req = r.received[0]!;
    expect(req.path).toBe("/api/v2/logs");
    expect(req.headers).toMatchObject({ "dd-api-key": DD_KEY, "content-type": "application/json", "user-agent": "Audit-Trail-Streams/1" });
    const dates = [1741064767123, 1741064768000, 1741064767123];
    const log = (e: StreamEntry, i: number) =>
      `{"ddsource":"audit-trail","ddtags":"tenant_id:${TENANT},event:${e.event},action:${e.action},resource_type:${e.resourceType},env:prod,team:sec",` +
      `"service":"acme-audit","message":"Settings updated","date":${dates[i]},"audit":${streamDocument(e, "entry")}}`;
    expect(req.body).toBe(`[${BATCH.map(log).join(",")}]`);
    const logs = JSON.parse(req.body) as Record<string, unknown>[];
    expect(logs.map((l) => Object.keys(l))).toEqual(Array(3).fill(["ddsource", "ddtags", "service", "message", "date", "audit"]));
    expect(logs[2]).toMatchObject({ ddtags: `tenant_id:${TENANT},event:user.signed_in,action:sign_in,resource_type:user,env:prod,team:sec`, service: "acme-audit" });
    expect(req.body).toContain('"rate": 1.50');

    await deliver(target("datadog", { url: `${r.origin}/api/v2/logs`, tags: ["a:1", "b,2"] }, DD_KEY, "ocsf"), [BATCH[0]!]);
    expect(JSON.parse(r.received[1]!.body)[0]).toMatchObject({ service: "audit-trail", ddtags: expect.stringMatching(/,a:1,b_2$/), audit: { class_uid: 6003 } });
  });

  it("splits a batch past 1,000 logs or 5 MB into requests in order", async () => {
    const r = await receiver(datadog());
    const many = Array.from({ length: 2_345 }, (_, i) => entry(String(1_000 + i)));
    expect((await deliver(target("datadog", { url: `${r.origin}/api/v2/logs` }, DD_KEY), many)).ok).toBe(true);
    const counts = r.received.map((q) => (JSON.parse(q.body) as unknown[]).length);
    expect(counts).toEqual([DATADOG_MAX_LOGS, DATADOG_MAX_LOGS, 345]);
    const ids = r.received.flatMap((q) => (JSON.parse(q.body) as { audit: { id: string } }[]).map((l) => l.audit.id));
    expect(ids).toEqual(many.map((e) => e.id));

    const big = "x".repeat(900_000);
    const large = Array.from({ length: 7 }, (_, i) => entry(String(5_000 + i), { newValues: JSON.stringify({ blob: big }) }));
    const r2 = await receiver(datadog());
    expect((await deliver(target("datadog", { url: `${r2.origin}/api/v2/logs` }, DD_KEY), large)).ok).toBe(true);
    expect(r2.received.map((q) => (JSON.parse(q.body) as unknown[]).length)).toEqual([5, 2]);
    for (const q of r2.received) expect(Buffer.byteLength(q.body)).toBeLessThanOrEqual(5_000_000);
    // a log larger than a request goes alone (and the intake's 413 says so)
    expect(datadogBodies(["a", "b".repeat(6_000_000), "c"]).map((b) => b.count)).toEqual([1, 1, 1]);
  });

  it("is delivered only when every request was: the failing one is named", async () => {
    const r = await receiver(datadog((index) => index === 1));
    const many = Array.from({ length: 2_100 }, (_, i) => entry(String(1_000 + i)));
    const outcome = failure(await deliver(target("datadog", { url: `${r.origin}/api/v2/logs` }, DD_KEY), many));
    expect(outcome).toMatchObject({ statusCode: 500, error: 'request 2 of 3 (entries 1001-2000 of 2100): HTTP 500: {"errors":["Internal Server Error"]}' });
    expect(r.received).toHaveLength(2); // stopped at the failure, in order
    const forbidden = failure(await deliver(target("datadog", { url: `${r.origin}/api/v2/logs` }, "not-the-key")));
    expect(forbidden.statusCode).toBe(403);
    const tooBig = await receiver(() => ({ status: 413, body: "" }));
    expect(failure(await deliver(target("datadog", { url: `${tooBig.origin}/api/v2/logs` }, DD_KEY)))).toMatchObject({ statusCode: 413, tooLarge: true, error: "HTTP 413" });
    noSecrets(outcome.error);
  });
});

// --- Elasticsearch --------------------------------------------------------------

/** An Elasticsearch _bulk endpoint: ApiKey auth, NDJSON, create de-duplicated by _id, one poisonous document refused. */
function elasticsearch() {
  const stored = new Map<string, string>();
  const answer = (req: ReceivedRequest) => {
    if (req.headers.authorization !== `ApiKey ${ES_KEY}`) {
      return {
        status: 401,
        body: `{"error":{"root_cause":[{"type":"security_exception","reason":"unable to authenticate with provided credentials [${req.headers.authorization}]"}],"type":"security_exception"},"status":401}`,
      };
    }
    if (!req.path.endsWith("/_bulk")) return { status: 404, body: '{"error":"no handler found for uri","status":404}' };
    if (req.headers["content-type"] !== "application/x-ndjson") return { status: 406, body: '{"error":"Content-Type header is not supported","status":406}' };
    if (req.path.startsWith("/garbage")) return { status: 200, body: "<html>proxy</html>" };
    if (!req.body.endsWith("\n")) return { status: 400, body: '{"error":{"type":"illegal_argument_exception","reason":"The bulk request must be terminated by a newline [\\n]"},"status":400}' };
    const lines = req.body.slice(0, -1).split("\n");
    const items: unknown[] = [];
    for (let i = 0; i < lines.length; i += 2) {
      const { create } = JSON.parse(lines[i]!) as { create: { _index: string; _id: string } };
      const doc = lines[i + 1]!;
      JSON.parse(doc);
      const base = { _index: create._index, _id: create._id };
      if (doc.includes("poison")) {
        items.push({ create: { ...base, status: 400, error: { type: "document_parsing_exception", reason: "[1:42] failed to parse field [entityLabel]" } } });
      } else if (stored.has(create._id)) {
        items.push({ create: { ...base, status: 409, error: { type: "version_conflict_engine_exception", reason: `[${create._id}]: version conflict, document already exists` } } });
      } else {
        stored.set(create._id, doc);
        items.push({ create: { ...base, _version: 1, result: "created", status: 201 } });
      }
    }
    const errors = items.some((i) => (i as { create: { status: number } }).create.status >= 300);
    return { status: 200, body: JSON.stringify({ errors, took: 3, items }) };
  };
  return { answer, stored };
}

describe("elastic: _bulk create", () => {
  it("creates each entry under its id; a redelivery's 409s are delivered", async () => {
    const es = elasticsearch();
    const r = await receiver(es.answer);
    const t = target("elastic", { url: `${r.origin}/`, index: "audit-trail" }, ES_KEY);
    expect(await deliver(t)).toEqual({ ok: true, durationMs: expect.any(Number) });
    const req = r.received[0]!;
    expect(req.path).toBe("/_bulk");
    expect(req.headers).toMatchObject({ authorization: `ApiKey ${ES_KEY}`, "content-type": "application/x-ndjson", "user-agent": "Audit-Trail-Streams/1" });
    expect(req.body).toBe(BATCH.map((e) => `{"create":{"_index":"audit-trail","_id":"${e.id}"}}\n${streamDocument(e, "entry")}\n`).join(""));
    expect(es.stored.get("101")).toContain('"rate": 1.50');
    // the same batch again, and one more entry: duplicates are "already there"
    expect(await deliver(t, [...BATCH, entry("104")])).toEqual({ ok: true, durationMs: expect.any(Number) });
    expect([...es.stored.keys()]).toEqual(["101", "102", "103", "104"]);
  });

  it("fails the batch when an item is refused, naming it and how many", async () => {
    const es = elasticsearch();
    const r = await receiver(es.answer);
    const t = target("elastic", { url: r.origin, index: "audit-trail" }, ES_KEY, "ocsf");
    const outcome = failure(await deliver(t, [entry("201"), entry("202", { entityLabel: "poison" }), entry("203")]));
    expect(outcome).toMatchObject({
      statusCode: 200,
      error: "Elasticsearch refused 1 of 3 entries; the first (entry 202, status 400): document_parsing_exception: [1:42] failed to parse field [entityLabel]",
    });
    expect(JSON.parse(es.stored.get("201")!)).toMatchObject({ class_uid: 6003 });
  });

  it("fails on a body that is no _bulk answer, a bad key (never shown), a 413", async () => {
    const es = elasticsearch();
    const r = await receiver(es.answer);
    const garbage = failure(await deliver(target("elastic", { url: `${r.origin}/garbage`, index: "a" }, ES_KEY)));
    expect(garbage).toMatchObject({ statusCode: 200, error: /^the _bulk answer is not JSON/ });
    const unauthorized = failure(await deliver(target("elastic", { url: r.origin, index: "a" }, `${ES_KEY}-wrong`)));
    expect(unauthorized.statusCode).toBe(401);
    expect(unauthorized.error).toContain("security_exception");
    expect(unauthorized.error).toContain("[ApiKey [redacted]]");
    noSecrets(unauthorized.error);
    const tooBig = await receiver(() => ({ status: 413, body: "" }));
    expect(failure(await deliver(target("elastic", { url: tooBig.origin, index: "a" }, ES_KEY)))).toMatchObject({ statusCode: 413, tooLarge: true });
    expect(failure(await deliver(target("elastic", { url: r.origin }, ES_KEY))).error).toBe("the stream has no index");
  });

  it("the _bulk URL from a base with or without a path and a trailing slash", () => {
    expect(bulkUrl("https://es.example.com:9200")).toBe("https://es.example.com:9200/_bulk");
    expect(bulkUrl("https://es.example.com:9200/")).toBe("https://es.example.com:9200/_bulk");
    expect(bulkUrl("https://proxy.example.com/es//")).toBe("https://proxy.example.com/es/_bulk");
  });
});

describe("an unknown kind", () => {
  it("fails every delivery", async () => {
    const outcome = failure(await deliver({ ...target("https", {}, null), kind: "carrier-pigeon" as StreamKind }));
    expect(outcome.error).toBe('unknown stream kind "carrier-pigeon"');
  });
});
