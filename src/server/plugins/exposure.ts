// What of the `audit` schema the API shows, and what each column can do.
// Default deny: only the audit table, the event catalogue, the description
// function and, for security monitoring, the alerts, the webhook endpoints
// (with their deliveries and attempts) and the seven functions of the
// monitoring API, and for tamper evidence the seals, their verifications and
// the seal status are exposed, whatever else the schema gains later
// (partitions, tracking tables, detector settings, scope and maintenance
// functions). Columns get exactly the capabilities listed here; on a
// partitioned table PostGraphile would otherwise make every column filterable
// and orderable (it only infers those from indexes on ordinary tables).
// The log stays read-only: the only mutations are the monitoring functions
// (security definer, each checking the admin in the token), never a table's
// generic create / update / delete.
import "postgraphile";
import { jsonPgSmartTags } from "postgraphile/utils";

declare global {
  namespace GraphileBuild {
    interface BehaviorStrings {
      listPagination: true;
    }
  }
}

/** Exposed resources: tables by name, functions by name (schema `audit`). */
export const EXPOSED = new Set([
  "audit.log",
  "audit.events",
  "audit.log_description",
  // security monitoring (migrations/current.sql, sections 5 to 10)
  "audit.alerts",
  "audit.webhook_endpoints",
  "audit.webhook_deliveries",
  "audit.webhook_attempts",
  "audit.detector_settings_document",
  "audit.update_detector_settings",
  "audit.acknowledge_security_alert",
  "audit.resolve_security_alert",
  "audit.create_webhook_endpoint",
  "audit.update_webhook_endpoint",
  "audit.delete_webhook_endpoint",
  // tamper evidence (migrations/current.sql, sections 2, 5 and 6): read only
  "audit.seals",
  "audit.verifications",
  "audit.seal_status",
  // log streams (migrations: log streams): the list with each stream's
  // status, and the six mutations (tenant admins; each checks the token)
  "audit.log_streams",
  "audit.log_streams_status",
  "audit.create_log_stream",
  "audit.update_log_stream",
  "audit.pause_log_stream",
  "audit.resume_log_stream",
  "audit.replay_log_stream",
  "audit.delete_log_stream",
  // rollups (migrations: rollups): the chart's and the page's counts, from
  // the rollups where they can answer, from the log otherwise
  "audit.activity_counts",
]);

/** hidden: not in the API at all (columns of the scope, internals, secrets). */
type Capability = "filter" | "condition" | "group" | "aggregate" | "hidden";

/**
 * Per column of audit.log. filter: `filter` operators; condition: equality
 * in `condition` (not for jsonb: whole-document equality is useless there,
 * use filter's `contains`); group: a `groupedAggregates` key (occurred_at
 * only through its UTC day/hour derivatives, aggregates.ts); aggregate:
 * distinctCount (and earliest/latest for timestamps). Unlisted capabilities
 * are off. (The description function's behaviors are in its SQL comment, in
 * the migration.)
 */
export const LOG_COLUMNS: Record<string, readonly Capability[]> = {
  id: [],
  occurred_at: ["filter", "condition", "group", "aggregate"],
  tenant_id: [],
  account_id: ["filter", "condition", "group", "aggregate"],
  actor_type: ["filter", "condition", "group", "aggregate"],
  actor_id: ["filter", "condition", "group", "aggregate"],
  actor_email: ["filter", "condition", "group", "aggregate"],
  actor_name: ["group"],
  action: ["filter", "condition", "group", "aggregate"],
  resource_type: ["filter", "condition", "group", "aggregate"],
  entity_id: ["filter", "condition", "aggregate"],
  entity_label: ["filter", "condition"],
  event: ["filter", "condition", "group", "aggregate"],
  old_values: ["filter"],
  new_values: ["filter"],
  context: [],
  transaction_id: ["filter", "condition", "aggregate"],
};

/**
 * Per column of audit.alerts (SecurityAlert). The tenant is the scope, the
 * incident key the detector's internals. Filters: what the page narrows the
 * alerts by. Nothing is a condition, a sort key (ordering.ts: detected_at,
 * then id) or an aggregate.
 */
export const ALERT_COLUMNS: Record<string, readonly Capability[]> = {
  tenant_id: ["hidden"],
  id: ["filter"],
  account_id: ["filter"],
  detector: ["filter"],
  severity: ["filter"],
  status: ["filter"],
  summary: [],
  incident_key: ["hidden"],
  actor_type: [],
  actor_id: [],
  actor_email: [],
  actor_name: [],
  first_at: [],
  last_at: ["filter"],
  entry_count: [],
  entry_ids: [],
  entries_descriptor: [],
  details: [],
  detected_at: ["filter"],
  updated_at: [],
  acknowledged_at: [],
  acknowledged_by: [],
  resolved_at: [],
  resolved_by: [],
  resolution_note: [],
};

