// audit.log_description's body over an entry's alias, for the queries that
// inline it rather than call the function once per entry (PostgreSQL cannot
// inline it: its body has a subquery, so every call builds the whole row,
// jsonb columns included, and runs the body through the SQL-function
// executor). The API's page builds it with pg-sql2's `sql` (the alias is a
// symbol there), the export and the log streams with plain text (`String.raw`),
// from this one template. test/server/api.test.ts compares the page's with
// the function on every entry.

/** A template tag: pg-sql2's `sql`, or `String.raw` for SQL text. */
type Tag<T, V> = (strings: TemplateStringsArray, ...values: V[]) => T;

/** The entry's event described by the catalogue (audit.events), else the event name. */
export function eventDescription<T, V>(tag: Tag<T, V>, entry: V): T {
  return tag`coalesce((select e.description from audit.events as e where e.event = ${entry}.event), ${entry}.event)`;
}
