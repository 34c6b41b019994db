// Random auditLogs queries (every field, filter, condition, order, page size,
// cursor, totalCount, cappedCount, aggregates, groupedAggregates), and what
// each must answer for a scope: computed from the owner's rows of that scope
// (support/truth.ts), never from the API.
import fc from "fast-check";
import { expect } from "vitest";
import { conditionArbitrary, conditionToGraphQL, conditionToSql, filterArbitrary, toGraphQL, toSql, type Condition, type Filter } from "./filters.ts";
import { sometimes } from "./isolation-runs.ts";
import { canonicalInstant, type Order, type Params, type TruthRow, type Vocabulary } from "./truth.ts";

export const NODE_FIELDS = [
  "occurredAt", "tenantId", "accountId", "actorType", "actorId", "actorEmail", "actorName", "action", "resourceType",
  "entityId", "entityLabel", "event", "description", "oldValues", "newValues", "context", "transactionId",
] as const satisfies readonly (keyof TruthRow)[];

export const DISTINCT_FIELDS = [
  "accountId", "action", "actorEmail", "actorId", "actorType", "entityId", "event", "occurredAt", "resourceType", "transactionId",
] as const satisfies readonly (keyof TruthRow)[];

/** Each groupBy value and the key it gives an entry (instants canonical). */
export const GROUP_KEYS: Readonly<Record<string, (r: TruthRow) => string | null>> = {
  ACTION: (r) => r.action,
  RESOURCE_TYPE: (r) => r.resourceType,
  EVENT: (r) => r.event,
  ACTOR_ID: (r) => r.actorId,
  ACTOR_EMAIL: (r) => r.actorEmail,
  ACTOR_NAME: (r) => r.actorName,
  ACTOR_TYPE: (r) => r.actorType,
  ACCOUNT_ID: (r) => r.accountId,
  OCCURRED_AT_TRUNCATED_TO_DAY: (r) => `${r.occurredAt.slice(0, 10)}T00:00:00.000000`,
  OCCURRED_AT_TRUNCATED_TO_HOUR: (r) => `${r.occurredAt.slice(0, 13)}:00:00.000000`,
  OCCURRED_AT_HOUR_OF_DAY: (r) => String(Number(r.occurredAt.slice(11, 13))),
  OCCURRED_AT_DAY_OF_WEEK: (r) => String(new Date(`${r.occurredAt.slice(0, 10)}T00:00:00Z`).getUTCDay() || 7),
};

/** A keyset position some admin's page handed out, with the order it was read in. */
export interface PooledCursor {
  cursor: string;
  orderBy: Order;
  /** The entry it points after; null for cursors nobody handed out (forged). */
  position: { occurredAt: string; id: string } | null;
  from: string;
}

export interface ApiQuery {
  filter: Filter | null;
  condition: Condition | null;
  orderBy: Order | null;
  first: number | null;
  /** Index into the cursor pool (taken modulo its size). */
  after: number | null;
  nodes: (typeof NODE_FIELDS)[number][] | null;
  edges: boolean;
  pageInfo: boolean;
  totalCount: boolean;
  cappedCount: { max: number | null } | null;
  aggregates: { distinct: (typeof DISTINCT_FIELDS)[number][]; earliest: boolean; latest: boolean } | null;
  grouped: { groupBy: string[]; distinct: (typeof DISTINCT_FIELDS)[number][]; latest: boolean } | null;
  /** Page through everything (page size `first`) instead of one page. */
  walk: boolean;
}

export function apiQueryArbitrary(v: Vocabulary): fc.Arbitrary<ApiQuery> {
  const distinct = fc.subarray([...DISTINCT_FIELDS], { maxLength: 4 });
  return fc.record({
    filter: sometimes(filterArbitrary(v), 75),
    condition: sometimes(conditionArbitrary(v), 12),
    orderBy: fc.constantFrom<Order | null>(null, "DESC", "ASC"),
    first: sometimes(fc.integer({ min: 0, max: 25 }), 80),
    after: sometimes(fc.nat(), 35),
    nodes: sometimes(fc.subarray([...NODE_FIELDS]), 80),
    edges: fc.boolean(),
    pageInfo: fc.boolean(),
    totalCount: fc.boolean(),
    cappedCount: sometimes(fc.record({ max: sometimes(fc.integer({ min: 1, max: 40 }), 70) }), 50),
    aggregates: sometimes(fc.record({ distinct, earliest: fc.boolean(), latest: fc.boolean() }), 50),
    grouped: sometimes(fc.record({
      groupBy: fc.shuffledSubarray(Object.keys(GROUP_KEYS), { minLength: 1, maxLength: 2 }),
      distinct,
      latest: fc.boolean(),
    }), 40),
    walk: fc.boolean(),
  });
}

