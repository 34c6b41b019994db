// The audit log's `aggregates` and `groupedAggregates` (and `cappedCount`,
// for filters on actions and events: RollupTotal below), read from the
// rollups wherever the request allows it, from the log otherwise, with the
// same results.
//
// pg-aggregates plans both fields as the connection's query in aggregate
// mode: `select <aggregates> from audit.log where <filter> group by <keys>`,
// which reads every matching entry (a tenant's 30-day chart by day: 300 ms
// at 10M entries, seconds at 100M). Here that query's FROM is chosen at run
// time, when the request's values are known:
//
// - the rollups, as rows shaped like entries (rollup-query.ts), and `count`
//   as the sum of their counts, when the connection is the root `auditLogs`
//   (its matches depend only on its arguments), its `filter` and
//   `condition` ask only for a time range and sets of accounts, resource
//   types, actions and events, the grouping is by UTC hour or day (or hour
//   of day, day of week), resource type, action or event, and the only
//   aggregate selected is `count`;
// - otherwise the connection's own match, `(select * from audit.log where
//   <filter>)`, and `count(*)`, as before.
//
// audit.activity_counts is exact (whole periods from the rollups, the rest
// counted live in the same snapshot) and row-level security applies to it as
// to the log, so both give the same numbers to the same reader
// (test/server/rollup-aggregates.test.ts compares them, and shows which one
// answered by tampering with a rollup).
import "postgraphile";
import { PgSelectStep, TYPES, pgSelect, type PgResource, type PgSelectSingleStep } from "postgraphile/@dataplan/pg";
import { Step, access, SafeError, type ExecutionDetails, type FieldArgs, type GrafastResultsList } from "postgraphile/grafast";
import { sql, type SQL } from "postgraphile/pg-sql2";
import { ConnectionConditions } from "./connection-conditions.ts";
import { fitsShape, rollupQueryOf, rollupRowsSQL, shapeOfGrouping, type RollupQuery, type RollupShape } from "./rollup-query.ts";

declare global {
  namespace GraphileBuild {
    interface BehaviorStrings {
      rollupCounts: true;
    }
  }
}

/** The raw arguments of a root connection over the log (all of them, as one object), by the connection step it planned. */
export interface RootArgs {
  args: Step;
}

const ROOT_ARGS = new WeakMap<Step, RootArgs>();

/** Arguments that page or order a connection: they change no count. */
const PAGING_ARGS = new Set(["first", "last", "after", "before", "offset", "orderBy"]);

/** A root connection's arguments, as the counting steps depend on them. */
export function rootArgsOf($connection: Step): RootArgs | null {
  return ROOT_ARGS.get($connection) ?? null;
}

/** Per aggregate query planned here: what its children selected, and how `count` reads. */
interface AggregateQuery {
  /** An aggregate other than `count` (and the group's `keys`) is selected: only the log has it. */
  needsLog: boolean;
  /** `count`'s expression: count(*) on the log, the sum of the counts on the rollups. */
  count: SQL;
}

const AGGREGATE_QUERIES = new WeakMap<Step, AggregateQuery>();

/** The source of an aggregate query and its count expression, as chosen at run time. */
interface AggregateSource {
  from: SQL;
  count: SQL;
}

/** The dependency the choice reads the root connection's arguments from. */
interface ChoiceDeps {
  args: number;
}

function addRootArgs(root: RootArgs, addUnaryDependency: (step: Step) => number): ChoiceDeps {
  return { args: addUnaryDependency(root.args) };
}

/** The rollups' version of the request, or null when the log must answer it. */
function rollupQueryFor(deps: ChoiceDeps, values: ExecutionDetails["values"]): RollupQuery | null {
  const { filter, condition, ...others } = (values[deps.args]!.unaryValue() ?? {}) as Record<string, unknown>;
  // An argument that may narrow the rows other than filter and condition sends the count to the log.
  if (Object.entries(others).some(([name, value]) => !PAGING_ARGS.has(name) && value !== null && value !== undefined)) return null;
  return rollupQueryOf(filter, condition);
}

/**
 * Chooses the FROM of an aggregate query over the log and its `count`:
 * the rollups when the request allows it, the connection's match
 * otherwise. Unary: it depends on request-wide values only.
 */
