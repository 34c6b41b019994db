// AuditLog.description without a function call per entry. The field comes
// from the computed column audit.log_description(audit.log), which
// PostgreSQL cannot inline (its body has a subquery): every entry of a page
// then builds the whole row (jsonb columns included) to pass it, and runs
// the function's body through the SQL-function executor. On a page of 51
// rows that was 1.7 ms of the query's 3.3 ms (PG 18, 10M entries). The same
// expression as the function's body, as a subquery of the page's own select,
// costs ~0.7 ms: one primary-key probe of audit.events per entry.
// Keep eventDescription equal to the body of audit.log_description
// (test/server/api.test.ts compares the two on every entry).
import "postgraphile";
import { TYPES, type PgSelectSingleStep } from "postgraphile/@dataplan/pg";
import { sql, type SQL } from "postgraphile/pg-sql2";

/** The entry's event described by the catalogue, else the event name: audit.log_description's body over an entry's alias. */
export const eventDescription = (entry: SQL): SQL =>
  sql`coalesce((select e.description from audit.events as e where e.event = ${entry}.event), ${entry}.event)`;

export const EntryDescriptionPlugin: GraphileConfig.Plugin = {
  name: "AuditEntryDescriptionPlugin",
  description: "Plans AuditLog.description as an inline subquery of the page instead of a call of audit.log_description per entry.",
  version: "1.0.0",
  schema: {
    hooks: {
      GraphQLObjectType_fields_field(field, _build, context) {
        if (context.Self.name !== "AuditLog" || context.scope.fieldName !== "description" || !field.plan) return field;
        return {
          ...field,
          plan($entry: PgSelectSingleStep) {
            // (the callback form: embedding $entry gives its alias in the page's query)
            return $entry.select((s) => eventDescription(s`${$entry}`), TYPES.text, true);
          },
        } as typeof field;
      },
    },
  },
};