/**
 * Per column of audit.seals (Seal). The tenant is the scope; the entry lists
 * are internals of verification (their SQL comments hide them too). Filters:
 * sealedAt here, and the seal number through seals.ts's own range filter
 * (`seq`). Nothing is a condition, a sort key (newest first by seq, seals.ts)
 * or an aggregate.
 */
export const SEAL_COLUMNS: Record<string, readonly Capability[]> = {
  tenant_id: ["hidden"],
  seq: [],
  from_xid: [],
  to_xid: [],
  sealed_through_xid: [],
  entry_count: [],
  first_id: [],
  last_id: [],
  occurred_from: [],
  occurred_to: [],
  merkle_root: [],
  previous_hash: [],
  supersedes: [],
  reason: [],
  canonical_version: [],
  key_id: [],
  signature: [],
  seal_hash: [],
  sealed_at: ["filter"],
  entry_ids: ["hidden"],
  entry_hashes: ["hidden"],
};

/** Per column of audit.verifications (SealVerification): the tenant is the scope; newest first by id (seals.ts). */
export const VERIFICATION_COLUMNS: Record<string, readonly Capability[]> = {
  id: [],
  tenant_id: ["hidden"],
  verified_at: ["filter"],
  verified_by: [],
  range_from: [],
  range_to: [],
  seals_checked: [],
  entries_checked: [],
  findings: [],
  signatures_checked: [],
  ms: [],
};

/**
 * Columns of the webhook and stream tables that are not shown: the tenant
 * (the scope), the endpoint of a delivery (its parent), the payload, the
 * stream worker's lease.
 */
export const WEBHOOK_HIDDEN_COLUMNS: Record<string, readonly string[]> = {
  "audit.webhook_endpoints": ["tenant_id"],
  "audit.webhook_deliveries": ["tenant_id", "endpoint_id", "payload", "give_up_at"],
  "audit.webhook_attempts": ["tenant_id", "delivery_id"],
  "audit.log_streams": ["tenant_id", "lease_token", "lease_until"],
};

function columnBehavior(capabilities: readonly Capability[]): string {
  if (capabilities.includes("hidden")) return "-*";
  // Grouping needs the orderBy behavior (pg-aggregates checks both); the
  // orderBy enum itself is replaced by ordering.ts, so this adds no sort keys.
  const parts = ["-filterBy", "-orderBy", "-groupBy", "-havingBy", "-aggregate"];
  if (capabilities.includes("filter")) parts.push("+attribute:filterBy");
  // `condition` asks for condition:attribute:filterBy, which +attribute:filterBy grants as well.
  if (!capabilities.includes("condition")) parts.push("-condition:attribute:filterBy");
  if (capabilities.includes("group")) parts.push("+orderBy", "+attribute:groupBy");
  if (capabilities.includes("aggregate")) parts.push("+aggregate");
  return parts.join(" ");
}

/** A resource's schema-qualified name ("audit.log"), or "" for one without a schema (virtual, a partition's). */
export function qualifiedName(entity: { extensions?: { pg?: unknown } } | undefined): string {
  const pg = entity?.extensions?.pg as { schemaName?: string; name?: string } | undefined;
  return pg?.schemaName && pg.name ? `${pg.schemaName}.${pg.name}` : "";
}

const isExposed = (resource: { extensions?: { pg?: unknown } } | undefined) => EXPOSED.has(qualifiedName(resource));

export const AuditExposurePlugin: GraphileConfig.Plugin = {
  name: "AuditExposurePlugin",
  description: "Exposes only the resources listed in EXPOSED (the log read-only; security monitoring through its functions).",
  version: "1.0.0",
  schema: {
    entityBehavior: {
      pgResource: {
        override: {
          provides: ["auditExposure"],
          after: ["override"],
          callback(behavior, resource) {
            return isExposed(resource) ? behavior : [behavior, "-*"];
          },
        },
      },
      // A table's unique keys (row-by-key root fields) and relations have
      // behaviors of their own, which the table's `-*` does not reach.
      pgResourceUnique: {
        override: {
          provides: ["auditExposure"],
          after: ["override"],
          callback(behavior, [resource]) {
            return isExposed(resource) ? behavior : [behavior, "-*"];
          },
        },
      },
      pgCodecRelation: {
        override: {
          provides: ["auditExposure"],
          after: ["override"],
          callback(behavior, relation) {
            return isExposed(relation.remoteResource) ? behavior : [behavior, "-*"];
          },
        },
      },
    },
  },
};

