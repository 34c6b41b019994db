// Random filters over every filterable field of auditLogs, with every
// operator the API offers, nested in and / or / not; each rendered twice:
// as the GraphQL `filter` argument and as the SQL condition it must mean
// (connection-filter's operators written out: = <> any all is null @> ?).
// Values are drawn from the whole log, every tenant's, plus values nobody
// has, so that filters name other scopes' accounts, actors and entities.
import fc from "fast-check";
import type { Params, Vocabulary } from "./truth.ts";

type Kind = "text" | "uuid" | "bigint" | "instant" | "json";

interface FieldSpec {
  column: string;
  kind: Kind;
  operators: readonly string[];
}

const EQUALITY = ["equalTo", "notEqualTo", "in", "notIn", "isNull"] as const;
/** Text filters also take a literal prefix (actorType takes whole values only). */
const TEXT = [...EQUALITY, "startsWith", "startsWithInsensitive"] as const;

/** The filterable fields (src/server/plugins/exposure.ts, filters.ts). */
export const FILTER_FIELDS: Readonly<Record<string, FieldSpec>> = {
  occurredAt: { column: "occurred_at", kind: "instant", operators: ["equalTo", "lessThan", "lessThanOrEqualTo", "greaterThan", "greaterThanOrEqualTo"] },
  accountId: { column: "account_id", kind: "uuid", operators: EQUALITY },
  actorId: { column: "actor_id", kind: "uuid", operators: EQUALITY },
  actorType: { column: "actor_type", kind: "text", operators: EQUALITY },
  actorEmail: { column: "actor_email", kind: "text", operators: TEXT },
  action: { column: "action", kind: "text", operators: TEXT },
  resourceType: { column: "resource_type", kind: "text", operators: TEXT },
  entityId: { column: "entity_id", kind: "text", operators: TEXT },
  entityLabel: { column: "entity_label", kind: "text", operators: TEXT },
  event: { column: "event", kind: "text", operators: TEXT },
  transactionId: { column: "transaction_id", kind: "bigint", operators: ["equalTo", "in"] },
  oldValues: { column: "old_values", kind: "json", operators: ["contains", "containsKey"] },
  newValues: { column: "new_values", kind: "json", operators: ["contains", "containsKey"] },
};

/** Fields `condition` takes (plain equality). */
export const CONDITION_FIELDS = ["occurredAt", "accountId", "actorId", "actorType", "actorEmail", "action", "resourceType", "entityId", "entityLabel", "event", "transactionId"] as const;

export interface Comparison {
  operator: string;
  value: unknown;
}

export type Filter =
  | { kind: "field"; field: string; comparisons: Comparison[] }
  | { kind: "and" | "or"; items: Filter[] }
  | { kind: "not"; item: Filter };

const castOf: Record<Kind, string> = { text: "text", uuid: "uuid", bigint: "bigint", instant: "timestamptz", json: "jsonb" };

/** A value of a field's kind: mostly one the log has (any tenant's), sometimes one nobody has. */
export function valueOf(kind: Kind, field: string, v: Vocabulary): fc.Arbitrary<unknown> {
  const known = (values: readonly string[], unknown: fc.Arbitrary<string>) =>
    values.length === 0 ? unknown : fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: unknown });
  switch (kind) {
    case "uuid":
      return known(field === "accountId" ? v.accountIds : field === "actorId" ? v.actorIds : v.tenantIds, fc.uuid());
    case "bigint":
      return known(v.transactionIds, fc.bigInt({ min: 1n, max: 9_999_999n }).map(String));
    case "instant":
      return instant(v);
    case "json":
      return fc.constant(null); // (json values come with their operator, see comparison())
    case "text": {
      const values: Record<string, readonly string[]> = {
        actorType: v.actorTypes, actorEmail: v.actorEmails, action: v.actions, resourceType: v.resourceTypes, entityId: v.entityIds,
        entityLabel: v.entityLabels, event: v.events,
      };
      // actor_type is a domain: a value outside it fails in PostgreSQL instead of matching nothing
      // (reported; until the API refuses or ignores it, only the domain's values are asked for).
      if (field === "actorType") return fc.constantFrom("user", "api_key", "system", "database_role");
      return known(values[field] ?? [], fc.constantFrom("nothing", "x'); drop table audit.log; --", "tenant", "MK00000000"));
    }
  }
}

