// Security monitoring in the API: what the smart tags (exposure.ts) cannot say.
//
// - `SecurityAlert.entries(first, after)`: the alert's entries of the log,
//   as an AuditLogConnection (newest first, keyset cursors like auditLogs').
// - `auditLogs(filter: { alertId: { equalTo: "123" } })`: the same entries
//   as a filter, combinable with every other filter (and / or / not too).
// - The order of the webhook lists: endpoints oldest first, an endpoint's
//   deliveries newest first, a delivery's attempts in attempt order.
//
// An alert's entries are found the way the detector recorded them
// (migrations/current.sql, audit.alerts): by their ids while the alert holds
// all of them (entry_count <= cardinality(entry_ids): at most 1,000), else by
// its entries_descriptor (the actor, events, resource types and time range).
// Both are read in SQL, in the request's role: row-level security on
// audit.alerts decides whether the alert is visible at all (an alert of
// another tenant, or of another account for an account admin, is none, and
// has no entries), and row-level security on audit.log decides which entries
// are (an account admin never sees another account's entries through an
// alert, whatever it holds). No function is added to the database.
import "postgraphile";
import {
  TYPES,
  type PgCodec,
  type PgCondition,
  type PgResource,
  type PgSelectSingleStep,
  type PgSelectStep,
} from "postgraphile/@dataplan/pg";
import { connection, SafeError, type ConnectionStep } from "postgraphile/grafast";
import type { GraphQLInputFieldConfig } from "postgraphile/graphql";
import { sql, type SQL } from "postgraphile/pg-sql2";
import { wrapPlans } from "postgraphile/utils";
import { qualifiedName } from "./exposure.ts";
import { byTimeThenId } from "./ordering.ts";

/** The name of the filter field on AuditLogFilter, and its input type. */
export const ALERT_ID_FILTER = { field: "alertId", type: "AuditLogAlertIdFilter" } as const;

/**
 * The condition "this row of audit.log (aliased `log`) is an entry of the
 * alert whose id is `alertId`" (an SQL bigint expression: a value, or a
 * placeholder for a parent alert's id). The rule is the migration's
 * audit.security_alert_entries(audit.alerts): within the alert's span
 * (first_at to last_at), its entry ids while it holds all of them (at most
 * 1,000), else what its descriptor finds: the alert's actor (by id, or by
 * name for an actor without one), the descriptor's events and resource
 * types. test/server/security/alerts.test.ts compares the two.
 *
 * Every sub-select is uncorrelated to the log's row, so PostgreSQL computes
 * each once per query (per alert when batched): the alert's span bounds the
 * scan of the log's (tenant_id, occurred_at, id) indexes, and its ids and
 * the descriptor's lists are probed as hashed sets. The sub-selects read
 * audit.alerts in the request's role: an alert the caller cannot see makes
 * every one of them null, which matches nothing.
 */
export function alertEntriesCondition(log: SQL, alertId: SQL): SQL {
  const alert = (column: string, extra: SQL = sql.blank) =>
    sql`(select a.${sql.identifier(column)} from audit.alerts as a where a.id = ${alertId}${extra} limit 1)`;
  const descriptor = alert("entries_descriptor", sql` and a.entry_count > cardinality(a.entry_ids)`);
  const list = (key: string) => sql`(select jsonb_array_elements_text(${descriptor} -> ${sql.literal(key)}))`;
  const actorId = alert("actor_id");
  return sql`(
  ${log}.tenant_id = ${alert("tenant_id")}
  and ${log}.occurred_at >= ${alert("first_at")}
  and ${log}.occurred_at <= ${alert("last_at")}
  and (
    ${log}.id in (select unnest(a.entry_ids) from audit.alerts as a where a.id = ${alertId} and a.entry_count <= cardinality(a.entry_ids))
    or (
      ${descriptor} is not null
      and ${log}.actor_type = ${alert("actor_type")}
      and (${log}.actor_id = ${actorId}
           or ${actorId} is null and ${log}.actor_id is null and ${log}.actor_name = (${descriptor} ->> 'actor_name'))
      and ${log}.event in ${list("events")}
      and ${log}.resource_type in ${list("resource_types")}
    )
  )
)`;
}

const BIGINT = /^-?\d{1,19}$/;

const tablesByRegistry = new WeakMap<object, Map<string, PgResource>>();

/** A table's resource by its schema-qualified name. */
function tableResource(build: GraphileBuild.Build, name: string): PgResource | undefined {
  const registry = build.input.pgRegistry;
  let tables = tablesByRegistry.get(registry);
  if (!tables) {
    tables = new Map(
      Object.values(registry.pgResources)
        .filter((r) => !r.parameters && !r.isVirtual)
        .map((r) => [qualifiedName(r), r as PgResource]),
    );
    tablesByRegistry.set(registry, tables);
  }
  return tables.get(name);
}

type AnyConnection = ConnectionStep<any, any, any, any, any, PgSelectStep<PgResource>>;