class AggregateSourceStep extends Step<AggregateSource> {
  override isSyncAndSafe = false; // the filter's checks throw client errors
  private readonly conditions: ConnectionConditions;
  private readonly deps: ChoiceDeps | null;
  private readonly groupByDepId: number | null;
  /** The aggregate query's alias, for the rollups' count (set once that query exists). */
  alias: SQL | null = null;
  private readonly query: AggregateQuery;

  constructor($match: PgSelectStep<PgResource>, root: RootArgs | null, $groupBy: Step | null, query: AggregateQuery) {
    super();
    this.query = query;
    const add = (step: Step) => this.addUnaryDependency(step);
    this.conditions = new ConnectionConditions($match, add, (what) => new SafeError(`aggregates cannot be counted over a connection that uses ${what}.`));
    this.deps = root && !this.conditions.hasPlanConditions ? addRootArgs(root, add) : null;
    this.groupByDepId = $groupBy ? add($groupBy) : null;
    if (!this.getAndFreezeIsUnary()) throw new Error("the aggregates' source must depend on request-wide values only");
  }

  override execute({ indexMap, values }: ExecutionDetails): GrafastResultsList<AggregateSource> {
    // The connection's conditions are built every time: their checks (a
    // null inside a filter...) answer the same on either source.
    const where = this.conditions.where(values);
    const source = this.fromRollups(values) ?? {
      from: sql`(select * from ${this.conditions.from} as ${this.conditions.alias}${where})`,
      count: sql`count(*)`,
    };
    return indexMap(() => source);
  }

  private fromRollups(values: ExecutionDetails["values"]): AggregateSource | null {
    if (!this.deps || this.query.needsLog || !this.alias) return null;
    const groupBy = this.groupByDepId === null ? [] : values[this.groupByDepId]!.unaryValue();
    const shape: RollupShape | null = shapeOfGrouping(Array.isArray(groupBy) ? groupBy : [groupBy]);
    const query = shape && rollupQueryFor(this.deps, values);
    if (!shape || !query || !fitsShape(query, shape)) return null;
    return { from: rollupRowsSQL(query, shape), count: sql`coalesce(sum(${this.alias}.entries), 0)::bigint` };
  }
}

/** A connection over a table, as PostGraphile plans it. */
type TableConnection = Step & { cloneSubplanWithoutPagination(mode: "aggregate"): PgSelectStep<PgResource> };

/**
 * The aggregate query of `aggregates` or `groupedAggregates` (whose
 * `groupBy` pg-aggregates applies to the returned step, as to its own).
 */
function planAggregateQuery($connection: TableConnection, $groupBy: Step | null): PgSelectStep<PgResource> {
  const $match = $connection.cloneSubplanWithoutPagination("aggregate");
  // A connection whose match cannot be rebuilt (an alert's entries): pg-aggregates' own query.
  if (ConnectionConditions.unsupported($match)) return $match;
  const query: AggregateQuery = { needsLog: false, count: sql`count(*)` };
  const $source = new AggregateSourceStep($match, rootArgsOf($connection), $groupBy, query);
  const $select = pgSelect({
    resource: $match.resource,
    identifiers: [],
    mode: "aggregate",
    name: "aggregates",
    from: { callback: ($root) => $root.deferredSQL(access($source, "from")) },
  }) as PgSelectStep<PgResource>;
  $source.alias = $select.alias;
  query.count = $select.deferredSQL(access($source, "count"));
  AGGREGATE_QUERIES.set($select, query);
  return $select;
}

/** The count of an aggregate container ($single: a group, or the whole match). */
export function planCount($single: PgSelectSingleStep): Step {
  const query = AGGREGATE_QUERIES.get($single.getClassStep());
  return $single.select(query?.count ?? sql`count(*)`, TYPES.bigint);
}

/** Marks the aggregate query of a container as needing the log (an aggregate the rollups do not have). */
function markNeedsLog($single: Step): void {
  const $select = ($single as Partial<PgSelectSingleStep>).getClassStep?.();
  const query = $select ? AGGREGATE_QUERIES.get($select) : undefined;
  if (query) query.needsLog = true;
}

