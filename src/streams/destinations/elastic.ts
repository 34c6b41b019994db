// Elasticsearch (and OpenSearch) through the _bulk API: one POST to
// `${settings.url}/_bulk` of NDJSON, two lines per entry:
//
//   {"create":{"_index":<settings.index>,"_id":<entry id>}}
//   <document>
//
// with Authorization: ApiKey <key>. `create` with the entry's id as _id makes
// the cluster de-duplicate a redelivered entry (at-least-once delivery
// resends a batch whose answer was lost): its item fails with 409
// version_conflict_engine_exception, which here means "already there" and
// counts as delivered. `create` is also the only operation a data stream
// takes.
//
// _bulk answers 200 even when entries were refused: the body says so
// ({"errors":true,"items":[…]}), so it is read (readBody) and the batch is
// delivered only when every item is 2xx or 409. A body that is not a _bulk
// answer is a failure.
import { safePost } from "../../server/webhooks/safe-post.ts";
import type { Destination, DestinationOptions, StreamEntry, StreamTarget } from "../stream-types.ts";
import { bodyFailure, postOptions, postOutcome, redactor, refused, urlSetting, type DocumentOf } from "./https.ts";

/** How much of a _bulk answer is read: about 200 bytes per item, so batches of tens of thousands of entries. */
const MAX_BULK_RESPONSE_BYTES = 16 * 1024 * 1024;

/** `${base}/_bulk`, with or without a trailing slash on the base; the text as given when it is not a URL (safePost says why). */
export function bulkUrl(base: string): string {
  try {
    const url = new URL(base);
    url.pathname = `${url.pathname.replace(/\/+$/, "")}/_bulk`;
    return url.toString();
  } catch {
    return `${base.replace(/\/+$/, "")}/_bulk`;
  }
}

interface BulkItem {
  status?: unknown;
  _id?: unknown;
  error?: { type?: unknown; reason?: unknown } | unknown;
}

/** Why a _bulk answer does not deliver the batch, or null when it does. */
export function bulkFailure(body: string, expected: number): string | null {
  let answer: { errors?: unknown; items?: unknown };
  try {
    answer = JSON.parse(body);
  } catch {
    return `the _bulk answer is not JSON (${body.length >= MAX_BULK_RESPONSE_BYTES ? "longer than we read" : "not an Elasticsearch answer?"})`;
  }
  if (typeof answer !== "object" || answer === null || typeof answer.errors !== "boolean") return "the _bulk answer has no `errors` flag (not an Elasticsearch answer?)";
  if (answer.errors === false) return null;
  const items = Array.isArray(answer.items) ? answer.items.map((i: unknown) => (typeof i === "object" && i !== null ? (Object.values(i)[0] as BulkItem) : undefined)) : [];
  if (items.length !== expected) return `the _bulk answer has ${items.length} items for ${expected} entries`;
  const failed = items.filter((item) => {
    const status = typeof item?.status === "number" ? item.status : 0;
    return !(status >= 200 && status < 300) && status !== 409;
  });
  const first = failed[0];
  if (!first) return null; // only duplicates: already delivered
  const error = (typeof first.error === "object" && first.error !== null ? first.error : {}) as { type?: unknown; reason?: unknown };
  const what = [error.type, error.reason].filter((x): x is string => typeof x === "string").join(": ").slice(0, 500) || "no reason given";
  return `Elasticsearch refused ${failed.length} of ${expected} entries; the first (entry ${String(first._id)}, status ${String(first.status)}): ${what}`;
}

export function elasticDestination(target: StreamTarget, options: DestinationOptions, documentOf: DocumentOf): Destination {
  const index = typeof target.settings.index === "string" ? target.settings.index : "";
  const action = (row: StreamEntry) => `{"create":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(row.id)}}}\n${documentOf(row)}\n`;

  return {
    async deliver(entries) {
      const base = urlSetting(target);
      if (base === null) return refused("the stream has no cluster URL");
      if (index === "") return refused("the stream has no index");
      if (!target.secret) return refused("the stream has no Elasticsearch API key");
      if (entries.length === 0) return { ok: true, durationMs: 0 };
      const url = bulkUrl(base);
      const redact = redactor(target.secret, url);
      const post = await safePost(
        url,
        entries.map(action).join(""),
        postOptions(options, {
          contentType: "application/x-ndjson",
          headers: { Authorization: `ApiKey ${target.secret}` },
          readBody: true,
          maxResponseBytes: MAX_BULK_RESPONSE_BYTES,
        }),
      );
      if (post.error !== null) return postOutcome(post, redact);
      const failure = bulkFailure(post.body ?? "", entries.length);
      return failure === null ? postOutcome(post, redact) : bodyFailure(post, failure, redact);
    },
    async close() {},
  };
}
