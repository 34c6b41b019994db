// Limits checked when a GraphQL document is validated (HTTP requests, before
// any SQL runs): nesting depth, an estimated cost, introspection when it is
// switched off, and operation types the schema lacks (subscriptions).
// PostGraphile v5 has none of these built in.
//
// The cost estimates the rows a request makes the database read, count or
// write:
//   - a connection (auditLogs, securityAlerts, an alert's entries, an
//     endpoint's deliveries): 10 plus its page size (`first`, 50 when
//     omitted; the largest page when given by a variable, which validation
//     cannot see);
//   - totalCount and aggregates: 100 each (they count the whole match);
//   - cappedCount: 10 plus 1 per 2,000 entries of its cap (`max`, 10,000
//     when omitted: 15; the largest cap, also assumed for a variable without
//     a default: 60), always below totalCount, since it reads at most
//     max + 1 entries;
//   - groupedAggregates: 500 (a grouped scan of the whole match);
//   - a list of rows at the root (auditEvents, webhookEndpoints): 10; a
//     list inside a row (a delivery's attemptLog): 1 (a small lookup);
//   - a mutation: 100 (each writes, and records an entry);
//   - any other field: 0.
// What is asked for each row of a connection or list is paid once per row it
// can have: the connection's page size, or a list's largest size (LIST_ROWS:
// a tenant has at most 20 webhook endpoints). So an alert's entries cost
// their page once per alert of the page (securityAlerts(first: 50) with
// entries(first: 50): 60 + 50 x 60). Fragments are expanded and aliases
// count separately, so repeating an expensive field under many aliases adds
// up. Introspection fields are not counted (introspection can be switched
// off instead).
import "postgraphile";
import { CAPPED_COUNT } from "./capped-count.ts";
import {
  GraphQLError,
  Kind,
  NoSchemaIntrospectionCustomRule,
  getNamedType,
  getNullableType,
  isListType,
  isObjectType,
  isInterfaceType,
  type ASTVisitor,
  type FieldNode,
  type GraphQLOutputType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
  type ValidationRule,
  type ValueNode,
} from "postgraphile/graphql";

export interface OperationLimits {
  maxDepth: number;
  maxCost: number;
  introspection: boolean;
  defaultPageSize: number;
  maxPageSize: number;
}

const COST = { connection: 10, count: 100, grouped: 500, list: 10, nestedList: 1, mutation: 100, cappedCountBase: 10, cappedCountEntriesPerUnit: 2_000 };

/**
 * The most rows a list field returns, for what is asked of each: webhook
 * endpoints and log streams (at most 20 of each a tenant), a delivery's
 * attempts (one per retry over 24 hours: under 40 with the worker's backoff).
 * Any other list: the event catalogue, whose rows have no costly fields.
 */
export const LIST_ROWS: Record<string, number> = { webhookEndpoints: 20, logStreams: 20, attemptLog: 40 };
const DEFAULT_LIST_ROWS = 100;

/** The fields of a connection that hold its rows: what is asked of them is asked once per row. */
const CONNECTION_ROW_FIELDS = new Set(["nodes", "edges"]);

interface Walk {
  context: ValidationContext;
  limits: OperationLimits;
  visitedFragments: Set<string>;
}

function pageSize(field: FieldNode, limits: OperationLimits, operation: OperationDefinitionNode): number {
  const first = field.arguments?.find((a) => a.name.value === "first")?.value;
  if (!first || first.kind === Kind.NULL) return limits.defaultPageSize;
  if (first.kind === Kind.INT) return Math.min(Number(first.value), limits.maxPageSize);
  if (first.kind === Kind.VARIABLE) {
    const variable = operation.variableDefinitions?.find((v) => v.variable.name.value === first.name.value);
    const fallback: ValueNode | undefined = variable?.defaultValue;
    return fallback?.kind === Kind.INT ? Math.min(Number(fallback.value), limits.maxPageSize) : limits.maxPageSize;
  }
  return limits.maxPageSize;
}

/** The cap of a cappedCount selection: a literal, a variable's default, or the largest cap when unknown. */
function cappedCountMax(field: FieldNode, operation: OperationDefinitionNode): number {
  const max = field.arguments?.find((a) => a.name.value === "max")?.value;
  const clamp = (n: number) => Math.min(Math.max(n, 1), CAPPED_COUNT.largestMax); // out of range fails at execution
  if (!max || max.kind === Kind.NULL) return CAPPED_COUNT.defaultMax;
  if (max.kind === Kind.INT) return clamp(Number(max.value));
  if (max.kind === Kind.VARIABLE) {
    const variable = operation.variableDefinitions?.find((v) => v.variable.name.value === max.name.value);
    const fallback: ValueNode | undefined = variable?.defaultValue;
    if (fallback?.kind === Kind.INT) return clamp(Number(fallback.value));
  }
  return CAPPED_COUNT.largestMax;
}

/**
 * Returns [depth, cost] of a selection set under a parent type, asked for
 * `rows` parent objects. `pageRows`: when the parent is a connection, how
 * many rows its page holds (for the rows the parents' connections hold).
 */
