// Order of the audit log: newest first by default, oldest first on request,
// always with `id` as the tie-breaker. The pair (occurred_at, id) is unique
// (id is an identity), so cursors are keyset positions on it and pagination
// never skips or repeats an entry, even among entries of the same instant
// or while new entries arrive. It is also the order of the indexes, which
// all end in (occurred_at, id). Other sort keys are not offered: sorting a
// tenant's whole log by, say, action cannot use an index.
// `orderBy: null` and `orderBy: []` mean the default order, like leaving
// the argument out (PostGraphile would otherwise read in no order at all,
// with offset-based cursors); more than one ordering is refused.
import "postgraphile";
import type { PgSelectQueryBuilder, PgSelectStep } from "postgraphile/@dataplan/pg";
import { SafeError, type FieldArg } from "postgraphile/grafast";
import { wrapPlans } from "postgraphile/utils";

declare global {
  namespace GraphileBuild {
    interface BehaviorStrings {
      occurredAtOrder: true;
    }
  }
}

function byOccurredAt(direction: "ASC" | "DESC") {
  return function apply(queryBuilder: PgSelectQueryBuilder) {
    queryBuilder.orderBy({ attribute: "occurred_at", direction });
    queryBuilder.orderBy({ attribute: "id", direction });
    queryBuilder.setOrderIsUnique();
  };
}

/** The orderBy of a request, applied; null or [] is the default, newest first. */
function applyOrderBy(queryBuilder: PgSelectQueryBuilder, value: unknown): PgSelectQueryBuilder | undefined {
  const orders = (value ?? []) as readonly unknown[];
  if (orders.length === 0) {
    byOccurredAt("DESC")(queryBuilder);
    return undefined;
  }
  if (orders.length > 1) {
    throw new SafeError(`orderBy takes one ordering, OCCURRED_AT_DESC or OCCURRED_AT_ASC (both break ties by id); got ${orders.length}.`, {
      code: "INVALID_ORDER_BY",
    });
  }
  return queryBuilder; // the enum value's own apply follows
}

export const AuditOrderingPlugin: GraphileConfig.Plugin = {
  name: "AuditOrderingPlugin",
  description: "AuditLogsOrderBy: OCCURRED_AT_DESC (the default) and OCCURRED_AT_ASC, both tie-broken by id.",
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
      },
    },
    // Off unless a table's smart tags ask for it (audit.log's do, in exposure.ts).
    entityBehavior: { pgCodec: "-occurredAtOrder" },
    hooks: {
      GraphQLObjectType_fields_field_args(args, build, context) {
        const { isPgFieldConnection, pgFieldResource: resource } = context.scope;
        if (!isPgFieldConnection || !args.orderBy || !resource || !build.behavior.pgCodecMatches(resource.codec, "occurredAtOrder")) return args;
        return {
          ...args,
          orderBy: {
            ...args.orderBy,
            applyPlan(_parent: unknown, $connection: { getSubplan(): PgSelectStep }, fieldArg: FieldArg) {
              fieldArg.apply($connection.getSubplan(), applyOrderBy);
            },
          },
        } as typeof args;
      },
      GraphQLEnumType_values(values, build, context) {
        const { isPgRowSortEnum, pgCodec } = context.scope;
        if (!isPgRowSortEnum || !pgCodec || !build.behavior.pgCodecMatches(pgCodec, "occurredAtOrder")) return values;
        // The first value is the default of `orderBy` (PgConnectionArgOrderByDefaultValuePlugin
        // falls back to it when there is no PRIMARY_KEY_ASC).
        return {
          OCCURRED_AT_DESC: {
            value: "OCCURRED_AT_DESC",
            description: "Newest first (ties: highest id first). The default.",
            extensions: { grafast: { apply: byOccurredAt("DESC") } },
          },
          OCCURRED_AT_ASC: {
            value: "OCCURRED_AT_ASC",
            description: "Oldest first (ties: lowest id first).",
            extensions: { grafast: { apply: byOccurredAt("ASC") } },
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
