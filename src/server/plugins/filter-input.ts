// The `filter` argument of connections, as clients send it. `filter: null`
// (what GraphQL clients send when the user chose no filter) and `filter: {}`
// mean no filter, exactly like leaving the argument out. Inside a filter,
// a null (`accountId: { equalTo: null }`), an empty object
// (`occurredAt: {}`) or an empty `and` / `or` list is a client error that
// says where it is: connection-filter would throw an unexplained error
// (masked as a server fault), and dropping the part instead would widen the
// result, and an export (an empty `or` even drops itself in @dataplan/pg).
import "postgraphile";
import { PgCondition, type PgSelectQueryBuilder, type PgSelectStep } from "postgraphile/@dataplan/pg";
import { SafeError, type FieldArg } from "postgraphile/grafast";
import { getNullableType, isInputObjectType, isListType, type GraphQLInputType } from "postgraphile/graphql";

export const FILTER_ERROR_CODES = { null: "FILTER_NULL_VALUE", empty: "FILTER_EMPTY_VALUE" } as const;

const nullValue = (path: string) =>
  new SafeError(`${path} is null. Leave it out to not filter on it; to match entries without a value, use isNull: true.`, {
    code: FILTER_ERROR_CODES.null,
  });

const emptyValue = (path: string, what: "object" | "list") =>
  new SafeError(`${path} is an empty ${what}: give it at least one ${what === "object" ? "operator or field" : "filter"}, or leave it out.`, {
    code: FILTER_ERROR_CODES.empty,
  });

/** The first null or empty value inside a filter (below the argument itself), as the client's error. */
function problemIn(value: unknown, type: GraphQLInputType, path: string): SafeError | null {
  if (value === undefined) return null;
  if (value === null) return nullValue(path);
  const nullable = getNullableType(type);
  if (isListType(nullable)) {
    const items = Array.isArray(value) ? value : [value];
    // `and` / `or`: a list of filters. (A list of values, `in: []`, means
    // "none of these" and narrows: it is allowed.)
    if (items.length === 0 && isInputObjectType(getNullableType(nullable.ofType))) return emptyValue(path, "list");
    for (const [i, item] of items.entries()) {
      const problem = problemIn(item, nullable.ofType, `${path}[${i}]`);
      if (problem) return problem;
    }
    return null;
  }
  if (!isInputObjectType(nullable)) return null; // a value; JSON values are data, not filters
  const fields = nullable.getFields();
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return emptyValue(path, "object");
  for (const [name, v] of entries) {
    const field = fields[name];
    const problem = field ? problemIn(v, field.type, `${path}.${name}`) : null;
    if (problem) return problem;
  }
  return null;
}

/** Whether a filter argument's value has conditions: false for null and {}; throws for a null or empty value inside. */
export function filterHasConditions(value: unknown, type: GraphQLInputType, name = "filter"): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === "object" && Object.values(value).every((v) => v === undefined)) return false;
  const problem = problemIn(value, type, name);
  if (problem) throw problem;
  return true;
}

export const FilterInputPlugin: GraphileConfig.Plugin = {
  name: "FilterInputPlugin",
  description: "filter: null and {} mean no filter; a null or empty value inside a filter is a client error.",
  version: "1.0.0",
  after: ["PgConnectionArgFilterPlugin"],
  schema: {
    hooks: {
      GraphQLObjectType_fields_field_args(args, _build, context) {
        if (!context.scope.isPgFieldConnection || !args.filter) return args;
        const type = args.filter.type;
        return {
          ...args,
          filter: {
            ...args.filter,
            // connection-filter's own, without its refusal of null and {} for
            // the whole argument, and with the check above: it runs before the
            // filter's parts are applied.
            applyPlan(_parent: unknown, $connection: { getSubplan(): PgSelectStep }, fieldArg: FieldArg) {
              fieldArg.apply($connection.getSubplan(), (queryBuilder: PgSelectQueryBuilder, value: unknown) =>
                filterHasConditions(value, type) ? new PgCondition(queryBuilder) : undefined,
              );
            },
          },
        } as typeof args;
      },
    },
  },
};
