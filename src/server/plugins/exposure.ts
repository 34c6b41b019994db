// What of the `audit` schema the API shows, and what each column can do.
// Default deny: only the audit table, the event catalogue and the
// description function are exposed, whatever else the schema gains later
// (partitions, tracking tables, scope and maintenance functions). Columns get
// exactly the capabilities listed here; on a partitioned table PostGraphile
// would otherwise make every column filterable and orderable (it only infers
// those from indexes on ordinary tables).
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
const EXPOSED = new Set(["audit.log", "audit.events", "audit.log_description"]);

type Capability = "filter" | "condition" | "group" | "aggregate";

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

function columnBehavior(capabilities: readonly Capability[]): string {
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

const qualifiedName = (pg: { schemaName?: string; name?: string } | undefined) =>
  pg?.schemaName && pg.name ? `${pg.schemaName}.${pg.name}` : "";

export const AuditExposurePlugin: GraphileConfig.Plugin = {
  name: "AuditExposurePlugin",
  description: "Exposes only audit.log, audit.events and audit.log_description, read-only.",
  version: "1.0.0",
  schema: {
    entityBehavior: {
      pgResource: {
        override: {
          provides: ["auditExposure"],
          after: ["override"],
          callback(behavior, resource) {
            const pg = resource.extensions?.pg as { schemaName?: string; name?: string } | undefined;
            return EXPOSED.has(qualifiedName(pg)) ? behavior : [behavior, "-*"];
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
            // The project's own: capped-count.ts, ordering.ts.
            "+cappedCount +occurredAtOrder",
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
    },
  },
});
