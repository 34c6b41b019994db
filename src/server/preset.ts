// The PostGraphile preset of the API: Amber plus connection-filter and
// pg-aggregates, narrowed by the project's plugins to the audit contract
// (the log read-only; security monitoring's few mutations are database
// functions), with per-request settings that make the database scope rows.
import "postgraphile";
import type {} from "postgraphile/grafserv/express/v4";
import type {} from "postgraphile/grafserv/node";
import type pg from "pg";
import type { RuruConfig } from "postgraphile/grafserv/ruru/server";
import { PgAggregatesPreset } from "@graphile/pg-aggregates";
import { PostGraphileConnectionFilterPreset } from "postgraphile-plugin-connection-filter";
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";
import type { Logger } from "../log.ts";
import { scopePgSettings } from "./auth.ts";
import { claimsOf } from "./authenticate.ts";
import { makeScopedWithPgClient } from "./scoped-pg-client.ts";
import { ValidationErrorCodesPlugin, makeMaskError } from "./errors.ts";
import { AuditAggregatesPlugin } from "./plugins/aggregates.ts";
import { RollupAggregatesPlugin } from "./plugins/rollup-aggregates.ts";
import { AuditCappedCountPlugin } from "./plugins/capped-count.ts";
import { DomainValuesPlugin } from "./plugins/domain-values.ts";
import { EmptyPagePlugin } from "./plugins/empty-page.ts";
import { EntryDescriptionPlugin } from "./plugins/entry-description.ts";
import { AuditArgumentsPlugin, AuditExposurePlugin, AuditTagsPlugin } from "./plugins/exposure.ts";
import { FilterInputPlugin } from "./plugins/filter-input.ts";
import { ALLOWED_OPERATORS, AuditFilterOperatorsPlugin } from "./plugins/filters.ts";
import { InputScalarsPlugin } from "./plugins/input-scalars.ts";
import { AuditNamingPlugin } from "./plugins/naming.ts";
import { makeOperationLimitsPlugin } from "./plugins/operation-limits.ts";
import { AuditEventsOrderPlugin, AuditOrderingPlugin } from "./plugins/ordering.ts";
import { DEFAULT_PAGINATION, makePaginationPlugin } from "./plugins/pagination.ts";
import { SealOrderPlugin, SealsPlugin } from "./plugins/seals.ts";
import { SecurityAlertsPlugin, WebhookOrderPlugin } from "./plugins/security.ts";
import { TextDomainsAsStringPlugin } from "./plugins/text-domains.ts";

type RuruClientConfig = NonNullable<RuruConfig["clientConfig"]>;

export const GRAPHQL_PATH = "/graphql";
export const GRAPHIQL_PATH = "/graphiql";
/** Largest accepted request body (a GraphQL document with its variables). */
export const MAX_REQUEST_BYTES = 100_000;

export interface AuditPresetOptions {
  /** A pool logged in as audit_authenticator. The caller owns it (and ends it). */
  pool: pg.Pool;
  statementTimeoutMs: number;
  graphiql: boolean;
  introspection: boolean;
  maxDepth: number;
  maxCost: number;
  logger: Logger;
  /**
   * Let webhook endpoints use http:// and private addresses (tests, local
   * development): the SQL URL check reads audit.webhook_allow_private, set
   * in every request's settings.
   */
  webhookAllowPrivate?: boolean;
}

const EXAMPLE_QUERY = `# Paste a token in the Headers tab below: {"Authorization": "Bearer <token>"}
query NewestEntries {
  auditLogs(first: 20) {
    totalCount
    nodes {
      occurredAt
      actorEmail
      description
      resourceType
      entityId
      oldValues
      newValues
    }
    pageInfo { hasNextPage endCursor }
  }
}
`;

/** The database as PostGraphile's service, each request's transaction opened by makeScopedWithPgClient. */
function scopedPgService(pool: pg.Pool): GraphileConfig.PgServiceConfiguration {
  const service = makePgService({ pool, schemas: ["audit"], pubsub: false });
  return { ...service, adaptor: { ...service.adaptor, createWithPgClient: () => makeScopedWithPgClient(pool) } };
}

