// `cappedCount` on the audit log's connection: how many entries match,
// counted only up to a cap, so that a page can say "10,000+" without
// PostgreSQL counting a tenant's whole log. `totalCount` is count(*) over
// every match (about 0.7 s for a broad filter over 10 million entries); this
// field runs
//
//   select count(*) from (select 1 from audit.log where <conditions> limit max + 1)
//
// without an ORDER BY, so PostgreSQL stops after max + 1 matching entries
// whatever the size of the log. It asks for max + 1 so that "exactly max"
// and "more than max" can be told apart. (That takes current statistics, as
// autovacuum keeps them: a planner that expects only a few matches may
// first build a bitmap of every match, reading all their index entries.)
//
// The conditions are the connection's own, taken from the same plan that
// totalCount counts (cloneSubplanWithoutPagination; connection-conditions.ts
// collects them), so filter and condition match the same entries. The
// bounded query runs as the FROM of an ordinary aggregate PgSelect of the
// same resource, so it goes through the same executor as totalCount: the
// request's role and claims, hence the same row-level security.
//
// On the root `auditLogs`, when its filter names actions or events (no index
// serves those: the scan would walk the tenant's entries) and otherwise asks
// only what the rollups carry, the total comes from audit.activity_counts
// instead, exact (RollupTotal in rollup-aggregates.ts); the cap applies the same.
// The equality with totalCount is covered by test/server/capped-count.test.ts.
import "postgraphile";
import { PgSelectStep, TYPES, pgSelect, type PgResource } from "postgraphile/@dataplan/pg";
import { Step, access, lambda, SafeError, type ConnectionStep, type ExecutionDetails, type FieldArgs, type GrafastResultsList } from "postgraphile/grafast";
import { sql, type SQL } from "postgraphile/pg-sql2";
import { ConnectionConditions } from "./connection-conditions.ts";
import { RollupTotal, rootArgsOf, type RootArgs } from "./rollup-aggregates.ts";

declare global {
  namespace GraphileBuild {
    interface BehaviorStrings {
      cappedCount: true;
    }
  }
}

export const CAPPED_COUNT = {
  /** The cap when `max` is omitted (or null): the page shows "10,000+". */
  defaultMax: 10_000,
  /** The largest accepted cap. */
  largestMax: 100_000,
};

const FIELD = "cappedCount";

/** The cap a request asked for; a clear error outside 1..largestMax. */
export function checkMax(max: unknown): number {
  if (max === null || max === undefined) return CAPPED_COUNT.defaultMax;
  if (typeof max !== "number" || !Number.isInteger(max) || max < 1 || max > CAPPED_COUNT.largestMax) {
    throw new SafeError(
      `max must be between 1 and ${CAPPED_COUNT.largestMax} (the most entries a capped count reads); got ${String(max)}. ` +
        "Use totalCount for an exact count of a narrow filter.",
      { code: "CAPPED_COUNT_MAX_OUT_OF_RANGE" },
    );
  }
  return max;
}

/** What cappedCount returns. */
export interface CappedCount {
  count: number;
  isCapped: boolean;
}

/**
 * A connection cappedCount cannot reproduce: refused, never counted
 * differently. A client's error (it can ask for totalCount instead), such
 * as cappedCount of an alert's entries, whose rows depend on their alert.
 */
class UnsupportedByCappedCount extends SafeError {
  constructor(what: string) {
    super(`${FIELD} cannot count a connection that uses ${what}; ask for totalCount here.`, { code: "CAPPED_COUNT_UNSUPPORTED" });
    this.name = "UnsupportedByCappedCount";
  }
}

/**
 * The bounded match as SQL: `(select 1 from <table> as <alias> where
 * <conditions> limit <max + 1>)`, built once per request from the
 * connection's conditions. Unary: it depends only on request-wide values
 * (arguments), as a PgSelect's deferred SQL must.
 */
class BoundedMatchStep extends Step<SQL> {
  override isSyncAndSafe = false; // refusing an unsupported callback throws
  private readonly conditions: ConnectionConditions;
  private readonly rollups: RollupTotal | null;
  private readonly maxDepId: number;

  constructor($select: PgSelectStep<PgResource>, $max: Step<number>, root: RootArgs | null) {
    super();
    const add = (step: Step) => this.addUnaryDependency(step);
    this.conditions = new ConnectionConditions($select, add, (what) => new UnsupportedByCappedCount(what));
    this.rollups = root && !this.conditions.hasPlanConditions ? new RollupTotal(root, add) : null;
    this.maxDepId = add($max);
    if (!this.getAndFreezeIsUnary()) throw new Error(`${FIELD}: the bounded match must depend on request-wide values only`);
  }

