// The delivery worker against a real database (the outbox and its
// functions, as the owner) and a real receiver on 127.0.0.1 that verifies
// every signature.
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Logger } from "../../../src/log.ts";
import { WebhookWorker, type WebhookWorkerOptions } from "../../../src/server/webhooks/delivery-worker.ts";
import { verifyWebhookSignature, type SignatureCheck } from "../../../src/server/webhooks/signature.ts";
import { createTestDatabase, type TestDatabase } from "../../support/database.ts";
import { startReceiver, type Receiver, type ReceivedRequest } from "./receiver.ts";

let db: TestDatabase;
let tenantId: string;
let alertId: string;
const workers: WebhookWorker[] = [];
const receivers: Receiver[] = [];

/** Log lines of the workers, parsed. */
const logLines: Record<string, unknown>[] = [];
const logger: Logger = pino({ level: "debug" }, { write: (line: string) => void logLines.push(JSON.parse(line)) });

beforeAll(async () => {
  db = await createTestDatabase();
  tenantId = randomUUID();
  await db.owner.query("insert into app.tenants (id, name) values ($1, 'Hooks Inc')", [tenantId]);
  const { rows } = await db.owner.query<{ id: string }>(
    `insert into audit.alerts (tenant_id, detector, severity, summary, incident_key, first_at, last_at, entry_count, entry_ids, entries_descriptor)
     values ($1, 'role_escalation', 'high', 'Ada Admin made 3 users admins in 4 minutes', 'user:ada', now(), now(), 3, '{1,2,3}', '{}')
     returning id::text`,
    [tenantId],
  );
  alertId = rows[0]!.id;
});

afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop()));
  await Promise.all(receivers.splice(0).map((r) => r.close()));
  // every endpoint (and with it its deliveries) goes: no test claims another's
  await db.owner.query("delete from audit.webhook_endpoints");
  logLines.length = 0;
});

afterAll(async () => {
  await db?.drop();
});

function worker(options: Partial<WebhookWorkerOptions> = {}): WebhookWorker {
  const w = new WebhookWorker({
    connectionString: db.ownerUrl,
    logger,
    allowPrivate: true,
    timeoutMs: 2_000,
    pollMs: 50,
    retryBaseMs: 50,
    retryMaxMs: 200,
    leaseSeconds: 3,
    ...options,
  });
  workers.push(w);
  return w;
}

interface Verified {
  request: ReceivedRequest;
  signature: SignatureCheck;
}

/** A receiver that checks each request's signature with `secret` and answers `statuses` in turn (then 200). */
async function receiver(secret: string, statuses: (number | null)[] = []): Promise<Receiver & { verified: Verified[] }> {
  const verified: Verified[] = [];
  const r = await startReceiver((request, i) => {
    verified.push({ request, signature: verifyWebhookSignature(request.headers["audit-trail-signature"], request.body, secret) });
    const status = i < statuses.length ? statuses[i]! : 200;
    return status === null ? null : { status, body: status >= 300 ? `failure number ${i + 1}` : "" };
  });
  receivers.push(r);
  return Object.assign(r, { verified });
}

const newSecret = () => `whsec_${randomUUID().replaceAll("-", "")}`;

interface Delivery {
  endpointId: string;
  deliveryId: string;
  eventId: string;
  secret: string;
  body: Record<string, unknown>;
}

/** An endpoint with its secret and one pending delivery of the alert, written as the owner. */
async function delivery(url: string, options: { enabled?: boolean; giveUpIn?: string; secret?: string } = {}): Promise<Delivery> {
  const secret = options.secret ?? newSecret();
  const eventId = randomUUID();
  const { rows: [endpoint] } = await db.owner.query<{ id: string }>(
    "insert into audit.webhook_endpoints (tenant_id, url, severities, enabled) values ($1, $2, '{high}', $3) returning id",
    [tenantId, url, options.enabled ?? true],
  );
  await db.owner.query("insert into audit_private.webhook_secrets (tenant_id, endpoint_id, secret) values ($1, $2, $3)", [tenantId, endpoint!.id, secret]);
  const body = { id: eventId, type: "alert.opened", alert: { id: alertId, severity: "high", summary: "Ada Admin made 3 users admins in 4 minutes" } };
  const { rows: [d] } = await db.owner.query<{ id: string }>(
    `insert into audit.webhook_deliveries (tenant_id, endpoint_id, alert_id, event_id, event_type, payload, give_up_at)
     values ($1, $2, $3, $4, 'alert.opened', $5, now() + coalesce($6::interval, interval '24 hours')) returning id::text`,
    [tenantId, endpoint!.id, alertId, eventId, JSON.stringify(body), options.giveUpIn ?? null],
  );
  return { endpointId: endpoint!.id, deliveryId: d!.id, eventId, secret, body };
}