export function makeAuditPreset(options: AuditPresetOptions): GraphileConfig.Preset {
  const { statementTimeoutMs } = options;
  const webhookAllowPrivate = options.webhookAllowPrivate ? "on" : "off";
  return {
    extends: [PostGraphileAmberPreset, PostGraphileConnectionFilterPreset, PgAggregatesPreset],
    plugins: [
      TextDomainsAsStringPlugin,
      AuditExposurePlugin,
      AuditTagsPlugin,
      AuditArgumentsPlugin,
      AuditNamingPlugin,
      AuditOrderingPlugin,
      AuditEventsOrderPlugin,
      makePaginationPlugin(DEFAULT_PAGINATION),
      EmptyPagePlugin,
      EntryDescriptionPlugin,
      AuditFilterOperatorsPlugin,
      FilterInputPlugin,
      DomainValuesPlugin,
      InputScalarsPlugin,
      AuditAggregatesPlugin,
      AuditCappedCountPlugin,
      RollupAggregatesPlugin,
      SecurityAlertsPlugin,
      WebhookOrderPlugin,
      SealsPlugin,
      SealOrderPlugin,
      makeOperationLimitsPlugin({
        maxDepth: options.maxDepth,
        maxCost: options.maxCost,
        introspection: options.introspection,
        defaultPageSize: DEFAULT_PAGINATION.defaultPageSize,
        maxPageSize: DEFAULT_PAGINATION.maxPageSize,
      }),
      ValidationErrorCodesPlugin,
    ],
    // No Relay node interface / global ids, and no recursive `query` field,
    // also not on mutation payloads (nor their Relay edges).
    disablePlugins: ["NodePlugin", "QueryQueryPlugin", "MutationPayloadQueryPlugin", "PgMutationPayloadEdgePlugin"],
    pgServices: [scopedPgService(options.pool)],
    // pgStrictFunctions: a function's arguments without a default are
    // required (acknowledgeSecurityAlert's id, createWebhookEndpoint's url...).
    gather: { installWatchFixtures: false, pgStrictFunctions: true },
    schema: {
      dontSwallowErrors: true,
      pgDefaultPartitionedTableExpose: "parent",
      connectionFilterAllowedOperators: ALLOWED_OPERATORS,
      connectionFilterArrays: false,
      connectionFilterComputedColumns: false,
      connectionFilterSetofFunctions: false,
      connectionFilterRelations: false,
      connectionFilterLogicalOperators: true,
      // Kept off as a second line: filter-input.ts answers null and empty
      // values before connection-filter sees them.
      connectionFilterAllowNullInput: false,
      connectionFilterAllowEmptyObjectInput: false,
    },
    grafast: {
      explain: false, // plans and SQL are internals
      timeouts: { planning: 2_000, execution: statementTimeoutMs + 2_000 },
      context(requestContext, args) {
        const req = requestContext.expressv4?.req ?? requestContext.node?.req;
        return {
          pgSettings: {
            ...args.contextValue?.pgSettings,
            // After anything else: role, claims and the server's webhook rule are never overridable.
            ...scopePgSettings(req ? claimsOf(req) : null, { statementTimeoutMs }),
            "audit.webhook_allow_private": webhookAllowPrivate,
          },
        };
      },
    },
    grafserv: {
      graphqlPath: GRAPHQL_PATH,
      graphiql: options.graphiql,
      graphiqlPath: GRAPHIQL_PATH,
      graphiqlOnGraphQLGET: false,
      graphqlOverGET: false,
      websockets: false,
      watch: false,
      maxRequestLength: MAX_REQUEST_BYTES,
      maskError: makeMaskError(options.logger),
    },
    ruru: {
      // (The typings mark every Ruru option required; they are all optional.)
      clientConfig: {
        defaultQuery: EXAMPLE_QUERY,
        defaultHeaders: JSON.stringify({ Authorization: "Bearer <paste a token here>" }, null, 2),
      } as Partial<RuruClientConfig> as RuruClientConfig,
    },
  };
}
