// Columns whose type is a domain with a fixed set of values (audit.actor_type)
// stay `String` in the API (text-domains.ts), so GraphQL accepts any string
// for them. PostgreSQL would refuse one outside the domain only when it casts
// the value, with a check violation that reads as a server fault. Their
// `filter` and `condition` values are checked here instead, before any SQL:
// a value outside the domain is the client's mistake, named with the values
// allowed. (Not a GraphQL enum: clients declare these variables as String.)
import "postgraphile";
import type { PgCodecWithAttributes } from "postgraphile/@dataplan/pg";
import { SafeError } from "postgraphile/grafast";

export interface DomainValues {
  /** What one value is called, in messages: "an actor type". */
  noun: string;
  values: readonly string[];
  code: string;
}

/**
 * The domains exposed to filters and conditions, by schema-qualified name,
 * with the values of their CHECK (migrations; test/server/domain-values.test.ts
 * compares the two, and fails for a domain of audit.log missing here).
 */
export const DOMAIN_VALUES: Record<string, DomainValues> = {
  "audit.actor_type": { noun: "an actor type", values: ["user", "api_key", "system", "database_role"], code: "INVALID_ACTOR_TYPE" },
};

/** The domain's entry, for a codec's or an error's schema and type name. */
export function domainValues(schemaName: unknown, name: unknown): DomainValues | undefined {
  return typeof schemaName === "string" && typeof name === "string" ? DOMAIN_VALUES[`${schemaName}.${name}`] : undefined;
}

/** "user, api_key, system or database_role" */
export const valueList = (domain: DomainValues) => `${domain.values.slice(0, -1).join(", ")} or ${domain.values.at(-1)}`;

const preview = (value: string) => {
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}..."` : text;
};

/**
 * The filter operators that compare whole values. The others offered on
 * strings (startsWith) build a pattern, "user%", which PostgreSQL casts to
 * the domain too, and refuses.
 */
const WHOLE_VALUE_OPERATORS = new Set(["equalTo", "notEqualTo", "in", "notIn", "isNull"]);

/** The strings of a value ("robot", ["user", "robot"]); null (a condition's "is null") and isNull's boolean have none. */
const stringsOf = (value: unknown): string[] => (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === "string");

/**
 * Throws the client's error for the first value outside the domain: a
 * condition's value, or a filter's operators ({ in: ["user", "robot"] }).
 */
export function checkDomainValues(domain: DomainValues, fieldName: string, argument: "filter" | "condition", value: unknown): void {
  const operands: [where: string, operator: string | null, operand: unknown][] =
    argument === "condition"
      ? [[fieldName, null, value]]
      : Object.entries(value ?? {}).map(([operator, operand]) => [`${fieldName}.${operator}`, operator, operand]);
  for (const [where, operator, operand] of operands) {
    if (operator !== null && !WHOLE_VALUE_OPERATORS.has(operator)) {
      throw new SafeError(`${fieldName} takes whole values (${[...WHOLE_VALUE_OPERATORS].join(", ")}), not ${operator}: its values are ${valueList(domain)}.`, {
        code: domain.code,
      });
    }
    const bad = stringsOf(operand).find((text) => !domain.values.includes(text));
    if (bad !== undefined) {
      throw new SafeError(`${fieldName} must be one of ${valueList(domain)}; the ${argument}'s ${where} has ${preview(bad)}, which is not ${domain.noun}.`, {
        code: domain.code,
      });
    }
  }
}

type Apply = (this: unknown, ...args: unknown[]) => unknown;

export const DomainValuesPlugin: GraphileConfig.Plugin = {
  name: "DomainValuesPlugin",
  description: "Filter and condition values of domain-typed columns must be values of the domain (checked before SQL).",
  version: "1.0.0",
  schema: {
    hooks: {
      GraphQLInputObjectType_fields_field(field, build, context) {
        const { scope } = context;
        const argument = scope.isPgConnectionFilterField ? "filter" : scope.isPgConnectionConditionInputField ? "condition" : null;
        const codec = scope.pgCodec;
        if (!argument || !codec?.attributes) return field;
        const attribute = Object.entries(codec.attributes).find(
          ([attributeName]) => build.inflection.attribute({ codec: codec as PgCodecWithAttributes, attributeName }) === scope.fieldName,
        )?.[1];
        const pg = attribute?.codec.extensions?.pg;
        const domain = domainValues(pg?.schemaName, pg?.name);
        const apply = (field as { apply?: Apply }).apply;
        if (!domain || typeof apply !== "function") return field;
        const { fieldName } = scope;
        return {
          ...field,
          description: `${field.description ?? ""} One of ${valueList(domain)}.`.trim(),
          apply(this: unknown, ...args: unknown[]) {
            checkDomainValues(domain, fieldName, argument, args[1]);
            return apply.apply(this, args);
          },
        } as typeof field;
      },
    },
  },
};