/** The SQL condition of a query's filter and condition (true when it has neither). */
export function querySql(q: ApiQuery, p: Params): string {
  const parts = [q.filter ? toSql(q.filter, p) : null, q.condition ? conditionToSql(q.condition, p) : null].filter((x) => x !== null);
  return parts.length > 0 ? parts.join(" and ") : "true";
}

/** The GraphQL document and variables of one page of the query. */
export function toRequest(q: ApiQuery, after: string | null): { query: string; variables: Record<string, unknown> } {
  const declared: string[] = [];
  const args: string[] = [];
  const variables: Record<string, unknown> = {};
  const variable = (name: string, type: string, value: unknown) => {
    declared.push(`$${name}: ${type}`);
    args.push(`${name}: $${name}`);
    variables[name] = value;
  };
  if (q.filter) variable("filter", "AuditLogFilter", toGraphQL(q.filter));
  if (q.condition) variable("condition", "AuditLogCondition", conditionToGraphQL(q.condition));
  if (after !== null) variable("after", "Cursor", after);
  if (q.first !== null) args.push(`first: ${q.first}`);
  if (q.orderBy !== null) args.push(`orderBy: [OCCURRED_AT_${q.orderBy}]`);
  const sel: string[] = [];
  const nodeFields = ["id", ...(q.nodes ?? [])].join(" ");
  if (q.nodes || q.walk) sel.push(`nodes { ${nodeFields} }`);
  if (q.edges) sel.push("edges { cursor node { id } }");
  if (q.pageInfo || q.walk) sel.push("pageInfo { hasNextPage endCursor }");
  if (q.totalCount) sel.push("totalCount");
  if (q.cappedCount) sel.push(`cappedCount${q.cappedCount.max === null ? "" : `(max: ${q.cappedCount.max})`} { count isCapped }`);
  const aggregateFields = (a: { distinct: readonly string[]; latest: boolean; earliest?: boolean }) =>
    [
      "count",
      a.distinct.length > 0 ? `distinctCount { ${a.distinct.join(" ")} }` : "",
      a.earliest ? "earliest { occurredAt }" : "",
      a.latest ? "latest { occurredAt }" : "",
    ].join(" ");
  if (q.aggregates) sel.push(`aggregates { ${aggregateFields(q.aggregates)} }`);
  if (q.grouped) sel.push(`groupedAggregates(groupBy: [${q.grouped.groupBy.join(", ")}]) { keys ${aggregateFields(q.grouped)} }`);
  if (sel.length === 0) sel.push("totalCount");
  const signature = declared.length > 0 ? `(${declared.join(", ")})` : "";
  const argList = args.length > 0 ? `(${args.join(", ")})` : "";
  return { query: `query Isolation${signature} { auditLogs${argList} { ${sel.join(" ")} } }`, variables };
}

/** Compares two truth rows' keyset positions in `order`: negative when `a` comes first. */
export function compareInOrder(order: Order, a: { occurredAt: string; id: string }, b: { occurredAt: string; id: string }): number {
  const byTime = a.occurredAt < b.occurredAt ? -1 : a.occurredAt > b.occurredAt ? 1 : 0;
  const byId = byTime !== 0 ? byTime : BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0;
  return order === "DESC" ? -byId : byId;
}

/** The entries after a cursor's position, in `order`. */
export function afterPosition(rows: readonly TruthRow[], order: Order, position: { occurredAt: string; id: string } | null): TruthRow[] {
  return position === null ? [...rows] : rows.filter((r) => compareInOrder(order, r, position) > 0);
}

const distinctCount = (rows: readonly TruthRow[], field: keyof TruthRow) =>
  String(new Set(rows.map((r) => r[field]).filter((x) => x !== null).map((x) => JSON.stringify(x))).size);

