// The WHERE conditions of a connection over a table, as SQL, for steps that
// count what the connection matches another way (cappedCount; aggregates
// from the rollups): the conditions fixed at planning time plus the
// callbacks that `filter` and `condition` apply at run time. The callbacks
// write into a small query builder that only collects WHERE conditions;
// anything else they might ask for (joins, grouping, selections) is refused
// loudly instead of counting something else. Ordering is dropped (a count
// has no order; totalCount drops it too).
//
// @dataplan/pg 1.1 keeps the runtime callbacks of a PgSelectStep in a private
// field (applyDepIds); `selectInternals` is the one place that reads it.
import "postgraphile";
import { PgCondition, PgSelectStep, type PgResource, type PgSelectQueryBuilder } from "postgraphile/@dataplan/pg";
import type { ExecutionDetails, Step } from "postgraphile/grafast";
import { $$toSQL, sql, type SQL } from "postgraphile/pg-sql2";

/** A runtime callback of `filter`, `condition` or `orderBy`. */
type ApplyCallback = (queryBuilder: PgSelectQueryBuilder) => void;

/** Makes the client's error for a connection a counting step cannot reproduce. */
export type Refusal = (what: string) => Error;

/** The private parts of a PgSelectStep this module needs (see the header). */
interface PgSelectInternals {
  applyDepIds: readonly number[];
  getDepOptions(depId: number): { step: Step };
}

function selectInternals($select: PgSelectStep<PgResource>): PgSelectInternals {
  const internals = $select as unknown as Partial<PgSelectInternals>;
  if (!Array.isArray(internals.applyDepIds) || typeof internals.getDepOptions !== "function") {
    throw new Error("this version of @dataplan/pg keeps a PgSelectStep's runtime conditions elsewhere; update connection-conditions.ts");
  }
  return internals as PgSelectInternals;
}

function hasAlias(value: unknown): value is { alias: SQL } {
  return typeof value === "object" && value !== null && "alias" in value && sql.isSQL((value as { alias: unknown }).alias);
}

/**
 * The query builder handed to the connection's runtime callbacks: it keeps
 * their WHERE conditions and nothing else.
 */
class WhereCollector implements PgSelectQueryBuilder {
  readonly mode = "aggregate" as const;
  readonly alias: SQL;
  readonly conditions: SQL[] = [];
  private readonly meta: Record<string, unknown> = Object.create(null);

  private readonly refuse: Refusal;

  constructor(alias: SQL, refuse: Refusal) {
    this.alias = alias;
    this.refuse = refuse;
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
    throw this.refuse(`a condition of type ${String(spec.type)}`);
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
    throw this.refuse("a join to a relation");
  }

  join(): void {
    throw this.refuse("a join");
  }

  groupBy(): void {
    throw this.refuse("grouping");
  }

  having(): void {
    throw this.refuse("a having condition");
  }

  havingBuilder(): PgCondition<this> {
    throw this.refuse("a having condition");
  }

  selectAndReturnIndex(): number {
    throw this.refuse("a selection");
  }
}

/**
 * What a connection's plan says about which rows it matches, kept by a step
 * that rebuilds the match at run time. Only a plain table with WHERE
 * conditions is reproduced; anything else (joins, placeholders bound to
 * other steps, a function source) is refused at planning time.
 */
export class ConnectionConditions {
  readonly from: SQL;
  readonly alias: SQL;
  private readonly planConditions: readonly SQL[];
  private readonly callbackDepIds: readonly number[];
  private readonly refuse: Refusal;

  /** `addUnaryDependency` is the owning step's: the callbacks become its dependencies. */
  constructor($select: PgSelectStep<PgResource>, addUnaryDependency: (step: Step) => number, refuse: Refusal) {
    this.refuse = refuse;
    const unsupported = ConnectionConditions.unsupported($select);
    if (unsupported) throw refuse(unsupported);
    const info = PgSelectStep.getStaticInfo($select);
    this.from = info.from;
    this.alias = info.alias;
    this.planConditions = info.conditions;
    const internals = selectInternals($select);
    this.callbackDepIds = internals.applyDepIds.map((depId) => addUnaryDependency(internals.getDepOptions(depId).step));
  }

  /** Why a connection's match cannot be rebuilt from its conditions, or null when it can. */
  static unsupported($select: PgSelectStep<PgResource>): string | null {
    const info = PgSelectStep.getStaticInfo($select);
    const reasons = [
      info.joins.length > 0 && "joins",
      info.groups.length > 0 && "grouping",
      info.havingConditions.length > 0 && "having conditions",
      (info.placeholderSymbols.length > 0 || info.fixedPlaceholderValues.size > 0) && "values of the row it belongs to (such as an alert's entries)",
      info.deferredSymbols.length > 0 && "a computed source",
      info._symbolSubstitutes.size > 0 && "merged queries",
    ].filter(Boolean);
    return reasons.length > 0 ? reasons.join(", ") : null;
  }

  /** Whether conditions were fixed at planning time (beyond the runtime callbacks). */
  get hasPlanConditions(): boolean {
    return this.planConditions.length > 0;
  }

  /** The conditions, as ` where ...` (or blank), running the callbacks with this execution's values. */
  where(values: ExecutionDetails["values"]): SQL {
    const collector = new WhereCollector(this.alias, this.refuse);
    for (const depId of this.callbackDepIds) {
      const callbacks = values[depId]!.unaryValue() as ApplyCallback | readonly (ApplyCallback | null | undefined)[] | null | undefined;
      for (const callback of Array.isArray(callbacks) ? callbacks : [callbacks]) callback?.(collector);
    }
    const conditions = [...this.planConditions, ...collector.conditions];
    return conditions.length > 0
      ? sql`\nwhere ${sql.join(conditions.map((c) => sql.parens(sql.indent(c))), "\nand ")}`
      : sql.blank;
  }
}
