// Which GraphQL operations read the audit log, for the access log
// (ACCESS_LOG=all): a query's root fields that return entries (auditLogs,
// whatever alias), and root fields that read entries through security alerts
// (`entries` of securityAlerts, or of a mutation's alert), found in the
// validated document Grafast executes, and counted once the result shows
// they answered. Introspection and the event catalogue (auditEvents) are not
// reads of the log.
import "postgraphile";
import { isAsyncIterable, isPromiseLike } from "postgraphile/grafast";
import {
  getNamedType,
  Kind,
  valueFromASTUntyped,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from "postgraphile/graphql";
import type { AccessLog, LogRead } from "./access-log.ts";
import { claimsOf } from "./authenticate.ts";

/** The types of the log's entries: a root field returning one of these reads the log. */
const ENTRY_TYPES = new Set(["AuditLog", "AuditLogConnection"]);

const readFieldsBySchema = new WeakMap<GraphQLSchema, Set<string>>();

/** The root query fields of the schema that return entries (cached per schema). */
function entryFields(schema: GraphQLSchema): Set<string> {
  let fields = readFieldsBySchema.get(schema);
  if (!fields) {
    fields = new Set(
      Object.values(schema.getQueryType()?.getFields() ?? {})
        .filter((f) => ENTRY_TYPES.has(getNamedType(f.type).name))
        .map((f) => f.name),
    );
    readFieldsBySchema.set(schema, fields);
  }
  return fields;
}

function chosenOperation(document: DocumentNode, operationName: string | null | undefined): OperationDefinitionNode | undefined {
  const operations = document.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  return operationName ? operations.find((o) => o.name?.value === operationName) : operations.length === 1 ? operations[0] : undefined;
}

type Fragments = Map<string, FragmentDefinitionNode>;

const fragmentsOf = (document: DocumentNode): Fragments =>
  new Map(document.definitions.filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION).map((d) => [d.name.value, d]));

/** The fields of a selection set (fragments expanded, each once). */
function fieldsOf(selectionSet: SelectionSetNode, fragments: Fragments): FieldNode[] {
  const seen = new Set<string>();
  const fields: FieldNode[] = [];
  const walk = (set: SelectionSetNode) => {
    for (const s of set.selections) {
      if (s.kind === Kind.FIELD) fields.push(s);
      else if (s.kind === Kind.INLINE_FRAGMENT) walk(s.selectionSet);
      else if (!seen.has(s.name.value)) {
        seen.add(s.name.value);
        const fragment = fragments.get(s.name.value);
        if (fragment) walk(fragment.selectionSet);
      }
    }
  };
  walk(selectionSet);
  return fields;
}

/** The field of a security alert that lists its entries (SecurityAlert.entries, security.ts): the schema's only field of that name. */
const ALERT_ENTRIES_FIELD = "entries";

/** Whether a field's selections read an alert's entries, at any depth. */
function readsAlertEntries(field: FieldNode, fragments: Fragments, depth = 0): boolean {
  if (!field.selectionSet || depth > 20) return false;
  return fieldsOf(field.selectionSet, fragments).some((f) => f.name.value === ALERT_ENTRIES_FIELD || readsAlertEntries(f, fragments, depth + 1));
}

interface PendingRead {
  responseKey: string;
  read: LogRead;
}

/** The reads of the log an operation asks for, with their arguments as given (variables and their defaults resolved). */
export function logReadsOf(args: {
  schema: GraphQLSchema;
  document: DocumentNode;
  operationName?: string | null;
  variableValues?: Record<string, unknown> | null;
}): PendingRead[] {
  const operation = chosenOperation(args.document, args.operationName);
  if (!operation || operation.operation === "subscription") return [];
  const readers = entryFields(args.schema);
  const fragments = fragmentsOf(args.document);
  const variables: Record<string, unknown> = {};
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (args.variableValues && name in args.variableValues) variables[name] = args.variableValues[name];
    else if (definition.defaultValue) variables[name] = valueFromASTUntyped(definition.defaultValue);
  }
  const reads: PendingRead[] = [];
  for (const field of fieldsOf(operation.selectionSet, fragments)) {
    const arg = (name: string) => {
      const node = field.arguments?.find((a) => a.name.value === name);
      return node ? valueFromASTUntyped(node.value, variables) : null;
    };
    const responseKey = field.alias?.value ?? field.name.value;
    if (operation.operation === "query" && readers.has(field.name.value)) {
      reads.push({ responseKey, read: { filter: arg("filter"), condition: arg("condition"), first: arg("first"), after: arg("after"), orderBy: arg("orderBy") } });
    } else if (readsAlertEntries(field, fragments)) {
      // Entries read through alerts: the entries of the alerts of that page
      // (securityAlerts' arguments), or of the one alert a mutation changed
      // (what the alertId filter of auditLogs reads).
      const read = operation.operation === "query"
        ? { filter: { [field.name.value]: arg("filter") }, condition: null, first: arg("first"), after: arg("after"), orderBy: arg("orderBy") }
        : { filter: { alertId: { equalTo: (arg("input") as { id?: unknown } | null)?.id ?? null } }, condition: null, first: null, after: null, orderBy: null };
      reads.push({ responseKey, read });
    }
  }
  return reads;
}

/** A field answered unless the result has it null (an error) or lacks it (@skip). */
function answered(result: unknown, responseKey: string): boolean {
  // An incremental result (@defer/@stream) has started answering.
  if (isAsyncIterable(result)) return true;
  const data = (result as { data?: Record<string, unknown> | null } | null)?.data;
  return data != null && data[responseKey] != null;
}

/**
 * Grafast middleware: after an operation has executed, the reads of the log
 * it answered are handed to the access log once the response is done. It
 * changes nothing of the execution or its result, and its own failures are
 * the access log's (counted and logged), never the request's.
 */
export function makeLogReadsPlugin(accessLog: AccessLog): GraphileConfig.Plugin {
  return {
    name: "AuditLogReadsPlugin",
    description: "Records reads of the audit log in its access log (ACCESS_LOG=all).",
    version: "1.0.0",
    grafast: {
      middleware: {
        execute(next, event) {
          let record: ((result: unknown) => void) | null = null;
          try {
            const { req, res } = event.args.requestContext?.expressv4 ?? {};
            const claims = req ? claimsOf(req) : null;
            const reads = claims && res ? logReadsOf(event.args) : [];
            if (claims && res && reads.length > 0) {
              record = (result) => {
                const done = reads.filter((r) => answered(result, r.responseKey));
                if (done.length === 0) return;
                // After the response (finished or abandoned): never on its path.
                const hand = () => {
                  for (const r of done) accessLog.recordRead(claims, r.read);
                };
                if (res.closed) hand();
                else res.once("close", hand);
              };
            }
          } catch (err) {
            accessLog.recordFailure(err);
          }
          const result = next();
          if (!record) return result;
          const settle = record;
          const safely = (value: unknown) => {
            try {
              settle(value);
            } catch (err) {
              accessLog.recordFailure(err);
            }
          };
          if (isPromiseLike(result)) return Promise.resolve(result).then((value) => (safely(value), value));
          safely(result);
          return result;
        },
      },
    },
  };
}
