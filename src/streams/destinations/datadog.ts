// Datadog's logs intake (v2, settings.url, e.g.
// https://http-intake.logs.datadoghq.com/api/v2/logs): a JSON array of logs,
// one per entry,
//
//   {"ddsource":"audit-trail","ddtags":"tenant_id:…,event:…,action:…,resource_type:…,<settings.tags>",
//    "service":"audit-trail","message":<description>,"date":<epoch ms>,"audit":<document>}
//
// with DD-API-KEY: <key>. The document is spliced in as the stream's format
// writes it (jsonb byte for byte). No hostname: the entry did not happen on
// our host. Datadog answers 202 "{}".
//
// The intake takes at most 1,000 logs and 5 MB (uncompressed) per request:
// a larger batch goes as several requests, in order, one after the other,
// and is delivered only when every one was (a failure stops there; the
// worker's retry of the batch sends the earlier parts again: at least once).
// A single log over 1 MB is accepted and truncated by Datadog (its rule);
// one over 5 MB gets the intake's 413 (tooLarge).
import { safePost } from "../../server/webhooks/safe-post.ts";
import type { DeliveryOutcome, Destination, DestinationOptions, StreamEntry, StreamTarget } from "../stream-types.ts";
import { postOptions, postOutcome, redactor, refused, urlSetting, type DocumentOf } from "./https.ts";

/** Logs per request. */
export const DATADOG_MAX_LOGS = 1_000;
/** Bytes per request (5 MB, counted in decimal megabytes to stay under either reading). */
export const DATADOG_MAX_BYTES = 5_000_000;

/** settings.tags: "env:prod,team:sec" or ["env:prod", "team:sec"]. */
function configuredTags(value: unknown): string[] {
  const list = typeof value === "string" ? value.split(",") : Array.isArray(value) ? value.filter((t): t is string => typeof t === "string") : [];
  return list.map(tagText).filter((t) => t !== "");
}

/** A tag without the commas that would split it. */
function tagText(tag: string): string {
  return tag.trim().replace(/,/g, "_");
}

/** The requests of a batch: JSON arrays of at most DATADOG_MAX_LOGS logs and DATADOG_MAX_BYTES bytes (a larger log alone). */
export function datadogBodies(logs: readonly string[]): { body: string; from: number; count: number }[] {
  const bodies: { body: string; from: number; count: number }[] = [];
  let part: string[] = [];
  let bytes = 2; // the brackets
  const flush = () => {
    if (part.length > 0) bodies.push({ body: `[${part.join(",")}]`, from: bodies.reduce((n, b) => n + b.count, 0), count: part.length });
    part = [];
    bytes = 2;
  };
  for (const log of logs) {
    const size = Buffer.byteLength(log);
    if (part.length > 0 && (part.length >= DATADOG_MAX_LOGS || bytes + 1 + size > DATADOG_MAX_BYTES)) flush();
    bytes += (part.length > 0 ? 1 : 0) + size;
    part.push(log);
  }
  flush();
  return bodies;
}

export function datadogDestination(target: StreamTarget, options: DestinationOptions, documentOf: DocumentOf): Destination {
  const service = JSON.stringify(typeof target.settings.service === "string" && target.settings.service !== "" ? target.settings.service : "audit-trail");
  const extraTags = configuredTags(target.settings.tags);
  const log = (row: StreamEntry) => {
    const tags = [`tenant_id:${row.tenantId}`, `event:${row.event}`, `action:${row.action}`, `resource_type:${row.resourceType}`].map(tagText).concat(extraTags);
    return (
      `{"ddsource":"audit-trail","ddtags":${JSON.stringify(tags.join(","))},"service":${service},` +
      `"message":${JSON.stringify(row.description)},"date":${Date.parse(row.occurredAt)},"audit":${documentOf(row)}}`
    );
  };

  return {
    async deliver(entries) {
      const url = urlSetting(target);
      if (url === null) return refused("the stream has no intake URL");
      if (!target.secret) return refused("the stream has no Datadog API key");
      const redact = redactor(target.secret, url);
      const bodies = datadogBodies(entries.map(log));
      let durationMs = 0;
      for (const [i, part] of bodies.entries()) {
        const post = await safePost(url, part.body, postOptions(options, { headers: { "DD-API-KEY": target.secret } }));
        durationMs += post.durationMs;
        const outcome = postOutcome(post, redact);
        if (!outcome.ok) {
          const which = bodies.length > 1 ? `request ${i + 1} of ${bodies.length} (entries ${part.from + 1}-${part.from + part.count} of ${entries.length}): ` : "";
          return { ...outcome, error: `${which}${outcome.error}`, durationMs } satisfies DeliveryOutcome;
        }
      }
      return { ok: true, durationMs };
    },
    async close() {},
  };
}
