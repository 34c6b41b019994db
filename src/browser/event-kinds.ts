// Who writes each catalogued event (audit.events.kind), as the page names it:
// the capture of a tracked table (a change), the application's own events
// (sign-ins, views, runs), the API's record of reads and exports of the
// audit log itself (access), or the API's mutations on an admin's behalf
// (admin: detector settings, alerts acknowledged or resolved, webhook
// endpoints). The menus group events by kind; the list and the details panel
// name the kind of entries that are not changes.
import type { CatalogueEvent } from "./queries.ts";

export type EventKind = "trigger" | "application" | "access" | "admin";

/** The resource type of access events (migrations/tracking.sql), for a catalogue read without kinds. */
export const ACCESS_RESOURCE = "audit_log";

/** Group titles of the action menu's events. */
export const KIND_GROUPS: Record<EventKind, string> = {
  trigger: "Changes",
  application: "Application events",
  access: "Access to the audit log",
  admin: "Admin actions",
};

/** The tag of an entry that is not a change. */
export const KIND_TAGS: Record<EventKind, string | null> = {
  trigger: null,
  application: "Application event",
  access: "Access",
  admin: "Admin action",
};

const KINDS: readonly EventKind[] = ["trigger", "application", "access", "admin"];

function isKind(value: unknown): value is EventKind {
  return (KINDS as readonly unknown[]).includes(value);
}

/** The kind of a catalogued event; access for the log's own resource, change otherwise, when the catalogue has no kinds. */
export function kindOfEvent(e: CatalogueEvent): EventKind {
  if (isKind(e.kind)) return e.kind;
  return e.resourceType === ACCESS_RESOURCE ? "access" : "trigger";
}

/** The kind of an entry's event, from the catalogue; null while the catalogue is not loaded or lacks the event. */
export function kindOfEntry(event: string, catalogue: readonly CatalogueEvent[]): EventKind | null {
  const e = catalogue.find((c) => c.event === event);
  return e ? kindOfEvent(e) : null;
}

/** Catalogued events by kind, in kind order; kinds without events are left out. */
export function eventsByKind(catalogue: readonly CatalogueEvent[]): [EventKind, CatalogueEvent[]][] {
  return KINDS.map((k) => [k, catalogue.filter((e) => kindOfEvent(e) === k)] as [EventKind, CatalogueEvent[]])
    .filter(([, events]) => events.length > 0);
}

/** Resource types whose every event is an access event: reads and exports of the log, not business data. */
export function accessResources(catalogue: readonly CatalogueEvent[]): Set<string> {
  const byResource = new Map<string, boolean>();
  for (const e of catalogue) byResource.set(e.resourceType, (byResource.get(e.resourceType) ?? true) && kindOfEvent(e) === "access");
  return new Set([...byResource].filter(([, access]) => access).map(([r]) => r));
}
