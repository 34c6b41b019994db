// The Log streams view (/log-streams, tenant admins): where the tenant's
// audit log is streamed (an HTTPS receiver, Splunk, Datadog, Elasticsearch,
// files) and how each stream is doing: its state, what waits and how far
// behind, what was delivered last, the last error while deliveries fail.
// Pause, resume, edit (the stream's form, in its item), replay from a UTC
// time, delete (after a confirmation), and "New stream" (log-stream-form.ts),
// whose https signing secret is shown once and gone from the page when
// dismissed. The status is asked for again every few seconds while the view
// is open and the tab visible. Account admins are not offered the view (the
// API refuses them streams).
import { ApiError, isAbort } from "./api.ts";
import { copyButton } from "./copy-button.ts";
import { byId, h, messageBox, replace } from "./dom.ts";
import { EMPTY_FILTERS, filtersToParams } from "./filter-state.ts";
import { actionLabel, formatLocal, formatNumber, formatRelative, humanize, shortId } from "./format.ts";
import {
  FORMAT_LABELS, KIND_LABELS, formatUtc, isEditable, msToUtcInput, readableApiMessage, renderStreamEditForm, renderStreamForm, utcInputToMs,
  type StreamFormChoices,
} from "./log-stream-form.ts";
import {
  MAX_STREAMS, createLogStream, deleteLogStream, fetchKnownAccounts, fetchLogStreams, pauseLogStream, replayLogStream, resumeLogStream, updateLogStream,
  type CreatedLogStream, type LogStream, type StreamFormat, type StreamKind, type UpdateLogStreamInput,
} from "./log-stream-queries.ts";
import { fetchCatalogue } from "./queries.ts";
import { ENTRY_PARAM } from "./security-state.ts";
import type { Session } from "./session.ts";

export const LOG_STREAMS_PATH = "/log-streams";

/** How often the status is asked for while the view is open. */
export const STREAM_POLL_MS = 5_000;

export function isLogStreamsPath(pathname: string): boolean {
  return pathname.replace(/\/+$/, "") === LOG_STREAMS_PATH;
}

export interface LogStreamsContext {
  session: () => Session | null;
  /** The page's error handling: sign-in again, no access, unreachable server, or `show` the message. */
  handleError: (err: unknown, show: (message: string, retry?: () => void) => void, retry?: () => void) => void;
}

let ctx: LogStreamsContext | null = null;

const state = {
  open: false,
  streams: [] as LogStream[],
  /** The next status request. */
  timer: null as ReturnType<typeof setTimeout> | null,
  /** Aborts the view's requests when it closes. */
  view: new AbortController(),
  /** What the form offers to filter on, read once per visit. */
  choices: null as Promise<StreamFormChoices> | null,
  accountNames: new Map<string, string>(),
};

export function configureLogStreams(context: LogStreamsContext): void {
  ctx = context;
}

const isTenantAdmin = () => ctx?.session()?.claims.role === "tenant_admin";

/** The sidebar's link, for tenant admins only (account admins cannot have streams). */
export function offerLogStreams(): void {
  byId("nav-streams-item").hidden = !isTenantAdmin();
}

// ---------------------------------------------------------------------------
// Showing and hiding the view
// ---------------------------------------------------------------------------

export function showLogStreams(): void {
  if (!ctx?.session()) return;
  const root = byId("log-streams-view");
  root.hidden = false;
  document.title = "Log streams · Audit Trail";
  if (state.open) return;
  state.open = true;
  state.view = new AbortController();
  if (!isTenantAdmin()) {
    replace(root,
      header(false),
      h("div", { className: "card" },
        h("p", { className: "muted", id: "streams-forbidden" },
          "Only tenant admins manage log streams: a stream carries the whole tenant's audit log. Your token is an account admin's: ask an admin of the whole tenant."),
        h("a", { href: "/", "data-nav": "", className: "ghost button-link" }, "Back to the audit log")));
    return;
  }
  replace(root,
    header(true),
    h("div", { id: "stream-secret-root" }),
    h("div", { id: "stream-form-root" }),
    h("section", { className: "card list-card", "aria-labelledby": "streams-title" },
      h("div", { className: "card-head" },
        h("h2", { id: "streams-title", tabindex: -1 }, "Streams"),
        h("p", { id: "stream-count", className: "count", "aria-live": "polite" }, h("span", { className: "muted" }, "Loading…"))),
      h("div", { id: "streams-status", className: "status", role: "status" }),
      h("ul", { id: "stream-list", className: "stream-list", "aria-busy": "true" }),
      h("p", { className: "muted small streams-foot" }, `The status refreshes every ${STREAM_POLL_MS / 1000} seconds while this page is open.`)));
  void refresh();
}

