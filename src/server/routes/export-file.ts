// The export's file: which entries go in it (keyset batches of SQL, newest
// first, narrowed by the page's filters) and how each is written (CSV or
// JSON Lines, with the API's field names). export.ts streams it.
import type { AuditEntry } from "../../shared/entry.ts";
import type { ExportFormat } from "../../shared/export-format.ts";
import { isEventName, type ResolvedFilters } from "../../shared/filters.ts";

/** The export's columns: every field of an entry, with the API's names. */
export const EXPORT_COLUMNS: readonly (keyof AuditEntry)[] = [
  "id", "occurredAt", "tenantId", "accountId", "actorType", "actorId", "actorEmail", "actorName",
  "action", "resourceType", "entityId", "entityLabel", "event", "description", "oldValues", "newValues", "context", "transactionId",
];

export interface SqlQuery {
  text: string;
  values: unknown[];
}

/** Position after the last exported entry (newest first). */
export interface ExportCursor {
  occurredAt: string;
  id: string;
}

/**
 * One batch of entries, newest first, after the cursor. occurred_at is read as
 * text with microseconds, so that the cursor compares exactly.
 */
export function exportBatchQuery(filters: ResolvedFilters, after: ExportCursor | null, limit: number): SqlQuery {
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
  const text = `
    select l.id::text as "id",
           to_char(l.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as "occurredAt",
           l.tenant_id as "tenantId", l.account_id as "accountId",
           l.actor_type as "actorType", l.actor_id as "actorId", l.actor_email as "actorEmail", l.actor_name as "actorName",
           l.action, l.resource_type as "resourceType", l.entity_id as "entityId", l.entity_label as "entityLabel", l.event,
           audit.log_description(l) as "description",
           l.old_values as "oldValues", l.new_values as "newValues", l.context,
           l.transaction_id::text as "transactionId"
      from audit.log l
     ${where.length > 0 ? `where ${where.join("\n       and ")}` : ""}
     order by l.occurred_at desc, l.id desc
     limit ${add(limit)}`;
  return { text, values };
}

// --- CSV (RFC 4180) -------------------------------------------------------

const JSON_COLUMNS = new Set<keyof AuditEntry>(["oldValues", "newValues", "context"]);
/** Free-text columns that a spreadsheet could take for a formula. */
const TEXT_COLUMNS = new Set<keyof AuditEntry>(["actorEmail", "actorName", "entityId", "entityLabel", "description"]);

function csvCell(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * A free-text value that starts like a formula (=, +, -, @, tab, CR) gets a
 * leading apostrophe, so that a spreadsheet shows it instead of evaluating it
 * (OWASP's CSV injection advice). Ids, timestamps and JSON are never touched.
 */
export function neutralizeFormula(value: string): string {
  return /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
}

export function csvHeader(): string {
  return EXPORT_COLUMNS.join(",") + "\r\n";
}

export function csvLine(row: AuditEntry): string {
  return EXPORT_COLUMNS.map((column) => {
    const value = row[column];
    if (value === null || value === undefined) return "";
    if (JSON_COLUMNS.has(column)) return csvCell(JSON.stringify(value));
    const text = String(value);
    return csvCell(TEXT_COLUMNS.has(column) ? neutralizeFormula(text) : text);
  }).join(",") + "\r\n";
}

export function jsonLine(row: AuditEntry): string {
  const out: Record<string, unknown> = {};
  for (const column of EXPORT_COLUMNS) out[column] = row[column] ?? null;
  return JSON.stringify(out) + "\n";
}

export function exportFilename(format: ExportFormat, now: Date): string {
  const stamp = now.toISOString().slice(0, 19).replace(/[:T]/g, "-");
  return `audit-log-${stamp}.${format === "csv" ? "csv" : "jsonl"}`;
}

export const CONTENT_TYPES: Record<ExportFormat, string> = {
  csv: "text/csv; charset=utf-8",
  jsonl: "application/x-ndjson; charset=utf-8",
};
