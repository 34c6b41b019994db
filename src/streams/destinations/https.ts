// The generic HTTPS destination: each batch is one POST of JSON Lines (one
// stream document per line), signed like a webhook, so that any receiver can
// check it came from us (Audit-Trail-Signature: HMAC-SHA256 of the body with
// the stream's secret, signature.ts) and de-duplicate a redelivered batch by
// its ids. 2xx = delivered.
//
// Also what every HTTP destination shares: the transport is safePost (the
// webhooks' SSRF-checked POST: private addresses refused unless
// allowPrivate, no redirects, one deadline), and its result becomes a
// DeliveryOutcome whose error text never carries the secret nor the URL's
// path or query.
import { safePost, type PostResult, type SafePostOptions } from "../../server/webhooks/safe-post.ts";
import { signWebhook, SIGNATURE_HEADER } from "../../server/webhooks/signature.ts";
import type { DeliveryOutcome, Destination, DestinationOptions, StreamEntry, StreamTarget } from "../stream-types.ts";

/** One entry as the stream's format writes it (index.ts: streamDocument). */
export type DocumentOf = (row: StreamEntry) => string;

export const STREAMS_USER_AGENT = "Audit-Trail-Streams/1";

export const STREAM_ID_HEADER = "Audit-Trail-Stream-Id";
export const BATCH_FIRST_ID_HEADER = "Audit-Trail-Batch-First-Id";
export const BATCH_LAST_ID_HEADER = "Audit-Trail-Batch-Last-Id";
export const BATCH_COUNT_HEADER = "Audit-Trail-Batch-Count";

/** A failure found before anything was sent (a missing setting). */
export function refused(error: string): DeliveryOutcome {
  return { ok: false, statusCode: null, error, durationMs: 0 };
}

/** The stream's URL setting, or null when there is none. */
export function urlSetting(target: StreamTarget, key = "url"): string | null {
  const url = target.settings[key];
  return typeof url === "string" && url !== "" ? url : null;
}

/**
 * Makes a text safe for the stream's status: the secret, and the URL's path
 * and query (which often carry tokens), replaced; a redirect's Location
 * reduced to its origin.
 */
export function redactor(secret: string | null, rawUrl: string): (text: string) => string {
  const hidden: string[] = [];
  if (secret) hidden.push(secret);
  try {
    const url = new URL(rawUrl);
    const pathAndQuery = `${url.pathname}${url.search}`;
    if (pathAndQuery.length > 1) hidden.push(pathAndQuery);
    if (url.search.length > 1) hidden.push(url.search);
  } catch {
    // not a URL: safePost says so without quoting it
  }
  return (text) => {
    let out = text.replace(/\(Location: ([^)]*)\)$/, (_match, location: string) => {
      try {
        return `(Location: ${new URL(location, rawUrl).origin}/…)`;
      } catch {
        return "(Location: …)";
      }
    });
    for (const h of hidden) out = out.split(h).join("[redacted]");
    return out;
  };
}

/** A post's result as an outcome: a 2xx is delivered; 413 says the batch was too large. */
export function postOutcome(post: PostResult, redact: (text: string) => string): DeliveryOutcome {
  if (post.error === null) return { ok: true, durationMs: post.durationMs };
  const outcome: DeliveryOutcome = { ok: false, statusCode: post.statusCode, error: redact(post.error), durationMs: post.durationMs };
  if (post.statusCode === 413) outcome.tooLarge = true;
  return outcome;
}

/** A 2xx whose body says the receiver did not take the batch. */
export function bodyFailure(post: PostResult, error: string, redact: (text: string) => string): DeliveryOutcome {
  return { ok: false, statusCode: post.statusCode, error: redact(error), durationMs: post.durationMs };
}

/** safePost's options for a stream: the deadline, the address policy, our User-Agent. */
export function postOptions(options: DestinationOptions, extra: Partial<SafePostOptions>): SafePostOptions {
  return { timeoutMs: options.timeoutMs, allowPrivate: options.allowPrivate, userAgent: STREAMS_USER_AGENT, ...extra };
}

/** The JSON Lines body of a batch: one document per line, each ending with a line feed. */
export function jsonLines(entries: readonly StreamEntry[], documentOf: DocumentOf): string {
  return entries.map((e) => `${documentOf(e)}\n`).join("");
}

export function httpsDestination(target: StreamTarget, options: DestinationOptions, documentOf: DocumentOf): Destination {
  return {
    async deliver(entries) {
      const url = urlSetting(target);
      if (url === null) return refused("the stream has no URL");
      if (!target.secret) return refused("the stream has no signing secret");
      const first = entries[0];
      const last = entries[entries.length - 1];
      if (!first || !last) return { ok: true, durationMs: 0 };
      const body = jsonLines(entries, documentOf);
      const post = await safePost(
        url,
        body,
        postOptions(options, {
          contentType: "application/x-ndjson",
          headers: {
            [SIGNATURE_HEADER]: signWebhook(target.secret, body),
            [STREAM_ID_HEADER]: target.streamId,
            [BATCH_FIRST_ID_HEADER]: first.id,
            [BATCH_LAST_ID_HEADER]: last.id,
            [BATCH_COUNT_HEADER]: String(entries.length),
          },
        }),
      );
      return postOutcome(post, redactor(target.secret, url));
    },
    async close() {},
  };
}