const extreme = (rows: readonly TruthRow[], pickLast: boolean) => {
  if (rows.length === 0) return null;
  const sorted = rows.map((r) => r.occurredAt).sort();
  return pickLast ? sorted.at(-1)! : sorted[0]!;
};

/** The aggregates of `rows`, as the API's fields with canonical instants. */
function aggregatesOf(rows: readonly TruthRow[], a: { distinct: readonly (keyof TruthRow)[]; earliest?: boolean; latest: boolean }): Record<string, unknown> {
  return {
    count: String(rows.length),
    ...(a.distinct.length > 0 ? { distinctCount: Object.fromEntries(a.distinct.map((f) => [f, distinctCount(rows, f)])) } : {}),
    ...(a.earliest ? { earliest: { occurredAt: extreme(rows, false) } } : {}),
    ...(a.latest ? { latest: { occurredAt: extreme(rows, true) } } : {}),
  };
}

const canonicalMaybe = (value: unknown) => (typeof value === "string" && /^\d{4}-\d\d-\d\dT/.test(value) ? canonicalInstant(value) : value);

/** An API aggregates object with canonical instants (for comparison). */
function canonicalAggregates(a: Record<string, any>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const k of ["earliest", "latest"]) if (a[k]) out[k] = { occurredAt: canonicalMaybe(a[k].occurredAt) };
  return out;
}

/** A node as the truth's fields (canonical instants). */
function canonicalNode(node: Record<string, unknown>): Record<string, unknown> {
  return { ...node, ...(node.occurredAt !== undefined ? { occurredAt: canonicalMaybe(node.occurredAt) } : {}) };
}

/** Checks one page's answer against the scope's matching entries (in order) and the position it started after. */
export function expectPage(q: ApiQuery, answer: any, all: readonly TruthRow[], position: { occurredAt: string; id: string } | null, where: string): void {
  const order = q.orderBy ?? "DESC";
  const first = q.first ?? 50;
  const rest = afterPosition(all, order, position);
  const page = rest.slice(0, first);
  if (answer.nodes) {
    const want = page.map((r) => Object.fromEntries(["id", ...(q.nodes ?? [])].map((f) => [f, r[f as keyof TruthRow]])));
    expect(answer.nodes.map(canonicalNode), `${where}: nodes`).toEqual(want);
  }
  if (answer.edges) {
    expect(answer.edges.map((e: { node: { id: string } }) => e.node.id), `${where}: edges`).toEqual(page.map((r) => r.id));
    expect(new Set(answer.edges.map((e: { cursor: string }) => e.cursor)).size, `${where}: distinct cursors`).toBe(page.length);
  }
  if (answer.pageInfo) expect(answer.pageInfo.hasNextPage, `${where}: hasNextPage`).toBe(rest.length > first);
  // Counts and aggregates ignore first and after: the whole match.
  if (answer.totalCount !== undefined) expect(answer.totalCount, `${where}: totalCount`).toBe(all.length);
  if (answer.cappedCount) {
    const max = q.cappedCount?.max ?? 10_000;
    expect(answer.cappedCount, `${where}: cappedCount`).toEqual({ count: Math.min(all.length, max), isCapped: all.length > max });
  }
  if (answer.aggregates && q.aggregates) {
    expect(canonicalAggregates(answer.aggregates), `${where}: aggregates`).toEqual(aggregatesOf(all, q.aggregates));
  }
  if (answer.groupedAggregates && q.grouped) {
    const g = q.grouped;
    const groups = new Map<string, TruthRow[]>();
    for (const r of all) {
      const keys = JSON.stringify(g.groupBy.map((k) => GROUP_KEYS[k]!(r)));
      groups.set(keys, [...(groups.get(keys) ?? []), r]);
    }
    const want = [...groups].map(([keys, rows]) => ({ keys: JSON.parse(keys) as unknown, ...aggregatesOf(rows, g) }));
    const got = answer.groupedAggregates.map((x: Record<string, any>) => ({ ...canonicalAggregates(x), keys: x.keys.map(canonicalMaybe) }));
    const byKeys = (a: { keys: unknown }, b: { keys: unknown }) => (JSON.stringify(a.keys) < JSON.stringify(b.keys) ? -1 : 1);
    expect(got.sort(byKeys), `${where}: groupedAggregates`).toEqual(want.sort(byKeys));
  }
}
