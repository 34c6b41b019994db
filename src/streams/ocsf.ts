// An audit entry as an OCSF event (Open Cybersecurity Schema Framework,
// schema 1.3.0), for log streams whose format is "ocsf": what SIEMs (Splunk,
// Datadog, Elastic, Security Lake, ...) parse without a custom pipeline.
// Field names and enum values are the 1.3.0 schema's (ocsf/ocsf-schema at
// tag 1.3.0: events/iam/*.json, events/application/api.json, objects/*.json).
//
// Mapping decisions, and why:
// - 3001 Account Change: user.created / user.deleted (Create / Delete) and
//   user.updated (99 Other: the class has no plain "update" activity). Its
//   subject is a *user account*; our `account` and `tenant` are a workspace
//   and a customer organisation, not identities, so their events are API
//   Activity.
// - 3002 Authentication: user.signed_in (Logon), user.signed_out (Logoff),
//   user.sign_in_failed (Logon, status Failure). The class requires `user`
//   and at least one of `service` / `dst_endpoint`: `service.uid` is the
//   tenant the user signs in to.
// - 3005 User Access Management: member.added / process_member.added
//   (Assign Privileges), member.removed / process_member.removed (Revoke
//   Privileges), member.role_updated (Assign Privileges: the new role).
//   `privileges` (required) is the role from the values, else the resource
//   type ("process_member"); `resource` is what the privilege gives access
//   to (the account, the tenant, the process). invitation.accepted is not
//   here: the membership it leads to is written as member.added, and two
//   grants for one change would double-count.
// - 6003 API Activity: everything else, its activity from the action
//   (create 1, view/export 2 Read, update-like 3 — acknowledge, activate,
//   pause, replay, … change a row's state — delete 4, else 99 Other);
//   `api.operation` is the event name. Events outside the catalogue
//   (OCSF_CLASSES) fall back the same way by their action.
// - `resources` (the entity, with old/new values in `data`) exists only in
//   API Activity; the IAM classes do not define it (a validating SIEM drops
//   or refuses unknown attributes), so there the entity and its values go
//   into `unmapped`, next to the event, action and request context.
// - Actors: OCSF has no API-key or database-role actor. Every actor is
//   actor.user: a user is type_id 1 User; `system` 3 System; an API key
//   99 Other with type "API Key" and credential_uid = the key's id (OCSF's
//   field for an access key id), so that no rule on type_id 1 mistakes it
//   for a person; a database role 99 "Database Role".
// - API Activity requires src_endpoint: the request's IP (context.ip, or a
//   database session's client_addr); an entry without one (a trigger's
//   capture without request context) says { name: "unknown" } rather than
//   leave a required object out.
// - Values: the jsonb columns arrive as PostgreSQL's text; they are parsed
//   keeping every number as written (JSON.rawJSON for 1.50 or
//   12345678901234567890, which JSON.parse would change), so
//   JSON.stringify(ocsfEvent(row)) writes them as stored.
import net from "node:net";
import type { StreamEntry } from "./stream-types.ts";

export const OCSF_VERSION = "1.3.0";

export type OcsfClassUid = 3001 | 3002 | 3005 | 6003;

interface OcsfClassInfo {
  class_name: string;
  category_uid: number;
  category_name: string;
  /** The activity captions used here (0 Unknown and 99 Other are every class's). */
  activities: Readonly<Record<number, string>>;
}

const IAM = { category_uid: 3, category_name: "Identity & Access Management" };
const APPLICATION = { category_uid: 6, category_name: "Application Activity" };

/** The classes of the mapping, with the 1.3.0 captions of their activities. */
export const OCSF_CLASS_INFO: Readonly<Record<OcsfClassUid, OcsfClassInfo>> = {
  3001: { class_name: "Account Change", ...IAM, activities: { 0: "Unknown", 1: "Create", 2: "Enable", 5: "Disable", 6: "Delete", 99: "Other" } },
  3002: { class_name: "Authentication", ...IAM, activities: { 0: "Unknown", 1: "Logon", 2: "Logoff", 99: "Other" } },
  3005: { class_name: "User Access Management", ...IAM, activities: { 0: "Unknown", 1: "Assign Privileges", 2: "Revoke Privileges", 99: "Other" } },
  6003: { class_name: "API Activity", ...APPLICATION, activities: { 0: "Unknown", 1: "Create", 2: "Read", 3: "Update", 4: "Delete", 99: "Other" } },
};

