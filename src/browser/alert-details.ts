// The details panel of one security alert: what happened (summary,
// severity, detector with its explanation, actor, account, first and last
// seen in local time with the UTC instant), what the detector recorded, its
// status history, the entries that triggered it (each a link to the entry in
// Audit Logs), "Open in Audit Logs", and for tenant admins Acknowledge and
// Resolve (with an optional note).
import { h, replace } from "./dom.ts";
import {
  SEVERITY_LABELS, SEVERITY_MARKS, STATUS_LABELS, detectorExplanation, detectorName, isSeverity, isStatus,
} from "./detectors.ts";
import { actionLabel, describeActor, entityName, formatLocal, formatNumber, formatRelative, humanize, shortId } from "./format.ts";
import type { AlertEntry, AlertWithEntries, SecurityAlert } from "./security-queries.ts";
import { auditLogsUrlOfAlert } from "./security-state.ts";

export interface AlertDetailsHandlers {
  onClose: () => void;
  /** Acknowledge and Resolve are offered (tenant admins only). */
  canChange: boolean;
  onAcknowledge: () => Promise<void>;
  onResolve: (note: string | null) => Promise<void>;
  accountName: (id: string) => string | null;
  /** The signed-in admin's id, to say "you" for their own actions. */
  me: string | null;
}

/** A severity as a badge: its shape and its word, coloured (never colour alone). */
export function severityBadge(severity: string, id?: string): HTMLElement {
  const known = isSeverity(severity);
  return h("span", { className: `severity severity-${known ? severity : "unknown"}`, id, "data-severity": severity },
    h("span", { className: "severity-mark", "aria-hidden": "true" }, known ? SEVERITY_MARKS[severity] : "?"),
    known ? SEVERITY_LABELS[severity] : humanize(severity));
}

export function statusBadge(status: string, id?: string): HTMLElement {
  return h("span", { className: `status-badge status-${status}`, id, "data-status": status }, isStatus(status) ? STATUS_LABELS[status] : humanize(status));
}

/** A local date-time with its UTC instant: the instant in the tooltip and, for screen readers and copying, in small print. */
export function instant(iso: string, options: { relative?: boolean; id?: string } = {}): HTMLElement {
  const utc = new Date(iso).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
  return h("span", { className: "instant", id: options.id },
    h("time", { datetime: new Date(iso).toISOString(), title: `${utc} (${iso})` }, formatLocal(iso, true)),
    options.relative ? h("span", { className: "muted" }, " · ", h("span", { className: "relative", "data-at": iso }, formatRelative(iso))) : null,
    h("span", { className: "utc muted small" }, utc));
}

/** Who acted: "you" for the signed-in admin, an email as it is, an id shortened. */
function who(value: string | null, me: string | null): string {
  if (!value) return "someone";
  if (me && value === me) return "you";
  return /^[0-9a-f-]{36}$/i.test(value) ? `user ${shortId(value)}` : value;
}

const LABELS_SHOWN = 6;

/** What the detector recorded beyond the summary, in words. */
function recordedFacts(alert: SecurityAlert): HTMLElement[] {
  const d = alert.details ?? {};
  const out: HTMLElement[] = [];
  const labels = Array.isArray(d.labels) ? d.labels.filter((l): l is string => typeof l === "string") : [];
  if (labels.length > 0) {
    // The detector keeps the first 20 names; a few read better than a wall of them.
    const shown = labels.slice(0, LABELS_SHOWN);
    const rest = labels.length - shown.length;
    out.push(h("dt", {}, "Touched"), h("dd", { id: "alert-labels", title: rest > 0 ? labels.join(", ") : undefined },
      shown.join(", "), rest > 0 ? h("span", { className: "muted" }, ` and ${rest} more`) : null));
  }
  if (typeof d.first_local_time === "string") {
    out.push(h("dt", {}, "Local time"), h("dd", {}, d.first_local_time, typeof d.time_zone === "string" ? ` (${d.time_zone})` : ""));
  }
  if (typeof d.resource_type === "string") out.push(h("dt", {}, "Resource"), h("dd", {}, humanize(d.resource_type)));
  const role = typeof d.granted_role === "string" ? d.granted_role : typeof d.top_role === "string" ? d.top_role : null;
  if (role) out.push(h("dt", {}, "Role granted"), h("dd", {}, role));
  return out;
}

