// Which counts of the audit log the rollups can answer, and the SQL that asks
// them. The rollups (db/schema/rollups.sql) count entries per UTC hour or
// day, account, resource type, action and event; audit.activity_counts
// answers a time range with optional sets of accounts, resource types,
// actions and events from them, exactly (what is newer, or at the range's
// edges, it counts from the log in the same snapshot). A connection's
// `filter` and `condition` that say nothing else, grouped by nothing else,
// can be counted there; anything else (actors, entities, values, `or`,
// `not`, negations, prefixes, a second condition on the same column) is
// counted on the log, with the same result, only slower.
import { sql, type SQL } from "postgraphile/pg-sql2";

/** One end of the time range: `inclusive` for >= / <=, exclusive for > / <. */
interface Bound {
  value: string;
  inclusive: boolean;
}

/** The activity_counts filters a dimension of the log maps to, by GraphQL field name. */
const DIMENSIONS = {
  accountId: "accountIds",
  resourceType: "resourceTypes",
  action: "actions",
  event: "events",
} as const;

type Dimension = (typeof DIMENSIONS)[keyof typeof DIMENSIONS];

/** A count the rollups can answer: the range's bounds and the sets of values allowed per dimension (absent: any). */
export interface RollupQuery {
  lower: Bound[];
  upper: Bound[];
  sets: Partial<Record<Dimension, readonly unknown[]>>;
}

/** Group-by keys (enum names of AuditLogGroupBy) the rollups carry, and the bucket each needs. */
const GROUPINGS: Record<string, "hour" | "day" | "kind"> = {
  OCCURRED_AT_TRUNCATED_TO_HOUR: "hour",
  OCCURRED_AT_HOUR_OF_DAY: "hour",
  OCCURRED_AT_TRUNCATED_TO_DAY: "day",
  OCCURRED_AT_DAY_OF_WEEK: "day",
  RESOURCE_TYPE: "kind",
  ACTION: "kind",
  EVENT: "kind",
};

/** What activity_counts is asked for: its bucket, and whether per resource type, action and event. */
export interface RollupShape {
  bucket: "hour" | "day" | "total";
  byKind: boolean;
}

