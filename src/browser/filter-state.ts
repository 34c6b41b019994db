// The page's filters: the view kept in the URL (read leniently, written
// short), pinned to instants once per load, and turned into the API's
// GraphQL filter and the export's query string. Besides the filters the
// page and the export share (src/shared/filters.ts), the page has one of its
// own: `alert`, the entries of one security alert (the Security view's
// "Open in Audit Logs"), which the export cannot apply (see exportBlocker).
import {
  FILTER_PARAMS as PARAM, filterParams, isActionOrEvent, isEntityId, isEntityLabel, isEventName, isResourceType, isUuid, isoInstant,
  type ResolvedFilters,
} from "../shared/filters.ts";

export const RANGE_KEYS = ["24h", "7d", "30d", "custom"] as const;
export type RangeKey = (typeof RANGE_KEYS)[number];
export const DEFAULT_RANGE: RangeKey = "30d";

const RANGE_MS: Record<Exclude<RangeKey, "custom">, number> = {
  "24h": 24 * 3600_000,
  "7d": 7 * 24 * 3600_000,
  "30d": 30 * 24 * 3600_000,
};

export const RANGE_LABELS: Record<RangeKey, string> = {
  "24h": "Last 24 hours",
  "7d": "Last 7 days",
  "30d": "Last 30 days",
  custom: "Custom range",
};

/** What the URL holds: a view that can be shared and reloaded. */
export interface Filters {
  /** An action ("update") or, when it contains a dot, one catalogued event ("member.removed"). */
  action: string | null;
  resourceType: string | null;
  range: RangeKey;
  /** Custom range bounds as ISO instants: from inclusive, to exclusive. */
  from: string | null;
  to: string | null;
  actorId: string | null;
  entityId: string | null;
  /** The start of the entity's name, as recorded in each entry (a snapshot: older entries keep older names). */
  entityLabel: string | null;
  /** The entries of this security alert (its id), as the API's `alertId` filter finds them. */
  alertId: string | null;
}

export const EMPTY_FILTERS: Filters = {
  action: null, resourceType: null, range: DEFAULT_RANGE, from: null, to: null, actorId: null, entityId: null, entityLabel: null, alertId: null,
};

/** The URL parameter of the alert filter (the page's own: not one the export knows). */
export const ALERT_PARAM = "alert";
const ALERT_ID = /^[1-9]\d{0,18}$/;

/** Filters pinned to instants, with the page's own alert filter. */
export interface PageResolvedFilters extends ResolvedFilters {
  alertId?: string | null;
}

/**
 * Reads filters from a page URL's query string. Lenient: a value that makes
 * no sense (hand-edited URL) is dropped rather than failing the page.
 */
export function parseFilters(params: URLSearchParams): Filters {
  const { action, resourceType, range: rangeRaw, actorId, entityId, entityLabel, ...bounds } = filterParams(params);
  const alertId = params.get(ALERT_PARAM)?.trim() ?? "";
  const from = isoInstant(bounds.from);
  const to = isoInstant(bounds.to);
  let range: RangeKey = (RANGE_KEYS as readonly string[]).includes(rangeRaw ?? "") ? (rangeRaw as RangeKey) : DEFAULT_RANGE;
  // A URL with explicit bounds and no range means a custom range.
  if (rangeRaw === null && (from !== null || to !== null)) range = "custom";
  return {
    action: action !== null && isActionOrEvent(action) ? action : null,
    resourceType: resourceType !== null && isResourceType(resourceType) ? resourceType : null,
    range,
    from: range === "custom" ? from : null,
    to: range === "custom" ? to : null,
    actorId: actorId !== null && isUuid(actorId) ? actorId.toLowerCase() : null,
    entityId: entityId !== null && isEntityId(entityId) ? entityId : null,
    entityLabel: entityLabel !== null && isEntityLabel(entityLabel) ? entityLabel : null,
    alertId: ALERT_ID.test(alertId) ? alertId : null,
  };
}

