// `first: 0` asks for an empty page: counts and aggregates without rows
// (the page's count query does this). Its pageInfo.hasNextPage must still
// say whether entries follow, as the Relay connection spec has it (true when
// more edges than `first` exist after the cursor): a client that asks
// `first: 0` for hasNextPage wants to know "is there anything?", and
// @dataplan/pg answers false without looking, since it runs no query for an
// empty page. Refusing `first: 0` would break those count queries, so
// hasNextPage of an empty page asks the database instead: a clone of the
// connection's query (same filter, condition, order and `after` cursor)
// reads at most one entry. For any other page size the clone gets
// `first: 0` itself and runs no query; the usual answer stands.
import "postgraphile";
import { PgSelectStep } from "postgraphile/@dataplan/pg";
import { lambda, UnbatchedStep, type ConnectionStep, type Step } from "postgraphile/grafast";

// (ConnectionStep's type parameters do not matter here)
type AnyConnection = ConnectionStep<any, any, any, any, any, any>;

function hasNextPage($connection: AnyConnection, $usual: Step): Step {
  const $first = $connection.getFirst();
  const $rows = $connection.getSubplan();
  if (!$first || !($rows instanceof PgSelectStep)) return $usual;
  // A clone in the same mode keeps the conditions, the order and the cursor.
  const $probe = $rows.clone();
  $probe.setFirst(lambda($first, (first) => (first === 0 ? 1 : 0), true));
  return lambda(
    [$first, $usual, $probe.items()],
    ([first, usual, probed]) => (first === 0 ? Array.isArray(probed) && probed.length > 0 : usual),
    true,
  );
}

/** A connection's pageInfo, with hasNextPage answered for empty pages too. */
class PageInfoStep extends UnbatchedStep {
  override isSyncAndSafe = true;

  constructor($connection: AnyConnection) {
    super();
    this.addDependency($connection);
  }

  get(key: string): Step {
    const $connection = this.getDep<AnyConnection>(0, true);
    const $value = $connection.pageInfo().get(key);
    return key === "hasNextPage" ? hasNextPage($connection, $value) : $value;
  }

  override unbatchedExecute(_extra: unknown, connection: unknown): unknown {
    return connection;
  }
}

export const EmptyPagePlugin: GraphileConfig.Plugin = {
  name: "EmptyPagePlugin",
  description: "pageInfo.hasNextPage of a `first: 0` page says whether any entry follows.",
  version: "1.0.0",
  schema: {
    hooks: {
      GraphQLObjectType_fields_field(field, _build, context) {
        if (!context.scope.isConnectionType || context.scope.fieldName !== "pageInfo") return field;
        return { ...field, plan: ($connection: AnyConnection) => new PageInfoStep($connection) } as typeof field;
      },
    },
  },
};
