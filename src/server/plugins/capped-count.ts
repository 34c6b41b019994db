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
// totalCount counts (cloneSubplanWithoutPagination): the conditions fixed at
// planning time plus the callbacks that `filter` and `condition` apply at run
// time. Here those callbacks write into a small query builder that only
// collects WHERE conditions; anything else they might ask for (joins,
// grouping, selections) fails loudly instead of counting something else.
// Ordering is dropped, as for totalCount. The bounded query runs as the FROM
// of an ordinary aggregate PgSelect of the same resource, so it goes through
// the same executor as totalCount: the request's role and claims, hence the
// same row-level security.
//
// @dataplan/pg 1.1 keeps the runtime callbacks of a PgSelectStep in a private
// field (applyDepIds); `selectInternals` is the one place that reads it. The
// equality with totalCount is covered by test/server/capped-count.test.ts.
import "postgraphile";
import { PgCondition, PgSelectStep, TYPES, pgSelect, type PgResource, type PgSelectQueryBuilder } from "postgraphile/@dataplan/pg";
import { Step, access, lambda, SafeError, type ConnectionStep, type ExecutionDetails, type FieldArgs, type GrafastResultsList } from "postgraphile/grafast";
import { $$toSQL, sql, type SQL } from "postgraphile/pg-sql2";

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

/** A runtime callback of `filter`, `condition` or `orderBy`. */
type ApplyCallback = (queryBuilder: PgSelectQueryBuilder) => void;

/** The private parts of a PgSelectStep this plugin needs (see the header). */
interface PgSelectInternals {
  applyDepIds: readonly number[];
  getDepOptions(depId: number): { step: Step };
}

