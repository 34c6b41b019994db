// The GraphQL operations of the page, with the shapes they return.
import type { AuditEntry } from "../shared/entry.ts";
import { graphql } from "./api.ts";
import type { ActivityCountsArgs } from "./filter-state.ts";

export interface CatalogueEvent {
  event: string;
  action: string;
  resourceType: string;
  description: string;
  /** Who writes it: trigger, application or access (event-kinds.ts). */
  kind?: string;
}

/** An entry as the list reads it: the API's fields and the entity's recorded name. */
export type ListedEntry = AuditEntry & {
  /** The entity's name when the entry was written (a snapshot); null when it has none. */
  entityLabel: string | null;
};

export interface Page {
  entries: ListedEntry[];
  hasNextPage: boolean;
  endCursor: string | null;
}

export interface Actor {
  actorId: string;
  actorType: string;
  actorEmail: string | null;
  actorName: string | null;
  count: number;
}

export interface Bucket {
  /** Start of the bucket (UTC), ISO. */
  start: string;
  resourceType: string;
  count: number;
}

export type BucketSize = "day" | "hour";

const ENTRY_FIELDS = `
  id occurredAt tenantId accountId actorType actorId actorEmail actorName
  action resourceType entityId entityLabel event description oldValues newValues context transactionId`;

export const PAGE_SIZE = 50;

export async function fetchCatalogue(token: string, signal?: AbortSignal): Promise<CatalogueEvent[]> {
  const data = await graphql<{ auditEvents: CatalogueEvent[] }>(
    `query Catalogue { auditEvents { event action resourceType description kind } }`,
    {}, token, signal,
  );
  return data.auditEvents;
}

export async function fetchPage(token: string, filter: Record<string, unknown>, after: string | null, signal?: AbortSignal): Promise<Page> {
  const data = await graphql<{ auditLogs: { nodes: ListedEntry[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } } }>(
    `query AuditLogPage($filter: AuditLogFilter, $first: Int!, $after: Cursor) {
      auditLogs(filter: $filter, first: $first, after: $after, orderBy: [OCCURRED_AT_DESC]) {
        nodes { ${ENTRY_FIELDS} }
        pageInfo { hasNextPage endCursor }
      }
    }`,
    { filter, first: PAGE_SIZE, after }, token, signal,
  );
  return { entries: data.auditLogs.nodes, hasNextPage: data.auditLogs.pageInfo.hasNextPage, endCursor: data.auditLogs.pageInfo.endCursor };
}

/** How many entries match: exactly `count`, or more than `count` when `isCapped` ("10,000+"). */
export interface MatchCount {
  count: number;
  isCapped: boolean;
}

/**
 * The API's capped count (up to 10,000, its default cap), never the exact
 * totalCount, which would count every match of a large log. Asks for no
 * rows (`first: 0`): the list's pages come separately.
 */
export async function fetchMatchCount(token: string, filter: Record<string, unknown>, signal?: AbortSignal): Promise<MatchCount> {
  const data = await graphql<{ auditLogs: { cappedCount: MatchCount } }>(
    `query AuditLogCount($filter: AuditLogFilter) { auditLogs(filter: $filter, first: 0) { cappedCount { count isCapped } } }`,
    { filter }, token, signal,
  );
  return data.auditLogs.cappedCount;
}

/** Normalises a PostgreSQL timestamp text ("2026-03-04 00:00:00+00") to ISO. */
export function keyToIso(key: string): string {
  const ms = Date.parse(key.includes("T") ? key : key.replace(" ", "T").replace(/([+-]\d\d)$/, "$1:00"));
  return Number.isNaN(ms) ? key : new Date(ms).toISOString();
}

export async function fetchActivity(token: string, filter: Record<string, unknown>, size: BucketSize, signal?: AbortSignal): Promise<Bucket[]> {
  const groupBy = size === "day" ? "OCCURRED_AT_TRUNCATED_TO_DAY" : "OCCURRED_AT_TRUNCATED_TO_HOUR";
  const data = await graphql<{ auditLogs: { groupedAggregates: { keys: string[]; count: string }[] } }>(
    `query AuditLogActivity($filter: AuditLogFilter) {
      auditLogs(filter: $filter) {
        groupedAggregates(groupBy: [${groupBy}, RESOURCE_TYPE]) { keys count }
      }
    }`,
    { filter }, token, signal,
  );
  return data.auditLogs.groupedAggregates.map((g) => ({
    start: keyToIso(g.keys[0] ?? ""),
    resourceType: g.keys[1] ?? "",
    count: Number(g.count),
  }));
}

