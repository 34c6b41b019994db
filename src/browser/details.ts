// The details panel of one entry: the entity by name and id, the change
// field by field (old → new), redacted values shown as such, the context
// (request fields; an application or access event's own details), and the
// raw JSON. Events (sign-ins, views, exports) change no values: they show
// their context only.
import type { AuditEntry } from "../shared/entry.ts";
import { contextLabel, isObject, readableContextValue } from "./context-values.ts";
import { h } from "./dom.ts";
import { KIND_TAGS, type EventKind } from "./event-kinds.ts";
import { REDACTED, actionLabel, describeActor, formatLocal, formatRelative, humanize } from "./format.ts";
import type { ListedEntry } from "./queries.ts";

/** A JSON value as text, with every redacted secret shown as a badge. */
export function renderValue(value: unknown): Node {
  if (value === undefined) return h("span", { className: "absent" }, "—");
  if (value === REDACTED) return redactedBadge();
  if (value === null) return h("span", { className: "null" }, "null");
  if (typeof value === "string") return h("span", { className: "string" }, value);
  if (typeof value === "number" || typeof value === "boolean") return h("span", { className: "literal" }, String(value));
  return h("code", { className: "json" }, renderJson(value, 0));
}

function redactedBadge(): HTMLElement {
  return h("span", { className: "redacted", title: "The value is a secret: the audit log stores it redacted." }, "redacted");
}

function renderJson(value: unknown, depth: number): (Node | string)[] {
  const pad = "  ".repeat(depth);
  if (value === REDACTED) return [redactedBadge()];
  if (Array.isArray(value)) {
    if (value.length === 0) return ["[]"];
    const out: (Node | string)[] = ["[\n"];
    value.forEach((v, i) => out.push(pad + "  ", ...renderJson(v, depth + 1), i < value.length - 1 ? ",\n" : "\n"));
    out.push(pad + "]");
    return out;
  }
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 0) return ["{}"];
    const out: (Node | string)[] = ["{\n"];
    keys.forEach((k, i) => out.push(`${pad}  ${JSON.stringify(k)}: `, ...renderJson(value[k], depth + 1), i < keys.length - 1 ? ",\n" : "\n"));
    out.push(pad + "}");
    return out;
  }
  return [JSON.stringify(value)];
}

interface FieldChange {
  field: string;
  old: unknown;
  new: unknown;
}

export function fieldChanges(entry: AuditEntry): FieldChange[] {
  const oldValues = entry.oldValues ?? {};
  const newValues = entry.newValues ?? {};
  const fields = [...new Set([...Object.keys(oldValues), ...Object.keys(newValues)])];
  return fields.map((field) => ({
    field,
    old: entry.oldValues ? (field in oldValues ? oldValues[field] : undefined) : undefined,
    new: entry.newValues ? (field in newValues ? newValues[field] : undefined) : undefined,
  }));
}

export interface DetailsHandlers {
  onClose: () => void;
  onFilterEntity: (entityId: string) => void;
  accountName: (id: string) => string | null;
  /** The entry's event kind from the catalogue, null when unknown. */
  kind: EventKind | null;
}

function changesSection(entry: AuditEntry): HTMLElement {
  const changes = fieldChanges(entry);
  const hasOld = entry.oldValues !== null;
  const hasNew = entry.newValues !== null;
  return h("section", { "aria-labelledby": "changes-title", id: "details-changes" },
    h("h3", { id: "changes-title" }, "Changes"),
    changes.length === 0
      ? h("p", { className: "muted" }, "No field values were recorded for this entry.")
      : h("table", { className: "changes" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Field"),
          hasOld ? h("th", { scope: "col" }, hasNew ? "Old value" : "Value before") : null,
          hasNew ? h("th", { scope: "col" }, hasOld ? "New value" : "Value") : null)),
        h("tbody", {}, changes.map((c) => h("tr", { "data-field": c.field },
          h("th", { scope: "row" }, c.field),
          hasOld ? h("td", { className: "old" }, renderValue(c.old)) : null,
          hasNew ? h("td", { className: "new" }, renderValue(c.new)) : null,
        ))),
      ),
  );
}

export function renderDetails(entry: ListedEntry, handlers: DetailsHandlers): HTMLElement {
  const actor = describeActor(entry);
  // An event (application or access) records what happened, not values: it has neither side.
  const isEvent = entry.oldValues === null && entry.newValues === null;
  const kindTag = handlers.kind ? KIND_TAGS[handlers.kind] : null;
  const context = entry.context ?? {};
  const contextKeys = Object.keys(context);
  const account = entry.accountId ? (handlers.accountName(entry.accountId) ?? entry.accountId) : "Tenant level";

  return h("div", { className: "details-inner" },
    h("header", { className: "details-header" },
      h("div", {},
        h("h2", { id: "details-title" }, entry.description ?? humanize(entry.event)),
        h("p", { className: "muted" }, formatLocal(entry.occurredAt, true), " · ", formatRelative(entry.occurredAt)),
      ),
      h("button", { type: "button", className: "icon-button", "aria-label": "Close details", onclick: handlers.onClose }, "×"),
    ),
    h("dl", { className: "facts" },
      h("dt", {}, "Who"), h("dd", {}, actor.primary, actor.secondary ? h("span", { className: "muted" }, ` · ${actor.secondary}`) : null,
        h("span", { className: "tag" }, actor.kind)),
      h("dt", {}, "Action"), h("dd", {}, actionLabel(entry.action), h("span", { className: "muted" }, ` · ${entry.event}`),
        kindTag ? h("span", { className: "tag", id: "details-kind" }, kindTag) : null),
      h("dt", {}, "Resource"), h("dd", {}, humanize(entry.resourceType)),
      h("dt", {}, "Entity"), h("dd", { id: "details-entity" },
        entry.entityLabel ? h("div", { className: "strong", id: "details-entity-label" }, entry.entityLabel) : null,
        h("code", { id: "details-entity-id" }, entry.entityId), " ",
        h("button", { type: "button", className: "link-button", onclick: () => handlers.onFilterEntity(entry.entityId) }, "Show all entries of this entity")),
      h("dt", {}, "Account"), h("dd", {}, account),
      h("dt", {}, "Transaction"), h("dd", {}, h("code", {}, entry.transactionId)),
      h("dt", {}, "Entry"), h("dd", {}, h("code", {}, entry.id)),
    ),
    isEvent ? null : changesSection(entry),
    h("section", { "aria-labelledby": "context-title" },
      h("h3", { id: "context-title" }, "Context"),
      contextKeys.length === 0
        ? h("p", { className: "muted" }, isEvent ? "No context was recorded for this event." : "No request context was recorded.")
        : h("dl", { className: "facts" }, contextKeys.flatMap((k) => [
          h("dt", {}, contextLabel(k)),
          h("dd", { "data-context": k }, readableContextValue(k, context[k]) ?? renderValue(context[k])),
        ])),
    ),
    h("section", { "aria-labelledby": "raw-title" },
      h("h3", { id: "raw-title" }, "Raw JSON"),
      h("pre", { className: "raw", tabindex: 0, "aria-label": "The entry as JSON" }, JSON.stringify(entry, null, 2)),
    ),
  );
}
