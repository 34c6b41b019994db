// What the page's filters and the server's export agree on: the query
// parameter of each filter, what a valid value is, and the filters with their
// date range pinned to instants. The page writes them (src/browser/
// filter-state.ts), the export reads them (src/server/routes/export-params.ts),
// so that an export always means exactly what the list shows. No DOM and no
// Node APIs.

/** Filters with the date range turned into instants, as sent to the API and the export. */
export interface ResolvedFilters {
  /** An action ("update") or, when it contains a dot, one catalogued event ("member.removed"). */
  action: string | null;
  resourceType: string | null;
  actorId: string | null;
  entityId: string | null;
  /** The start of the affected entity's name (entity_label, a snapshot taken when the entry was written), literally. */
  entityLabel: string | null;
  /** Inclusive lower bound. */
  from: string | null;
  /** Exclusive upper bound. */
  to: string | null;
  /** The entries of one security alert (its id), as the API's `alertId` filter finds them. */
  alertId?: string | null;
}

/** Query parameter of each filter, in the page's URL and in export requests. */
export const FILTER_PARAMS = {
  action: "action",
  resourceType: "resource",
  range: "range",
  from: "from",
  to: "to",
  actorId: "user",
  entityId: "entity",
  entityLabel: "label",
  alertId: "alert",
} as const;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NAME_RE = /^[a-z][a-z_]{0,62}$/;
const ACTION_RE = /^[a-z][a-z_]{0,62}(\.[a-z][a-z_]{0,62})?$/;
const BIGINT_ID_RE = /^[1-9][0-9]{0,18}$/;
export const MAX_ENTITY_ID = 200;
/** audit.record_event and audit.record_access refuse longer labels. */
export const MAX_ENTITY_LABEL = 500;

/** True when an action filter value names a single event (member.removed) rather than an action (unassign). */
export function isEventName(action: string): boolean {
  return action.includes(".");
}

export function isUuid(value: string): boolean {
  return UUID_RE.test(value);
}

/** An action ("update") or an event ("member.removed"). */
export function isActionOrEvent(value: string): boolean {
  return ACTION_RE.test(value);
}

export function isResourceType(value: string): boolean {
  return NAME_RE.test(value);
}

/** A positive id of a bigint column (an alert's), written plainly. */
export function isBigintId(value: string): boolean {
  return BIGINT_ID_RE.test(value) && BigInt(value) <= 9_223_372_036_854_775_807n;
}

export function isEntityId(value: string): boolean {
  return value.length <= MAX_ENTITY_ID;
}

/** A prefix of an entity label: not longer than a label can be, no NUL (PostgreSQL text cannot hold it). */
export function isEntityLabel(value: string): boolean {
  return value.length <= MAX_ENTITY_LABEL && !value.includes("\0");
}

/** An ISO instant (UTC, milliseconds) of a date-time with an offset; null when empty or not a date-time. */
export function isoInstant(value: string | null): string | null {
  if (value === null || value.trim() === "") return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/** Each filter's value in a query string as written: trimmed, null when absent or blank. */
export function filterParams(params: URLSearchParams): Record<keyof typeof FILTER_PARAMS, string | null> {
  const read = (name: string) => {
    const v = params.get(name);
    return v === null || v.trim() === "" ? null : v.trim();
  };
  return {
    action: read(FILTER_PARAMS.action),
    resourceType: read(FILTER_PARAMS.resourceType),
    range: read(FILTER_PARAMS.range),
    from: read(FILTER_PARAMS.from),
    to: read(FILTER_PARAMS.to),
    actorId: read(FILTER_PARAMS.actorId),
    entityId: read(FILTER_PARAMS.entityId),
    entityLabel: read(FILTER_PARAMS.entityLabel),
    alertId: read(FILTER_PARAMS.alertId),
  };
}