function selectInternals($select: PgSelectStep<PgResource>): PgSelectInternals {
  const internals = $select as unknown as Partial<PgSelectInternals>;
  if (!Array.isArray(internals.applyDepIds) || typeof internals.getDepOptions !== "function") {
    throw new Error(`${FIELD}: this version of @dataplan/pg keeps a PgSelectStep's runtime conditions elsewhere; update capped-count.ts`);
  }
  return internals as PgSelectInternals;
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
 * The query builder handed to the connection's runtime callbacks: it keeps
 * their WHERE conditions and nothing else. Ordering is dropped (a count has
 * no order; totalCount drops it too); anything that would change which rows
 * match other than a WHERE condition is refused.
 */
class WhereCollector implements PgSelectQueryBuilder {
  readonly mode = "aggregate" as const;
  readonly alias: SQL;
  readonly conditions: SQL[] = [];
  private readonly meta: Record<string, unknown> = Object.create(null);

  constructor(alias: SQL) {
    this.alias = alias;
  }

  [$$toSQL](): SQL {
    return this.alias;
  }

  where(condition: Parameters<PgSelectQueryBuilder["where"]>[0]): void {
    // Callbacks get `sql` with embedding of objects that carry an alias (this
    // builder, a PgCondition), as @dataplan/pg's own runtime builder does.
    const resolved: unknown = typeof condition === "function"
      ? sql.withTransformer((_sql, value: unknown) => (hasAlias(value) ? value.alias : value) as SQL, condition as (s: typeof sql) => SQL)
      : condition;
    if (sql.isSQL(resolved)) {
      this.conditions.push(resolved);
      return;
    }
    const spec = resolved as { type?: string; attribute?: string; callback?: (column: SQL) => SQL };
    if (spec.type === "attribute" && typeof spec.attribute === "string" && typeof spec.callback === "function") {
      this.conditions.push(spec.callback(sql`${this.alias}.${sql.identifier(spec.attribute)}`));
      return;
    }
    throw new UnsupportedByCappedCount(`a condition of type ${String(spec.type)}`);
  }

  whereBuilder(): PgCondition<this> {
    return new PgCondition(this);
  }

  orderBy(): void {}

  setOrderIsUnique(): void {}

  setMeta(key: string, value: unknown): void {
    this.meta[key] = value;
  }

  getMetaRaw(key: string): unknown {
    return this.meta[key];
  }

  singleRelation(): SQL {
    throw new UnsupportedByCappedCount("a join to a relation");
  }

  join(): void {
    throw new UnsupportedByCappedCount("a join");
  }

  groupBy(): void {
    throw new UnsupportedByCappedCount("grouping");
  }

  having(): void {
    throw new UnsupportedByCappedCount("a having condition");
  }

  havingBuilder(): PgCondition<this> {
    throw new UnsupportedByCappedCount("a having condition");
  }

  selectAndReturnIndex(): number {
    throw new UnsupportedByCappedCount("a selection");
  }
}

function hasAlias(value: unknown): value is { alias: SQL } {
  return typeof value === "object" && value !== null && "alias" in value && sql.isSQL((value as { alias: unknown }).alias);
}

/**
 * The bounded match as SQL: `(select 1 from <table> as <alias> where
 * <conditions> limit <max + 1>)`, built once per request from the
 * connection's conditions. Unary: it depends only on request-wide values
 * (arguments), as a PgSelect's deferred SQL must.
 */
class BoundedMatchStep extends Step<SQL> {
  override isSyncAndSafe = false; // refusing an unsupported callback throws
  private readonly from: SQL;
  private readonly alias: SQL;
  private readonly planConditions: readonly SQL[];
  private readonly callbackDepIds: readonly number[];
  private readonly maxDepId: number;

  constructor($select: PgSelectStep<PgResource>, $max: Step<number>) {
    super();
    const info = PgSelectStep.getStaticInfo($select);
    // Only a plain table with WHERE conditions is reproduced here; anything
    // else (joins, placeholders bound to other steps, a function source) is
    // refused at planning time rather than counted differently.
    const unsupported = [
      info.joins.length > 0 && "joins",
      info.groups.length > 0 && "grouping",
      info.havingConditions.length > 0 && "having conditions",
      (info.placeholderSymbols.length > 0 || info.fixedPlaceholderValues.size > 0) && "values of the row it belongs to (such as an alert's entries)",
      info.deferredSymbols.length > 0 && "a computed source",
      info._symbolSubstitutes.size > 0 && "merged queries",
    ].filter(Boolean);
    if (unsupported.length > 0) throw new UnsupportedByCappedCount(unsupported.join(", "));
    this.from = info.from;
    this.alias = info.alias;
    this.planConditions = info.conditions;
    const internals = selectInternals($select);
    this.callbackDepIds = internals.applyDepIds.map((depId) => this.addUnaryDependency(internals.getDepOptions(depId).step));
    this.maxDepId = this.addUnaryDependency($max);
    if (!this.getAndFreezeIsUnary()) throw new Error(`${FIELD}: the bounded match must depend on request-wide values only`);
  }

  override execute({ indexMap, values }: ExecutionDetails): GrafastResultsList<SQL> {
    const collector = new WhereCollector(this.alias);
    for (const depId of this.callbackDepIds) {
      const callbacks = values[depId]!.unaryValue() as ApplyCallback | readonly (ApplyCallback | null | undefined)[] | null | undefined;
      for (const callback of Array.isArray(callbacks) ? callbacks : [callbacks]) callback?.(collector);
    }
    const max = values[this.maxDepId]!.unaryValue() as number;
    const conditions = [...this.planConditions, ...collector.conditions];
    const where = conditions.length > 0
      ? sql`\nwhere ${sql.join(conditions.map((c) => sql.parens(sql.indent(c))), "\nand ")}`
      : sql.blank;
    const bounded = sql`(${sql.indent(sql`select 1\nfrom ${this.from} as ${this.alias}${where}\nlimit ${sql.literal(max + 1)}`)})`;
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
  const $bounded = new BoundedMatchStep($select, $max);
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
