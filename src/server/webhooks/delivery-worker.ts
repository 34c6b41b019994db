// The webhook delivery worker: posts the outbox (audit.webhook_deliveries,
// written by audit.detect() in the same transaction as an alert) to the
// tenants' endpoints, at least once.
//
// A round claims up to `concurrency` due deliveries
// (audit_private.claim_webhook_deliveries: skips those another worker holds,
// counts the attempt, leases them for leaseSeconds), posts them at once
// (safePost: signed, SSRF-checked at connect time, bounded by the timeout)
// and records each outcome (audit_private.finish_webhook_attempt: delivered
// on a 2xx, otherwise retried with exponential backoff and jitter, failed
// after 24 hours). A worker that dies mid-post loses nothing: the lease runs
// out and the delivery is due again; the receiver de-duplicates by event id.
// The lease is longer than the timeout, so that a live worker's post always
// finishes before anyone else may claim it.
//
// Database errors are logged and retried at the next poll; nothing here
// throws into the process. The secret and the body are never logged, and
// of the URL only its host (paths often carry tokens).
import pg from "pg";
import { checkOption, errorFields, PollLoop } from "../../db/poll-loop.ts";
import type { Logger } from "../../log.ts";
import { safePost, type PostResult } from "./safe-post.ts";
import { signWebhook, SIGNATURE_HEADER } from "./signature.ts";

export interface WebhookWorkerOptions {
  /** The owner's connection string (DATABASE_URL or the embedded root URL): the claim and finish functions are the owner's. */
  connectionString: string;
  logger: Logger;
  /** Post to private, loopback and link-local addresses too, and over http (WEBHOOK_ALLOW_PRIVATE). Default false. */
  allowPrivate?: boolean;
  /** Deadline of one post, in milliseconds (WEBHOOK_TIMEOUT_MS). Default 10000. */
  timeoutMs?: number;
  /** Pause between polls when the queue is drained, in milliseconds (WEBHOOK_POLL_MS). Default 2000. */
  pollMs?: number;
  /** First retry delay, doubling per attempt (WEBHOOK_RETRY_BASE_MS). Default 30000. */
  retryBaseMs?: number;
  /** Longest retry delay, in milliseconds. Default 3600000 (an hour). */
  retryMaxMs?: number;
  /** Posts at once, and deliveries claimed per round. Default 4. */
  concurrency?: number;
  /** How long a claim holds a delivery, in seconds; must exceed the timeout. Default: the timeout plus 30 s. */
  leaseSeconds?: number;
}

export interface RoundResult {
  /** Deliveries claimed (attempts made) in the round. */
  claimed: number;
  /** Attempts that delivered (a 2xx answer). */
  delivered: number;
  /** Attempts that did not: retried later, or given up (see gaveUp). */
  failed: number;
  /** Deliveries that ended failed in the round (past their give-up time). */
  gaveUp: number;
}

/** A delivery as audit_private.claim_webhook_deliveries hands it out. */
export interface ClaimedDelivery {
  tenant_id: string;
  delivery_id: string;
  attempt: number;
  url: string;
  secret: string;
  event_id: string;
  event_type: string;
  body: string;
}

export const EVENT_ID_HEADER = "Audit-Trail-Event-Id";
export const EVENT_TYPE_HEADER = "Audit-Trail-Event-Type";
export const ATTEMPT_HEADER = "Audit-Trail-Delivery-Attempt";

/** The headers of one attempt (Content-Type and User-Agent are safePost's). */
export function deliveryHeaders(d: ClaimedDelivery, nowSeconds: number = Math.floor(Date.now() / 1000)): Record<string, string> {
  return {
    [SIGNATURE_HEADER]: signWebhook(d.secret, d.body, nowSeconds),
    [EVENT_ID_HEADER]: d.event_id,
    [EVENT_TYPE_HEADER]: d.event_type,
    [ATTEMPT_HEADER]: String(d.attempt),
  };
}

/** Host of a URL for the logs (never its path or query); the raw text's start when it does not parse. */
function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "(invalid URL)";
  }
}

export class WebhookWorker {
  /** Its own small pool, never the API's. */
  readonly pool: pg.Pool;
  private readonly log: Logger;
  private readonly allowPrivate: boolean;
  private readonly timeoutMs: number;
  private readonly pollMs: number;
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly concurrency: number;
  private readonly leaseSeconds: number;
  private readonly loop: PollLoop<RoundResult>;
  private stopped: Promise<void> | null = null;

