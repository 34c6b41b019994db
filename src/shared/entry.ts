// One audit entry as the API names and types its fields (GraphQL's AuditLog;
// the export's columns in this order). The server's export and the page's
// bundle both use it. Types only: it adds nothing at run time to either.

/** A JSON object as the API returns a jsonb column. */
export type JsonObject = { [key: string]: unknown };

export interface AuditEntry {
  /** A bigint, as text. */
  id: string;
  /** UTC, ISO 8601 with microseconds. */
  occurredAt: string;
  tenantId: string;
  /** Null for tenant-level entries. */
  accountId: string | null;
  /** user, api_key, system or database_role. */
  actorType: string;
  actorId: string | null;
  actorEmail: string | null;
  actorName: string | null;
  action: string;
  resourceType: string;
  entityId: string;
  /** The entity's human name when the entry was written (a snapshot); null when it has none. */
  entityLabel: string | null;
  event: string;
  /** The catalogue's text of the event, or the event itself when it is not catalogued. */
  description: string;
  /** Inserts: null; updates: the changed columns' old values; deletes: the old row. */
  oldValues: JsonObject | null;
  /** Inserts: the row; updates: the changed columns' new values; deletes: null. */
  newValues: JsonObject | null;
  /** The request context (request id, IP, user agent, …). */
  context: JsonObject;
  /** A bigint, as text; shared by the entries of one transaction. */
  transactionId: string;
}
