// Splunk's HTTP Event Collector (HEC): the batch is one POST to the event
// endpoint (settings.url, e.g. https://splunk:8088/services/collector/event)
// of HEC event objects, one per entry, separated by line feeds:
//
//   {"time":1704164645.123,"source":"audit-trail","sourcetype":"audit-trail:entry","index":"audit","event":<document>}
//
// `time` is the entry's occurredAt in epoch seconds with milliseconds (HEC's
// resolution), written exactly from the text; `index` only when configured
// (else the token's default index). The document is spliced in as the
// stream's format writes it, so an entry's jsonb stays byte for byte.
// Authorization: Splunk <token>. HEC answers 200 {"text":"Success","code":0};
// a 2xx with another code (HEC's failures are 4xx, but a proxy or a future
// version may differ) is a failure.
import { safePost } from "../../server/webhooks/safe-post.ts";
import type { Destination, DestinationOptions, StreamEntry, StreamTarget } from "../stream-types.ts";
import { bodyFailure, postOptions, postOutcome, redactor, refused, urlSetting, type DocumentOf } from "./https.ts";

/** HEC's `time`: epoch seconds with a 3-digit millisecond fraction, from the ISO text (microseconds cut, not rounded). */
export function hecTime(occurredAt: string): string {
  const ms = Date.parse(occurredAt);
  if (!Number.isFinite(ms)) return "0";
  const seconds = Math.floor(ms / 1000);
  return `${seconds}.${String(ms - seconds * 1000).padStart(3, "0")}`;
}

function stringSetting(target: StreamTarget, key: string): string | undefined {
  const value = target.settings[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

export function splunkDestination(target: StreamTarget, options: DestinationOptions, documentOf: DocumentOf): Destination {
  const source = JSON.stringify(stringSetting(target, "source") ?? "audit-trail");
  const sourcetype = JSON.stringify(stringSetting(target, "sourcetype") ?? (target.format === "ocsf" ? "audit-trail:ocsf" : "audit-trail:entry"));
  const index = stringSetting(target, "index");
  const indexMember = index === undefined ? "" : `,"index":${JSON.stringify(index)}`;
  const hecEvent = (row: StreamEntry) =>
    `{"time":${hecTime(row.occurredAt)},"source":${source},"sourcetype":${sourcetype}${indexMember},"event":${documentOf(row)}}`;

  return {
    async deliver(entries) {
      const url = urlSetting(target);
      if (url === null) return refused("the stream has no HEC URL");
      if (!target.secret) return refused("the stream has no HEC token");
      if (entries.length === 0) return { ok: true, durationMs: 0 };
      const redact = redactor(target.secret, url);
      const post = await safePost(
        url,
        entries.map(hecEvent).join("\n"),
        postOptions(options, { headers: { Authorization: `Splunk ${target.secret}` }, readBody: true }),
      );
      if (post.error !== null) return postOutcome(post, redact);
      let answer: unknown;
      try {
        answer = JSON.parse(post.body ?? "");
      } catch {
        return postOutcome(post, redact); // a 2xx without HEC's JSON (a proxy's page): HTTP says delivered
      }
      const { code, text } = (typeof answer === "object" && answer !== null ? answer : {}) as { code?: unknown; text?: unknown };
      if (typeof code === "number" && code !== 0) {
        return bodyFailure(post, `Splunk HEC answered HTTP ${post.statusCode} with code ${code}${typeof text === "string" ? `: ${text.slice(0, 300)}` : ""}`, redact);
      }
      return postOutcome(post, redact);
    },
    async close() {},
  };
}