/**
 * An instant: an entry's exact one (microseconds) or a random one around the
 * window, written in UTC, with another offset, or without an offset (UTC, as
 * the README says). `value` is what the API gets, `sql` the same instant.
 */
export interface InstantValue {
  value: string;
  sql: string;
}

function instant(v: Vocabulary): fc.Arbitrary<InstantValue> {
  const exact = v.instants.length > 0 ? fc.constantFrom(...v.instants).map((i) => ({ value: `${i}Z`, sql: `${i}Z` })) : null;
  const around = fc
    .record({
      ms: fc.integer({ min: Date.parse("2025-12-20T00:00:00Z"), max: Date.parse("2026-01-14T00:00:00Z") }),
      offsetMinutes: fc.constantFrom(0, 0, 330, -300, 60),
      bare: fc.boolean(),
    })
    .map(({ ms, offsetMinutes, bare }) => {
      const utc = new Date(ms).toISOString();
      if (offsetMinutes === 0) return { value: bare ? utc.slice(0, -1) : utc, sql: utc };
      const local = new Date(ms + offsetMinutes * 60_000).toISOString().slice(0, -1);
      const sign = offsetMinutes < 0 ? "-" : "+";
      const abs = Math.abs(offsetMinutes);
      return { value: `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, "0")}:${String(abs % 60).padStart(2, "0")}`, sql: utc };
    });
  return exact ? fc.oneof(exact, around) : around;
}

function comparison(field: string, v: Vocabulary): fc.Arbitrary<Comparison> {
  const spec = FILTER_FIELDS[field]!;
  return fc.constantFrom(...spec.operators).chain((operator): fc.Arbitrary<Comparison> => {
    if (spec.kind === "json") {
      if (operator === "containsKey") return fc.constantFrom(...v.jsonKeys, "no_such_key").map((value) => ({ operator, value }));
      return fc.constantFrom(...v.jsonPairs, { no_such_key: 1 }).map((value) => ({ operator, value }));
    }
    if (operator === "isNull") return fc.boolean().map((value) => ({ operator, value }));
    const one = valueOf(spec.kind, field, v);
    // a prefix of a value (or of nothing anyone has), from empty to whole
    if (operator === "startsWith" || operator === "startsWithInsensitive") {
      return one.chain((value) => fc.nat({ max: String(value).length }).map((n) => ({ operator, value: String(value).slice(0, n) })));
    }
    if (operator === "in" || operator === "notIn") return fc.array(one, { minLength: 1, maxLength: 4 }).map((value) => ({ operator, value }));
    return one.map((value) => ({ operator, value }));
  });
}

function fieldFilter(v: Vocabulary): fc.Arbitrary<Filter> {
  return fc.constantFrom(...Object.keys(FILTER_FIELDS)).chain((field) =>
    fc
      .oneof(
        { weight: 4, arbitrary: comparison(field, v).map((c) => [c]) },
        // Two operators on one field (an implicit and), e.g. a range.
        { weight: 1, arbitrary: fc.uniqueArray(comparison(field, v), { minLength: 2, maxLength: 2, selector: (c) => c.operator }) },
      )
      .map((comparisons): Filter => ({ kind: "field", field, comparisons })),
  );
}

/** A filter tree of at most `depth` levels of and / or / not. */
export function filterArbitrary(v: Vocabulary, depth = 2): fc.Arbitrary<Filter> {
  const leaf = fieldFilter(v);
  if (depth === 0) return leaf;
  const sub = filterArbitrary(v, depth - 1);
  return fc.oneof(
    // (weights keep most filters matching something: an exact non-empty answer says more)
    { weight: 5, arbitrary: leaf },
    { weight: 1, arbitrary: fc.array(sub, { minLength: 1, maxLength: 3 }).map((items): Filter => ({ kind: "and", items })) },
    { weight: 2, arbitrary: fc.array(sub, { minLength: 1, maxLength: 3 }).map((items): Filter => ({ kind: "or", items })) },
    { weight: 1, arbitrary: sub.map((item): Filter => ({ kind: "not", item })) },
  );
}