  override execute({ indexMap, values }: ExecutionDetails): GrafastResultsList<SQL> {
    // Built every time: the filter's checks answer the same on either source.
    const where = this.conditions.where(values);
    const max = values[this.maxDepId]!.unaryValue() as number;
    const onLog = sql`(${sql.indent(sql`select 1\nfrom ${this.conditions.from} as ${this.conditions.alias}${where}\nlimit ${sql.literal(max + 1)}`)})`;
    const bounded = this.rollups?.boundedMatch(values, max, onLog) ?? onLog;
    return indexMap(() => bounded);
  }
}

/** A connection over a table, as PostGraphile plans it: its collection is a PgSelectStep. */
type TableConnectionStep = ConnectionStep<any, any, any, any, any, PgSelectStep<PgResource>>;

/** The plan of cappedCount: the bounded match, counted by PostgreSQL, compared with the cap. */
function planCappedCount($connection: TableConnectionStep, fieldArgs: FieldArgs): Step<CappedCount> {
  const $select = $connection.cloneSubplanWithoutPagination("aggregate");
  // Not sync-and-safe: it throws, and the error must reach the client.
  const $max = lambda(fieldArgs.getRaw("max"), checkMax);
  const $bounded = new BoundedMatchStep($select, $max, rootArgsOf($connection));
  const $counted = pgSelect({
    resource: $select.resource,
    identifiers: [],
    mode: "aggregate",
    name: "capped_count",
    from: { callback: ($root) => $root.deferredSQL($bounded) },
  });
  const $matches = $counted.singleAsRecord().select(sql`count(*)::int`, TYPES.int);
  return lambda([$matches, $max], ([matches, max]) => ({ count: Math.min(matches, max), isCapped: matches > max }), true);
}

export const AuditCappedCountPlugin: GraphileConfig.Plugin = {
  name: "AuditCappedCountPlugin",
  description: `cappedCount(max) on the audit log's connection: the matches counted up to a cap (default ${CAPPED_COUNT.defaultMax}).`,
  version: "1.0.0",
  after: ["PgConnectionTotalCountPlugin"],
  schema: {
    behaviorRegistry: {
      add: {
        cappedCount: {
          description: "on a table's codec: should its connections have the cappedCount field?",
          entities: ["pgCodec"],
        },
      },
    },
    // Off unless a table's smart tags ask for it (audit.log's do, in exposure.ts).
    entityBehavior: { pgCodec: "-cappedCount" },
    hooks: {
      init(_, build) {
        const { GraphQLBoolean, GraphQLInt, GraphQLNonNull } = build.graphql;
        for (const codec of Object.values(build.input.pgRegistry.pgCodecs)) {
          if (!codec.attributes || !build.behavior.pgCodecMatches(codec, "cappedCount")) continue;
          build.registerObjectType(
            `${build.inflection.tableType(codec)}CappedCount`,
            {},
            () => ({
              description: 'How many entries match, counted up to a cap (`max`): the exact number when `isCapped` is false, otherwise "more than `max`" (show it as "10,000+").',
              fields: {
                count: {
                  description: "The number of matching entries, never above `max`: exact when `isCapped` is false, `max` when more match.",
                  type: new GraphQLNonNull(GraphQLInt),
                  plan: ($result: Step<CappedCount>) => access($result, "count"),
                },
                isCapped: {
                  description: "True when more than `max` entries match: `count` is then `max`, a lower bound (\"10,000+\").",
                  type: new GraphQLNonNull(GraphQLBoolean),
                  plan: ($result: Step<CappedCount>) => access($result, "isCapped"),
                },
              },
            }),
            "AuditCappedCountPlugin",
          );
        }
        return _;
      },
      GraphQLObjectType_fields(fields, build, context) {
        const { isConnectionType, isPgConnectionRelated, pgCodec } = context.scope;
        if (!isConnectionType || !isPgConnectionRelated || !pgCodec?.attributes || !build.behavior.pgCodecMatches(pgCodec, "cappedCount")) {
          return fields;
        }
        const CappedCountType = build.getOutputTypeByName(`${build.inflection.tableType(pgCodec)}CappedCount`);
        const { GraphQLInt, GraphQLNonNull } = build.graphql;
        return build.extend(
          fields,
          {
            [FIELD]: context.fieldWithHooks({ fieldName: FIELD }, {
              description:
                "How many entries match the connection's `filter` and `condition`, counted up to `max` (like totalCount, it " +
                "ignores `first` and `after`). PostgreSQL stops after `max` + 1 matching entries, so this stays fast on " +
                "any size of log, where totalCount counts every match. Show `isCapped` as \"10,000+\".",
              type: new GraphQLNonNull(CappedCountType),
              args: {
                max: {
                  description: `The cap: from 1 to ${CAPPED_COUNT.largestMax}; ${CAPPED_COUNT.defaultMax} when omitted or null.`,
                  type: GraphQLInt,
                  defaultValue: CAPPED_COUNT.defaultMax,
                },
              },
              plan: planCappedCount,
            }),
          },
          "AuditCappedCountPlugin adding cappedCount",
        );
      },
    },
  },
};