/** Leaves the view: stops the polling and its requests; the form (with a typed token) and a shown secret go with it. */
export function hideLogStreams(): void {
  if (!state.open) return;
  state.open = false;
  state.streams = [];
  state.choices = null;
  state.view.abort();
  if (state.timer !== null) clearTimeout(state.timer);
  state.timer = null;
  const root = byId("log-streams-view");
  replace(root);
  root.hidden = true;
}

function header(canCreate: boolean): HTMLElement {
  return h("header", { className: "page-header" },
    h("div", {},
      h("h1", {}, "Log streams"),
      h("p", { className: "muted", id: "streams-scope-line" },
        "Your tenant's audit log, delivered as it is written to your SIEM, log platform or files: every entry, in order, at least once.")),
    canCreate ? h("div", { className: "export" },
      h("button", { type: "button", className: "primary", id: "stream-new", onclick: () => void openForm() }, "New stream")) : null);
}

// ---------------------------------------------------------------------------
// Polling the list and its status
// ---------------------------------------------------------------------------

function schedule(): void {
  if (state.timer !== null) clearTimeout(state.timer);
  state.timer = state.open ? setTimeout(() => {
    state.timer = null;
    // A hidden tab is not polled; it asks again when it becomes visible.
    if (document.visibilityState === "visible") void refresh();
  }, STREAM_POLL_MS) : null;
}

let inFlight: AbortController | null = null;

/** Asks for the streams now (a request still running is dropped), then again after STREAM_POLL_MS. */
async function refresh(): Promise<void> {
  const session = ctx?.session();
  if (!session || !state.open || !isTenantAdmin()) return;
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  const signal = AbortSignal.any([controller.signal, state.view.signal]);
  try {
    const streams = await fetchLogStreams(session.token, signal);
    if (signal.aborted) return;
    state.streams = streams;
    // An error of an earlier poll is over; a line about the admin's last action stays.
    if (document.querySelector("#streams-status .alert")) setStatus("");
    renderList();
  } catch (err) {
    if (signal.aborted || isAbort(err)) return;
    byId("stream-list").removeAttribute("aria-busy");
    ctx?.handleError(err, (m, retry) => setStatus(m, retry), () => void refresh());
  } finally {
    if (inFlight === controller) inFlight = null;
    if (!signal.aborted) schedule();
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && state.open) void refresh();
});

function setStatus(message: string, retry?: () => void): void {
  const el = document.getElementById("streams-status");
  if (el) replace(el, message ? messageBox(message, retry) : null);
}

/** A line in the list's status area (after a create or a delete), to be read out. */
function announce(text: string): void {
  const el = document.getElementById("streams-status");
  if (el) replace(el, h("p", { className: "info small", id: "streams-done" }, text));
}

// ---------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------

function renderList(): void {
  const list = document.getElementById("stream-list");
  if (!list) return;
  list.removeAttribute("aria-busy");
  const count = byId("stream-count");
  // (a live region: redrawn only when the number changes, not at every poll)
  if (count.dataset.count !== String(state.streams.length)) {
    count.dataset.count = String(state.streams.length);
    replace(count, h("strong", {}, formatNumber(state.streams.length)), ` of ${MAX_STREAMS} streams`);
  }
  const newButton = document.getElementById("stream-new") as HTMLButtonElement | null;
  if (newButton) {
    const full = state.streams.length >= MAX_STREAMS;
    newButton.disabled = full;
    newButton.title = full ? `A tenant has at most ${MAX_STREAMS} log streams: delete one to create another.` : "";
  }

  // Items are updated in place, so that a poll leaves an open replay form or
  // confirmation, and the focus, where they are.
  const items = new Map([...list.querySelectorAll<HTMLLIElement>("li[data-id]")].map((li) => [li.dataset.id!, li]));
  const wanted = new Set(state.streams.map((s) => s.id));
  for (const [id, li] of items) if (!wanted.has(id)) li.remove();
  let previous: Element | null = null;
  for (const stream of state.streams) {
    let li = items.get(stream.id);
    if (li) updateItem(li, stream);
    else li = streamItem(stream);
    const expected: Element | null = previous ? previous.nextElementSibling : list.firstElementChild;
    if (expected !== li) {
      if (previous) previous.after(li);
      else list.prepend(li);
    }
    previous = li;
  }
  const empty = document.getElementById("streams-empty");
  if (state.streams.length === 0 && !empty) {
    list.append(h("li", { className: "empty", id: "streams-empty" },
      h("div", { className: "empty-title" }, "No log streams yet"),
      h("p", { className: "muted" }, "Stream your audit log to Splunk, Datadog, Elasticsearch, any HTTPS receiver or files: \u201cNew stream\u201d sets one up.")));
  } else if (state.streams.length > 0) {
    empty?.remove();
  }
  void resolveAccountNames();
}