const apiValue = (value: unknown): unknown =>
  Array.isArray(value) ? value.map(apiValue) : typeof value === "object" && value !== null && "sql" in value ? (value as InstantValue).value : value;

/**
 * The GraphQL `filter` object. An `and` whose items name different keys is
 * sometimes written as one object (the implicit and), otherwise as `and: [...]`.
 */
export function toGraphQL(filter: Filter): Record<string, unknown> {
  switch (filter.kind) {
    case "field":
      return { [filter.field]: Object.fromEntries(filter.comparisons.map((c) => [c.operator, apiValue(c.value)])) };
    case "not":
      return { not: toGraphQL(filter.item) };
    case "or":
      return { or: filter.items.map(toGraphQL) };
    case "and": {
      const parts = filter.items.map(toGraphQL);
      const keys = parts.flatMap((p) => Object.keys(p));
      if (parts.length > 1 && new Set(keys).size === keys.length) return Object.assign({}, ...parts) as Record<string, unknown>;
      return { and: parts };
    }
  }
}

const sqlValue = (value: unknown): unknown =>
  Array.isArray(value) ? value.map(sqlValue) : typeof value === "object" && value !== null && "sql" in value ? (value as InstantValue).sql : value;

function comparisonSql(spec: FieldSpec, c: Comparison, p: Params): string {
  const column = `l.${spec.column}`;
  const cast = castOf[spec.kind];
  const value = sqlValue(c.value);
  switch (c.operator) {
    case "equalTo": return `${column} = ${p.add(value, cast)}`;
    case "notEqualTo": return `${column} <> ${p.add(value, cast)}`;
    case "in": return `${column} = any(${p.add(value, `${cast}[]`)})`;
    case "notIn": return `${column} <> all(${p.add(value, `${cast}[]`)})`;
    case "isNull": return value ? `${column} is null` : `${column} is not null`;
    case "lessThan": return `${column} < ${p.add(value, cast)}`;
    case "lessThanOrEqualTo": return `${column} <= ${p.add(value, cast)}`;
    case "greaterThan": return `${column} > ${p.add(value, cast)}`;
    case "greaterThanOrEqualTo": return `${column} >= ${p.add(value, cast)}`;
    case "contains": return `${column} @> ${p.add(JSON.stringify(value), "jsonb")}`;
    case "containsKey": return `${column} ? ${p.add(value, "text")}`;
    case "startsWith": return `starts_with(${column}, ${p.add(value, "text")})`;
    case "startsWithInsensitive": return `starts_with(lower(${column}), lower(${p.add(value, "text")}))`;
    default: throw new Error(`no SQL for operator ${c.operator}`);
  }
}

/** The SQL condition (on alias `l`) the filter means, SQL's three-valued logic included. */
export function toSql(filter: Filter, p: Params): string {
  switch (filter.kind) {
    case "field":
      return `(${filter.comparisons.map((c) => comparisonSql(FILTER_FIELDS[filter.field]!, c, p)).join(" and ")})`;
    case "not":
      return `(not ${toSql(filter.item, p)})`;
    case "and":
    case "or":
      return `(${filter.items.map((f) => toSql(f, p)).join(` ${filter.kind} `)})`;
  }
}

/** A `condition` argument: one or two equalities, as GraphQL and as SQL. */
export interface Condition {
  fields: { field: (typeof CONDITION_FIELDS)[number]; value: unknown }[];
}

export function conditionArbitrary(v: Vocabulary): fc.Arbitrary<Condition> {
  const one = fc.constantFrom(...CONDITION_FIELDS).chain((field) =>
    valueOf(FILTER_FIELDS[field]!.kind, field, v).map((value) => ({ field, value })),
  );
  return fc.uniqueArray(one, { minLength: 1, maxLength: 2, selector: (c) => c.field }).map((fields) => ({ fields }));
}

export function conditionToGraphQL(condition: Condition): Record<string, unknown> {
  return Object.fromEntries(condition.fields.map((f) => [f.field, apiValue(f.value)]));
}

export function conditionToSql(condition: Condition, p: Params): string {
  return condition.fields.map((f) => comparisonSql(FILTER_FIELDS[f.field]!, { operator: "equalTo", value: f.value }, p)).join(" and ");
}