/** A list whose resource says `-listPagination` (the catalogue) is returned whole: no `first` / `offset`. */
export const AuditArgumentsPlugin: GraphileConfig.Plugin = {
  name: "AuditArgumentsPlugin",
  description: "Lists that are returned whole have no first / offset.",
  version: "1.0.0",
  after: ["PgFirstLastBeforeAfterArgsPlugin"],
  schema: {
    behaviorRegistry: {
      add: {
        listPagination: {
          description: "on a resource: do its lists take first and offset?",
          entities: ["pgResource"],
        },
      },
    },
    entityBehavior: { pgResource: "listPagination" },
    hooks: {
      GraphQLObjectType_fields_field_args(args, build, context) {
        const { isPgFieldSimpleCollection, pgFieldResource: resource } = context.scope;
        if (!isPgFieldSimpleCollection || !resource || build.behavior.pgResourceMatches(resource, "listPagination")) return args;
        const { first: _first, offset: _offset, ...rest } = args;
        return rest;
      },
    },
  },
};

/** Names, read-only behaviors and column capabilities, as smart tags kept in code. */
export const AuditTagsPlugin = jsonPgSmartTags({
  version: 1,
  config: {
    class: {
      // Schema-qualified, so the rules never match partitions (log_2026_01...).
      "audit.log": {
        tags: {
          name: "audit_log",
          // No mutations, no row-by-key lookups, no `last`/`before` (use
          // OCCURRED_AT_ASC), no plain list: one paginated connection.
          // `having` is left out: in pg-aggregates 0.2.0-rc.2 its inputs ignore
          // which aggregates suit which columns.
          behavior: [
            "-insert -update -delete -single -list -connection:backwards",
            "+connection +aggregates +groupedAggregates -resource:groupedAggregates:having",
            // The project's own: capped-count.ts, ordering.ts, rollup-aggregates.ts.
            "+cappedCount +occurredAtOrder +rollupCounts",
          ],
        },
        attribute: Object.fromEntries(
          Object.entries(LOG_COLUMNS).map(([column, capabilities]) => [column, { tags: { behavior: columnBehavior(capabilities) } }]),
        ),
      },
      "audit.events": {
        tags: {
          name: "audit_event",
          // A small catalogue: one plain list for filter menus, returned whole.
          behavior: ["-insert -update -delete -single -connection -order -filter +list -listPagination -aggregates -groupedAggregates"],
        },
      },
      "audit.alerts": {
        tags: {
          name: "security_alert",
          // One paginated connection, newest first (ordering.ts), with filters;
          // no mutations of the table (acknowledge / resolve are functions), no
          // lookups by key, no aggregates.
          behavior: [
            "-insert -update -delete -single -list -connection:backwards +connection -aggregates -groupedAggregates",
            "+detectedAtOrder",
          ],
        },
        attribute: Object.fromEntries(
          Object.entries(ALERT_COLUMNS).map(([column, capabilities]) => [column, { tags: { behavior: columnBehavior(capabilities) } }]),
        ),
      },
      "audit.webhook_endpoints": {
        tags: {
          name: "webhook_endpoint",
          // A tenant has at most 20: one plain list, returned whole (its order
          // is in security.ts). Changed only through the functions.
          behavior: ["-insert -update -delete -single -connection +list -listPagination -order -filter -aggregates -groupedAggregates"],
        },
        attribute: hiddenColumns("audit.webhook_endpoints"),
      },
      "audit.webhook_deliveries": {
        tags: {
          name: "webhook_delivery",
          // Only as an endpoint's `deliveries`, newest first (security.ts).
          behavior: ["-insert -update -delete -single -list -connection -connection:backwards -order -filter -aggregates -groupedAggregates"],
        },
        attribute: hiddenColumns("audit.webhook_deliveries"),
        constraint: {
          webhook_deliveries_endpoint_fkey: {
            tags: {
              foreignConnectionFieldName: "deliveries",
              // endpoint -> its deliveries, as a connection; nothing back.
              behavior: ["-singularRelation:resource:single -manyRelation:resource:list +manyRelation:resource:connection"],
            },
          },
          // A delivery names its alert by alertId; no navigation either way.
          webhook_deliveries_alert_fkey: { tags: { behavior: ["-*"] } },
        },
      },
      "audit.webhook_attempts": {
        tags: {
          name: "webhook_attempt",
          // Only as a delivery's `attemptLog` (a delivery's `attempts` is its count), in attempt order (security.ts).
          behavior: ["-insert -update -delete -single -list -connection -order -filter -aggregates -groupedAggregates -listPagination"],
        },
        attribute: hiddenColumns("audit.webhook_attempts"),
        constraint: {
          webhook_attempts_delivery_fkey: {
            tags: {
              foreignSimpleFieldName: "attemptLog",
              behavior: ["-singularRelation:resource:single +manyRelation:resource:list -manyRelation:resource:connection"],
            },
          },
        },
      },
      "audit.log_streams": {
        tags: {
          name: "log_stream",
          // A tenant has at most 20: one plain list, returned whole, oldest
          // first (security.ts). Changed only through the functions.
          behavior: ["-insert -update -delete -single -connection +list -listPagination -order -filter -aggregates -groupedAggregates"],
        },
        attribute: hiddenColumns("audit.log_streams"),
      },
      "audit.seals": {
        tags: {
          name: "seal",
          // One paginated connection, newest first (seals.ts); no lookups by
          // key (its key starts with the tenant), no mutations, no aggregates.
          behavior: ["-insert -update -delete -single -list -connection:backwards +connection -order -aggregates -groupedAggregates"],
        },
        attribute: columnTags(SEAL_COLUMNS),
      },
      "audit.verifications": {
        tags: {
          name: "seal_verification",
          behavior: ["-insert -update -delete -single -list -connection:backwards +connection -order -aggregates -groupedAggregates"],
        },
        attribute: columnTags(VERIFICATION_COLUMNS),
      },
    },
    procedure: {
      // Query: the settings document (tenant admins; account admins get the function's permission error).
      "audit.detector_settings_document": { tags: { name: "detectorSettings", behavior: ["+queryField -mutationField -typeField"] } },
      // Mutations: each returns what it changed, under the payload field named here.
      // (arg0variant: the function's SQL comment says `@arg0variant patch`, which
      // only means something for a table-typed argument and fails on jsonb.)
      "audit.update_detector_settings": {
        tags: { resultFieldName: "detectorSettings", arg0variant: "input", behavior: ["-queryField +mutationField -typeField"] },
      },
      "audit.acknowledge_security_alert": { tags: { resultFieldName: "securityAlert", behavior: ["-queryField +mutationField -typeField"] } },
      "audit.resolve_security_alert": { tags: { resultFieldName: "securityAlert", behavior: ["-queryField +mutationField -typeField"] } },
      "audit.create_webhook_endpoint": { tags: { resultFieldName: "webhookEndpoint", behavior: ["-queryField +mutationField -typeField"] } },
      "audit.update_webhook_endpoint": { tags: { resultFieldName: "webhookEndpoint", behavior: ["-queryField +mutationField -typeField"] } },
      "audit.delete_webhook_endpoint": { tags: { resultFieldName: "webhookEndpoint", behavior: ["-queryField +mutationField -typeField"] } },
      "audit.create_log_stream": { tags: { resultFieldName: "logStream", behavior: ["-queryField +mutationField -typeField"] } },
      "audit.update_log_stream": { tags: { resultFieldName: "logStream", behavior: ["-queryField +mutationField -typeField"] } },
      "audit.pause_log_stream": { tags: { resultFieldName: "logStream", behavior: ["-queryField +mutationField -typeField"] } },
      "audit.resume_log_stream": { tags: { resultFieldName: "logStream", behavior: ["-queryField +mutationField -typeField"] } },
      "audit.replay_log_stream": { tags: { resultFieldName: "logStream", behavior: ["-queryField +mutationField -typeField"] } },
      "audit.delete_log_stream": { tags: { resultFieldName: "logStream", behavior: ["-queryField +mutationField -typeField"] } },
      // LogStream.status (a computed column).
      "audit.log_streams_status": { tags: { behavior: ["-queryField -mutationField +typeField -filter -orderBy"] } },
      // Query: the tamper evidence of the admin's tenant (tenant and account admins; type SealStatus, seals.ts).
      "audit.seal_status": { tags: { behavior: ["+queryField -mutationField -typeField"] } },
      // Query: counts per period and kind (a list: the function orders and bounds its rows).
      "audit.activity_counts": {
        tags: { name: "activityCounts", behavior: ["+queryField -mutationField -typeField -connection +list -listPagination -filter -order"] },
      },
    },
  },
});

function columnTags(columns: Record<string, readonly Capability[]>): Record<string, { tags: { behavior: string } }> {
  return Object.fromEntries(Object.entries(columns).map(([column, capabilities]) => [column, { tags: { behavior: columnBehavior(capabilities) } }]));
}

function hiddenColumns(table: string): Record<string, { tags: { behavior: string } }> {
  return Object.fromEntries((WEBHOOK_HIDDEN_COLUMNS[table] ?? []).map((column) => [column, { tags: { behavior: "-*" } }]));
}
