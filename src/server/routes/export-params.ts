// The filters of an export request, read from the query string the page
// writes (resolvedToParams of src/browser/filter-state.ts).
import {
  FILTER_PARAMS as PARAM, MAX_ENTITY_ID, MAX_ENTITY_LABEL, filterParams, isActionOrEvent, isBigintId, isEntityId, isEntityLabel, isResourceType, isUuid,
  isoInstant,
  type ResolvedFilters,
} from "../../shared/filters.ts";
import { ISO_DATETIME_EXAMPLE, isIsoDateTime } from "../iso-datetime.ts";

export class FilterError extends Error {
  override name = "FilterError";
}

/**
 * Reads an export request's filters. Strict, unlike the page's parseFilters:
 * an export of something other than what was asked for must fail, not
 * silently widen.
 */
export function parseResolvedParams(params: URLSearchParams): ResolvedFilters {
  const known = new Set<string>([
    PARAM.action, PARAM.resourceType, PARAM.from, PARAM.to, PARAM.actorId, PARAM.entityId, PARAM.entityLabel, PARAM.alertId, "format",
  ]);
  const seen = new Set<string>();
  for (const key of params.keys()) {
    if (!known.has(key)) throw new FilterError(`unknown parameter "${key}"`);
    // Which of two values would count is a guess: refuse rather than export either.
    if (seen.has(key)) throw new FilterError(`parameter "${key}" is given more than once`);
    seen.add(key);
    // An empty value is no filter to the page, but in a hand-made request it is a filter lost: refuse it.
    if (params.get(key)!.trim() === "") throw new FilterError(`parameter "${key}" is empty: give it a value or leave it out`);
  }
  // (no range: the page sends its bounds, and "range" is an unknown parameter here)
  const { action, resourceType, actorId, entityId, entityLabel, alertId, from: fromRaw, to: toRaw } = filterParams(params);
  if (action !== null && !isActionOrEvent(action)) {
    throw new FilterError(`action must be an action such as "update" or an event such as "member.removed", got "${action}"`);
  }
  if (resourceType !== null && !isResourceType(resourceType)) {
    throw new FilterError(`resource must be a resource type such as "api_key", got "${resourceType}"`);
  }
  if (actorId !== null && !isUuid(actorId)) throw new FilterError(`user must be a uuid, got "${actorId}"`);
  if (entityId !== null && !isEntityId(entityId)) throw new FilterError(`entity must be at most ${MAX_ENTITY_ID} characters`);
  // (PostgreSQL text cannot hold NUL: it would fail the export's query)
  if (entityId?.includes("\0")) throw new FilterError("entity must not contain NUL characters");
  if (entityLabel !== null && !isEntityLabel(entityLabel)) {
    throw new FilterError(`label must be at most ${MAX_ENTITY_LABEL} characters, without NUL characters`);
  }
  if (alertId !== null && !isBigintId(alertId)) throw new FilterError(`alert must be the id of a security alert (a positive whole number), got "${alertId}"`);
  for (const [name, raw] of [["from", fromRaw], ["to", toRaw]] as const) {
    // Strictly ISO: Date.parse would also read "1" (the year 2001) or roll 2026-02-30 over into March.
    if (raw !== null && !isIsoDateTime(raw)) throw new FilterError(`${name} must be an ISO 8601 date-time such as ${ISO_DATETIME_EXAMPLE}, got "${raw}"`);
  }
  const from = isoInstant(fromRaw);
  const to = isoInstant(toRaw);
  return { action, resourceType, actorId: actorId?.toLowerCase() ?? null, entityId, entityLabel, from, to, alertId };
}