  constructor(options: WebhookWorkerOptions) {
    this.log = options.logger.child({ component: "webhooks" });
    this.allowPrivate = options.allowPrivate ?? false;
    this.timeoutMs = checkOption("WebhookWorker", "timeoutMs", options.timeoutMs ?? 10_000, 100, 120_000);
    this.pollMs = checkOption("WebhookWorker", "pollMs", options.pollMs ?? 2_000, 10, 600_000);
    this.retryBaseMs = checkOption("WebhookWorker", "retryBaseMs", options.retryBaseMs ?? 30_000, 1, 3_600_000);
    this.retryMaxMs = checkOption("WebhookWorker", "retryMaxMs", options.retryMaxMs ?? 3_600_000, this.retryBaseMs, 86_400_000);
    this.concurrency = checkOption("WebhookWorker", "concurrency", options.concurrency ?? 4, 1, 100);
    this.leaseSeconds = checkOption("WebhookWorker", "leaseSeconds", options.leaseSeconds ?? Math.ceil(this.timeoutMs / 1000) + 30, 1, 3_600);
    if (this.leaseSeconds * 1000 <= this.timeoutMs) {
      throw new RangeError(
        `WebhookWorker: leaseSeconds (${this.leaseSeconds} s) must be longer than timeoutMs (${this.timeoutMs} ms), or a slow post could be claimed and sent twice`,
      );
    }
    this.pool = new pg.Pool({
      connectionString: options.connectionString,
      max: 2,
      idleTimeoutMillis: 30_000,
      // an unreachable database fails a round instead of holding it (and stop()) up
      connectionTimeoutMillis: 5_000,
      statement_timeout: 30_000,
      application_name: "audit-trail-webhooks",
    });
    // (Logged without the error object: pg attaches the whole client to it.)
    this.pool.on("error", (err: Error & { code?: string }) =>
      this.log.warn({ error: err.message, code: err.code }, "idle webhook connection failed"),
    );
    // A full round means more may be due: go on at once; otherwise wait.
    this.loop = new PollLoop({
      log: this.log, pollMs: this.pollMs, round: () => this.round(), again: (r) => r.claimed >= this.concurrency,
      worker: "webhook worker", claims: "deliveries",
    });
  }

  /** Polls now and then every pollMs (at once again while rounds come back full). */
  start(): void {
    if (this.stopped || !this.loop.start()) return;
    this.log.info(
      { allowPrivate: this.allowPrivate, timeoutMs: this.timeoutMs, pollMs: this.pollMs, concurrency: this.concurrency, leaseSeconds: this.leaseSeconds },
      "webhook delivery worker started",
    );
  }

  /**
   * One round: claims up to `concurrency` due deliveries, posts them at
   * once and records each outcome. Rejects only when the claim fails (the
   * database is unreachable); a failed finish is logged (the lease makes
   * the delivery due again).
   */
  runOnce(): Promise<RoundResult> {
    return this.loop.runOnce();
  }

  /** Stops polling, waits for the posts in flight (each bounded by the timeout) and their records, ends the pool. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      // Posts end by their deadline; recording them takes a connection timeout at worst.
      const running = await this.loop.stop(this.timeoutMs + 10_000);
      if (running > 0) this.log.warn({ rounds: running }, "stopped with webhook rounds still running");
      if (!this.pool.ending) await this.pool.end();
      this.log.info("webhook delivery worker stopped");
    })();
    return this.stopped;
  }

  private async round(): Promise<RoundResult> {
    const { rows } = await this.pool.query<ClaimedDelivery>(
      `select tenant_id, delivery_id::text as delivery_id, attempt, url, secret, event_id, event_type, body
         from audit_private.claim_webhook_deliveries($1, $2)`,
      [this.concurrency, this.leaseSeconds],
    );
    const result: RoundResult = { claimed: rows.length, delivered: 0, failed: 0, gaveUp: 0 };
    const statuses = await Promise.all(rows.map((d) => this.deliver(d)));
    for (const status of statuses) {
      if (status === "delivered") result.delivered++;
      else result.failed++;
      if (status === "failed") result.gaveUp++;
    }
    return result;
  }

  /** Posts one delivery and records the attempt; resolves with the delivery's new status ("unknown" when it could not be recorded). */
  private async deliver(d: ClaimedDelivery): Promise<string> {
    let post: PostResult;
    try {
      post = await safePost(d.url, d.body, { timeoutMs: this.timeoutMs, allowPrivate: this.allowPrivate, headers: deliveryHeaders(d) });
    } catch (err) {
      // safePost does not reject; should it ever, the attempt is still recorded
      post = { statusCode: null, error: `internal error: ${(err as Error)?.message ?? String(err)}`, durationMs: 0 };
    }
    const where = { deliveryId: d.delivery_id, tenantId: d.tenant_id, eventId: d.event_id, attempt: d.attempt, host: hostOf(d.url) };
    let status: string;
    try {
      const { rows } = await this.pool.query<{ status: string | null }>(
        "select audit_private.finish_webhook_attempt($1, $2, $3, $4, $5, $6, $7, $8) as status",
        [d.tenant_id, d.delivery_id, d.attempt, post.statusCode, post.error, post.durationMs, this.retryBaseMs, this.retryMaxMs],
      );
      status = rows[0]?.status ?? "deleted"; // the endpoint was deleted meanwhile
    } catch (err) {
      this.log.error(
        { ...where, statusCode: post.statusCode, ...errorFields(err) },
        "could not record a webhook attempt; the delivery is due again when its lease runs out",
      );
      return "unknown";
    }
    const outcome = { ...where, statusCode: post.statusCode, durationMs: post.durationMs, status };
    if (post.error === null && post.statusCode !== null && post.statusCode >= 200 && post.statusCode < 300) {
      this.log.info(outcome, "webhook delivered");
    } else if (status === "failed") {
      this.log.warn({ ...outcome, error: post.error }, "webhook delivery failed; giving up (past its 24 hours)");
    } else {
      this.log.warn({ ...outcome, error: post.error }, "webhook attempt failed; will retry");
    }
    return status;
  }
}