const activityCounts = (operation: "ActivityChart" | "ActivityTotal") => `query ${operation}($fromTime: Datetime!, $toTime: Datetime, $bucket: String, $resourceTypes: [String],
    $actions: [String], $events: [String], $actorIds: [UUID], $byKind: Boolean) {
  activityCounts(fromTime: $fromTime, toTime: $toTime, bucket: $bucket, resourceTypes: $resourceTypes, actions: $actions,
                 events: $events, actorIds: $actorIds, byKind: $byKind) { periodStart resourceType entries }
}`;

type ActivityCountRow = { periodStart: string | null; resourceType: string | null; entries: string };

/** The chart's buckets from `activityCounts` (rollups where they answer): per period and resource type. */
export async function fetchActivityCounts(token: string, args: ActivityCountsArgs, size: BucketSize, signal?: AbortSignal): Promise<Bucket[]> {
  const data = await graphql<{ activityCounts: ActivityCountRow[] }>(activityCounts("ActivityChart"), { ...args, bucket: size, byKind: true }, token, signal);
  // One row per period, resource type, action and event: summed per resource type.
  const byKey = new Map<string, Bucket>();
  for (const row of data.activityCounts) {
    const start = new Date(row.periodStart ?? 0).toISOString();
    const resourceType = row.resourceType ?? "";
    const key = `${start}|${resourceType}`;
    const bucket = byKey.get(key);
    if (bucket) bucket.count += Number(row.entries);
    else byKey.set(key, { start, resourceType, count: Number(row.entries) });
  }
  return [...byKey.values()];
}

/** An exact count from `activityCounts`: never capped, whatever the size of the log. */
export async function fetchActivityTotal(token: string, args: ActivityCountsArgs, signal?: AbortSignal): Promise<MatchCount> {
  const data = await graphql<{ activityCounts: ActivityCountRow[] }>(activityCounts("ActivityTotal"), { ...args, bucket: "total", byKind: false }, token, signal);
  return { count: Number(data.activityCounts[0]?.entries ?? 0), isCapped: false };
}

export async function fetchActors(token: string, filter: Record<string, unknown>, signal?: AbortSignal): Promise<Actor[]> {
  const data = await graphql<{ auditLogs: { groupedAggregates: { keys: (string | null)[]; count: string }[] } }>(
    `query AuditLogActors($filter: AuditLogFilter) {
      auditLogs(filter: $filter) {
        groupedAggregates(groupBy: [ACTOR_ID, ACTOR_TYPE, ACTOR_EMAIL, ACTOR_NAME]) { keys count }
      }
    }`,
    { filter: { ...filter, actorId: { isNull: false } } }, token, signal,
  );
  // Names and emails are snapshots: one actor may appear under several; keep the most frequent.
  const byId = new Map<string, Actor>();
  for (const g of data.auditLogs.groupedAggregates) {
    const [actorId, actorType, actorEmail, actorName] = g.keys;
    if (!actorId) continue;
    const count = Number(g.count);
    const seen = byId.get(actorId);
    if (!seen) byId.set(actorId, { actorId, actorType: actorType ?? "user", actorEmail: actorEmail ?? null, actorName: actorName ?? null, count });
    else {
      if (count > seen.count) Object.assign(seen, { actorEmail: actorEmail ?? null, actorName: actorName ?? null });
      seen.count += count;
    }
  }
  return [...byId.values()];
}

/**
 * Account names, read from the accounts' own audit entries (the entity index
 * serves the lookup). Best effort: an account whose entries are out of scope
 * or gone keeps its id.
 */
export async function fetchAccountNames(token: string, accountIds: string[], signal?: AbortSignal): Promise<Map<string, string>> {
  const names = new Map<string, string>();
  if (accountIds.length === 0) return names;
  const data = await graphql<{ auditLogs: { nodes: { entityId: string; oldValues: Record<string, unknown> | null; newValues: Record<string, unknown> | null }[] } }>(
    `query AccountNames($filter: AuditLogFilter) {
      auditLogs(filter: $filter, first: 500, orderBy: [OCCURRED_AT_DESC]) { nodes { entityId oldValues newValues } }
    }`,
    { filter: { resourceType: { equalTo: "account" }, entityId: { in: accountIds } } }, token, signal,
  );
  for (const n of data.auditLogs.nodes) {
    if (names.has(n.entityId)) continue; // newest first: the first name seen is the current one
    const name = n.newValues?.name ?? n.oldValues?.name;
    if (typeof name === "string") names.set(n.entityId, name);
  }
  return names;
}
