// Filter operators per type. Every query is already narrowed by RLS to one
// tenant (and account) and walks an index in (occurred_at, id) order; the
// operators kept are those that stay cheap on top of that: equality and
// set membership (the actor and entity indexes serve them), ranges on the
// timestamp (partition pruning and the index serve them), jsonb containment.
// Pattern matching (`like`, `includes`...) and ordering comparisons on text
// are left out: they force reading a tenant's whole log. A prefix
// (`startsWith`, and `startsWithInsensitive` for names typed by people) is
// kept for text: finding an entity by the start of its name (entityLabel)
// or events by family (`process.`); it costs what equality on the same
// column costs.
import "postgraphile";

const EQUALITY = ["equalTo", "notEqualTo", "in", "notIn", "isNull"];

/** Allowed operators by filter type name; other operator types get EQUALITY. */
export const OPERATORS_BY_TYPE: Record<string, readonly string[]> = {
  DatetimeFilter: ["equalTo", "lessThan", "lessThanOrEqualTo", "greaterThan", "greaterThanOrEqualTo"],
  StringFilter: [...EQUALITY, "startsWith", "startsWithInsensitive"],
  UUIDFilter: EQUALITY,
  BigIntFilter: ["equalTo", "in"],
  JSONFilter: ["contains", "containsKey"],
};

/** Every operator named above, for connectionFilterAllowedOperators. */
export const ALLOWED_OPERATORS = [...new Set(Object.values(OPERATORS_BY_TYPE).flat())];

export const AuditFilterOperatorsPlugin: GraphileConfig.Plugin = {
  name: "AuditFilterOperatorsPlugin",
  description: "Restricts connection-filter operators per type to the ones the audit log's indexes serve well.",
  version: "1.0.0",
  after: ["PgConnectionArgFilterOperatorsPlugin"],
  schema: {
    hooks: {
      GraphQLInputObjectType_fields(fields, _build, context) {
        if (!context.scope.pgConnectionFilterOperators) return fields;
        const allowed = OPERATORS_BY_TYPE[context.Self.name] ?? EQUALITY;
        return Object.fromEntries(Object.entries(fields).filter(([name]) => allowed.includes(name))) as typeof fields;
      },
    },
  },
};