/** A query string of the given filter values, in FILTER_PARAMS's order; empty values are left out. */
function toParams(values: Partial<Record<keyof typeof PARAM, string | null>>): URLSearchParams {
  const p = new URLSearchParams();
  for (const key of Object.keys(PARAM) as (keyof typeof PARAM)[]) {
    const value = values[key];
    if (value) p.set(PARAM[key], value);
  }
  return p;
}

/** The query string of a view; the default range is left out to keep URLs short. The alert comes last. */
export function filtersToParams(f: Filters): URLSearchParams {
  const custom = f.range === "custom";
  const p = toParams({ ...f, range: f.range === DEFAULT_RANGE ? null : f.range, from: custom ? f.from : null, to: custom ? f.to : null });
  if (f.alertId) p.set(ALERT_PARAM, f.alertId);
  return p;
}

export function filtersEqual(a: Filters, b: Filters): boolean {
  return filtersToParams(a).toString() === filtersToParams(b).toString();
}

/**
 * Pins a relative range ("last 7 days") to instants, once per load, so that
 * the list, its count, the chart and an export all cover the same entries
 * even while new ones arrive.
 */
export function resolveFilters(f: Filters, now: Date): PageResolvedFilters {
  let from: string | null;
  let to: string | null;
  if (f.range === "custom") {
    from = f.from;
    to = f.to;
  } else {
    // The upper bound is exclusive: one millisecond past now includes entries of this instant.
    to = new Date(now.getTime() + 1).toISOString();
    from = new Date(now.getTime() - RANGE_MS[f.range]).toISOString();
  }
  return {
    action: f.action, resourceType: f.resourceType, actorId: f.actorId, entityId: f.entityId, entityLabel: f.entityLabel, from, to,
    alertId: f.alertId,
  };
}

/** The connection-filter input of the `auditLogs` connection for these filters. */
export function toGraphQLFilter(r: PageResolvedFilters): Record<string, unknown> {
  const filter: Record<string, unknown> = {};
  const occurredAt: Record<string, string> = {};
  if (r.from) occurredAt.greaterThanOrEqualTo = r.from;
  if (r.to) occurredAt.lessThan = r.to;
  if (Object.keys(occurredAt).length > 0) filter.occurredAt = occurredAt;
  if (r.action) filter[isEventName(r.action) ? "event" : "action"] = { equalTo: r.action };
  if (r.resourceType) filter.resourceType = { equalTo: r.resourceType };
  if (r.actorId) filter.actorId = { equalTo: r.actorId };
  if (r.entityId) filter.entityId = { equalTo: r.entityId };
  // A prefix, so that "Invoice" finds "Invoice bot"; case as recorded.
  // people type names in any case: "invoice" finds "Invoice bot"
  if (r.entityLabel) filter.entityLabel = { startsWithInsensitive: r.entityLabel };
  if (r.alertId) filter.alertId = { equalTo: r.alertId };
  return filter;
}

/** Export query parameters: the resolved filters, explicit bounds included, and the alert (the export filters by it too). */
export function resolvedToParams(r: PageResolvedFilters): URLSearchParams {
  const p = toParams(r);
  if (r.alertId) p.set(ALERT_PARAM, r.alertId);
  return p;
}

/** The arguments of `activityCounts` for these filters (its bucket aside). */
export interface ActivityCountsArgs {
  fromTime: string;
  toTime: string | null;
  resourceTypes: string[] | null;
  actions: string[] | null;
  events: string[] | null;
  actorIds: string[] | null;
}

/**
 * The same filters as `activityCounts` arguments, which count from the
 * rollups (fast on any size of log) and from the log where they must; null
 * when a filter is one it does not take (an entity, a name, an alert) or the
 * range has no start: the log's own aggregates answer those.
 */
export function toActivityCountsArgs(r: PageResolvedFilters): ActivityCountsArgs | null {
  if (!r.from || r.entityId || r.entityLabel || r.alertId) return null;
  const event = r.action && isEventName(r.action) ? r.action : null;
  return {
    fromTime: r.from,
    toTime: r.to,
    resourceTypes: r.resourceType ? [r.resourceType] : null,
    actions: r.action && !event ? [r.action] : null,
    events: event ? [event] : null,
    actorIds: r.actorId ? [r.actorId] : null,
  };
}
