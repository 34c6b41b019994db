// The Log streams view's GraphQL operations: the tenant's streams with their
// status (at most 20, oldest first, returned whole), creating one (an https
// stream's signing secret comes back this once), changing one, pausing,
// resuming, replaying and deleting; and what the create form offers to filter on (the
// accounts the log knows by name). Tenant admins only: the API refuses the
// rest.
import { graphql } from "./api.ts";

export const STREAM_KINDS = ["https", "splunk", "datadog", "elastic", "file"] as const;
export type StreamKind = (typeof STREAM_KINDS)[number];

export const STREAM_FORMATS = ["entry", "ocsf"] as const;
export type StreamFormat = (typeof STREAM_FORMATS)[number];

export type StreamState = "paused" | "failing" | "catching_up" | "live";

/** A tenant has at most this many streams (createLogStream refuses more). */
export const MAX_STREAMS = 20;

export interface LogStreamStatus {
  state: StreamState | string | null;
  /** A bigint, as a string; counted up to 1,000,000 (pendingCapped beyond). */
  pendingEntries: string | null;
  pendingCapped: boolean | null;
  /** Seconds since the oldest waiting entry happened (a BigFloat, as a string); "0" when nothing waits. */
  lagSeconds: string | null;
  oldestPendingAt: string | null;
  positionTransactionId: string | null;
  positionEntryId: string | null;
  horizon: string | null;
}

export interface LogStream {
  id: string;
  name: string;
  kind: StreamKind | string;
  /** The destination's settings (never its secret): url, index, site, rotate… */
  settings: Record<string, unknown>;
  format: StreamFormat | string;
  resourceTypes: string[] | null;
  actions: string[] | null;
  accountIds: string[] | null;
  /** False: paused. */
  enabled: boolean;
  batchSize: number;
  /** A bigint, as a string. */
  deliveredEntries: string;
  lastDeliveredEntryId: string | null;
  lastDeliveredOccurredAt: string | null;
  lastDeliveredAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  lastStatusCode: number | null;
  /** Failed deliveries since the last success: 0 when healthy. */
  failures: number;
  nextAttemptAt: string;
  replayedFrom: string | null;
  replayedAt: string | null;
  createdAt: string;
  updatedAt: string;
  createdBy: string | null;
  status: LogStreamStatus | null;
}

/** What createLogStream returns: for an https stream, its signing secret, the only time it is shown. */
export interface CreatedLogStream {
  id: string;
  name: string;
  kind: string;
  format: string;
  settings: Record<string, unknown>;
  enabled: boolean;
  createdAt: string;
  secret: string | null;
}

/** createLogStream's input, as the form sends it (left out: the API's default). */
export interface CreateLogStreamInput {
  name: string;
  kind: StreamKind;
  settings: Record<string, unknown>;
  /** The vendor's token or API key; never for https (generated) or file. */
  secret?: string;
  format?: StreamFormat;
  resourceTypes?: string[];
  actions?: string[];
  accountIds?: string[];
  /** null or absent: from now on; else the log from this time on is delivered too. */
  startFrom?: string | null;
  batchSize?: number;
}

/**
 * updateLogStream's input: what is left out keeps its value. Settings
 * replace the old ones whole; an empty filter list removes that filter; the
 * kind cannot change.
 */
export interface UpdateLogStreamInput {
  id: string;
  name?: string;
  settings?: Record<string, unknown>;
  /** A new token or API key of a vendor kind (the API refuses one for https and file). */
  secret?: string;
  format?: StreamFormat;
  resourceTypes?: string[];
  actions?: string[];
  accountIds?: string[];
  batchSize?: number;
}

const STREAM_FIELDS = `
  id name kind settings format resourceTypes actions accountIds enabled batchSize
  deliveredEntries lastDeliveredEntryId lastDeliveredOccurredAt lastDeliveredAt
  lastError lastErrorAt lastStatusCode failures nextAttemptAt replayedFrom replayedAt
  createdAt updatedAt createdBy
  status { state pendingEntries pendingCapped lagSeconds oldestPendingAt positionTransactionId positionEntryId horizon }`;