/** Account names for the streams' filters (best effort: ids stay otherwise). */
async function resolveAccountNames(): Promise<void> {
  const session = ctx?.session();
  const wanted = state.streams.flatMap((s) => s.accountIds ?? []).filter((id) => !state.accountNames.has(id));
  if (!session || wanted.length === 0) return;
  for (const id of wanted) state.accountNames.set(id, shortId(id)); // asked for once
  try {
    const accounts = await (state.choices ?? loadChoices()).then((c) => c.accounts);
    for (const a of accounts) state.accountNames.set(a.id, a.name);
    for (const stream of state.streams) {
      if (!stream.accountIds?.length) continue;
      const el = document.querySelector<HTMLElement>(`li[data-id="${CSS.escape(stream.id)}"] [data-filter]`);
      if (el) replace(el, filterText(stream));
    }
  } catch {
    // Names are a nicety.
  }
}

const STATE_LABELS: Record<string, string> = { paused: "Paused", failing: "Failing", catching_up: "Catching up", live: "Live" };
/** Each state has its mark and its word besides its colour. */
const STATE_MARKS: Record<string, string> = { paused: "❚❚", failing: "!", catching_up: "↻", live: "●" };

function stateBadge(state: string | null | undefined, id: string): HTMLElement {
  const s = state ?? "unknown";
  return h("span", { className: `stream-state state-${STATE_LABELS[s] ? s : "unknown"}`, id, "data-state": s },
    h("span", { className: "stream-state-mark", "aria-hidden": "true" }, STATE_MARKS[s] ?? "?"),
    STATE_LABELS[s] ?? humanize(s));
}

/** "45 s", "12 min", "3 h 5 min", "20 days 4 h". */
export function formatLag(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 1) return "less than a second";
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) {
    const m = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ""}`;
  }
  const days = Math.floor(s / 86_400);
  const hours = Math.floor((s % 86_400) / 3600);
  return `${days} ${days === 1 ? "day" : "days"}${hours ? ` ${hours} h` : ""}`;
}

function relativeTime(iso: string): HTMLElement {
  // `.relative[data-at]` is kept current by main.ts's minute timer.
  return h("time", { className: "relative", "data-at": iso, datetime: iso, title: `${formatLocal(iso, true)} · ${formatUtc(iso)}` }, formatRelative(iso));
}

/**
 * Where the stream goes, without the URL's path and query: they often carry
 * tokens (the worker keeps them out of its errors for the same reason).
 */
function destination(stream: LogStream): string {
  const s = stream.settings ?? {};
  const origin = (() => {
    try {
      return typeof s.url === "string" ? new URL(s.url).origin : null;
    } catch {
      return null;
    }
  })();
  const text = (key: string) => (typeof s[key] === "string" && s[key] !== "" ? String(s[key]) : null);
  switch (stream.kind) {
    case "splunk":
      return [origin, text("index") ? `index ${text("index")}` : null].filter(Boolean).join(" · ");
    case "datadog":
      return [text("site") ?? origin, text("service") ? `service ${text("service")}` : null].filter(Boolean).join(" · ");
    case "elastic":
      return [origin, text("index") ? `index ${text("index")}` : null].filter(Boolean).join(" · ");
    case "file": {
      const bytes = typeof s.max_bytes === "number" ? s.max_bytes : null;
      return s.rotate === "size" && bytes ? `a new file every ${formatNumber(Math.round(bytes / 1_048_576))} MB` : "a new file every hour";
    }
    default:
      return origin ?? "";
  }
}

function filterText(stream: LogStream): string {
  const parts: string[] = [];
  const list = (values: string[], label: (v: string) => string) =>
    values.length <= 3 ? values.map(label).join(", ") : `${values.slice(0, 2).map(label).join(", ")} and ${values.length - 2} more`;
  if (stream.resourceTypes?.length) parts.push(`resource types ${list(stream.resourceTypes, humanize)}`);
  if (stream.actions?.length) parts.push(`actions ${list(stream.actions, (a) => (a.includes(".") ? a : actionLabel(a)))}`);
  if (stream.accountIds?.length) parts.push(`accounts ${list(stream.accountIds, (id) => state.accountNames.get(id) ?? shortId(id))}`);
  return parts.length === 0 ? "Every entry of the tenant" : `Only ${parts.join("; ")}`;
}

/** A link to an entry in Audit Logs: the one instant it happened, with its details open. */
function entryLink(id: string, occurredAt: string | null): HTMLElement {
  if (!occurredAt) return h("span", {}, `Entry #${id}`);
  const at = Date.parse(occurredAt);
  const params = filtersToParams({ ...EMPTY_FILTERS, range: "custom", from: new Date(at).toISOString(), to: new Date(at + 1).toISOString() });
  params.set(ENTRY_PARAM, id);
  return h("a", { href: `/?${params}`, "data-nav": "", title: "Open the entry in Audit Logs" }, `Entry #${id}`);
}

