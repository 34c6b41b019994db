// Limits checked when a GraphQL document is validated (HTTP requests, before
// any SQL runs): nesting depth, an estimated cost, introspection when it is
// switched off, and operation types the schema lacks (mutations: the API is
// read-only). PostGraphile v5 has none of these built in.
//
// The cost estimates the rows a request makes the database read or count:
//   - a connection (auditLogs): 10 plus its page size (`first`, 50 when
//     omitted; the largest page when given by a variable, which validation
//     cannot see);
//   - totalCount and aggregates: 100 each (they count the whole match);
//   - cappedCount: 10 plus 1 per 2,000 entries of its cap (`max`, 10,000
//     when omitted: 15; the largest cap, also assumed for a variable without
//     a default: 60), always below totalCount, since it reads at most
//     max + 1 entries;
//   - groupedAggregates: 500 (a grouped scan of the whole match);
//   - a plain list at the root (auditEvents): 10;
//   - any other field: 0.
// Fragments are expanded and aliases count separately, so repeating an
// expensive field under many aliases adds up. (The schema has no nested
// connections, so costs add up rather than multiply.) Introspection fields are not
// counted (introspection can be switched off instead).
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

const COST = { connection: 10, count: 100, grouped: 500, list: 10, cappedCountBase: 10, cappedCountEntriesPerUnit: 2_000 };

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

/** Returns [depth, cost] of a selection set under a parent type. */
function measure(
  walk: Walk,
  operation: OperationDefinitionNode,
  selectionSet: SelectionSetNode,
  parentType: GraphQLOutputType,
  depth: number,
): [number, number] {
  let maxDepth = depth;
  let cost = 0;
  const named = getNamedType(parentType);
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value;
      if (name.startsWith("__")) continue; // introspection: switchable, not counted
      const fieldDef = isObjectType(named) || isInterfaceType(named) ? named.getFields()[name] : undefined;
      if (!fieldDef) continue; // unknown fields are reported by the standard rules
      let fieldCost = 0;
      const fieldType = getNamedType(fieldDef.type);
      if (name === "totalCount" || name === "aggregates") fieldCost = COST.count;
      else if (name === "cappedCount") {
        fieldCost = COST.cappedCountBase + Math.ceil(cappedCountMax(selection, operation) / COST.cappedCountEntriesPerUnit);
      }
      else if (name === "groupedAggregates") fieldCost = COST.grouped;
      else if (fieldType.name.endsWith("Connection")) {
        const size = pageSize(selection, walk.limits, operation);
        fieldCost = COST.connection + size; // the rows are paid for here; their fields are free
      } else if (depth === 0 && isListType(getNullableType(fieldDef.type)) && isObjectType(fieldType)) {
        fieldCost = COST.list;
      }
      cost += fieldCost;
      if (selection.selectionSet) {
        const [d, c] = measure(walk, operation, selection.selectionSet, fieldDef.type, depth + 1);
        maxDepth = Math.max(maxDepth, d);
        cost += c;
      } else {
        maxDepth = Math.max(maxDepth, depth + 1);
      }
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const typeCondition = selection.typeCondition ? walk.context.getSchema().getType(selection.typeCondition.name.value) : null;
      const [d, c] = measure(walk, operation, selection.selectionSet, (typeCondition as GraphQLOutputType | null) ?? parentType, depth);
      maxDepth = Math.max(maxDepth, d);
      cost += c;
    } else {
      const name = selection.name.value;
      const fragment = walk.context.getFragment(name);
      // Fragment cycles are reported by NoFragmentCyclesRule; don't loop on them.
      if (!fragment || walk.visitedFragments.has(name)) continue;
      walk.visitedFragments.add(name);
      const typeCondition = walk.context.getSchema().getType(fragment.typeCondition.name.value);
      const [d, c] = measure(walk, operation, fragment.selectionSet, (typeCondition as GraphQLOutputType | null) ?? parentType, depth);
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
      const [depth, cost] = measure({ context, limits, visitedFragments: new Set() }, operation, operation.selectionSet, root, 0);
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