export async function fetchLogStreams(token: string, signal?: AbortSignal): Promise<LogStream[]> {
  const data = await graphql<{ logStreams: LogStream[] | null }>(
    `query LogStreams { logStreams { ${STREAM_FIELDS} } }`, {}, token, signal,
  );
  return data.logStreams ?? [];
}

export async function createLogStream(token: string, input: CreateLogStreamInput): Promise<CreatedLogStream> {
  const data = await graphql<{ createLogStream: { logStream: CreatedLogStream } }>(
    `mutation CreateLogStream($input: CreateLogStreamInput!) {
      createLogStream(input: $input) { logStream { id name kind format settings enabled createdAt secret } }
    }`,
    { input }, token,
  );
  return data.createLogStream.logStream;
}

/** Returns the stream as changed (the API records log_stream.updated with what changed). */
export async function updateLogStream(token: string, input: UpdateLogStreamInput): Promise<LogStream> {
  const data = await graphql<{ updateLogStream: { logStream: LogStream } }>(
    `mutation UpdateLogStream($input: UpdateLogStreamInput!) {
      updateLogStream(input: $input) { logStream { ${STREAM_FIELDS} } }
    }`,
    { input }, token,
  );
  return data.updateLogStream.logStream;
}

/** pauseLogStream, resumeLogStream and deleteLogStream: one stream by id, the stream back. */
async function streamMutation(mutation: "pauseLogStream" | "resumeLogStream" | "deleteLogStream", token: string, id: string): Promise<LogStream> {
  const operation = `${mutation.charAt(0).toUpperCase()}${mutation.slice(1)}`;
  const data = await graphql<Record<string, { logStream: LogStream }>>(
    `mutation ${operation}($input: ${operation}Input!) {
      ${mutation}(input: $input) { logStream { ${STREAM_FIELDS} } }
    }`,
    { input: { id } }, token,
  );
  return data[mutation]!.logStream;
}

export const pauseLogStream = (token: string, id: string) => streamMutation("pauseLogStream", token, id);
export const resumeLogStream = (token: string, id: string) => streamMutation("resumeLogStream", token, id);
/** Returns what was deleted (its status is gone with it). */
export const deleteLogStream = (token: string, id: string) => streamMutation("deleteLogStream", token, id);

/** Sends the stream back to the first transaction that wrote an entry at or after `fromTime` (an ISO instant). */
export async function replayLogStream(token: string, id: string, fromTime: string): Promise<LogStream> {
  const data = await graphql<{ replayLogStream: { logStream: LogStream } }>(
    `mutation ReplayLogStream($input: ReplayLogStreamInput!) {
      replayLogStream(input: $input) { logStream { ${STREAM_FIELDS} } }
    }`,
    { input: { id, fromTime } }, token,
  );
  return data.replayLogStream.logStream;
}

export interface KnownAccount {
  id: string;
  name: string;
}

/**
 * The tenant's accounts as the log knows them (their own entries, newest
 * first: the current name; an account whose newest entry is its deletion is
 * left out), by name. The API has no list of accounts; this is the same
 * source as the page's account names (queries.ts: fetchAccountNames).
 */
export async function fetchKnownAccounts(token: string, signal?: AbortSignal): Promise<KnownAccount[]> {
  const data = await graphql<{ auditLogs: { nodes: { entityId: string; action: string; oldValues: Record<string, unknown> | null; newValues: Record<string, unknown> | null }[] } }>(
    `query StreamAccounts($filter: AuditLogFilter) {
      auditLogs(filter: $filter, first: 500, orderBy: [OCCURRED_AT_DESC]) { nodes { entityId action oldValues newValues } }
    }`,
    { filter: { resourceType: { equalTo: "account" } } }, token, signal,
  );
  const seen = new Map<string, string | null>();
  for (const n of data.auditLogs.nodes) {
    if (seen.has(n.entityId)) continue;
    const name = n.newValues?.name ?? n.oldValues?.name;
    seen.set(n.entityId, n.action === "delete" || typeof name !== "string" ? null : name);
  }
  return [...seen].filter((e): e is [string, string] => e[1] !== null)
    .map(([id, name]) => ({ id, name }))
    .sort((a, b) => a.name.localeCompare(b.name));
}