function fact(label: string, value: Node | string, attrs: Record<string, string> = {}): HTMLElement {
  return h("div", { className: "stream-fact" }, h("dt", {}, label), h("dd", attrs, value));
}

function waitingFact(stream: LogStream): HTMLElement {
  const st = stream.status;
  if (!st || st.pendingEntries === null) return fact("Waiting", h("span", { className: "muted" }, "Unknown"));
  const pending = Number(st.pendingEntries);
  if (pending === 0) return fact("Waiting", "Nothing: up to date", { "data-pending": "0" });
  const lag = Number(st.lagSeconds ?? 0);
  return fact("Waiting", h("span", {},
    h("strong", {}, `${formatNumber(pending)}${st.pendingCapped ? "+" : ""} ${pending === 1 && !st.pendingCapped ? "entry" : "entries"}`),
    ` · ${formatLag(lag)} behind`,
    st.oldestPendingAt
      ? h("span", { className: "muted small block" }, "the oldest of ",
        h("time", { datetime: st.oldestPendingAt, title: formatUtc(st.oldestPendingAt) }, formatLocal(st.oldestPendingAt)))
      : null),
  { "data-pending": String(pending), "data-lag": String(lag) });
}

function deliveredFact(stream: LogStream): HTMLElement {
  if (!stream.lastDeliveredEntryId) return fact("Last delivered", h("span", { className: "muted" }, "Nothing yet"));
  return fact("Last delivered", h("span", {},
    entryLink(stream.lastDeliveredEntryId, stream.lastDeliveredOccurredAt),
    stream.lastDeliveredOccurredAt ? h("span", { className: "muted" }, ` of ${formatLocal(stream.lastDeliveredOccurredAt)}`) : null,
    stream.lastDeliveredAt ? h("span", { className: "muted small block" }, "delivered ", relativeTime(stream.lastDeliveredAt)) : null,
    h("span", { className: "muted small block" }, `${formatNumber(Number(stream.deliveredEntries))} delivered in all`)),
  { "data-entry": stream.lastDeliveredEntryId });
}

/** The last error, while deliveries fail (failures > 0): how many in a row, when it tries again, what the receiver said. */
function errorBox(stream: LogStream): HTMLElement | null {
  if (stream.failures <= 0) return null;
  // The receiver's status, unless the error already says it ("HTTP 503: …").
  const statusCode = stream.lastStatusCode && !stream.lastError?.includes(String(stream.lastStatusCode)) ? ` (HTTP ${stream.lastStatusCode})` : "";
  return h("div", { className: "stream-error", id: `stream-${stream.id}-error`, "data-failures": String(stream.failures) },
    h("p", {},
      h("strong", {}, stream.failures === 1 ? "The last delivery failed" : `The last ${formatNumber(stream.failures)} deliveries failed`),
      stream.enabled ? [" · next try ", relativeTime(stream.nextAttemptAt), ". Nothing is skipped: it retries from the same place."] : " · paused."),
    stream.lastError
      ? h("p", { className: "small" },
        stream.lastErrorAt ? ["Last error ", relativeTime(stream.lastErrorAt), statusCode, ": "] : ["Last error", statusCode, ": "],
        h("code", { className: "stream-error-text" }, stream.lastError))
      : null);
}

function summary(stream: LogStream): HTMLElement {
  const id = stream.id;
  const kind = KIND_LABELS[stream.kind as StreamKind] ?? humanize(stream.kind);
  const format = FORMAT_LABELS[stream.format as StreamFormat] ?? stream.format;
  return h("div", { className: "stream-summary" },
    h("div", { className: "stream-head" },
      h("div", { className: "stream-title" },
        h("h3", { className: "stream-name", id: `stream-${id}-name` }, stream.name),
        h("p", { className: "muted small stream-destination" },
          h("span", { className: "tag" }, kind), " ", destination(stream), " · ", format)),
      stateBadge(stream.status?.state, `stream-${id}-state`)),
    h("dl", { className: "stream-facts" },
      waitingFact(stream),
      deliveredFact(stream),
      fact("Entries", h("span", { "data-filter": "" }, filterText(stream))),
      stream.replayedAt && stream.replayedFrom
        ? fact("Replayed", h("span", {}, `from ${formatUtc(stream.replayedFrom)}, `, relativeTime(stream.replayedAt)))
        : fact("Created", h("span", {}, relativeTime(stream.createdAt), stream.createdBy ? ` by ${stream.createdBy}` : ""))),
    errorBox(stream));
}