export const SecurityAlertsPlugin: GraphileConfig.Plugin = {
  name: "SecurityAlertsPlugin",
  description: "SecurityAlert.entries and auditLogs' alertId filter: an alert's entries, through row-level security.",
  version: "1.0.0",
  after: [
    "PgConnectionArgFilterPlugin", "PgConnectionArgFilterAttributesPlugin", "PgConnectionArgFilterLogicalOperatorsPlugin",
    "PgFirstLastBeforeAfterArgsPlugin", "PgConnectionArgOrderByPlugin", "PgConditionArgumentPlugin", "AuditOrderingPlugin",
    "AuditPaginationPlugin", "FilterInputPlugin",
  ],
  schema: {
    hooks: {
      init(_, build) {
        const { GraphQLNonNull } = build.graphql;
        build.registerInputObjectType(
          ALERT_ID_FILTER.type,
          {},
          () => ({
            description: "The entries of one security alert (`securityAlerts`), as far as you may see them.",
            fields: () => ({
              equalTo: {
                description: "The alert's id. An alert you cannot see (another tenant's, another account's) has no entries.",
                type: new GraphQLNonNull(build.getInputTypeByName("BigInt")),
              },
            }),
          }),
          "SecurityAlertsPlugin: the alertId filter",
        );
        return _;
      },

      GraphQLInputObjectType_fields(fields, build, context) {
        const { isPgConnectionFilter, pgCodec } = context.scope;
        const log = tableResource(build, "audit.log");
        if (!isPgConnectionFilter || !log || pgCodec !== log.codec) return fields;
        const field: GraphQLInputFieldConfig = {
          description: "Only the entries of this security alert: what the alert's `entries` lists (combine it with any other filter).",
          type: build.getInputTypeByName(ALERT_ID_FILTER.type),
          extensions: {
            grafast: {
              apply(condition: PgCondition, value: { equalTo?: unknown } | null) {
                // (null and {} are refused earlier, by filter-input.ts)
                const id = value?.equalTo;
                if (typeof id !== "string" || !BIGINT.test(id)) {
                  throw new SafeError("alertId.equalTo must be an alert's id.", { code: "INVALID_BIGINT" });
                }
                condition.where(alertEntriesCondition(condition.alias, sql`${sql.value(id)}::bigint`));
              },
            },
          },
        };
        return build.extend(fields, { [ALERT_ID_FILTER.field]: field }, "SecurityAlertsPlugin: alertId on AuditLogFilter");
      },

      GraphQLObjectType_fields(fields, build, context) {
        const { isPgClassType, pgCodec } = context.scope;
        const alerts = tableResource(build, "audit.alerts");
        const log = tableResource(build, "audit.log");
        if (!isPgClassType || !alerts || !log || pgCodec !== alerts.codec) return fields;
        const { GraphQLNonNull } = build.graphql;
        const AuditLogConnection = build.getOutputTypeByName(build.inflection.tableConnectionType(log.codec as PgCodec));
        return build.extend(
          fields,
          {
            entries: context.fieldWithHooks(
              { fieldName: "entries", isPgFieldConnection: true, pgFieldResource: log },
              {
                description:
                  "The alert's entries of the audit log, newest first (those you may see: an account admin sees its account's). " +
                  "Page with `first` and `after` as in `auditLogs`; `entryCount` says how many the alert has.",
                type: new GraphQLNonNull(AuditLogConnection),
                plan($alert: PgSelectSingleStep) {
                  const $entries = (log as PgResource).find() as PgSelectStep<PgResource>;
                  const $id = $entries.placeholder($alert.get("id"), TYPES.bigint);
                  $entries.where(alertEntriesCondition($entries.alias, $id));
                  byTimeThenId("occurred_at", "DESC")($entries as never);
                  return connection($entries);
                },
              },
            ),
          },
          "SecurityAlertsPlugin: SecurityAlert.entries",
        );
      },

      GraphQLObjectType_fields_field_args(args, build, context) {
        const { isPgFieldConnection, pgFieldResource, fieldName } = context.scope;
        const alerts = tableResource(build, "audit.alerts");
        // entries: first and after only (the pagination plugin's first: 50, at most 500).
        if (
          !isPgFieldConnection || fieldName !== "entries" || !alerts || qualifiedName(pgFieldResource) !== "audit.log" ||
          context.Self.name !== build.inflection.tableType(alerts.codec as PgCodec)
        ) {
          return args;
        }
        const { filter: _filter, condition: _condition, orderBy: _orderBy, ...rest } = args;
        return rest;
      },
    },
  },
};

/** Oldest first: the order of a tenant's webhook endpoints and log streams. */
function oldestFirst(plan: () => unknown): never {
  const $rows = plan() as unknown as PgSelectStep<PgResource>;
  $rows.orderBy({ attribute: "created_at", direction: "ASC" });
  $rows.orderBy({ attribute: "id", direction: "ASC" });
  return $rows as never;
}

/** The webhook and log stream lists in a stable order. */
export const WebhookOrderPlugin = wrapPlans(
  {
    Query: {
      webhookEndpoints: oldestFirst,
      logStreams: oldestFirst,
    },
    WebhookEndpoint: {
      deliveries(plan) {
        const $connection = plan() as unknown as AnyConnection;
        const $deliveries = $connection.getSubplan();
        $deliveries.orderBy({ attribute: "id", direction: "DESC" });
        $deliveries.setOrderIsUnique();
        return $connection as never;
      },
    },
    WebhookDelivery: {
      attemptLog(plan) {
        const $attempts = plan() as unknown as PgSelectStep<PgResource>;
        $attempts.orderBy({ attribute: "attempt", direction: "ASC" });
        return $attempts as never;
      },
    },
  },
  { name: "WebhookOrderPlugin" },
);
