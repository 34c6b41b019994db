// The Security view: the alerts the detectors raised (filters in the URL,
// newest first, "Load more" with the API's cursors), the details panel of the
// selected alert with Acknowledge and Resolve for tenant admins, and the
// detector settings (tenant admins only) at /security/settings.
import { ApiError } from "./api.ts";
import { renderAlertDetails, severityBadge, statusBadge } from "./alert-details.ts";
import { renderSettingsForm } from "./detector-settings-form.ts";
import { DETECTORS, DETECTOR_NAMES, SEVERITIES, SEVERITY_LABELS, detectorName } from "./detectors.ts";
import { byId, h, messageBox, replace } from "./dom.ts";
import { describeActor, formatLocal, formatNumber, formatRelative, shortId } from "./format.ts";
import { fetchAccountNames } from "./queries.ts";
import { refreshSecurityBadge } from "./security-badge.ts";
import {
  acknowledgeAlert, fetchAlert, fetchAlerts, fetchDetectorSettings, resolveAlert, updateDetectorSettings,
  type SecurityAlert,
} from "./security-queries.ts";
import {
  DEFAULT_ALERT_FILTERS, SECURITY_PATH, SETTINGS_PATH, STATUS_CHOICES, STATUS_CHOICE_LABELS, alertFiltersEqual, alertGraphQLFilter,
  parseSecurityParams, securityParams, type AlertFilters, type SecurityTab, type StatusChoice,
} from "./security-state.ts";
import type { Session } from "./session.ts";

export interface SecurityViewContext {
  session: () => Session | null;
  /** The page's error handling: sign-in again, no access, unreachable server, or `show` the message. */
  handleError: (err: unknown, show: (message: string, retry?: () => void) => void, retry?: () => void) => void;
}

let ctx: SecurityViewContext | null = null;

const state = {
  tab: null as SecurityTab | null,
  filters: { ...DEFAULT_ALERT_FILTERS } as AlertFilters,
  alerts: [] as SecurityAlert[],
  totalCount: 0,
  hasNextPage: false,
  endCursor: null as string | null,
  loaded: false,
  loadingMore: false,
  selectedId: null as string | null,
  accountNames: new Map<string, string>(),
  view: new AbortController(),
  details: new AbortController(),
};

export function configureSecurityView(context: SecurityViewContext): void {
  ctx = context;
}

const isTenantAdmin = () => ctx?.session()?.claims.role === "tenant_admin";

// ---------------------------------------------------------------------------
// Showing and hiding the view
// ---------------------------------------------------------------------------

/** Draws the Security view for the current URL (a tab, the list's filters, the selected alert). */
export function showSecurity(tab: SecurityTab): void {
  const session = ctx?.session();
  if (!session) return;
  byId("security-view").hidden = false;
  document.title = tab === "settings" ? "Detector settings · Security · Audit Trail" : "Security · Audit Trail";
  const previous = state.tab;
  state.tab = tab;
  renderHeader();
  byId("security-alerts").hidden = tab !== "alerts";
  byId("security-settings").hidden = tab !== "settings";
  if (tab === "settings") {
    closeAlertDetails(false, false);
    if (previous !== "settings") void showSettings();
    return;
  }
  const { filters, alertId } = parseSecurityParams(new URLSearchParams(location.search));
  if (!state.loaded || previous !== "alerts" || !alertFiltersEqual(filters, state.filters)) {
    state.filters = filters;
    renderFilters();
    loadAlerts();
  }
  if (alertId && alertId !== state.selectedId) void openAlert(alertId, false);
  else if (!alertId && state.selectedId) closeAlertDetails(false, false);
}

/** Leaves the view: stops its requests, closes its panel; the next visit loads afresh. */
export function hideSecurity(): void {
  state.view.abort();
  state.details.abort();
  state.tab = null;
  state.loaded = false;
  closeAlertDetails(false, false);
  byId("security-view").hidden = true;
}

function renderHeader(): void {
  const claims = ctx?.session()?.claims;
  replace(byId("security-scope-line"), claims?.role === "account_admin"
    ? "Alerts about your account's activity, raised by the security detectors."
    : "Alerts about suspicious activity in every account of your tenant, raised by the security detectors.");
  const tab = (id: SecurityTab, href: string, label: string) =>
    h("a", { href, "data-nav": "", className: `tab${state.tab === id ? " selected" : ""}`, "aria-current": state.tab === id ? "page" : undefined, id: `tab-${id}` }, label);
  replace(byId("security-tabs"),
    tab("alerts", SECURITY_PATH, "Alerts"),
    isTenantAdmin() ? tab("settings", SETTINGS_PATH, "Detector settings") : null);
}