export interface OcsfMapping {
  class_uid: OcsfClassUid;
  activity_id: number;
  /** 2 Failure for an event that reports a failure (user.sign_in_failed); otherwise 1 Success. */
  status_id?: 1 | 2;
}

const account = (activity_id: number): OcsfMapping => ({ class_uid: 3001, activity_id });
const auth = (activity_id: number, status_id: 1 | 2 = 1): OcsfMapping => ({ class_uid: 3002, activity_id, status_id });
const access = (activity_id: number): OcsfMapping => ({ class_uid: 3005, activity_id });
const api = (activity_id: number): OcsfMapping => ({ class_uid: 6003, activity_id });
const [CREATE, READ, UPDATE, DELETE, OTHER] = [1, 2, 3, 4, 99];

/** Every event of the catalogue (audit.events) and its class and activity. */
export const OCSF_CLASSES: Readonly<Record<string, OcsfMapping>> = {
  "account.created": api(CREATE),
  "account.deleted": api(DELETE),
  "account.updated": api(UPDATE),
  "alert.acknowledged": api(UPDATE),
  "alert.resolved": api(UPDATE),
  "api_key.created": api(CREATE),
  "api_key.deactivated": api(UPDATE), // revoked_at is set: the key row is updated
  "api_key.deleted": api(DELETE),
  "api_key.updated": api(UPDATE),
  "audit_log.export_finished": api(READ),
  "audit_log.exported": api(READ),
  "audit_log.viewed": api(READ),
  "data.exported": api(READ),
  "invitation.accepted": api(UPDATE), // accepted_at is set; the grant itself is member.added
  "invitation.created": api(CREATE),
  "invitation.revoked": api(DELETE),
  "invitation.updated": api(UPDATE),
  "job.completed": api(UPDATE),
  "license.activated": api(UPDATE),
  "license.created": api(CREATE),
  "license.deleted": api(DELETE),
  "license.updated": api(UPDATE),
  "log_stream.created": api(CREATE),
  "log_stream.deleted": api(DELETE),
  "log_stream.paused": api(UPDATE), // the stream's state and position are updated
  "log_stream.replayed": api(UPDATE),
  "log_stream.resumed": api(UPDATE),
  "log_stream.updated": api(UPDATE),
  "member.added": access(1),
  "member.removed": access(2),
  "member.role_updated": access(1), // the new role is assigned
  "process.created": api(CREATE),
  "process.deleted": api(DELETE),
  "process.restored": api(UPDATE), // deleted_at is cleared
  "process.run_requested": api(OTHER), // an invocation, none of create/read/update/delete
  "process.updated": api(UPDATE),
  "process_member.added": access(1),
  "process_member.removed": access(2),
  "security_policy.updated": api(UPDATE),
  "settings.updated": api(UPDATE),
  "settings.viewed": api(READ),
  "tenant.created": api(CREATE),
  "tenant.deleted": api(DELETE),
  "tenant.updated": api(UPDATE),
  "user.created": account(1),
  "user.deleted": account(6),
  "user.sign_in_failed": auth(1, 2),
  "user.signed_in": auth(1),
  "user.signed_out": auth(2),
  "user.updated": account(OTHER), // Account Change has no plain "update"
  "webhook_endpoint.created": api(CREATE),
  "webhook_endpoint.deleted": api(DELETE),
  "webhook_endpoint.updated": api(UPDATE),
};

/** API Activity's activity for an action outside the catalogue. */
const ACTION_ACTIVITIES: Readonly<Record<string, number>> = {
  create: CREATE,
  view: READ,
  read: READ,
  update: UPDATE,
  delete: DELETE,
};