function measure(
  walk: Walk,
  operation: OperationDefinitionNode,
  selectionSet: SelectionSetNode,
  parentType: GraphQLOutputType,
  depth: number,
  rows: number,
  pageRows: number | null,
): [number, number] {
  let maxDepth = depth;
  let cost = 0;
  const named = getNamedType(parentType);
  const isMutationRoot = depth === 0 && operation.operation === "mutation";
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value;
      if (name.startsWith("__")) continue; // introspection: switchable, not counted
      const fieldDef = isObjectType(named) || isInterfaceType(named) ? named.getFields()[name] : undefined;
      if (!fieldDef) continue; // unknown fields are reported by the standard rules
      let fieldCost = 0;
      // The rows the field's own selections are asked for, and the page of a connection.
      const isPageRows = pageRows !== null && CONNECTION_ROW_FIELDS.has(name);
      let childRows = isPageRows ? pageRows : rows;
      let childPageRows: number | null = null;
      const fieldType = getNamedType(fieldDef.type);
      if (isPageRows) fieldCost = 0; // paid for by the connection
      else if (isMutationRoot) fieldCost = COST.mutation;
      else if (name === "totalCount" || name === "aggregates") fieldCost = COST.count;
      else if (name === "cappedCount") {
        fieldCost = COST.cappedCountBase + Math.ceil(cappedCountMax(selection, operation) / COST.cappedCountEntriesPerUnit);
      }
      else if (name === "groupedAggregates") fieldCost = COST.grouped;
      else if (fieldType.name.endsWith("Connection")) {
        const size = pageSize(selection, walk.limits, operation);
        fieldCost = COST.connection + size; // the rows are paid for here; their own fields are free
        childPageRows = rows * size;
      } else if (isListType(getNullableType(fieldDef.type)) && isObjectType(fieldType)) {
        fieldCost = depth === 0 ? COST.list : COST.nestedList;
        childRows = rows * (LIST_ROWS[name] ?? DEFAULT_LIST_ROWS);
      }
      cost += fieldCost * rows;
      if (selection.selectionSet) {
        const [d, c] = measure(walk, operation, selection.selectionSet, fieldDef.type, depth + 1, childRows, childPageRows);
        maxDepth = Math.max(maxDepth, d);
        cost += c;
      } else {
        maxDepth = Math.max(maxDepth, depth + 1);
      }
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const typeCondition = selection.typeCondition ? walk.context.getSchema().getType(selection.typeCondition.name.value) : null;
      const [d, c] = measure(walk, operation, selection.selectionSet, (typeCondition as GraphQLOutputType | null) ?? parentType, depth, rows, pageRows);
      maxDepth = Math.max(maxDepth, d);
      cost += c;
    } else {
      const name = selection.name.value;
      const fragment = walk.context.getFragment(name);
      // Fragment cycles are reported by NoFragmentCyclesRule; don't loop on them.
      if (!fragment || walk.visitedFragments.has(name)) continue;
      walk.visitedFragments.add(name);
      const typeCondition = walk.context.getSchema().getType(fragment.typeCondition.name.value);
      const [d, c] = measure(walk, operation, fragment.selectionSet, (typeCondition as GraphQLOutputType | null) ?? parentType, depth, rows, pageRows);
      walk.visitedFragments.delete(name);
      maxDepth = Math.max(maxDepth, d);
      cost += c;
    }
  }
  return [maxDepth, cost];
}

function rootType(schema: GraphQLSchema, operation: OperationDefinitionNode): GraphQLOutputType | null | undefined {
  if (operation.operation === "query") return schema.getQueryType();
  if (operation.operation === "mutation") return schema.getMutationType();
  return schema.getSubscriptionType();
}

export function makeOperationLimitsRule(limits: OperationLimits): ValidationRule {
  return (context: ValidationContext): ASTVisitor => ({
    OperationDefinition(operation) {
      const root = rootType(context.getSchema(), operation);
      if (!root) {
        // graphql-js 16 leaves this to execution, where it would surface as an internal error.
        context.reportError(
          new GraphQLError(
            operation.operation === "mutation"
              ? "This API is read-only: it has no mutations. Audit entries are written by the database, never through the API."
              : `This API has no ${operation.operation} operations.`,
            { nodes: [operation], extensions: { code: "OPERATION_NOT_SUPPORTED" } },
          ),
        );
        return;
      }
      const [depth, cost] = measure({ context, limits, visitedFragments: new Set() }, operation, operation.selectionSet, root, 0, 1, null);
      if (depth > limits.maxDepth) {
        context.reportError(
          new GraphQLError(`The operation is nested ${depth} levels deep; the limit is ${limits.maxDepth}.`, {
            nodes: [operation],
            extensions: { code: "QUERY_TOO_DEEP" },
          }),
        );
      }
      if (cost > limits.maxCost) {
        context.reportError(
          new GraphQLError(
            `The operation is too expensive: estimated cost ${cost}, limit ${limits.maxCost}. ` +
              "Request smaller pages, fewer counts or aggregates, or split it into several requests.",
            { nodes: [operation], extensions: { code: "QUERY_TOO_EXPENSIVE", cost, maxCost: limits.maxCost } },
          ),
        );
      }
    },
  });
}

/** Adds the rules to grafserv's validation (HTTP requests). */
export function makeOperationLimitsPlugin(limits: OperationLimits): GraphileConfig.Plugin {
  const rule = makeOperationLimitsRule(limits);
  return {
    name: "AuditOperationLimitsPlugin",
    description: `Depth ≤ ${limits.maxDepth}, cost ≤ ${limits.maxCost}${limits.introspection ? "" : ", no introspection"}.`,
    version: "1.0.0",
    grafserv: {
      middleware: {
        setPreset(next, event) {
          if (!limits.introspection) event.validationRules.push(NoSchemaIntrospectionCustomRule);
          event.validationRules.push(rule);
          return next();
        },
      },
    },
  };
}