/**
 * What a poll compares to leave an item alone (and a selected error text
 * selected): the stream with its lag as the page words it, which changes
 * every poll in seconds but only every minute or hour beyond.
 */
function fingerprint(stream: LogStream): string {
  return JSON.stringify({ ...stream, status: { ...stream.status, lagSeconds: formatLag(Number(stream.status?.lagSeconds ?? 0)) } });
}

function streamItem(stream: LogStream): HTMLLIElement {
  const li = h("li", { className: "stream", "data-id": stream.id, "aria-labelledby": `stream-${stream.id}-name` },
    summary(stream),
    h("div", { className: "stream-actions" }),
    h("div", { className: "stream-panel" }),
    h("div", { className: "stream-feedback", role: "status" }));
  li.dataset.fingerprint = fingerprint(stream);
  li.dataset.state = stream.status?.state ?? "";
  drawActions(li, stream);
  return li;
}

/** Redraws an item whose stream changed (`force`: after the admin's own action, whatever changed). */
function updateItem(li: HTMLLIElement, stream: LogStream, force = false): void {
  const print = fingerprint(stream);
  if (li.dataset.fingerprint === print && !force) return;
  li.dataset.fingerprint = print;
  li.dataset.state = stream.status?.state ?? "";
  li.querySelector(".stream-summary")?.replaceWith(summary(stream));
  // The buttons follow the state (Pause or Resume); an action running keeps its own.
  if (li.dataset.busy !== "true") drawActions(li, stream);
}

/** The newest known version of a stream (a poll may have replaced the one a button was drawn with). */
const current = (id: string): LogStream | undefined => state.streams.find((s) => s.id === id);

function drawActions(li: HTMLLIElement, stream: LogStream): void {
  const root = li.querySelector<HTMLElement>(".stream-actions")!;
  // The button that had the focus keeps it across the redraw (or the one an action asked for).
  const refocus = li.dataset.refocus ?? (root.contains(document.activeElement) ? (document.activeElement as HTMLElement).dataset.action : undefined);
  delete li.dataset.refocus;
  const name = stream.name;
  const button = (action: string, label: string, onclick: () => void, extra: Record<string, string> = {}) =>
    h("button", { type: "button", className: "ghost small", "data-action": action, "aria-label": `${label} ${name}`, onclick, ...extra }, label);
  // (a redraw while a panel is open keeps its button expanded)
  const opens = (action: string) => ({ "aria-expanded": String(li.dataset.panel === action) });
  replace(root,
    stream.enabled
      ? button("pause", "Pause", () => void act(li, "pause"))
      : button("resume", "Resume", () => void act(li, "resume")),
    // A failing stream waits for its backoff: "Retry now" is resume's other meaning.
    stream.enabled && stream.failures > 0 ? button("retry", "Retry now", () => void act(li, "retry")) : null,
    isEditable(stream) ? button("edit", "Edit…", () => void openEdit(li), { ...opens("edit"), "aria-label": `Edit ${name}` }) : null,
    button("replay", "Replay…", () => openReplay(li), opens("replay")),
    button("delete", "Delete…", () => openDelete(li), opens("delete")));
  if (refocus) root.querySelector<HTMLElement>(`[data-action="${refocus}"]`)?.focus();
}

function feedback(li: HTMLLIElement, content: HTMLElement | string | null): void {
  replace(li.querySelector<HTMLElement>(".stream-feedback")!, typeof content === "string" ? h("p", { className: "info small" }, content) : content);
}

/**
 * Disables the item's buttons while `run` goes; resolves with its result, or
 * null after an error, which it says (`show`: under the item by default) or
 * signs out for.
 */