/** A table's own member (never Object.prototype's: event and action names come from the data). */
function own<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** The class and activity of an event: the catalogue's, else API Activity by the action. */
export function ocsfMapping(event: string, action: string): OcsfMapping {
  return own(OCSF_CLASSES, event) ?? api(own(ACTION_ACTIVITIES, action) ?? OTHER);
}

/** How each actor type appears as actor.user (type_id and type, the caption or, for 99, our name). */
const ACTOR_TYPES: Readonly<Record<string, { type_id: number; type: string }>> = {
  user: { type_id: 1, type: "User" },
  system: { type_id: 3, type: "System" },
  api_key: { type_id: 99, type: "API Key" },
  database_role: { type_id: 99, type: "Database Role" },
};

const EMAIL = /^[^@\s]+@[^@\s]+$/;

type JsonObject = Record<string, unknown>;

/** The object without its null and undefined members. */
function compact<T extends JsonObject>(object: T): T {
  return Object.fromEntries(Object.entries(object).filter(([, v]) => v !== null && v !== undefined)) as T;
}

// JSON.parse's source text access (Node 21+; not yet in TypeScript's lib)
const { rawJSON, isRawJSON } = JSON as unknown as { rawJSON?: (text: string) => unknown; isRawJSON?: (value: unknown) => boolean };

/**
 * A jsonb column's text as a value; numbers that JSON.parse would write
 * back differently (1.50, 1e3, 12345678901234567890) are kept as their
 * text (JSON.rawJSON), so that JSON.stringify writes them as stored.
 * Null for null or text that is not JSON.
 */
export function parseJsonb(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text, (_key: string, value: unknown, context?: { source?: string }) =>
      typeof value === "number" && rawJSON && context?.source !== undefined && String(value) !== context.source ? rawJSON(context.source) : value,
    );
  } catch {
    return null;
  }
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value) && !isRawJSON?.(value);
}