/** The shape a grouping needs from the rollups, or null when it groups by something they do not carry. */
export function shapeOfGrouping(groupBy: readonly unknown[]): RollupShape | null {
  let bucket: RollupShape["bucket"] = "total";
  let byKind = false;
  for (const key of groupBy) {
    const need = typeof key === "string" ? GROUPINGS[key] : undefined;
    if (!need) return null;
    if (need === "kind") byKind = true;
    else if (need === "hour" || bucket === "total") bucket = need;
  }
  return { bucket, byKind };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** Adds one column's operators to the query; false when the rollups cannot express them. */
function addOperators(query: RollupQuery, field: string, operators: unknown): boolean {
  if (!isObject(operators)) return false;
  for (const [operator, value] of Object.entries(operators)) {
    if (value === undefined) continue;
    if (field === "occurredAt") {
      if (typeof value !== "string") return false;
      switch (operator) {
        case "greaterThanOrEqualTo": query.lower.push({ value, inclusive: true }); break;
        case "greaterThan": query.lower.push({ value, inclusive: false }); break;
        case "lessThan": query.upper.push({ value, inclusive: false }); break;
        case "lessThanOrEqualTo": query.upper.push({ value, inclusive: true }); break;
        case "equalTo":
          query.lower.push({ value, inclusive: true });
          query.upper.push({ value, inclusive: true });
          break;
        default: return false;
      }
      continue;
    }
    const dimension = DIMENSIONS[field as keyof typeof DIMENSIONS];
    // One set per dimension: intersecting values here would have to know
    // how PostgreSQL compares them (a UUID's case), so a second condition
    // on the same column is left to the log.
    if (!dimension || query.sets[dimension]) return false;
    if (operator === "equalTo" && value !== null) query.sets[dimension] = [value];
    else if (operator === "in" && Array.isArray(value)) query.sets[dimension] = value;
    else return false;
  }
  return true;
}

/** Adds a filter (connection-filter's input) to the query; false when the rollups cannot express it. */
function addFilter(query: RollupQuery, filter: unknown): boolean {
  if (!isObject(filter)) return false;
  for (const [field, value] of Object.entries(filter)) {
    if (value === undefined) continue;
    if (field === "and") {
      if (!Array.isArray(value) || !value.every((part) => addFilter(query, part))) return false;
    } else if (!addOperators(query, field, value)) {
      return false;
    }
  }
  return true;
}

/**
 * The rollups' version of a connection's `filter` and `condition` (their
 * values as the client sent them), or null when it must be counted on the
 * log. Neither given: everything the reader may see.
 */
export function rollupQueryOf(filter: unknown, condition: unknown): RollupQuery | null {
  const query: RollupQuery = { lower: [], upper: [], sets: {} };
  if (filter !== null && filter !== undefined && !addFilter(query, filter)) return null;
  if (condition !== null && condition !== undefined) {
    if (!isObject(condition)) return null;
    for (const [field, value] of Object.entries(condition)) {
      if (value === undefined) continue;
      // condition's null means "is null", which activity_counts cannot ask.
      if (value === null || !addOperators(query, field, { equalTo: value })) return null;
    }
  }
  return query;
}

/** Hourly counts cover at most 400 days (activity_counts refuses more); a day's margin for time zones. */
const HOURLY_SPAN_MS = 399 * 24 * 3600 * 1000;

/**
 * Whether activity_counts can answer the query in this shape: hourly
 * buckets need a range within its 400 days, known here only from bounds
 * that parse as dates.
 */
export function fitsShape(query: RollupQuery, shape: RollupShape, now = Date.now()): boolean {
  if (shape.bucket !== "hour") return true;
  if (query.lower.length === 0) return false;
  const times = (bounds: Bound[]) => bounds.map((b) => Date.parse(b.value));
  const lower = times(query.lower);
  const upper = query.upper.length > 0 ? times(query.upper) : [now];
  if ([...lower, ...upper].some(Number.isNaN)) return false;
  return Math.min(...upper) - Math.max(...lower) <= HOURLY_SPAN_MS;
}

const MICROSECOND = sql`interval '1 microsecond'`;

/** The range's start (inclusive) as SQL: the latest lower bound, or -infinity. */
function lowerSQL(bounds: Bound[]): SQL {
  if (bounds.length === 0) return sql`'-infinity'::timestamptz`;
  const parts = bounds.map((b) => (b.inclusive ? sql`${sql.value(b.value)}::timestamptz` : sql`(${sql.value(b.value)}::timestamptz + ${MICROSECOND})`));
  return parts.length === 1 ? parts[0]! : sql`greatest(${sql.join(parts, ", ")})`;
}

/** The range's end (exclusive) as SQL: the earliest upper bound, or null (open). */
function upperSQL(bounds: Bound[]): SQL {
  if (bounds.length === 0) return sql`null::timestamptz`;
  const parts = bounds.map((b) => (b.inclusive ? sql`(${sql.value(b.value)}::timestamptz + ${MICROSECOND})` : sql`${sql.value(b.value)}::timestamptz`));
  return parts.length === 1 ? parts[0]! : sql`least(${sql.join(parts, ", ")})`;
}

const ARRAY_TYPES = { uuid: sql`uuid[]`, text: sql`text[]` };

const setSQL = (values: readonly unknown[] | undefined, type: keyof typeof ARRAY_TYPES): SQL =>
  sql`${values ? sql.value(values as string[]) : sql`null`}::${ARRAY_TYPES[type]}`;

/**
 * The counts as rows shaped like the log's for the aggregate query around
 * them: `occurred_at` (the period's start, or the range's start inside the
 * first period, so that the range's conditions and UTC truncations give
 * what they give on the entries), `resource_type`, `action`, `event`, and
 * `entries`. An empty range gives no rows, as it matches no entry.
 */
export function rollupRowsSQL(query: RollupQuery, shape: RollupShape): SQL {
  const { sets } = query;
  return sql`(select greatest(c.period_start, r.lo) as occurred_at, c.resource_type, c.action, c.event, c.entries
  from (select ${lowerSQL(query.lower)} as lo, ${upperSQL(query.upper)} as hi) as r
  cross join lateral audit.activity_counts(r.lo, r.hi, ${sql.literal(shape.bucket)}, null::uuid[], ${setSQL(sets.accountIds, "uuid")},
    ${setSQL(sets.resourceTypes, "text")}, ${setSQL(sets.actions, "text")}, ${setSQL(sets.events, "text")}, null::uuid[], ${sql.literal(shape.byKind)}) as c
  where r.lo < coalesce(r.hi, 'infinity'))`;
}