async function mutate<T>(li: HTMLLIElement, button: HTMLButtonElement | null, busyText: string, run: (token: string) => Promise<T>,
  show: (message: string) => void = (m) => feedback(li, h("div", { className: "alert", role: "alert" }, m))): Promise<T | null> {
  const token = ctx?.session()?.token;
  if (!token) return null;
  li.dataset.busy = "true";
  for (const b of li.querySelectorAll("button")) b.disabled = true;
  if (button) button.textContent = busyText;
  feedback(li, null);
  try {
    return await run(token);
  } catch (err) {
    if (err instanceof ApiError && err.kind === "unauthenticated") {
      ctx?.handleError(err, () => undefined);
      return null;
    }
    const message = err instanceof ApiError && (err.kind === "request" || err.kind === "forbidden")
      ? readableApiMessage(err.message)
      : err instanceof ApiError && err.kind === "network"
        ? "The server could not be reached. Check your connection and try again."
        : `Something went wrong: ${err instanceof Error ? err.message : String(err)}`;
    show(message);
    return null;
  } finally {
    delete li.dataset.busy;
    for (const b of li.querySelectorAll("button")) b.disabled = false;
  }
}

const DONE: Record<"pause" | "resume" | "retry", string> = {
  pause: "Paused. Nothing is delivered until you resume; the stream keeps its place in the log, so nothing is lost.",
  resume: "Resumed: delivery goes on from where it stopped.",
  retry: "Trying again now.",
};

/** Puts a stream as a mutation returned it in the list, and redraws its item. */
function applyChange(li: HTMLLIElement, changed: LogStream | null, refocus: string): void {
  if (changed) state.streams = state.streams.map((s) => (s.id === changed.id ? changed : s));
  const stream = current(li.dataset.id!);
  li.dataset.refocus = refocus;
  if (stream) updateItem(li, stream, true);
}

async function act(li: HTMLLIElement, action: "pause" | "resume" | "retry"): Promise<void> {
  const id = li.dataset.id!;
  const button = li.querySelector<HTMLButtonElement>(`[data-action="${action}"]`);
  const changed = await mutate(li, button, action === "pause" ? "Pausing…" : action === "resume" ? "Resuming…" : "Retrying…",
    (token) => (action === "pause" ? pauseLogStream(token, id) : resumeLogStream(token, id)));
  // Pause becomes Resume and back: the new button takes the focus.
  applyChange(li, changed, changed ? (changed.enabled ? "pause" : "resume") : action);
  if (!changed) return;
  feedback(li, DONE[action]);
  await refresh();
}

// Edit, replay and delete open a panel under the item's buttons.

function closePanel(li: HTMLLIElement, focusAction: string | null): void {
  replace(li.querySelector<HTMLElement>(".stream-panel")!);
  delete li.dataset.panel;
  for (const b of li.querySelectorAll<HTMLElement>(".stream-actions [aria-expanded]")) b.setAttribute("aria-expanded", "false");
  if (focusAction) li.querySelector<HTMLElement>(`.stream-actions [data-action="${focusAction}"]`)?.focus();
}

function openPanel(li: HTMLLIElement, action: string, content: HTMLElement): void {
  closePanel(li, null);
  feedback(li, null);
  replace(li.querySelector<HTMLElement>(".stream-panel")!, content);
  li.dataset.panel = action;
  li.querySelector<HTMLElement>(`.stream-actions [data-action="${action}"]`)?.setAttribute("aria-expanded", "true");
  content.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    e.stopPropagation();
    closePanel(li, action);
  });
}

function openReplay(li: HTMLLIElement): void {
  const stream = current(li.dataset.id!);
  if (!stream) return;
  const id = `stream-${stream.id}-replay-from`;
  const now = Date.now();
  const input = h("input", {
    id, name: "from", type: "datetime-local", step: 60, max: msToUtcInput(now), value: msToUtcInput(now - 24 * 3600_000),
    required: true, "aria-describedby": `${id}-help`,
  });
  const error = h("p", { className: "field-error small", id: `${id}-error`, role: "alert" });
  const submit = h("button", { type: "submit", className: "primary", "data-action": "replay-confirm" }, "Replay from this time");
  const form = h("form", {
    className: "stream-panel-form", "aria-label": `Replay ${stream.name}`, novalidate: true,
    onsubmit: ((e: Event) => {
      e.preventDefault();
      replace(error);
      input.removeAttribute("aria-invalid");
      const ms = utcInputToMs(input.value);
      const problem = ms === null ? "Choose the date and time (UTC) to replay from."
        : ms > Date.now() ? `${formatUtc(ms)} is in the future: choose a time up to now.` : null;
      if (problem || ms === null) {
        replace(error, problem ?? "");
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", `${id}-help ${id}-error`);
        input.focus();
        return;
      }
      void replay(li, stream.id, new Date(ms).toISOString(), submit, error, input);
    }) as EventListener,
  },
  h("div", { className: "field" },
    h("label", { for: id }, "Replay from (UTC)"),
    input,
    h("p", { id: `${id}-help`, className: "muted small field-help" },
      "In UTC, not your local time. Every entry from then on is delivered again, in order, then the stream goes on live. Receivers de-duplicate by entry id.")),
  error,
  h("div", { className: "form-actions" },
    submit,
    h("button", { type: "button", className: "ghost", onclick: () => closePanel(li, "replay") }, "Cancel")));
  openPanel(li, "replay", form);
  input.focus();
}

