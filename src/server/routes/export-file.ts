// The export's file: which entries go in it (keyset batches of SQL, newest
// first, narrowed by the page's filters) and how each is written (CSV or
// JSON Lines, with the API's field names). export.ts streams it. The JSON
// columns are written as PostgreSQL's own jsonb text, verbatim (never parsed
// and serialized again: 1.50 and 12345678901234567890 stay as stored), so
// that each entry can be checked against its seal offline
// (src/sealing/export-verify.ts; the proof lines: export-proof.ts).
import { eventDescription } from "../../db/event-description.ts";
import type { AuditEntry } from "../../shared/entry.ts";
import type { ExportFormat } from "../../shared/export-format.ts";
import { isEventName, type ResolvedFilters } from "../../shared/filters.ts";

/** The export's columns: every field of an entry, with the API's names. */
export const EXPORT_COLUMNS: readonly (keyof AuditEntry)[] = [
  "id", "occurredAt", "tenantId", "accountId", "actorType", "actorId", "actorEmail", "actorName",
  "action", "resourceType", "entityId", "entityLabel", "event", "description", "oldValues", "newValues", "context", "transactionId",
];

/**
 * An exported entry as the batch query reads it: the API's fields, but the
 * JSON columns as PostgreSQL's jsonb text output (valid JSON, written into
 * the file as is).
 */
export type ExportRow = Omit<AuditEntry, "oldValues" | "newValues" | "context"> & {
  oldValues: string | null;
  newValues: string | null;
  context: string | null;
};

/** What the proof of an export needs of each entry (the sidecar reads only this). */
export interface ExportKey {
  id: string;
  occurredAt: string;
  transactionId: string;
}

export interface SqlQuery {
  text: string;
  values: unknown[];
}

/**
 * An entry of audit.log `l` as an ExportRow: the API's field names,
 * occurred_at as UTC text with microseconds, the jsonb columns as
 * PostgreSQL's text. The export and the log streams read entries with it.
 * `description`: the SQL of the description; the default is the body of
 * audit.log_description inlined (src/db/event-description.ts, as the API's
 * page does), a stream's batch joins the catalogue once.
 */
export function entrySelectList(description = eventDescription(String.raw, "l")): string {
  return `l.id::text as "id",
           to_char(l.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "occurredAt",
           l.tenant_id as "tenantId", l.account_id as "accountId",
           l.actor_type as "actorType", l.actor_id as "actorId", l.actor_email as "actorEmail", l.actor_name as "actorName",
           l.action, l.resource_type as "resourceType", l.entity_id as "entityId", l.entity_label as "entityLabel", l.event,
           ${description} as "description",
           l.old_values::text as "oldValues", l.new_values::text as "newValues", l.context::text as "context",
           l.transaction_id::text as "transactionId"`;
}

/** Position after the last exported entry (newest first). */
export interface ExportCursor {
  occurredAt: string;
  id: string;
}

/**
 * One batch of entries, newest first, after the cursor. occurred_at is read as
 * text with microseconds, so that the cursor compares exactly; the JSON
 * columns as jsonb text. `columns` "keys": only id, occurredAt and
 * transactionId (ExportKey), for the CSV's proof sidecar.
 */
export function exportBatchQuery(filters: ResolvedFilters, after: ExportCursor | null, limit: number, columns: "entries" | "keys" = "entries"): SqlQuery {
  const where: string[] = [];
  const values: unknown[] = [];
  const add = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  if (filters.from) where.push(`l.occurred_at >= ${add(filters.from)}::timestamptz`);
  if (filters.to) where.push(`l.occurred_at < ${add(filters.to)}::timestamptz`);
  if (filters.action) where.push(`${isEventName(filters.action) ? "l.event" : "l.action"} = ${add(filters.action)}`);
  if (filters.resourceType) where.push(`l.resource_type = ${add(filters.resourceType)}`);
  if (filters.actorId) where.push(`l.actor_id = ${add(filters.actorId)}::uuid`);
  if (filters.entityId) where.push(`l.entity_id = ${add(filters.entityId)}`);
  // a prefix taken literally, in any case (what the page's search sends: the
  // API's startsWithInsensitive), no pattern characters
  if (filters.entityLabel) where.push(`starts_with(lower(l.entity_label), lower(${add(filters.entityLabel)}))`);
  if (filters.alertId) {
    // The alert's entries as the database defines them (audit.security_alert_entries:
    // its ids, or its descriptor past 1,000), under the export's own row-level
    // security: an alert out of the admin's scope has no entries. Its span
    // bounds the index scan.
    const alert = add(filters.alertId);
    where.push(`l.occurred_at >= (select a.first_at from audit.alerts a where a.id = ${alert}::bigint)`);
    where.push(`l.occurred_at <= (select a.last_at from audit.alerts a where a.id = ${alert}::bigint)`);
    where.push(`l.id in (select e.id from audit.alerts a cross join lateral audit.security_alert_entries(a) e where a.id = ${alert}::bigint)`);
  }
  if (after) where.push(`(l.occurred_at, l.id) < (${add(after.occurredAt)}::timestamptz, ${add(after.id)}::bigint)`);
  const selected = columns === "keys"
    ? `select l.id::text as "id",
           to_char(l.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "occurredAt",
           l.transaction_id::text as "transactionId"`
    : `select ${entrySelectList()}`;
  const text = `
    ${selected}
      from audit.log l
     ${where.length > 0 ? `where ${where.join("\n       and ")}` : ""}
     order by l.occurred_at desc, l.id desc
     limit ${add(limit)}`;
  return { text, values };
}

