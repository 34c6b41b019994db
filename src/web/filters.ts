// The Audit Logs page's filters, shared by the page (URL ⇄ state, GraphQL
// filter) and the server's export endpoint (query string → SQL), so that an
// export always means exactly what the list shows. No DOM and no Node APIs.

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
}

/** Filters with the date range turned into instants, as sent to the API and the export. */
export interface ResolvedFilters {
  action: string | null;
  resourceType: string | null;
  actorId: string | null;
  entityId: string | null;
  /** Inclusive lower bound. */
  from: string | null;
  /** Exclusive upper bound. */
  to: string | null;
}

export const EMPTY_FILTERS: Filters = {
  action: null, resourceType: null, range: DEFAULT_RANGE, from: null, to: null, actorId: null, entityId: null,
};

/** URL query parameter of each filter. */
const PARAM = {
  action: "action",
  resourceType: "resource",
  range: "range",
  from: "from",
  to: "to",
  actorId: "user",
  entityId: "entity",
} as const;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME_RE = /^[a-z][a-z_]{0,62}$/;
const ACTION_RE = /^[a-z][a-z_]{0,62}(\.[a-z][a-z_]{0,62})?$/;

/** True when an action filter value names a single event (member.removed) rather than an action (unassign). */
export function isEventName(action: string): boolean {
  return action.includes(".");
}
const MAX_ENTITY_ID = 200;

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

function isoInstant(value: string | null): string | null {
  if (value === null || value.trim() === "") return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

function param(params: URLSearchParams, name: string): string | null {
  const v = params.get(name);
  return v === null || v.trim() === "" ? null : v.trim();
}

/**
 * Reads filters from a page URL's query string. Lenient: a value that makes
 * no sense (hand-edited URL) is dropped rather than failing the page.
 */
export function parseFilters(params: URLSearchParams): Filters {
  const action = param(params, PARAM.action);
  const resourceType = param(params, PARAM.resourceType);
  const rangeRaw = param(params, PARAM.range);
  const actorId = param(params, PARAM.actorId);
  const entityId = param(params, PARAM.entityId);
  const from = isoInstant(param(params, PARAM.from));
  const to = isoInstant(param(params, PARAM.to));
  let range: RangeKey = (RANGE_KEYS as readonly string[]).includes(rangeRaw ?? "") ? (rangeRaw as RangeKey) : DEFAULT_RANGE;
  // A URL with explicit bounds and no range means a custom range.
  if (rangeRaw === null && (from !== null || to !== null)) range = "custom";
  return {
    action: action !== null && ACTION_RE.test(action) ? action : null,
    resourceType: resourceType !== null && NAME_RE.test(resourceType) ? resourceType : null,
    range,
    from: range === "custom" ? from : null,
    to: range === "custom" ? to : null,
    actorId: actorId !== null && isUuid(actorId) ? actorId.toLowerCase() : null,
    entityId: entityId !== null && entityId.length <= MAX_ENTITY_ID ? entityId : null,
  };
}

/** The query string of a view; the default range is left out to keep URLs short. */
export function filtersToParams(f: Filters): URLSearchParams {
  const p = new URLSearchParams();
  if (f.action) p.set(PARAM.action, f.action);
  if (f.resourceType) p.set(PARAM.resourceType, f.resourceType);
  if (f.range !== DEFAULT_RANGE) p.set(PARAM.range, f.range);
  if (f.range === "custom") {
    if (f.from) p.set(PARAM.from, f.from);
    if (f.to) p.set(PARAM.to, f.to);
  }
  if (f.actorId) p.set(PARAM.actorId, f.actorId);
  if (f.entityId) p.set(PARAM.entityId, f.entityId);
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
export function resolveFilters(f: Filters, now: Date): ResolvedFilters {
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
  return { action: f.action, resourceType: f.resourceType, actorId: f.actorId, entityId: f.entityId, from, to };
}

/** The connection-filter input of the `auditLogs` connection for these filters. */
export function toGraphQLFilter(r: ResolvedFilters): Record<string, unknown> {
  const filter: Record<string, unknown> = {};
  const occurredAt: Record<string, string> = {};
  if (r.from) occurredAt.greaterThanOrEqualTo = r.from;
  if (r.to) occurredAt.lessThan = r.to;
  if (Object.keys(occurredAt).length > 0) filter.occurredAt = occurredAt;
  if (r.action) filter[isEventName(r.action) ? "event" : "action"] = { equalTo: r.action };
  if (r.resourceType) filter.resourceType = { equalTo: r.resourceType };
  if (r.actorId) filter.actorId = { equalTo: r.actorId };
  if (r.entityId) filter.entityId = { equalTo: r.entityId };
  return filter;
}

/** Export query parameters: the resolved filters, explicit bounds included. */
export function resolvedToParams(r: ResolvedFilters): URLSearchParams {
  const p = new URLSearchParams();
  if (r.action) p.set(PARAM.action, r.action);
  if (r.resourceType) p.set(PARAM.resourceType, r.resourceType);
  if (r.from) p.set(PARAM.from, r.from);
  if (r.to) p.set(PARAM.to, r.to);
  if (r.actorId) p.set(PARAM.actorId, r.actorId);
  if (r.entityId) p.set(PARAM.entityId, r.entityId);
  return p;
}

export class FilterError extends Error {
  override name = "FilterError";
}

/**
 * Reads an export request's filters. Strict, unlike parseFilters: an export
 * of something other than what was asked for must fail, not silently widen.
 */
export function parseResolvedParams(params: URLSearchParams): ResolvedFilters {
  const known = new Set<string>([PARAM.action, PARAM.resourceType, PARAM.from, PARAM.to, PARAM.actorId, PARAM.entityId, "format"]);
  for (const key of params.keys()) {
    if (!known.has(key)) throw new FilterError(`unknown parameter "${key}"`);
  }
  const action = param(params, PARAM.action);
  const resourceType = param(params, PARAM.resourceType);
  const actorId = param(params, PARAM.actorId);
  const entityId = param(params, PARAM.entityId);
  const fromRaw = param(params, PARAM.from);
  const toRaw = param(params, PARAM.to);
  if (action !== null && !ACTION_RE.test(action)) {
    throw new FilterError(`action must be an action such as "update" or an event such as "member.removed", got "${action}"`);
  }
  if (resourceType !== null && !NAME_RE.test(resourceType)) {
    throw new FilterError(`resource must be a resource type such as "api_key", got "${resourceType}"`);
  }
  if (actorId !== null && !isUuid(actorId)) throw new FilterError(`user must be a uuid, got "${actorId}"`);
  if (entityId !== null && entityId.length > MAX_ENTITY_ID) throw new FilterError(`entity must be at most ${MAX_ENTITY_ID} characters`);
  const from = isoInstant(fromRaw);
  const to = isoInstant(toRaw);
  if (fromRaw !== null && from === null) throw new FilterError(`from must be an ISO 8601 date-time, got "${fromRaw}"`);
  if (toRaw !== null && to === null) throw new FilterError(`to must be an ISO 8601 date-time, got "${toRaw}"`);
  return { action, resourceType, actorId: actorId?.toLowerCase() ?? null, entityId, from, to };
}