function history(alert: SecurityAlert, me: string | null): HTMLElement {
  const steps: [number, HTMLElement][] = [
    [Date.parse(alert.detectedAt), h("li", { "data-step": "detected" }, h("span", { className: "strong" }, "Detected"), " ", instant(alert.detectedAt, { relative: true }))],
  ];
  if (alert.acknowledgedAt) {
    steps.push([Date.parse(alert.acknowledgedAt), h("li", { "data-step": "acknowledged", id: "alert-acknowledged" },
      h("span", { className: "strong" }, "Acknowledged"), ` by ${who(alert.acknowledgedBy, me)} `, instant(alert.acknowledgedAt, { relative: true }))]);
  }
  if (alert.resolvedAt) {
    steps.push([Date.parse(alert.resolvedAt), h("li", { "data-step": "resolved", id: "alert-resolved" },
      h("span", { className: "strong" }, "Resolved"), ` by ${who(alert.resolvedBy, me)} `, instant(alert.resolvedAt, { relative: true }),
      alert.resolutionNote ? h("blockquote", { className: "note", id: "alert-note" }, alert.resolutionNote) : null)]);
  }
  // Updated later by the detectors (more entries, a higher severity), not by an admin's acknowledge or resolve.
  const updated = Date.parse(alert.updatedAt);
  const byAdmin = [alert.acknowledgedAt, alert.resolvedAt].some((at) => at !== null && Math.abs(Date.parse(at) - updated) < 1000);
  if (updated - Date.parse(alert.detectedAt) > 1000 && !byAdmin) {
    steps.push([updated, h("li", { "data-step": "updated" }, h("span", { className: "strong" }, "Last grew"), " ", instant(alert.updatedAt, { relative: true }))]);
  }
  return h("ol", { className: "timeline", id: "alert-history" }, steps.sort((a, b) => a[0] - b[0]).map(([, step]) => step));
}

function entryRow(alert: SecurityAlert, entry: AlertEntry): HTMLElement {
  const actor = describeActor(entry);
  const what = entry.description ?? humanize(entry.event);
  return h("li", { className: "alert-entry", "data-id": entry.id },
    h("a", {
      href: auditLogsUrlOfAlert(alert, entry.id), "data-nav": "", className: "entry-link",
      "aria-label": `${what} · ${entityName(entry)} · ${actor.primary} · ${formatLocal(entry.occurredAt, true)}: open in Audit Logs`,
    },
    h("span", { className: "entry-what" }, h("span", { className: "strong" }, what), h("span", { className: "entity-name" }, ` · ${entityName(entry)}`)),
    h("span", { className: "muted small entry-meta" },
      h("time", { datetime: entry.occurredAt, title: entry.occurredAt }, formatLocal(entry.occurredAt)),
      ` · ${actor.primary} · ${actionLabel(entry.action)}`)));
}

function actions(alert: SecurityAlert, handlers: AlertDetailsHandlers): HTMLElement | null {
  if (!handlers.canChange || alert.status === "resolved") return null;
  const error = h("div", { className: "alert empty", role: "alert", id: "alert-action-error" });
  const root = h("div", { className: "alert-actions", id: "alert-actions" });
  const fail = (err: unknown) => {
    error.className = "alert";
    replace(error, err instanceof Error ? err.message : String(err));
  };
  const busy = (button: HTMLButtonElement, text: string) => {
    // (the last action's confirmation is history now)
    document.getElementById("alert-action-done")?.remove();
    for (const b of root.querySelectorAll("button")) b.disabled = true;
    button.textContent = text;
  };
  const ackButton = (): HTMLElement | null => alert.status === "open"
    ? h("button", {
      type: "button", className: "ghost", id: "alert-acknowledge",
      onclick: ((e: Event) => {
        busy(e.currentTarget as HTMLButtonElement, "Acknowledging…");
        handlers.onAcknowledge().catch((err: unknown) => {
          replace(root, ...buttons());
          fail(err);
        });
      }) as EventListener,
    }, "Acknowledge")
    : null;
  const openResolve = () => {
    const note = h("textarea", { id: "alert-resolve-note", name: "note", rows: 3, maxlength: 2000, "aria-describedby": "alert-resolve-help" });
    const form = h("form", {
      className: "resolve-form", id: "alert-resolve-form", "aria-label": "Resolve the alert",
      onsubmit: ((e: Event) => {
        e.preventDefault();
        const submit = form.querySelector<HTMLButtonElement>('button[type="submit"]')!;
        busy(submit, "Resolving…");
        note.readOnly = true;
        const text = note.value.trim();
        handlers.onResolve(text === "" ? null : text).catch((err: unknown) => {
          for (const b of root.querySelectorAll("button")) b.disabled = false;
          submit.textContent = "Resolve alert";
          note.readOnly = false;
          fail(err);
        });
      }) as EventListener,
    },
    h("label", { for: "alert-resolve-note" }, "Resolution note (optional)"),
    note,
    h("p", { id: "alert-resolve-help", className: "muted small" }, "What you found and did. Kept with the alert and in the audit log. New activity of this kind then opens a new alert."),
    h("div", { className: "resolve-buttons" },
      h("button", { type: "submit", className: "primary", id: "alert-resolve-confirm" }, "Resolve alert"),
      h("button", { type: "button", className: "ghost", onclick: () => { replace(root, ...buttons()); root.querySelector<HTMLButtonElement>("#alert-resolve")?.focus(); } }, "Cancel")),
    );
    replace(root, form, error);
    note.focus();
  };
  const buttons = (): HTMLElement[] => [
    h("div", { className: "action-buttons" },
      ackButton(),
      h("button", { type: "button", className: "ghost", id: "alert-resolve", onclick: openResolve }, "Resolve…")),
    error,
  ];
  replace(root, ...buttons());
  return root;
}

