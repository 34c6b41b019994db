// AuditLog.description without a function call per entry. The field comes
// from the computed column audit.log_description(audit.log), which
// PostgreSQL cannot inline (src/db/event-description.ts): on a page of 51
// rows the calls were 1.7 ms of the query's 3.3 ms (PG 18, 10M entries). The
// same expression as the function's body, as a subquery of the page's own
// select, costs ~0.7 ms: one primary-key probe of audit.events per entry.
import "postgraphile";
import { TYPES, type PgSelectSingleStep } from "postgraphile/@dataplan/pg";
import { eventDescription } from "../../db/event-description.ts";

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
            return $entry.select((s) => eventDescription(s, s`${$entry}`), TYPES.text, true);
          },
        } as typeof field;
      },
    },
  },
};