// ---------------------------------------------------------------------------
// The list
// ---------------------------------------------------------------------------

function setFilters(next: AlertFilters): void {
  if (alertFiltersEqual(next, state.filters)) return;
  const query = securityParams(next, null).toString();
  closeAlertDetails(false, false);
  state.filters = next;
  history.pushState(null, "", query ? `${SECURITY_PATH}?${query}` : SECURITY_PATH);
  renderFilters();
  loadAlerts();
}

const option = (value: string, label: string) => h("option", { value }, label);

function select(id: string, label: string, value: string, options: HTMLOptionElement[], onchange: (v: string) => void): HTMLElement {
  const el = h("select", { id, name: id, onchange: ((e: Event) => onchange((e.target as HTMLSelectElement).value)) as EventListener }, options);
  el.value = value;
  return h("div", { className: "field" }, h("label", { for: id }, label), el);
}

function renderFilters(): void {
  const f = state.filters;
  const form = byId<HTMLFormElement>("alert-filters");
  form.onsubmit = (e) => e.preventDefault();
  replace(form,
    select("alert-filter-status", "Status", f.status, STATUS_CHOICES.map((s) => option(s, STATUS_CHOICE_LABELS[s])),
      (v) => setFilters({ ...state.filters, status: v as StatusChoice })),
    select("alert-filter-severity", "Severity", f.severity ?? "", [option("", "Any severity"), ...SEVERITIES.map((s) => option(s, SEVERITY_LABELS[s]))],
      (v) => setFilters({ ...state.filters, severity: (v || null) as AlertFilters["severity"] })),
    select("alert-filter-detector", "Detector", f.detector ?? "", [option("", "Any detector"), ...DETECTORS.map((d) => option(d, DETECTOR_NAMES[d]))],
      (v) => setFilters({ ...state.filters, detector: (v || null) as AlertFilters["detector"] })),
    h("div", { className: "field field-actions" },
      h("button", {
        type: "button", className: "ghost", id: "alert-clear-filters", disabled: alertFiltersEqual(f, DEFAULT_ALERT_FILTERS),
        onclick: () => setFilters({ ...DEFAULT_ALERT_FILTERS }),
      }, "Clear filters")),
  );
}

function setStatus(message: string, retry?: () => void): void {
  replace(byId("alerts-status"), message ? messageBox(message, retry) : null);
}

function skeletonRows(): HTMLElement[] {
  return Array.from({ length: 4 }, () => h("tr", { className: "skeleton", "aria-hidden": "true" },
    Array.from({ length: 6 }, () => h("td", {}, h("span", { className: "bone" })))));
}

/** Loads the first page of the list (and its count) for the current filters. */
function loadAlerts(): void {
  const session = ctx?.session();
  if (!session) return;
  state.view.abort();
  state.view = new AbortController();
  const signal = state.view.signal;
  state.alerts = [];
  state.hasNextPage = false;
  state.endCursor = null;
  state.loadingMore = false;
  state.loaded = true;
  setStatus("");
  const table = byId("alerts");
  table.setAttribute("aria-busy", "true");
  replace(byId("alert-rows"), skeletonRows());
  replace(byId("alerts-more"));
  const count = byId("alert-count");
  count.removeAttribute("data-count");
  replace(count, h("span", { className: "muted" }, "Loading…"));
  fetchAlerts(session.token, alertGraphQLFilter(state.filters), null, signal).then((page) => {
    state.alerts = page.alerts;
    state.totalCount = page.totalCount;
    state.hasNextPage = page.hasNextPage;
    state.endCursor = page.endCursor;
    table.removeAttribute("aria-busy");
    renderCount();
    renderRows(true);
    void resolveAccountNames(page.alerts, signal);
  }, (err: unknown) => {
    if (signal.aborted) return;
    table.removeAttribute("aria-busy");
    replace(byId("alert-rows"));
    replace(count);
    ctx?.handleError(err, (m, retry) => setStatus(m, retry), () => loadAlerts());
  });
}

function renderCount(): void {
  const el = byId("alert-count");
  el.dataset.count = String(state.totalCount);
  replace(el, h("strong", {}, formatNumber(state.totalCount)), state.totalCount === 1 ? " alert" : " alerts");
}