export function renderAlertDetails(alert: AlertWithEntries, handlers: AlertDetailsHandlers): HTMLElement {
  const actor = describeActor({
    actorType: alert.actorType ?? "system", actorId: alert.actorId, actorEmail: alert.actorEmail, actorName: alert.actorName,
  });
  const explanation = detectorExplanation(alert.detector);
  const count = Number(alert.entryCount);
  const shown = alert.entries.nodes;
  const account = alert.accountId ? (handlers.accountName(alert.accountId) ?? shortId(alert.accountId)) : "Tenant level (more than one account)";
  const auditLogs = auditLogsUrlOfAlert(alert);

  return h("div", { className: "details-inner", "data-alert": alert.id },
    h("header", { className: "details-header" },
      h("div", {},
        h("p", { className: "muted small", id: "alert-details-kicker" }, `Alert #${alert.id} · ${detectorName(alert.detector)}`),
        h("h2", { id: "alert-details-title" }, alert.summary),
        h("p", { className: "badges" }, severityBadge(alert.severity, "alert-severity"), " ", statusBadge(alert.status, "alert-status")),
      ),
      h("button", { type: "button", className: "icon-button", "aria-label": "Close alert details", onclick: handlers.onClose }, "×"),
    ),
    actions(alert, handlers),
    h("dl", { className: "facts" },
      h("dt", {}, "Severity"), h("dd", {}, severityBadge(alert.severity)),
      h("dt", {}, "Detector"), h("dd", { id: "alert-detector" },
        h("div", { className: "strong" }, detectorName(alert.detector)),
        explanation ? h("div", { className: "muted small", id: "alert-detector-explanation" }, explanation) : null),
      h("dt", {}, "Actor"), h("dd", { id: "alert-actor" }, actor.primary,
        actor.secondary ? h("span", { className: "muted" }, ` · ${actor.secondary}`) : null, h("span", { className: "tag" }, actor.kind)),
      h("dt", {}, "Account"), h("dd", { id: "alert-account", "data-account": alert.accountId ?? "" }, account),
      h("dt", {}, "First seen"), h("dd", { id: "alert-first" }, instant(alert.firstAt, { relative: true })),
      h("dt", {}, "Last seen"), h("dd", { id: "alert-last" }, instant(alert.lastAt, { relative: true })),
      h("dt", {}, "Entries"), h("dd", { id: "alert-entry-count", "data-count": String(count) }, formatNumber(count)),
      ...recordedFacts(alert),
    ),
    h("section", { "aria-labelledby": "alert-history-title" },
      h("h3", { id: "alert-history-title" }, "Status history"),
      history(alert, handlers.me)),
    h("section", { "aria-labelledby": "alert-entries-title" },
      h("div", { className: "section-head" },
        h("h3", { id: "alert-entries-title" }, "Entries that triggered it"),
        h("a", { href: auditLogs, "data-nav": "", className: "ghost small button-link", id: "alert-open-audit-logs" }, "Open in Audit Logs")),
      h("p", { className: "muted small", id: "alert-entries-caption" }, shown.length === 0
        ? "None of its entries are visible to you."
        : alert.entries.pageInfo.hasNextPage
          ? `The newest ${formatNumber(shown.length)} of ${formatNumber(count)}; "Open in Audit Logs" lists them all.`
          : shown.length === 1 ? "1 entry; it opens in Audit Logs." : `${formatNumber(shown.length)} entries, newest first. Each opens in Audit Logs.`),
      shown.length > 0 ? h("ul", { className: "alert-entries", id: "alert-entries" }, shown.map((e) => entryRow(alert, e))) : null,
    ),
  );
}
