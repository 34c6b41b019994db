// Page size of connections: `first` defaults to a page of 50 and is capped
// (500); a larger or negative value is a clear error, not a silent clamp.
// `offset` is removed: it costs O(offset) and skips or repeats entries while
// new ones arrive; cursors (`after`) do neither.
import "postgraphile";
import { lambda, SafeError, type FieldArg, type Step } from "postgraphile/grafast";

export interface PaginationOptions {
  defaultPageSize: number;
  maxPageSize: number;
}

export const DEFAULT_PAGINATION: PaginationOptions = { defaultPageSize: 50, maxPageSize: 500 };

export function makePaginationPlugin(options: PaginationOptions = DEFAULT_PAGINATION): GraphileConfig.Plugin {
  const { defaultPageSize, maxPageSize } = options;
  const checkPageSize = (first: unknown): number => {
    if (first === null || first === undefined) return defaultPageSize;
    if (typeof first !== "number" || !Number.isInteger(first) || first < 0 || first > maxPageSize) {
      throw new SafeError(`first must be between 0 and ${maxPageSize} (the largest page); got ${String(first)}. Page through more entries with the after cursor.`, {
        code: "PAGE_SIZE_TOO_LARGE",
      });
    }
    return first;
  };
  return {
    name: "AuditPaginationPlugin",
    description: `Connections: first defaults to ${defaultPageSize}, at most ${maxPageSize}; no offset.`,
    version: "1.0.0",
    after: ["PgFirstLastBeforeAfterArgsPlugin"],
    schema: {
      hooks: {
        GraphQLObjectType_fields_field_args(args, _build, context) {
          if (!context.scope.isPgFieldConnection) return args;
          const { offset: _offset, ...rest } = args;
          if (!rest.first) return rest;
          return {
            ...rest,
            first: {
              ...rest.first,
              description: `How many entries to return: ${defaultPageSize} unless given, at most ${maxPageSize}. Continue with \`after\` set to the last cursor (\`pageInfo.endCursor\`).`,
              defaultValue: defaultPageSize,
              applyPlan(_parent: Step, $connection: { setFirst($first: Step): void }, arg: FieldArg) {
                // Not sync-and-safe: it throws, and the error must reach the client.
                $connection.setFirst(lambda(arg.getRaw(), checkPageSize));
              },
            },
          } as typeof args;
        },
      },
    },
  };
}