function stringMember(object: unknown, key: string): string | undefined {
  if (!isObject(object)) return undefined;
  const value = object[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/** An IP address for an endpoint: context.ip, or a database session's inet text ("10.0.0.5/32"). */
function endpointIp(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const bare = value.replace(/\/(32|128)$/, "");
  return net.isIP(bare) ? bare : undefined;
}

/** The actor: always actor.user (see the header), with the application's name for a database session. */
function actorOf(row: StreamEntry, context: JsonObject): JsonObject {
  const type = own(ACTOR_TYPES, row.actorType) ?? { type_id: 99, type: row.actorType };
  const user = compact({
    uid: row.actorId,
    name: row.actorName ?? (row.actorId === null ? row.actorType : null),
    email_addr: row.actorEmail,
    ...type,
    credential_uid: row.actorType === "api_key" ? row.actorId : null,
  });
  return compact({ user, app_name: row.actorType === "database_role" ? stringMember(context, "application_name") : undefined });
}

/** The target user of an IAM event: the id given, the label as name (an email for users and members); OCSF needs one of them. */
function targetUser(uid: string | undefined, label: string | null): JsonObject {
  if (uid === undefined && label === null) return { name: "unknown" };
  return compact({ uid, name: label, email_addr: label !== null && EMAIL.test(label) ? label : undefined });
}

/** The member of the old or new values (inserts carry the row, deletes the old row, updates the changed columns). */
function valueOf(oldValues: unknown, newValues: unknown, key: string): string | undefined {
  return stringMember(newValues, key) ?? stringMember(oldValues, key);
}

/**
 * The entry as an OCSF 1.3.0 event (see the header for the mapping).
 * Members whose value is unknown are left out, never null.
 */
export function ocsfEvent(row: StreamEntry): Record<string, unknown> {
  const mapping = ocsfMapping(row.event, row.action);
  const info = OCSF_CLASS_INFO[mapping.class_uid];
  const activityName = info.activities[mapping.activity_id] ?? "Other";
  const statusId = mapping.status_id ?? 1;
  const oldValues = parseJsonb(row.oldValues);
  const newValues = parseJsonb(row.newValues);
  const parsedContext = parseJsonb(row.context);
  const context: JsonObject = isObject(parsedContext) ? parsedContext : {};

  // what the context gives to OCSF's own fields; the rest stays in unmapped.context
  const requestIp = endpointIp(stringMember(context, "ip"));
  const ip = requestIp ?? (row.actorType === "database_role" ? endpointIp(stringMember(context, "client_addr")) : undefined);
  const userAgent = stringMember(context, "user_agent");
  const requestId = stringMember(context, "request_id");
  const rest: JsonObject = { ...context };
  if (requestIp !== undefined) delete rest.ip;
  if (userAgent !== undefined) delete rest.user_agent;
  if (requestId !== undefined) delete rest.request_id;

  const iam = mapping.class_uid !== 6003;
  const event: JsonObject = {
    class_uid: mapping.class_uid,
    class_name: info.class_name,
    category_uid: info.category_uid,
    category_name: info.category_name,
    activity_id: mapping.activity_id,
    activity_name: activityName,
    type_uid: mapping.class_uid * 100 + mapping.activity_id,
    type_name: `${info.class_name}: ${activityName}`,
    time: Date.parse(row.occurredAt),
    timezone_offset: 0,
    severity_id: 1,
    severity: "Informational",
    status_id: statusId,
    status: statusId === 1 ? "Success" : "Failure",
    message: row.description,
    metadata: {
      version: OCSF_VERSION,
      product: { name: "Audit Trail", vendor_name: "Audit Trail" },
      uid: row.id,
      correlation_uid: row.transactionId,
      tenant_uid: row.tenantId,
      event_code: row.event,
      log_name: "audit.log",
      original_time: row.occurredAt,
    },
    actor: actorOf(row, context),
  };

  switch (mapping.class_uid) {
    case 3001:
      event.user = targetUser(row.entityId, row.entityLabel);
      break;
    case 3002: {
      event.user = targetUser(row.entityId, row.entityLabel);
      event.service = { uid: row.tenantId };
      const reason = stringMember(context, "reason");
      if (statusId === 2 && reason !== undefined) event.status_detail = reason;
      break;
    }
    case 3005: {
      // the entity is the membership row; the user is its user_id (absent from an update's changed columns)
      event.user = targetUser(valueOf(oldValues, newValues, "user_id"), row.entityLabel);
      const role = valueOf(oldValues, newValues, "role");
      event.privileges = [role ?? row.resourceType];
      // what the privilege gives access to: the process, else the membership's account (none: the whole tenant)
      const processId = valueOf(oldValues, newValues, "process_id");
      if (processId !== undefined) event.resource = { uid: processId, type: "process" };
      else if (row.resourceType !== "process_member") {
        event.resource = row.accountId !== null ? { uid: row.accountId, type: "account" } : { uid: row.tenantId, type: "tenant" };
      }
      break;
    }
    case 6003:
      event.api = compact({ operation: row.event, request: requestId === undefined ? undefined : { uid: requestId } });
      event.resources = [
        compact({
          uid: row.entityId,
          type: row.resourceType,
          name: row.entityLabel,
          data: oldValues === null && newValues === null ? undefined : compact({ old_values: oldValues, new_values: newValues }),
        }),
      ];
      break;
  }

  if (ip !== undefined) event.src_endpoint = { ip };
  else if (mapping.class_uid === 6003) event.src_endpoint = { name: "unknown" }; // required by API Activity
  if (userAgent !== undefined) event.http_request = { user_agent: userAgent };

  event.unmapped = compact({
    event: row.event,
    action: row.action,
    resource_type: row.resourceType,
    account_id: row.accountId,
    actor_type: row.actorType,
    request_id: requestId,
    entity_id: iam ? row.entityId : undefined,
    old_values: iam ? oldValues : undefined,
    new_values: iam ? newValues : undefined,
    context: Object.keys(rest).length > 0 ? rest : undefined,
  });
  return event;
}
