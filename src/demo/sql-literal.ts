// SQL literals for the demo's generated statements. The demo sends many
// small transactions in one round trip (the simple query protocol, which has
// no parameters), so values are quoted here. Only the demo's own values go
// through this; never user input.
export type SqlValue = string | number | boolean | null | Date | { json: unknown };

export function lit(value: SqlValue): string {
  if (value === null) return "null";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`not a finite number: ${value}`);
    return String(value);
  }
  if (typeof value === "boolean") return value ? "true" : "false";
  if (value instanceof Date) return `${quote(value.toISOString())}::timestamptz`;
  if (typeof value === "object") return `${quote(JSON.stringify(value.json))}::jsonb`;
  return quote(value);
}

function quote(text: string): string {
  if (text.includes("\0")) throw new Error("SQL literals cannot contain NUL characters");
  // standard_conforming_strings is on (the default since PostgreSQL 9.1): only quotes need doubling.
  return `'${text.replaceAll("'", "''")}'`;
}

/** `insert into <table> (<columns>) values (...), (...)` */
export function insertRows(table: string, rows: readonly Record<string, SqlValue>[]): string {
  if (rows.length === 0) throw new Error(`insertRows(${table}): no rows`);
  const columns = Object.keys(rows[0]!);
  const values = rows.map((row) => `(${columns.map((c) => lit(row[c] ?? null)).join(", ")})`);
  return `insert into ${table} (${columns.join(", ")}) values ${values.join(", ")}`;
}