interface DeliveryRow {
  status: string;
  attempts: number;
  last_status_code: number | null;
  last_error: string | null;
  delivered_at: Date | null;
  due_in_ms: number;
}

async function state(deliveryId: string): Promise<DeliveryRow> {
  const { rows } = await db.owner.query<DeliveryRow>(
    `select status, attempts, last_status_code, last_error, delivered_at,
            (extract(epoch from next_attempt_at - now()) * 1000)::int as due_in_ms
       from audit.webhook_deliveries where tenant_id = $1 and id = $2`,
    [tenantId, deliveryId],
  );
  return rows[0]!;
}

async function attempts(deliveryId: string) {
  const { rows } = await db.owner.query<{ attempt: number; status_code: number | null; error: string | null; duration_ms: number }>(
    "select attempt, status_code, error, duration_ms from audit.webhook_attempts where tenant_id = $1 and delivery_id = $2 order by attempt",
    [tenantId, deliveryId],
  );
  return rows;
}

/** Runs rounds until the delivery has `status` (within a deadline): retries are due after short, jittered delays. */
async function runUntil(w: WebhookWorker, deliveryId: string, status: string, deadlineMs = 10_000): Promise<DeliveryRow> {
  const until = Date.now() + deadlineMs;
  for (;;) {
    await w.runOnce();
    const s = await state(deliveryId);
    if (s.status === status) return s;
    if (Date.now() > until) throw new Error(`delivery ${deliveryId} is still ${s.status} after ${deadlineMs} ms: ${JSON.stringify(s)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("the webhook delivery worker", () => {
  it("(a) delivers once, signed, with the event's headers, and records the attempt", async () => {
    const secret = newSecret();
    const verify = await receiver(secret); // verifies with the endpoint's secret
    const d = await delivery(`${verify.origin}/hooks/security?token=abc`, { secret });

    const w = worker();
    expect(await w.runOnce()).toEqual({ claimed: 1, delivered: 1, failed: 0, gaveUp: 0 });
    expect(verify.verified).toHaveLength(1);
    const [{ request, signature }] = verify.verified as [Verified];
    expect(signature).toMatchObject({ ok: true });
    expect(request.path).toBe("/hooks/security?token=abc");
    expect(request.headers).toMatchObject({
      "audit-trail-event-id": d.eventId,
      "audit-trail-event-type": "alert.opened",
      "audit-trail-delivery-attempt": "1",
      "content-type": "application/json",
      "user-agent": "Audit-Trail-Webhooks/1",
    });
    expect(JSON.parse(request.body)).toEqual(d.body);

    expect(await state(d.deliveryId)).toMatchObject({ status: "delivered", attempts: 1, last_status_code: 200, last_error: null });
    expect((await state(d.deliveryId)).delivered_at).toBeInstanceOf(Date);
    expect(await attempts(d.deliveryId)).toMatchObject([{ attempt: 1, status_code: 200, error: null }]);
    // delivered is done: nothing more is posted
    expect(await w.runOnce()).toEqual({ claimed: 0, delivered: 0, failed: 0, gaveUp: 0 });
    expect(verify.verified).toHaveLength(1);
  });

  it("(b) retries a 500 with backoff, then delivers; both attempts are recorded", async () => {
    const secret = newSecret();
    const r = await receiver(secret, [500]);
    const d = await delivery(`${r.origin}/hook`, { secret });
    const w = worker();

    expect(await w.runOnce()).toEqual({ claimed: 1, delivered: 0, failed: 1, gaveUp: 0 });
    const after500 = await state(d.deliveryId);
    expect(after500).toMatchObject({ status: "pending", attempts: 1, last_status_code: 500, last_error: "HTTP 500: failure number 1" });
    // backoff: retryBaseMs (50) ± 25 % after the attempt was recorded
    const { rows: [delay] } = await db.owner.query<{ ms: number }>(
      `select extract(epoch from d.next_attempt_at - a.attempted_at) * 1000 as ms
         from audit.webhook_deliveries d join audit.webhook_attempts a on a.tenant_id = d.tenant_id and a.delivery_id = d.id
        where d.tenant_id = $1 and d.id = $2`,
      [tenantId, d.deliveryId],
    );
    expect(Number(delay!.ms)).toBeGreaterThanOrEqual(37.5);
    expect(Number(delay!.ms)).toBeLessThanOrEqual(62.5);

    const done = await runUntil(w, d.deliveryId, "delivered");
    expect(done).toMatchObject({ attempts: 2, last_status_code: 200, last_error: null });
    expect(await attempts(d.deliveryId)).toMatchObject([
      { attempt: 1, status_code: 500, error: "HTTP 500: failure number 1" },
      { attempt: 2, status_code: 200, error: null },
    ]);
    // the same event, signed afresh each time
    expect(r.verified.map((v) => [v.request.headers["audit-trail-event-id"], v.request.headers["audit-trail-delivery-attempt"], v.signature.ok])).toEqual([
      [d.eventId, "1", true],
      [d.eventId, "2", true],
    ]);
    // the failed attempt was logged at warn, with the delivery and the host, never the secret or the body
    const warn = logLines.find((l) => l.msg === "webhook attempt failed; will retry");
    expect(warn).toMatchObject({ level: 40, component: "webhooks", deliveryId: d.deliveryId, host: `127.0.0.1:${r.port}`, statusCode: 500, attempt: 1 });
    const logged = JSON.stringify(logLines);
    expect(logged).not.toContain(secret);
    expect(logged).not.toContain("made 3 users admins");
  });

  it("(c) loses nothing when a worker dies mid-post: the lease runs out and a new worker delivers", async () => {
    const r = await receiver("unused");
    const d = await delivery(`${r.origin}/hook`);
    // a worker claims it (lease 1 s) and dies before finishing
    const { rows: claimed } = await db.owner.query("select delivery_id::text from audit_private.claim_webhook_deliveries(10, 1)");
    expect(claimed).toEqual([{ delivery_id: d.deliveryId }]);

    const w = worker();
    expect(await w.runOnce()).toMatchObject({ claimed: 0 }); // still leased
    const done = await runUntil(w, d.deliveryId, "delivered", 5_000);
    expect(done).toMatchObject({ attempts: 2, last_status_code: 200 });
    expect(await attempts(d.deliveryId)).toMatchObject([{ attempt: 2, status_code: 200, error: null }]);
    expect(r.received.map((q) => [q.headers["audit-trail-event-id"], q.headers["audit-trail-delivery-attempt"]])).toEqual([[d.eventId, "2"]]);
  });

  it("(d) gives up on a delivery past its give-up time", async () => {
    const r = await receiver("unused", Array(100).fill(503));
    // already past: failed without a post
    const past = await delivery(`${r.origin}/past`, { giveUpIn: "-1 minute" });
    // failing until its time runs out
    const soon = await delivery(`${r.origin}/soon`, { giveUpIn: "300 milliseconds" });
    const w = worker();
    const failed = await runUntil(w, soon.deliveryId, "failed", 5_000);
    expect(failed).toMatchObject({ last_status_code: 503 });
    expect(failed.attempts).toBeGreaterThanOrEqual(1);
    expect(failed.last_error).toMatch(/^HTTP 503: failure number \d+/);
    const tries = await attempts(soon.deliveryId);
    expect(tries).toHaveLength(failed.attempts);
    expect(tries.every((t) => t.status_code === 503)).toBe(true);

    const gaveUp = await state(past.deliveryId);
    expect(gaveUp).toMatchObject({ status: "failed", attempts: 0 });
    expect(gaveUp.last_error).toMatch(/^not delivered \(gave up at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\)$/);
    expect(r.received.filter((q) => q.path === "/past")).toHaveLength(0);
    // nothing more is claimed
    const before = r.received.length;
    expect(await w.runOnce()).toMatchObject({ claimed: 0 });
    expect(r.received).toHaveLength(before);
  });

  it("(e) does not post a disabled endpoint's delivery; it waits until the endpoint is enabled", async () => {
    const r = await receiver("unused");
    const d = await delivery(`${r.origin}/hook`, { enabled: false });
    const w = worker();
    expect(await w.runOnce()).toEqual({ claimed: 0, delivered: 0, failed: 0, gaveUp: 0 });
    expect(r.received).toHaveLength(0);
    expect(await state(d.deliveryId)).toMatchObject({ status: "pending", attempts: 0 });
    expect(await attempts(d.deliveryId)).toEqual([]);

    await db.owner.query("update audit.webhook_endpoints set enabled = true where id = $1", [d.endpointId]);
    expect(await w.runOnce()).toMatchObject({ claimed: 1, delivered: 1 });
    expect(r.received).toHaveLength(1);
  });

  it("(f) refuses, at connect time, a host name that resolves to 127.0.0.1 (allowPrivate off): recorded, still pending", async () => {
    const r = await receiver("unused");
    const d = await delivery(`https://localhost:${r.port}/hook`);
    const w = worker({ allowPrivate: false, retryBaseMs: 60_000, retryMaxMs: 3_600_000 });
    expect(await w.runOnce()).toEqual({ claimed: 1, delivered: 0, failed: 1, gaveUp: 0 });
    expect(r.connections).toBe(0);
    const error = /^localhost resolves to (127\.0\.0\.1|::1), a loopback address; webhooks go to public addresses only/;
    const s = await state(d.deliveryId);
    expect(s).toMatchObject({ status: "pending", attempts: 1, last_status_code: null, last_error: error });
    expect(s.due_in_ms).toBeGreaterThan(40_000); // retried later (60 s ± 25 %)
    expect(await attempts(d.deliveryId)).toMatchObject([{ attempt: 1, status_code: null, error }]);
    expect(logLines.find((l) => l.msg === "webhook attempt failed; will retry")).toMatchObject({
      level: 40,
      deliveryId: d.deliveryId,
      host: `localhost:${r.port}`,
      statusCode: null,
      error,
    });
  });

  it("start() polls at once and every pollMs; stop() waits for the post in flight and ends the pool", async () => {
    const r = await receiver("unused");
    const first = await delivery(`${r.origin}/first`);
    const w = worker({ pollMs: 50 });
    w.start();
    const until = Date.now() + 5_000;
    while ((await state(first.deliveryId)).status !== "delivered") {
      if (Date.now() > until) throw new Error("not delivered by the polling worker");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // a later delivery is picked up by a later poll
    const second = await delivery(`${r.origin}/second`);
    while ((await state(second.deliveryId)).status !== "delivered") {
      if (Date.now() > until) throw new Error("not delivered by the polling worker");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await w.stop();
    expect(w.pool.ending).toBe(true);
    expect(logLines.some((l) => l.msg === "webhook delivery worker stopped")).toBe(true);
  });

  it("logs database errors and keeps polling; runOnce rejects", async () => {
    const w = worker({ connectionString: "postgres://nobody@127.0.0.1:1/nothing", pollMs: 50 });
    await expect(w.runOnce()).rejects.toThrow(/ECONNREFUSED|connect/);
    w.start();
    const until = Date.now() + 5_000;
    while (!logLines.some((l) => l.msg === "webhook worker still cannot claim deliveries")) {
      if (Date.now() > until) throw new Error("no repeated poll logged");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(logLines.find((l) => l.msg === "webhook worker cannot claim deliveries; retrying at the next poll")).toMatchObject({ level: 50 });
    await w.stop();
  });

  it("refuses a lease that is not longer than the timeout", () => {
    expect(() => new WebhookWorker({ connectionString: "postgres://x@127.0.0.1/x", logger, timeoutMs: 5_000, leaseSeconds: 5 })).toThrow(
      /leaseSeconds \(5 s\) must be longer than timeoutMs \(5000 ms\)/,
    );
  });
});