async function loadMore(): Promise<void> {
  const session = ctx?.session();
  if (!session || state.loadingMore || !state.hasNextPage) return;
  state.loadingMore = true;
  const signal = state.view.signal;
  const button = document.getElementById("alerts-load-more") as HTMLButtonElement | null;
  if (button) {
    button.disabled = true;
    button.textContent = "Loading…";
  }
  try {
    const page = await fetchAlerts(session.token, alertGraphQLFilter(state.filters), state.endCursor, signal);
    state.alerts.push(...page.alerts);
    state.totalCount = page.totalCount;
    state.hasNextPage = page.hasNextPage;
    state.endCursor = page.endCursor;
    state.loadingMore = false;
    renderCount();
    renderRows(false);
    void resolveAccountNames(page.alerts, signal);
  } catch (err) {
    state.loadingMore = false;
    if (signal.aborted) return;
    if (button) {
      button.disabled = false;
      button.textContent = "Load more";
    }
    ctx?.handleError(err, (m, retry) => setStatus(m, retry), () => void loadMore());
  }
}

async function resolveAccountNames(alerts: SecurityAlert[], signal: AbortSignal): Promise<void> {
  const session = ctx?.session();
  if (!session) return;
  const wanted = [...new Set(alerts.map((a) => a.accountId).filter((id): id is string => id !== null && !state.accountNames.has(id)))];
  if (wanted.length === 0) return;
  try {
    const names = await fetchAccountNames(session.token, wanted, signal);
    for (const [id, name] of names) state.accountNames.set(id, name);
    for (const el of document.querySelectorAll<HTMLElement>("#security-view [data-account-name], #alert-details [data-account]")) {
      const id = el.dataset.accountName ?? el.dataset.account ?? "";
      const name = state.accountNames.get(id);
      if (name) el.textContent = name;
    }
  } catch {
    // Names are a nicety; the ids stay.
  }
}

function accountLabel(accountId: string | null): HTMLElement {
  if (!accountId) return h("span", { className: "account-name" }, "Tenant level");
  return h("span", { className: "account-name", "data-account-name": accountId, title: accountId }, state.accountNames.get(accountId) ?? shortId(accountId));
}

function whenCell(alert: SecurityAlert): HTMLElement {
  const utc = new Date(alert.lastAt).toISOString();
  const detectedLater = Date.parse(alert.detectedAt) - Date.parse(alert.lastAt) > 3600_000;
  return h("td", { className: "col-alert-when" },
    h("time", { datetime: utc, title: `${formatLocal(alert.lastAt, true)} · ${utc.replace("T", " ").replace(/\.\d+Z$/, " UTC")}`, className: "relative", "data-at": alert.lastAt },
      formatRelative(alert.lastAt)),
    h("div", { className: "muted small" }, formatLocal(alert.lastAt)),
    detectedLater ? h("div", { className: "muted small" }, "detected ", h("span", { className: "relative", "data-at": alert.detectedAt }, formatRelative(alert.detectedAt))) : null);
}

function renderRow(alert: SecurityAlert): HTMLElement {
  const actor = describeActor({ actorType: alert.actorType ?? "system", actorId: alert.actorId, actorEmail: alert.actorEmail, actorName: alert.actorName });
  const open = () => void openAlert(alert.id, true);
  return h("tr", {
    "data-id": alert.id, "data-severity": alert.severity, "data-status": alert.status, "data-detector": alert.detector,
    className: alert.id === state.selectedId ? "selected" : "",
    onclick: ((e: Event) => {
      if ((e.target as HTMLElement).closest("button, a")) return;
      open();
    }) as EventListener,
  },
  h("td", { className: "col-severity" }, severityBadge(alert.severity)),
  h("td", { className: "col-summary" },
    h("button", { type: "button", className: "row-open", onclick: open, "aria-label": `${alert.summary}: show details` }, alert.summary),
    h("div", { className: "muted small" }, h("span", { className: "detector-name" }, detectorName(alert.detector)), " · ", accountLabel(alert.accountId))),
  h("td", { className: "col-actor" },
    h("div", { className: "strong" }, actor.primary),
    actor.secondary ? h("div", { className: "muted small" }, actor.secondary) : null),
  whenCell(alert),
  h("td", { className: "col-count", "data-count": alert.entryCount }, formatNumber(Number(alert.entryCount))),
  h("td", { className: "col-status" }, statusBadge(alert.status)),
  );
}

