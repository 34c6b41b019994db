// How an entry's context reads in the details panel: the request's fields
// (request id, IP address...) under their names, and what application and
// access events record about what happened (an export's format, its
// filters, how many entries, how it ended) as words rather than raw JSON.
import { h } from "./dom.ts";
import { actionLabel, formatLocal, formatNumber, humanize } from "./format.ts";
import { isEventName } from "../shared/filters.ts";

const CONTEXT_LABELS: Record<string, string> = {
  request_id: "Request ID",
  ip: "IP address",
  user_agent: "User agent",
  reason: "Reason",
  role: "Database role",
  client: "Client",
  application_name: "Application",
  format: "Format",
  filter: "Filters",
  filters: "Filters",
  entries: "Entries",
  status: "Status",
  // a read of the log (audit_log.viewed): the page of the API's connection it asked for
  condition: "Condition",
  first: "Page size",
  after: "After cursor",
  orderBy: "Order",
  once_per_minute: "Read key",
};

export function contextLabel(key: string): string {
  return CONTEXT_LABELS[key] ?? humanize(key);
}

const FORMATS: Record<string, string> = { csv: "CSV", jsonl: "JSON Lines", json: "JSON" };

/**
 * A filter's name, whether written as the page's URL parameter (resource), as
 * the resolved filter (resourceType) or as the API's filter field.
 */
const FILTER_LABELS: Record<string, string> = {
  action: "Action",
  event: "Event",
  resource: "Resource type",
  resourceType: "Resource type",
  resource_type: "Resource type",
  range: "Date range",
  from: "From",
  to: "To",
  occurredAt: "When",
  occurred_at: "When",
  user: "User",
  actorId: "User",
  actor_id: "User",
  entity: "Entity ID",
  entityId: "Entity ID",
  entity_id: "Entity ID",
  label: "Entity name",
  entityLabel: "Entity name",
  entity_label: "Entity name",
  accountId: "Account",
  account_id: "Account",
};

const FILTER_ORDER = Object.keys(FILTER_LABELS);

/** The API's filter operators as words ("startsWith": "starts with"); equality needs none. */
const OPERATORS: Record<string, string> = {
  equalTo: "",
  notEqualTo: "not",
  in: "one of",
  notIn: "none of",
  startsWith: "starts with",
  startsWithInsensitive: "starts with (any case)",
  greaterThan: "after",
  greaterThanOrEqualTo: "from",
  lessThan: "before",
  lessThanOrEqualTo: "until",
  contains: "contains",
};

const OPERATOR_ORDER = Object.keys(OPERATORS);

const ISO_INSTANT = /^\d{4}-\d\d-\d\dT\d\d:\d\d/;

/** A JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** One filter value as words: instants in local time, actions and resources by name. */
function filterValue(key: string, value: unknown): string {
  if (Array.isArray(value)) return value.map((v) => filterValue(key, v)).join(", ");
  if (typeof value === "string") {
    if (ISO_INSTANT.test(value) && !Number.isNaN(Date.parse(value))) return formatLocal(value, true);
    const label = FILTER_LABELS[key];
    if (label === "Action") return isEventName(value) ? value : actionLabel(value);
    if (label === "Resource type") return humanize(value);
    return value;
  }
  if (isObject(value)) {
    // Lower bound before upper, whatever order jsonb kept the operators in.
    const rank = (op: string) => (op in OPERATORS ? OPERATOR_ORDER.indexOf(op) : OPERATOR_ORDER.length);
    return Object.entries(value)
      .sort(([a], [b]) => rank(a) - rank(b))
      .map(([op, v]) => op === "isNull" ? (v ? "empty" : "not empty")
        : (op in OPERATORS ? [OPERATORS[op], filterValue(key, v)].filter(Boolean).join(" ") : `${op} ${JSON.stringify(v)}`))
      .join(", ");
  }
  return JSON.stringify(value);
}

/** Filters as a list of "name: value"; a query string is read as one. */
function renderFilters(value: unknown): Node | null {
  let filters: Record<string, unknown>;
  if (typeof value === "string" && value.includes("=")) filters = Object.fromEntries(new URLSearchParams(value));
  else if (isObject(value)) filters = value;
  else return null;
  // In the page's order of filters: jsonb keeps keys in its own order (shortest first).
  const rank = (k: string) => (k in FILTER_LABELS ? FILTER_ORDER.indexOf(k) : FILTER_ORDER.length);
  const set = Object.entries(filters).filter(([, v]) => v !== null && v !== undefined && v !== "")
    .sort(([a], [b]) => rank(a) - rank(b));
  if (set.length === 0) return h("span", { className: "muted" }, "None: every entry in scope");
  return h("ul", { className: "filter-list" }, set.map(([k, v]) =>
    h("li", { "data-filter": k }, h("span", { className: "muted" }, `${FILTER_LABELS[k] ?? humanize(k)}: `), filterValue(k, v))));
}

/** A known context field as words, or null to show the value as recorded. */
export function readableContextValue(key: string, value: unknown): Node | string | null {
  switch (key) {
    case "format":
      return typeof value === "string" ? FORMATS[value] ?? value : null;
    case "entries":
      if (typeof value === "number") return formatNumber(value);
      return typeof value === "string" && /^\d+$/.test(value) ? formatNumber(Number(value)) : null;
    case "status":
      return typeof value === "string" ? humanize(value) : null;
    case "filter":
    case "filters":
    case "condition":
      return renderFilters(value);
    default:
      return null;
  }
}