// --- CSV (RFC 4180) -------------------------------------------------------

/** The columns holding jsonb text. */
export const JSON_COLUMNS: ReadonlySet<keyof AuditEntry> = new Set<keyof AuditEntry>(["oldValues", "newValues", "context"]);
/** Free-text columns that a spreadsheet could take for a formula. */
export const TEXT_COLUMNS: ReadonlySet<keyof AuditEntry> = new Set<keyof AuditEntry>(["actorEmail", "actorName", "entityId", "entityLabel", "description"]);

/**
 * A cell: quoted when it holds a quote, comma or line end, and an empty
 * string as "" (quoted), so that it differs from a null (an empty cell).
 */
function csvCell(value: string): string {
  if (value === "") return '""';
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * A free-text value that starts like a formula (=, +, -, @, tab, CR) gets a
 * leading apostrophe, so that a spreadsheet shows it instead of evaluating it
 * (OWASP's CSV injection advice). Ids, timestamps and JSON are never touched.
 * Apostrophes already in front of such a start count as part of it ("'=x"
 * becomes "''=x"), so that the change can be undone exactly: a cell that
 * starts with apostrophes and then a formula character lost one apostrophe
 * (restoreFormula).
 */
export function neutralizeFormula(value: string): string {
  return FORMULA_START.test(value) ? `'${value}` : value;
}

const FORMULA_START = /^'*[=+\-@\t\r]/;
const NEUTRALIZED = /^'+[=+\-@\t\r]/;

/** The value neutralizeFormula() was given, from what it returned. */
export function restoreFormula(cell: string): string {
  return NEUTRALIZED.test(cell) ? cell.slice(1) : cell;
}

export function csvHeader(): string {
  return EXPORT_COLUMNS.join(",") + "\r\n";
}

/** A CSV row; the JSON columns hold the jsonb text as PostgreSQL wrote it. */
export function csvLine(row: ExportRow): string {
  return EXPORT_COLUMNS.map((column) => {
    const value = row[column];
    if (value === null || value === undefined) return "";
    const text = String(value);
    return csvCell(TEXT_COLUMNS.has(column) ? neutralizeFormula(text) : text);
  }).join(",") + "\r\n";
}

/**
 * A JSON Lines entry: an object with the API's field names in EXPORT_COLUMNS
 * order; the JSON columns spliced in as PostgreSQL's jsonb text (valid JSON
 * without line breaks: jsonb escapes them in strings).
 */
export function jsonLine(row: ExportRow): string {
  const members = EXPORT_COLUMNS.map((column) => {
    const value = row[column];
    const json = value === null || value === undefined ? "null" : JSON_COLUMNS.has(column) ? String(value) : JSON.stringify(String(value));
    return `${JSON.stringify(column)}:${json}`;
  });
  return `{${members.join(",")}}\n`;
}

export function exportFilename(format: ExportFormat, now: Date): string {
  return `audit-log-${fileStamp(now)}.${format === "csv" ? "csv" : "jsonl"}`;
}

/** The CSV's proof sidecar (GET /export/proof). */
export function proofFilename(now: Date): string {
  return `audit-log-${fileStamp(now)}.proof.jsonl`;
}

function fileStamp(now: Date): string {
  return now.toISOString().slice(0, 19).replace(/[:T]/g, "-");
}

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  jsonl: "application/x-ndjson; charset=utf-8",
};
