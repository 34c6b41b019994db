// What a log stream is to the delivery side: where it goes (its kind, the
// kind's settings and secret), in which format, and what one delivery
// attempt ends in. The configuration itself lives in audit.log_streams
// (db/schema/log-streams.sql); the worker (stream-worker.ts) reads batches of
// the log and hands them to a Destination (destinations/).
import type { ExportRow } from "../server/routes/export-file.ts";

/** Where a stream delivers: a generic HTTPS endpoint, a vendor preset, or files for a collector. */
export type StreamKind = "https" | "splunk" | "datadog" | "elastic" | "file";
export const STREAM_KINDS: readonly StreamKind[] = ["https", "splunk", "datadog", "elastic", "file"];

/** How each entry is written: as the API shows it, or as an OCSF event (ocsf.ts). */
export type StreamFormat = "entry" | "ocsf";
export const STREAM_FORMATS: readonly StreamFormat[] = ["entry", "ocsf"];

/** One entry as the stream reads it: the export's row (the API's fields, jsonb as PostgreSQL's text). */
export type StreamEntry = ExportRow;

/** A stream as the worker delivers it. */
export interface StreamTarget {
  tenantId: string;
  streamId: string;
  kind: StreamKind;
  /**
   * The kind's settings, as stored (validated by the database when the
   * stream was configured):
   * - https:   { url }
   * - splunk:  { url, index?, source?, sourcetype? }   url: the HEC event endpoint, e.g. https://splunk:8088/services/collector/event
   * - datadog: { url, service?, tags? }                url: the logs intake, e.g. https://http-intake.logs.datadoghq.com/api/v2/logs
   * - elastic: { url, index }                          url: the cluster's base URL, e.g. https://es.example.com:9200
   * - file:    { rotate: "hour" | "size", max_bytes }  files under STREAM_FILE_ROOT/<tenant>/<stream>/
   */
  settings: Record<string, unknown>;
  /** https: the signing secret (whsec_…); splunk: the HEC token; datadog: the API key; elastic: the API key (base64 id:key); file: null. */
  secret: string | null;
  format: StreamFormat;
}

export type DeliveryOutcome =
  | { ok: true; durationMs: number }
  | {
      ok: false;
      /** The receiver's HTTP status; null when none came. */
      statusCode: number | null;
      /** Why, for the stream's status (never the secret, never a URL's path or query). */
      error: string;
      durationMs: number;
      /** The receiver refused the batch for its size (HTTP 413): the worker retries with smaller batches. */
      tooLarge?: boolean;
    };

/** One stream's way out. deliver() never throws: every failure is an outcome. */
export interface Destination {
  /** Delivers the entries (1 or more, in the stream's order) as one batch; ok only when the receiver has all of them. */
  deliver(entries: readonly StreamEntry[]): Promise<DeliveryOutcome>;
  /** Releases what the destination holds (an open file). */
  close(): Promise<void>;
}

export interface DestinationOptions {
  /** Allow private, loopback and link-local addresses, and http (WEBHOOK_ALLOW_PRIVATE). */
  allowPrivate: boolean;
  /** Deadline of one delivery, in milliseconds (STREAM_TIMEOUT_MS). */
  timeoutMs: number;
  /** The file sink's root folder (STREAM_FILE_ROOT); null: file streams cannot deliver. */
  fileRoot: string | null;
}