async function replay(li: HTMLLIElement, id: string, fromTime: string, submit: HTMLButtonElement, error: HTMLElement, input: HTMLInputElement): Promise<void> {
  // The API's refusal stays in the panel, next to the time it is about.
  const changed = await mutate(li, submit, "Replaying…", (token) => replayLogStream(token, id, fromTime), (message) => {
    replace(error, message);
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", `${input.id}-help ${input.id}-error`);
  });
  submit.textContent = "Replay from this time";
  if (!changed) {
    if (error.textContent) input.focus();
    return;
  }
  closePanel(li, null);
  applyChange(li, changed, "replay");
  feedback(li, `Replaying from ${formatUtc(fromTime)}: the entries from then on are delivered again, then new ones.`);
  await refresh();
}

function openDelete(li: HTMLLIElement): void {
  const stream = current(li.dataset.id!);
  if (!stream) return;
  const confirm = h("button", { type: "button", className: "danger", "data-action": "delete-confirm" }, "Delete stream");
  const panel = h("div", { className: "stream-panel-form", role: "group", "aria-label": `Delete ${stream.name}` },
    h("p", { className: "strong" }, `Delete \u201c${stream.name}\u201d?`),
    h("p", { className: "muted small" },
      "Delivery stops, and the stream's settings, secret and place in the log are deleted; this cannot be undone. A batch already on its way may still arrive. The log itself keeps every entry."),
    h("div", { className: "form-actions" },
      confirm,
      h("button", { type: "button", className: "ghost", "data-action": "delete-cancel", onclick: () => closePanel(li, "delete") }, "Cancel")));
  confirm.addEventListener("click", () => void remove(li, stream, confirm));
  openPanel(li, "delete", panel);
  // Cancel is the safe default for the keyboard.
  panel.querySelector<HTMLElement>('[data-action="delete-cancel"]')?.focus();
}

async function remove(li: HTMLLIElement, stream: LogStream, confirm: HTMLButtonElement): Promise<void> {
  const gone = await mutate(li, confirm, "Deleting…", (token) => deleteLogStream(token, stream.id));
  if (!gone) {
    confirm.textContent = "Delete stream";
    return;
  }
  state.streams = state.streams.filter((s) => s.id !== stream.id);
  li.remove();
  renderList();
  announce(`Deleted \u201c${stream.name}\u201d.`);
  document.getElementById("streams-title")?.focus();
  await refresh();
}

/**
 * The stream's form (log-stream-form.ts) in its item, filled from the
 * stream. A poll leaves it alone (it redraws the summary and the buttons
 * only); Cancel and Escape close it, back on "Edit…".
 */
async function openEdit(li: HTMLLIElement): Promise<void> {
  const stream = current(li.dataset.id!);
  if (!stream || !isEditable(stream)) return;
  if (li.dataset.panel === "edit") {
    li.querySelector<HTMLElement>(".stream-panel input[name=name]")?.focus();
    return;
  }
  const holder = h("div", { className: "stream-edit" }, h("p", { className: "muted small" }, "Loading the form…"));
  openPanel(li, "edit", holder);
  const choices = await (state.choices ?? loadChoices());
  // Closed, or another panel opened, while the choices loaded.
  if (!holder.isConnected) return;
  // (filled from the newest version a poll brought meanwhile)
  const latest = current(stream.id);
  renderStreamEditForm(holder, latest && isEditable(latest) ? latest : stream, {
    cancel: () => closePanel(li, "edit"),
    save: (input) => save(li, input),
  }, choices);
}

async function save(li: HTMLLIElement, input: UpdateLogStreamInput): Promise<void> {
  // Nothing changed: nothing is sent (an update would also restart a failing stream's backoff).
  if (Object.keys(input).length === 1) {
    closePanel(li, "edit");
    feedback(li, "Nothing was changed.");
    return;
  }
  const token = ctx?.session()?.token;
  if (!token) throw new Error("You are signed out.");
  let changed: LogStream;
  try {
    changed = await updateLogStream(token, input);
  } catch (err) {
    if (err instanceof ApiError && err.kind === "unauthenticated") ctx?.handleError(err, () => undefined);
    throw err;
  }
  // The form goes, and with it a token typed into it; the focus goes back to "Edit…".
  closePanel(li, null);
  applyChange(li, changed, "edit");
  feedback(li, `Saved \u201c${changed.name}\u201d: the changes apply from the stream's place in the log on.`);
  await refresh();
}

