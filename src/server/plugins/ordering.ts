// Order of the audit log: newest first by default, oldest first on request,
// always with `id` as the tie-breaker. The pair (occurred_at, id) is unique
// (id is an identity), so cursors are keyset positions on it and pagination
// never skips or repeats an entry, even among entries of the same instant
// or while new entries arrive. It is also the order of the indexes, which
// all end in (occurred_at, id). Other sort keys are not offered: sorting a
// tenant's whole log by, say, action cannot use an index.
// Security alerts are ordered the same way by (detected_at, id), the order
// of their indexes.
// `orderBy: null` and `orderBy: []` mean the default order, like leaving
// the argument out (PostGraphile would otherwise read in no order at all,
// with offset-based cursors); more than one ordering is refused.
import "postgraphile";
import type { PgCodec, PgSelectQueryBuilder, PgSelectStep } from "postgraphile/@dataplan/pg";
import { SafeError, type FieldArg } from "postgraphile/grafast";
import { wrapPlans } from "postgraphile/utils";

declare global {
  namespace GraphileBuild {
    interface BehaviorStrings {
      occurredAtOrder: true;
      detectedAtOrder: true;
    }
  }
}

interface KeysetOrder {
  /** The codec behavior that asks for it (smart tags, exposure.ts). */
  behavior: "occurredAtOrder" | "detectedAtOrder";
  /** The timestamp column; `id` breaks ties. */
  column: string;
  /** The enum values' prefix: OCCURRED_AT_DESC... */
  prefix: string;
}

export const KEYSET_ORDERS: readonly KeysetOrder[] = [
  { behavior: "occurredAtOrder", column: "occurred_at", prefix: "OCCURRED_AT" },
  { behavior: "detectedAtOrder", column: "detected_at", prefix: "DETECTED_AT" },
];

/** Orders a query by a timestamp column, then id, in one direction: a unique order, so cursors are keyset positions. */
export function byTimeThenId(column: string, direction: "ASC" | "DESC") {
  return function apply(queryBuilder: PgSelectQueryBuilder) {
    queryBuilder.orderBy({ attribute: column, direction });
    queryBuilder.orderBy({ attribute: "id", direction });
    queryBuilder.setOrderIsUnique();
  };
}

/** The orderBy of a request, applied; null or [] is the default, newest first. */
function applyOrderBy(order: KeysetOrder) {
  return (queryBuilder: PgSelectQueryBuilder, value: unknown): PgSelectQueryBuilder | undefined => {
    const orders = (value ?? []) as readonly unknown[];
    if (orders.length === 0) {
      byTimeThenId(order.column, "DESC")(queryBuilder);
      return undefined;
    }
    if (orders.length > 1) {
      throw new SafeError(`orderBy takes one ordering, ${order.prefix}_DESC or ${order.prefix}_ASC (both break ties by id); got ${orders.length}.`, {
        code: "INVALID_ORDER_BY",
      });
    }
    return queryBuilder; // the enum value's own apply follows
  };
}

function keysetOrderOf(build: GraphileBuild.Build, codec: PgCodec | undefined): KeysetOrder | undefined {
  return codec ? KEYSET_ORDERS.find((order) => build.behavior.pgCodecMatches(codec, order.behavior)) : undefined;
}

export const AuditOrderingPlugin: GraphileConfig.Plugin = {
  name: "AuditOrderingPlugin",
  description:
    "AuditLogOrderBy: OCCURRED_AT_DESC (the default) and OCCURRED_AT_ASC; SecurityAlertOrderBy: DETECTED_AT_DESC (the default) and DETECTED_AT_ASC; both tie-broken by id.",
  version: "1.0.0",
  after: [
    "PgConnectionArgOrderByPlugin", "PgConnectionArgOrderByDefaultValuePlugin", "PgOrderAllAttributesPlugin", "PgOrderByPrimaryKeyPlugin",
    "PgOrderCustomFieldsPlugin",
  ],
  schema: {
    behaviorRegistry: {
      add: {
        occurredAtOrder: {
          description: "on a table's codec: order it by occurred_at and id only, newest first by default",
          entities: ["pgCodec"],
        },
        detectedAtOrder: {
          description: "on a table's codec: order it by detected_at and id only, newest first by default",
          entities: ["pgCodec"],
        },
      },
    },
    // Off unless a table's smart tags ask for it (audit.log's and audit.alerts', in exposure.ts).
    entityBehavior: { pgCodec: ["-occurredAtOrder", "-detectedAtOrder"] },
    hooks: {
      GraphQLObjectType_fields_field_args(args, build, context) {
        const { isPgFieldConnection, pgFieldResource: resource } = context.scope;
        if (!isPgFieldConnection || !args.orderBy || !resource) return args;
        const order = keysetOrderOf(build, resource.codec);
        if (!order) return args;
        const apply = applyOrderBy(order);
        return {
          ...args,
          orderBy: {
            ...args.orderBy,
            applyPlan(_parent: unknown, $connection: { getSubplan(): PgSelectStep }, fieldArg: FieldArg) {
              fieldArg.apply($connection.getSubplan(), apply);
            },
          },
        } as typeof args;
      },
      GraphQLEnumType_values(values, build, context) {
        const { isPgRowSortEnum, pgCodec } = context.scope;
        if (!isPgRowSortEnum) return values;
        const order = keysetOrderOf(build, pgCodec);
        if (!order) return values;
        // The first value is the default of `orderBy` (PgConnectionArgOrderByDefaultValuePlugin
        // falls back to it when there is no PRIMARY_KEY_ASC).
        return {
          [`${order.prefix}_DESC`]: {
            value: `${order.prefix}_DESC`,
            description: "Newest first (ties: highest id first). The default.",
            extensions: { grafast: { apply: byTimeThenId(order.column, "DESC") } },
          },
          [`${order.prefix}_ASC`]: {
            value: `${order.prefix}_ASC`,
            description: "Oldest first (ties: lowest id first).",
            extensions: { grafast: { apply: byTimeThenId(order.column, "ASC") } },
          },
        };
      },
    },
  },
};

/** The event catalogue in a stable order, by event name. */
export const AuditEventsOrderPlugin = wrapPlans(
  {
    Query: {
      auditEvents(plan) {
        const $events = plan() as unknown as { orderBy(spec: { attribute: string; direction: "ASC" | "DESC" }): void };
        $events.orderBy({ attribute: "event", direction: "ASC" });
        return $events;
      },
    },
  },
  { name: "AuditEventsOrderPlugin" },
);