function renderRows(reset: boolean): void {
  const rows = byId("alert-rows");
  if (reset) replace(rows);
  const present = new Set([...rows.querySelectorAll<HTMLElement>("tr[data-id]")].map((r) => r.dataset.id));
  rows.append(...state.alerts.filter((a) => !present.has(a.id)).map(renderRow));
  if (state.alerts.length === 0) {
    const filtered = !alertFiltersEqual(state.filters, DEFAULT_ALERT_FILTERS);
    replace(rows, h("tr", {}, h("td", { colspan: 6, className: "empty", id: "alerts-empty" },
      h("div", { className: "empty-title" }, filtered ? "No alerts match" : "No open alerts"),
      h("p", { className: "muted" }, filtered
        ? "No alert matches these filters. Try another status, severity or detector."
        : "Nothing needs your attention: the detectors have no open or acknowledged alert in your scope."),
      filtered ? h("button", { type: "button", className: "ghost", onclick: () => setFilters({ ...DEFAULT_ALERT_FILTERS }) }, "Clear filters") : null)));
  }
  const more = byId("alerts-more");
  if (state.hasNextPage) {
    replace(more, h("span", { className: "muted small" }, `Showing ${formatNumber(state.alerts.length)} of ${formatNumber(state.totalCount)}`),
      h("button", { type: "button", id: "alerts-load-more", className: "ghost", onclick: () => void loadMore() }, "Load more"));
  } else {
    replace(more, state.alerts.length > 0 ? h("span", { className: "muted small", id: "alerts-end" }, `All ${formatNumber(state.alerts.length)} shown`) : null);
  }
}

// ---------------------------------------------------------------------------
// The details panel
// ---------------------------------------------------------------------------

function setSelectedInUrl(alertId: string | null): void {
  const query = securityParams(state.filters, alertId).toString();
  history.replaceState(null, "", query ? `${SECURITY_PATH}?${query}` : SECURITY_PATH);
}

async function openAlert(id: string, fromList: boolean): Promise<void> {
  const session = ctx?.session();
  if (!session) return;
  state.details.abort();
  state.details = new AbortController();
  const signal = state.details.signal;
  state.selectedId = id;
  if (fromList) setSelectedInUrl(id);
  for (const row of document.querySelectorAll<HTMLElement>("#alert-rows tr[data-id]")) row.classList.toggle("selected", row.dataset.id === id);
  const panel = byId("alert-details");
  panel.dataset.id = id;
  panel.setAttribute("aria-busy", "true");
  replace(panel, h("div", { className: "details-inner" },
    h("header", { className: "details-header" },
      h("h2", { id: "alert-details-title" }, `Alert #${id}`),
      h("button", { type: "button", className: "icon-button", "aria-label": "Close alert details", onclick: () => closeAlertDetails(true, true) }, "×")),
    h("p", { className: "muted" }, "Loading…")));
  panel.hidden = false;
  document.body.classList.add("details-open");
  if (fromList) panel.querySelector<HTMLButtonElement>(".icon-button")?.focus();
  try {
    const alert = await fetchAlert(session.token, id, signal);
    if (signal.aborted) return;
    panel.removeAttribute("aria-busy");
    if (!alert) {
      replace(panel, h("div", { className: "details-inner" },
        h("header", { className: "details-header" },
          h("h2", { id: "alert-details-title" }, `Alert #${id}`),
          h("button", { type: "button", className: "icon-button", "aria-label": "Close alert details", onclick: () => closeAlertDetails(true, true) }, "×")),
        h("p", { className: "alert", id: "alert-not-found" }, "There is no such alert in your scope: it may belong to another account, or the link is wrong.")));
      return;
    }
    if (alert.accountId && !state.accountNames.has(alert.accountId)) void resolveAccountNames([alert], signal);
    renderPanel(alert);
    if (fromList) panel.querySelector<HTMLButtonElement>(".icon-button")?.focus();
  } catch (err) {
    if (signal.aborted) return;
    panel.removeAttribute("aria-busy");
    ctx?.handleError(err, (m, retry) => replace(panel, h("div", { className: "details-inner" },
      h("header", { className: "details-header" },
        h("h2", { id: "alert-details-title" }, `Alert #${id}`),
        h("button", { type: "button", className: "icon-button", "aria-label": "Close alert details", onclick: () => closeAlertDetails(true, true) }, "×")),
      messageBox(m, retry))),
    () => void openAlert(id, false));
  }
}

