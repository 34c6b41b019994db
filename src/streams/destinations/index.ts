// How a batch leaves: the destination of a stream's kind, and the document
// every kind writes for an entry in the stream's format.
//
// - https:   JSON Lines, signed like webhooks (https.ts)
// - splunk:  HEC events (splunk.ts)
// - datadog: the logs intake (datadog.ts)
// - elastic: _bulk create, de-duplicated by entry id (elastic.ts)
// - file:    JSON Lines files for a collector (file-sink.ts)
//
// Every HTTP kind posts through safePost (SSRF-checked, as webhooks are) and
// reports an outcome, never a throw, whose error names neither the secret
// nor the URL's path or query.
import { jsonLine } from "../../server/routes/export-file.ts";
import { ocsfEvent } from "../ocsf.ts";
import type { Destination, DestinationOptions, StreamEntry, StreamFormat, StreamTarget } from "../stream-types.ts";
import { datadogDestination } from "./datadog.ts";
import { elasticDestination } from "./elastic.ts";
import { fileSink } from "./file-sink.ts";
import { httpsDestination, refused, type DocumentOf } from "./https.ts";
import { splunkDestination } from "./splunk.ts";

/**
 * One entry as a stream writes it, a JSON text on one line:
 * - entry: the export's JSON Lines entry (jsonLine, the API's fields, the
 *   jsonb columns as PostgreSQL's text: 1.50 stays 1.50), without its line feed;
 * - ocsf: the OCSF event (ocsf.ts).
 */
export function streamDocument(row: StreamEntry, format: StreamFormat): string {
  return format === "ocsf" ? JSON.stringify(ocsfEvent(row)) : jsonLine(row).slice(0, -1);
}

/** The destination of the stream's kind; an unknown kind gets one whose every delivery fails. */
export function openDestination(target: StreamTarget, options: DestinationOptions): Destination {
  const documentOf: DocumentOf = (row) => streamDocument(row, target.format);
  switch (target.kind) {
    case "https":
      return httpsDestination(target, options, documentOf);
    case "splunk":
      return splunkDestination(target, options, documentOf);
    case "datadog":
      return datadogDestination(target, options, documentOf);
    case "elastic":
      return elasticDestination(target, options, documentOf);
    case "file":
      return fileSink(target, options, documentOf);
    default: {
      const kind: string = target.kind;
      return { deliver: async () => refused(`unknown stream kind ${JSON.stringify(kind)}`), close: async () => {} };
    }
  }
}
