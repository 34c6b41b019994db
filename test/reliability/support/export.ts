// Random GET /export requests (format, every filter parameter, and
// parameters the export must refuse), their SQL truth, and readers of the
// CSV and JSON Lines answers.
import fc from "fast-check";
import { sometimes } from "./isolation-runs.ts";
import type { Params, TruthRow, Vocabulary } from "./truth.ts";

export interface ExportQuery {
  format: "csv" | "jsonl" | null;
  action: string | null;
  resource: string | null;
  user: string | null;
  entity: string | null;
  from: string | null;
  to: string | null;
  /** A parameter the export must refuse with 400 (it would widen or change the export). */
  refused: [string, string] | null;
}

/**
 * An instant with milliseconds (what the page sends), in UTC or with an
 * offset: an entry's own (cut to milliseconds, so bounds fall between
 * entries of the same millisecond) or any in the window.
 */
function instant(v: Vocabulary): fc.Arbitrary<string> {
  const ms = fc.oneof(
    fc.constantFrom(...v.instants).map((i) => Date.parse(`${i.slice(0, 23)}Z`)),
    fc.integer({ min: Date.parse("2025-12-20T00:00:00Z"), max: Date.parse("2026-01-14T00:00:00Z") }),
  );
  return fc
    .record({ ms, offset: fc.boolean() })
    .map(({ ms, offset }) => (offset ? `${new Date(ms + 330 * 60_000).toISOString().slice(0, -1)}+05:30` : new Date(ms).toISOString()));
}

export function exportQueryArbitrary(v: Vocabulary, foreignIds: readonly string[]): fc.Arbitrary<ExportQuery> {
  const some = <T>(arb: fc.Arbitrary<T>) => sometimes(arb, 20);
  const known = (values: readonly string[], others: string[]) => fc.constantFrom(...values, ...others);
  return fc.record({
    format: fc.constantFrom<ExportQuery["format"]>(null, "csv", "jsonl"),
    action: some(known([...v.actions, ...v.events], ["nothing", "no.such_event"])),
    resource: some(known(v.resourceTypes, ["nothing"])),
    user: some(fc.oneof(known(v.actorIds, []), fc.uuid())),
    entity: some(known(v.entityIds, ["nothing"])),
    from: some(instant(v)),
    to: some(instant(v)),
    refused: sometimes(
      fc.oneof(
        fc.constantFrom(...foreignIds).chain((id) => fc.constantFrom<[string, string]>(["tenant", id], ["account", id], ["tenant_id", id])),
        fc.constantFrom<[string, string]>(["range", "7d"], ["format", "xlsx"], ["user", "not-a-uuid"], ["from", "yesterday"], ["after", "WyIwIl0="], ["limit", "1"]),
      ),
      15,
    ),
  });
}

export function exportUrl(base: string, q: ExportQuery): string {
  const params = new URLSearchParams();
  const set = (name: string, value: string | null) => {
    if (value !== null) params.set(name, value);
  };
  set("format", q.format);
  set("action", q.action);
  set("resource", q.resource);
  set("user", q.user);
  set("entity", q.entity);
  set("from", q.from);
  set("to", q.to);
  if (q.refused) params.set(q.refused[0], q.refused[1]);
  return `${base}/export?${params}`;
}

/** What the export's filters mean, as SQL on alias `l` (README: from inclusive, to exclusive; an action with a dot is an event). */
export function exportSql(q: ExportQuery, p: Params): string {
  const where = ["true"];
  if (q.from) where.push(`l.occurred_at >= ${p.add(new Date(q.from).toISOString(), "timestamptz")}`);
  if (q.to) where.push(`l.occurred_at < ${p.add(new Date(q.to).toISOString(), "timestamptz")}`);
  if (q.action) where.push(`${q.action.includes(".") ? "l.event" : "l.action"} = ${p.add(q.action)}`);
  if (q.resource) where.push(`l.resource_type = ${p.add(q.resource)}`);
  if (q.user) where.push(`l.actor_id = ${p.add(q.user, "uuid")}`);
  if (q.entity) where.push(`l.entity_id = ${p.add(q.entity)}`);
  return where.join(" and ");
}

/** The columns of a truth row that CSV writes unchanged (no formula guard, no JSON). */
export const PLAIN_CSV_COLUMNS = ["id", "tenantId", "accountId", "actorType", "actorId", "action", "resourceType", "event", "transactionId"] as const satisfies readonly (keyof TruthRow)[];
