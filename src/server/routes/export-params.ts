// The filters of an export request, read from the query string the page
// writes (resolvedToParams of src/browser/filter-state.ts).
import {
  FILTER_PARAMS as PARAM, MAX_ENTITY_ID, filterParams, isActionOrEvent, isEntityId, isResourceType, isUuid, isoInstant,
  type ResolvedFilters,
} from "../../shared/filters.ts";

export class FilterError extends Error {
  override name = "FilterError";
}

/**
 * Reads an export request's filters. Strict, unlike the page's parseFilters:
 * an export of something other than what was asked for must fail, not
 * silently widen.
 */
export function parseResolvedParams(params: URLSearchParams): ResolvedFilters {
  const known = new Set<string>([PARAM.action, PARAM.resourceType, PARAM.from, PARAM.to, PARAM.actorId, PARAM.entityId, "format"]);
  for (const key of params.keys()) {
    if (!known.has(key)) throw new FilterError(`unknown parameter "${key}"`);
  }
  // (no range: the page sends its bounds, and "range" is an unknown parameter here)
  const { action, resourceType, actorId, entityId, from: fromRaw, to: toRaw } = filterParams(params);
  if (action !== null && !isActionOrEvent(action)) {
    throw new FilterError(`action must be an action such as "update" or an event such as "member.removed", got "${action}"`);
  }
  if (resourceType !== null && !isResourceType(resourceType)) {
    throw new FilterError(`resource must be a resource type such as "api_key", got "${resourceType}"`);
  }
  if (actorId !== null && !isUuid(actorId)) throw new FilterError(`user must be a uuid, got "${actorId}"`);
  if (entityId !== null && !isEntityId(entityId)) throw new FilterError(`entity must be at most ${MAX_ENTITY_ID} characters`);
  const from = isoInstant(fromRaw);
  const to = isoInstant(toRaw);
  if (fromRaw !== null && from === null) throw new FilterError(`from must be an ISO 8601 date-time, got "${fromRaw}"`);
  if (toRaw !== null && to === null) throw new FilterError(`to must be an ISO 8601 date-time, got "${toRaw}"`);
  return { action, resourceType, actorId: actorId?.toLowerCase() ?? null, entityId, from, to };
}