// ---------------------------------------------------------------------------
// New stream
// ---------------------------------------------------------------------------

function loadChoices(): Promise<StreamFormChoices> {
  const session = ctx?.session();
  if (!session) return Promise.resolve({ catalogue: [], accounts: [] });
  const signal = state.view.signal;
  // Suggestions only: the form works without them (no filter lists).
  state.choices = Promise.all([
    fetchCatalogue(session.token, signal).catch(() => []),
    fetchKnownAccounts(session.token, signal).catch(() => []),
  ]).then(([catalogue, accounts]) => ({ catalogue, accounts }));
  return state.choices;
}

async function openForm(): Promise<void> {
  const root = document.getElementById("stream-form-root");
  const button = document.getElementById("stream-new") as HTMLButtonElement | null;
  if (!root || root.firstChild) {
    root?.querySelector<HTMLElement>("#stream-name")?.focus();
    return;
  }
  // A secret still on screen belongs to the previous stream: the admin has had it.
  dismissSecret(false);
  if (button) button.disabled = true;
  replace(root, h("div", { className: "card muted", id: "stream-form-loading" }, "Loading the form…"));
  const choices = await (state.choices ?? loadChoices());
  if (!state.open) return;
  if (button) button.disabled = state.streams.length >= MAX_STREAMS;
  renderStreamForm(root, {
    cancel: () => {
      replace(root);
      document.getElementById("stream-new")?.focus();
    },
    create: async (input) => {
      const token = ctx?.session()?.token;
      if (!token) throw new Error("You are signed out.");
      let created: CreatedLogStream;
      try {
        created = await createLogStream(token, input);
      } catch (err) {
        if (err instanceof ApiError && err.kind === "unauthenticated") ctx?.handleError(err, () => undefined);
        throw err;
      }
      // The form goes, and with it a token typed into it.
      replace(root);
      await refresh();
      if (created.secret) showSecret(created);
      else {
        announce(`Created \u201c${created.name}\u201d. It starts delivering within seconds.`);
        document.querySelector<HTMLElement>(`li[data-id="${CSS.escape(created.id)}"] .stream-name`)?.setAttribute("tabindex", "-1");
        document.querySelector<HTMLElement>(`li[data-id="${CSS.escape(created.id)}"] .stream-name`)?.focus();
      }
    },
  }, choices);
}

// ---------------------------------------------------------------------------
// The https stream's signing secret: shown once
// ---------------------------------------------------------------------------


function showSecret(created: CreatedLogStream): void {
  const root = document.getElementById("stream-secret-root");
  if (!root || !created.secret) return;
  const code = h("code", { className: "secret-value", id: "stream-secret-value" }, created.secret);
  replace(root, h("section", { className: "card secret-card", id: "stream-secret", "aria-labelledby": "stream-secret-title", "data-stream": created.id },
    h("h2", { id: "stream-secret-title", tabindex: -1 }, `Signing secret of \u201c${created.name}\u201d`),
    h("p", {}, h("strong", {}, "Shown once: copy it now. "),
      "Your receiver checks each batch's ", h("code", {}, "Audit-Trail-Signature"), " header (HMAC-SHA256 of the body) with it. ",
      "This page does not keep it and cannot show it again; for a new secret, create a new stream."),
    h("div", { className: "secret-row" }, code, copyButton(created.secret, code, { id: "stream-secret-copy", label: "Copy the signing secret" })),
    h("div", { className: "form-actions" },
      h("button", { type: "button", className: "primary", id: "stream-secret-done", onclick: () => dismissSecret(true) }, "I have stored the secret"))));
  root.querySelector<HTMLElement>("#stream-secret-title")?.focus();
}

/** Takes the secret off the page (out of the DOM, not just hidden). */
function dismissSecret(restoreFocus: boolean): void {
  const root = document.getElementById("stream-secret-root");
  const box = root?.querySelector<HTMLElement>("#stream-secret");
  if (!root || !box) return;
  const id = box.dataset.stream ?? "";
  replace(root);
  getSelection()?.removeAllRanges();
  if (!restoreFocus) return;
  const name = document.querySelector<HTMLElement>(`li[data-id="${CSS.escape(id)}"] .stream-name`);
  if (name) {
    name.setAttribute("tabindex", "-1");
    name.focus();
  } else {
    document.getElementById("stream-new")?.focus();
  }
}