/**
 * cappedCount's bounded match from the rollups when the request allows it
 * and they are the faster way: the total, as at most max + 1 rows to count.
 * The bounded scan of the log stops after max + 1 matches, and an index
 * serves it for a range, accounts and resource types: there it beats the
 * rollups (10,000,000 entries, the largest tenant: 10 ms against 28 ms
 * without a filter, 7.5 against 20 by resource type, even over 30 days;
 * bench/README.md). No index serves actions and events: the scan walks the
 * tenant's entries to find its matches, all of them when fewer than max
 * match, so a filter on those is counted from the rollups.
 *
 * activity_counts counts the entries the rollups have not counted yet from
 * the log: usually a second's writes, but after a consumer outage or a
 * large import possibly millions, and a capped count must never read more
 * than its cap. So the rollups
 * answer only while fewer than max + 1 entries (of any tenant) wait for
 * them (audit.rollups_pending reads at most that many index entries), and
 * the connection's own bounded scan answers otherwise. CASE evaluates only
 * the branch it takes.
 */
export class RollupTotal {
  private readonly deps: ChoiceDeps;

  constructor(root: RootArgs, addUnaryDependency: (step: Step) => number) {
    this.deps = addRootArgs(root, addUnaryDependency);
  }

  /** `onLog`: the log's bounded match; null when the rollups cannot answer the request. */
  boundedMatch(values: ExecutionDetails["values"], max: number, onLog: SQL): SQL | null {
    const query = rollupQueryFor(this.deps, values);
    if (!query || (!query.sets.actions && !query.sets.events)) return null;
    const total = sql`(select coalesce(sum(t.entries), 0) from ${rollupRowsSQL(query, { bucket: "total", byKind: false })} as t)`;
    const ready = sql`(select p.watermark is not null from audit.rollup_position() as p) and audit.rollups_pending(${sql.literal(max + 1)}) <= ${sql.literal(max)}`;
    return sql`(select 1 from generate_series(1, case when ${ready} then least(${total}, ${sql.literal(max + 1)})
                                          else (select count(*) from ${onLog} as b) end))`;
  }
}

const AGGREGATE_FIELDS = new Set(["aggregates", "groupedAggregates"]);

export const RollupAggregatesPlugin: GraphileConfig.Plugin = {
  name: "RollupAggregatesPlugin",
  description: "The audit log's aggregates, groupedAggregates and cappedCount from the rollups where the request allows it, else from the log.",
  version: "1.0.0",
  after: ["PgAggregatesAddConnectionAggregatesPlugin", "PgAggregatesAddConnectionGroupedAggregatesPlugin", "AuditAggregatesPlugin"],
  schema: {
    behaviorRegistry: {
      add: {
        rollupCounts: {
          description: "on a table's codec: may its counts be read from the rollups (audit.activity_counts)?",
          entities: ["pgCodec"],
        },
      },
    },
    // Off unless a table's smart tags ask for it (audit.log's do, in exposure.ts).
    entityBehavior: { pgCodec: "-rollupCounts" },
    hooks: {
      GraphQLObjectType_fields_field(field, build, context) {
        const { scope } = context;
        const rollups = (codec: unknown) => codec != null && build.behavior.pgCodecMatches(codec as never, "rollupCounts");
        // The root connection: remember its raw arguments for the counts below it.
        if (scope.isRootQuery && scope.isPgFieldConnection && rollups(scope.pgFieldResource?.codec) && field.plan) {
          const plan = field.plan;
          return {
            ...field,
            plan(...params: Parameters<typeof plan>) {
              const $connection = plan(...params) as Step;
              ROOT_ARGS.set($connection, { args: (params[1] as FieldArgs).getRaw() as Step });
              return $connection;
            },
          } as typeof field;
        }
        if (scope.isConnectionType && scope.isPgConnectionRelated && rollups(scope.pgCodec) && AGGREGATE_FIELDS.has(scope.fieldName)) {
          const grouped = scope.fieldName === "groupedAggregates";
          return {
            ...field,
            plan($connection: TableConnection, fieldArgs: FieldArgs) {
              const $select = planAggregateQuery($connection, grouped ? (fieldArgs.getRaw("groupBy") as Step) : null);
              return grouped ? $select : $select.single();
            },
          } as unknown as typeof field;
        }
        if (scope.isPgAggregateContainerType && rollups(scope.pgTypeResource?.codec)) {
          if (scope.fieldName === "count") return { ...field, plan: planCount } as unknown as typeof field;
          if (scope.fieldName === "keys" || !field.plan) return field;
          const plan = field.plan;
          return {
            ...field,
            plan(...params: Parameters<typeof plan>) {
              markNeedsLog(params[0] as Step);
              return plan(...params);
            },
          } as typeof field;
        }
        return field;
      },
    },
  },
};