function renderPanel(alert: Parameters<typeof renderAlertDetails>[0]): void {
  const session = ctx?.session();
  const panel = byId("alert-details");
  replace(panel, renderAlertDetails(alert, {
    onClose: () => closeAlertDetails(true, true),
    canChange: isTenantAdmin(),
    me: session?.claims.email ?? session?.claims.sub ?? null,
    accountName: (id) => state.accountNames.get(id) ?? null,
    onAcknowledge: async () => {
      const token = ctx?.session()?.token;
      if (!token) return;
      await mutate(() => acknowledgeAlert(token, alert.id), alert.id, "Acknowledged. The alert stays listed until it is resolved.");
    },
    onResolve: async (note) => {
      const token = ctx?.session()?.token;
      if (!token) return;
      await mutate(() => resolveAlert(token, alert.id, note), alert.id, "Resolved.");
    },
  }));
}

/** Runs an acknowledge or resolve, then shows the alert again, reloads the list and the badge. */
async function mutate(run: () => Promise<SecurityAlert>, id: string, done: string): Promise<void> {
  try {
    await run();
  } catch (err) {
    // Signed out, or a message for the panel.
    if (err instanceof ApiError && err.kind === "unauthenticated") ctx?.handleError(err, () => undefined);
    throw err;
  }
  refreshSecurityBadge();
  loadAlerts();
  await openAlert(id, false);
  const panel = byId("alert-details");
  const note = h("p", { className: "info small", role: "status", id: "alert-action-done" }, done);
  panel.querySelector(".details-header")?.after(note);
  panel.querySelector<HTMLButtonElement>(".icon-button")?.focus();
}

/** Closes the panel; `updateUrl` drops the alert from the URL, `restoreFocus` returns to its row. */
export function closeAlertDetails(restoreFocus: boolean, updateUrl: boolean): void {
  state.details.abort();
  const panel = byId("alert-details");
  const id = state.selectedId;
  state.selectedId = null;
  if (updateUrl && state.tab === "alerts") setSelectedInUrl(null);
  for (const row of document.querySelectorAll("#alert-rows tr.selected")) row.classList.remove("selected");
  if (panel.hidden) return;
  panel.hidden = true;
  document.body.classList.remove("details-open");
  if (restoreFocus && id) document.querySelector<HTMLButtonElement>(`#alert-rows tr[data-id="${CSS.escape(id)}"] .row-open`)?.focus();
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !byId("alert-details").hidden) closeAlertDetails(true, true);
});

// ---------------------------------------------------------------------------
// Detector settings
// ---------------------------------------------------------------------------

async function showSettings(status: string | null = null): Promise<void> {
  const root = byId("security-settings");
  const session = ctx?.session();
  if (!session) return;
  if (!isTenantAdmin()) {
    replace(root, h("div", { className: "card" },
      h("h2", { id: "settings-title" }, "Detector settings"),
      h("p", { className: "muted", id: "settings-forbidden" },
        "Only tenant admins can see and change the detector settings. Your token is an account admin's: ask an admin of the whole tenant."),
      h("a", { href: SECURITY_PATH, "data-nav": "", className: "ghost button-link" }, "Back to the alerts")));
    return;
  }
  root.setAttribute("aria-busy", "true");
  replace(root, h("div", { className: "card" }, h("h2", { id: "settings-title" }, "Detector settings"), h("p", { className: "muted" }, "Loading the settings…")));
  try {
    const settings = await fetchDetectorSettings(session.token);
    if (state.tab !== "settings") return;
    root.removeAttribute("aria-busy");
    replace(root, h("div", { className: "settings-intro" },
      h("h2", { id: "settings-title", className: "visually-hidden" }, "Detector settings"),
      h("p", { className: "muted" }, "How the detectors judge your tenant's activity. Changes apply from their next run (within a minute) and are recorded in the audit log as \u201cDetector settings updated\u201d.")),
    h("div", { id: "settings-form-root" }));
    renderSettingsForm(byId("settings-form-root"), settings, {
      save: async (patch) => {
        const token = ctx?.session()?.token;
        if (!token) throw new Error("You are signed out.");
        try {
          await updateDetectorSettings(token, patch);
        } catch (err) {
          if (err instanceof ApiError && err.kind === "unauthenticated") ctx?.handleError(err, () => undefined);
          throw err;
        }
        // The saved state, as the server now holds it.
        const time = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(new Date());
        await showSettings(`Saved at ${time}. The detectors use the new settings from their next run.`);
      },
    }, { status });
  } catch (err) {
    root.removeAttribute("aria-busy");
    ctx?.handleError(err, (m, retry) => replace(root, messageBox(m, retry)), () => void showSettings());
  }
}
