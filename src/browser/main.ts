// The Audit Logs page: sign-in, filters in the URL, the activity chart, the
// list with cursor pagination, the details panel and the export; and which
// view the URL shows (Audit Logs at /, Security at /security: security-view.ts,
// Log streams at /log-streams: log-streams.ts), with the sidebar's count of
// open alerts.
import { ApiError, isAbort } from "./api.ts";
import { bucketSizeFor, renderChart } from "./chart.ts";
import { renderDetails } from "./details.ts";
import { byId, h, messageBox, replace } from "./dom.ts";
import { runExport, runProof } from "./export.ts";
import {
  EMPTY_FILTERS, RANGE_KEYS, RANGE_LABELS, filtersEqual, filtersToParams, parseFilters,
  resolveFilters, resolvedToParams, toActivityCountsArgs, toGraphQLFilter, type ActivityCountsArgs, type Filters, type RangeKey,
} from "./filter-state.ts";
import { KIND_GROUPS, KIND_TAGS, accessResources, eventsByKind, kindOfEntry } from "./event-kinds.ts";
import {
  actionLabel, describeActor, entityName, formatLocal, formatNumber, formatRelative, humanize, isoToLocalInput, localInputToIso, shortId,
} from "./format.ts";
import {
  fetchAccountNames, fetchActivity, fetchActivityCounts, fetchActivityTotal, fetchActors, fetchCatalogue, fetchMatchCount, fetchPage,
  type Actor, type Bucket, type BucketSize, type CatalogueEvent, type ListedEntry, type MatchCount,
} from "./queries.ts";
import { configureLogStreams, hideLogStreams, isLogStreamsPath, offerLogStreams, showLogStreams } from "./log-streams.ts";
import { setRouteHandler } from "./router.ts";
import { startSealStatus, stopSealStatus } from "./seal-status.ts";
import { startSecurityBadge, stopSecurityBadge } from "./security-badge.ts";
import { ENTRY_PARAM, SECURITY_PATH, securityTabOf } from "./security-state.ts";
import { configureSecurityView, hideSecurity, showSecurity } from "./security-view.ts";
import { clearSession, isExpired, loadSession, saveSession, type Session } from "./session.ts";
import { ROLE_TITLES, isAdminRole } from "../shared/admin-roles.ts";
import type { DemoToken } from "../shared/demo-token.ts";
import type { ExportFormat } from "../shared/export-format.ts";
import { isEventName } from "../shared/filters.ts";

const state = {
  session: null as Session | null,
  filters: { ...EMPTY_FILTERS } as Filters,
  resolved: resolveFilters(EMPTY_FILTERS, new Date()),
  catalogue: [] as CatalogueEvent[],
  actors: [] as Actor[],
  actorsKey: "",
  entries: [] as ListedEntry[],
  hasNextPage: false,
  endCursor: null as string | null,
  loadingMore: false,
  accountNames: new Map<string, string>(),
  selectedId: null as string | null,
  /** An entry to open once the list shows it (`entry` in the URL: a link from an alert's details). */
  pendingEntry: null as string | null,
  /** The Audit Logs view is on screen with its list loaded for `filters`. */
  logsShown: false,
  /** Aborts every request of the current view when the filters change. */
  view: new AbortController(),
  exporting: null as AbortController | null,
};

// ---------------------------------------------------------------------------
// Errors and sign-in
// ---------------------------------------------------------------------------

function handleError(err: unknown, show: (message: string, retry?: () => void) => void, retry?: () => void): void {
  if (isAbort(err)) return;
  if (err instanceof ApiError) {
    if (err.kind === "unauthenticated") {
      const expired = err.code === "TOKEN_EXPIRED" || (state.session ? isExpired(state.session.claims) : false);
      signOut(expired
        ? "Your session has expired. Sign in again to continue."
        : `The server did not accept your token (${err.message}). Sign in again.`);
      return;
    }
    if (err.kind === "forbidden") {
      show(`You do not have access to these audit logs: ${err.message}`);
      return;
    }
    if (err.kind === "network") {
      show("The server could not be reached. Check your connection and try again.", retry);
      return;
    }
    show(`Something went wrong: ${err.message}`, retry);
    return;
  }
  console.error(err);
  show(`Something went wrong: ${err instanceof Error ? err.message : String(err)}`, retry);
}

function signOut(message: string | null): void {
  state.view.abort();
  state.exporting?.abort();
  clearSession();
  state.session = null;
  state.logsShown = false;
  closeDetails(false);
  stopSecurityBadge();
  stopSealStatus();
  hideSecurity();
  hideLogStreams();
  offerLogStreams();
  showSignIn(message);
}

async function showSignIn(message: string | null): Promise<void> {
  byId("app").hidden = true;
  byId("security-view").hidden = true;
  byId("identity").hidden = true;
  const root = byId("signin");
  root.hidden = false;
  const alert = h("div", { className: message ? "alert" : "alert empty", role: "alert", id: "signin-message" }, message ?? "");
  const tokenInput = h("textarea", {
    id: "token", name: "token", rows: 4, spellcheck: "false", autocomplete: "off", required: true,
    placeholder: "eyJhbGciOi…", "aria-describedby": "token-help",
  });
  const demo = h("div", { className: "demo", id: "demo-tokens" });
  const trySignIn = async (token: string) => {
    const session = saveSession(token);
    if (!session) {
      replace(alert, "That does not look like a token: paste the whole JWT (three parts separated by dots).");
      alert.className = "alert";
      return;
    }
    if (isExpired(session.claims)) {
      clearSession();
      replace(alert, "That token has expired. Ask for a new one.");
      alert.className = "alert";
      return;
    }
    state.session = session;
    root.hidden = true;
    await showApp();
  };
  const form = h("form", {
    className: "signin-form",
    onsubmit: ((e: Event) => {
      e.preventDefault();
      void trySignIn(tokenInput.value);
    }) as EventListener,
  },
  h("label", { for: "token" }, "Access token"),
  tokenInput,
  h("p", { id: "token-help", className: "muted small" },
    "The JWT your application issues to admins. It stays in this browser tab only and is sent to the server as a bearer token."),
  h("button", { type: "submit", className: "primary" }, "Sign in"),
  );
  replace(root,
    h("div", { className: "signin-card" },
      h("h1", { id: "signin-title" }, "Sign in to Audit Logs"),
      h("p", { className: "muted" }, "Tenant admins see every account of their tenant; account admins see their own account."),
      alert, form, demo,
    ));
  tokenInput.focus();
  try {
    const response = await fetch("/demo/tokens");
    if (!response.ok) return;
    const body = (await response.json()) as { tokens: DemoToken[] };
    if (!body.tokens?.length) return;
    replace(demo,
      h("h2", {}, "Demo"),
      h("p", { className: "muted small" }, "This server runs the embedded demo. Sign in with one click as:"),
      h("div", { className: "demo-buttons" }, body.tokens.map((t) =>
        h("button", { type: "button", className: "demo-button", onclick: () => void trySignIn(t.token) },
          h("strong", {}, t.label), h("span", { className: "muted small" }, t.description)))),
    );
  } catch {
    // No demo on this server.
  }
}

// ---------------------------------------------------------------------------
// The app
// ---------------------------------------------------------------------------

function roleLabel(role: string | undefined): string {
  return isAdminRole(role) ? ROLE_TITLES[role] : role ?? "Unknown role";
}

function renderIdentity(): void {
  const c = state.session?.claims;
  if (!c) return;
  const el = byId("identity");
  el.hidden = false;
  const account = c.account_id ? state.accountNames.get(c.account_id) ?? shortId(c.account_id) : null;
  // The token names the admin by id; their name and email come from their own entries, when there are some.
  const me = state.actors.find((a) => a.actorId === c.sub);
  const name = c.name ?? me?.actorName ?? null;
  replace(el,
    h("div", { className: "who-am-i" },
      h("span", { className: "avatar", "aria-hidden": "true" }, (name ?? roleLabel(c.role)).slice(0, 1).toUpperCase()),
      h("div", { className: "who-am-i-text" },
        h("div", { className: "strong" }, name ?? roleLabel(c.role)),
        h("div", { className: "muted small", id: "identity-scope" }, name ? roleLabel(c.role) : "", name && account ? " · " : "", account ?? ""),
      )),
    h("button", { type: "button", className: "ghost small", onclick: () => signOut(null) }, "Sign out"),
  );
  replace(byId("scope-line"), c.role === "account_admin"
    ? (account ? `Everything that happened in the ${account} account.` : "Everything that happened in your account.")
    : "Everything that happened in every account of your tenant.");
}

async function showApp(): Promise<void> {
  byId("signin").hidden = true;
  renderIdentity();
  offerLogStreams();
  startSecurityBadge(() => state.session?.token ?? null, (err) => handleError(err, () => undefined));
  startSealStatus(() => state.session?.token ?? null);
  route();
  const session = state.session;
  if (!session) return;
  try {
    state.catalogue = await fetchCatalogue(session.token);
    renderFilters();
    drawChart(); // colours follow the catalogue's order
    refreshActionLines(); // the kinds of the rows already shown
  } catch (err) {
    handleError(err, (m) => setStatus(m));
  }
}

// ---------------------------------------------------------------------------
// Views: Audit Logs at /, Security at /security (and /security/settings),
// Log streams at /log-streams
// ---------------------------------------------------------------------------

/** Marks the sidebar's link of the view on screen. */
function markNav(view: "logs" | "security" | "streams"): void {
  for (const link of document.querySelectorAll<HTMLAnchorElement>("nav.sidebar a[data-view]")) {
    const current = link.dataset.view === view;
    link.classList.toggle("selected", current);
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

const ENTRY_ID = /^\d{1,19}$/;

/** Draws the view of the current URL (sign-in done). */
function route(): void {
  if (!state.session) return;
  if (isLogStreamsPath(location.pathname)) {
    markNav("streams");
    state.view.abort();
    state.logsShown = false;
    closeDetails(false, false);
    byId("app").hidden = true;
    hideSecurity();
    showLogStreams();
    return;
  }
  hideLogStreams();
  const tab = securityTabOf(location.pathname);
  if (tab) {
    markNav("security");
    state.view.abort();
    state.logsShown = false;
    closeDetails(false, false);
    byId("app").hidden = true;
    showSecurity(tab);
    return;
  }
  markNav("logs");
  hideSecurity();
  byId("app").hidden = false;
  document.title = "Audit Logs · Audit Trail";
  const params = new URLSearchParams(location.search);
  const entry = params.get(ENTRY_PARAM);
  state.pendingEntry = entry && ENTRY_ID.test(entry) ? entry : null;
  const filters = parseFilters(params);
  if (!state.logsShown || !filtersEqual(filters, state.filters)) {
    state.filters = filters;
    state.logsShown = true;
    closeDetails(false, false);
    renderFilters();
    renderExport();
    loadView();
    return;
  }
  // Same list (Back or Forward between an entry's details and none).
  if (state.pendingEntry && state.entries.some((e) => e.id === state.pendingEntry)) openDetails(state.pendingEntry);
  else closeDetails(false, false);
}

setRouteHandler(route);
configureSecurityView({ session: () => state.session, handleError });
configureLogStreams({ session: () => state.session, handleError });

/** Drops the `entry` parameter (its details panel was closed or shows another entry). */
function dropEntryParam(): void {
  const params = new URLSearchParams(location.search);
  if (!params.has(ENTRY_PARAM)) return;
  params.delete(ENTRY_PARAM);
  const query = params.toString();
  history.replaceState(null, "", query ? `?${query}` : location.pathname);
  state.pendingEntry = null;
}

// ---------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------

function setFilters(next: Filters, push = true): void {
  if (filtersEqual(next, state.filters)) return;
  state.filters = next;
  const query = filtersToParams(next).toString();
  const url = query ? `?${query}` : location.pathname;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
  closeDetails(false);
  renderFilters();
  loadView();
}

function select(id: string, label: string, value: string, options: (HTMLOptionElement | HTMLOptGroupElement)[], onchange: (v: string) => void): HTMLElement {
  const el = h("select", { id, name: id, onchange: ((e: Event) => onchange((e.target as HTMLSelectElement).value)) as EventListener }, options);
  el.value = value;
  return h("div", { className: "field" }, h("label", { for: id }, label), el);
}

const option = (value: string, label: string) => h("option", { value }, label);

function renderFilters(): void {
  const f = state.filters;
  const actions = [...new Set(state.catalogue.map((e) => e.action))].sort((a, b) => actionLabel(a).localeCompare(actionLabel(b)));
  // Reads and exports of the log itself are not business data: one "Access" choice, apart.
  const access = accessResources(state.catalogue);
  const resources = [...new Set(state.catalogue.map((e) => e.resourceType))].filter((r) => !access.has(r))
    .sort((a, b) => humanize(a).localeCompare(humanize(b)));
  const byDescription = (a: CatalogueEvent, b: CatalogueEvent) => a.description.localeCompare(b.description);
  // Keep a value from the URL visible even before (or without) the catalogue.
  const withCurrent = (values: string[], current: string | null) => current && !values.includes(current) ? [...values, current] : values;
  const unknownEvent = f.action && isEventName(f.action) && !state.catalogue.some((e) => e.event === f.action) ? f.action : null;

  const actionOptions = [
    option("", "Any action"),
    h("optgroup", { label: "Action type" }, withCurrent(actions, f.action && !isEventName(f.action) ? f.action : null).map((a) => option(a, actionLabel(a)))),
    // Events grouped by who writes them: changes, the application's events, access to the log.
    ...eventsByKind(state.catalogue).map(([kind, events]) =>
      h("optgroup", { label: KIND_GROUPS[kind] }, [...events].sort(byDescription).map((e) => option(e.event, e.description)))),
    unknownEvent ? h("optgroup", { label: "Event" }, option(unknownEvent, humanize(unknownEvent))) : null,
  ].filter((o): o is HTMLOptionElement | HTMLOptGroupElement => o !== null);
  const resourceOptions = [
    option("", "Any resource"),
    ...withCurrent(resources, f.resourceType && !access.has(f.resourceType) ? f.resourceType : null).map((r) => option(r, humanize(r))),
    ...(access.size > 0 ? [h("optgroup", { label: "Audit log" }, [...access].sort().map((r) => option(r, access.size === 1 ? "Access" : `Access: ${humanize(r)}`)))] : []),
  ];
  const actors = [...state.actors].sort((a, b) => (a.actorName ?? a.actorEmail ?? "").localeCompare(b.actorName ?? b.actorEmail ?? ""));
  const actorOptions = [
    option("", "Anyone"),
    ...actors.map((a) => {
      const d = describeActor(a);
      return option(a.actorId, d.secondary && a.actorType === "user" ? `${d.primary} <${d.secondary}>` : d.primary);
    }),
    ...(f.actorId && !actors.some((a) => a.actorId === f.actorId) ? [option(f.actorId, `User ${shortId(f.actorId)}`)] : []),
  ];

  const entityInput = h("input", {
    id: "filter-entity", name: "entity", type: "search", value: f.entityId ?? "", placeholder: "Any entity",
    autocomplete: "off", spellcheck: "false",
    onchange: ((e: Event) => {
      const v = (e.target as HTMLInputElement).value.trim();
      setFilters({ ...state.filters, entityId: v === "" ? null : v });
    }) as EventListener,
  });

  const labelInput = h("input", {
    id: "filter-label", name: "label", type: "search", value: f.entityLabel ?? "", placeholder: "Starts with…",
    autocomplete: "off", spellcheck: "false", "aria-describedby": "filter-label-help",
    onchange: ((e: Event) => {
      const v = (e.target as HTMLInputElement).value.trim();
      setFilters({ ...state.filters, entityLabel: v === "" ? null : v });
    }) as EventListener,
  });

  const custom = f.range === "custom"
    ? h("div", { className: "field-group", role: "group", "aria-label": "Custom date range" },
      h("div", { className: "field" }, h("label", { for: "filter-from" }, "From"),
        h("input", {
          id: "filter-from", type: "datetime-local", value: isoToLocalInput(f.from),
          onchange: ((e: Event) => setFilters({ ...state.filters, from: localInputToIso((e.target as HTMLInputElement).value) })) as EventListener,
        })),
      h("div", { className: "field" }, h("label", { for: "filter-to" }, "To"),
        h("input", {
          id: "filter-to", type: "datetime-local", value: isoToLocalInput(f.to),
          onchange: ((e: Event) => setFilters({ ...state.filters, to: localInputToIso((e.target as HTMLInputElement).value) })) as EventListener,
        })))
    : null;

  // The entries of one security alert ("Open in Audit Logs"): a chip that links back to the alert and removes the filter.
  const alertChip = f.alertId
    ? h("div", { className: "field" },
      h("span", { className: "field-label", id: "filter-alert-label" }, "Security alert"),
      h("span", { className: "chip", id: "filter-alert", "data-alert": f.alertId },
        h("a", { href: `${SECURITY_PATH}?alert=${encodeURIComponent(f.alertId)}`, "data-nav": "", title: "Show the alert in Security" }, `Alert #${f.alertId}`),
        h("button", {
          type: "button", className: "chip-remove", id: "filter-alert-remove", "aria-label": `Remove the filter Alert #${f.alertId}`,
          onclick: () => setFilters({ ...state.filters, alertId: null }),
        }, "×")))
    : null;

  const isDefault = filtersEqual(f, EMPTY_FILTERS);
  const form = byId<HTMLFormElement>("filters");
  form.onsubmit = (e) => e.preventDefault();
  replace(form,
    alertChip,
    select("filter-action", "Action", f.action ?? "", actionOptions, (v) => setFilters({ ...state.filters, action: v || null })),
    select("filter-resource", "Resource type", f.resourceType ?? "", resourceOptions,
      (v) => setFilters({ ...state.filters, resourceType: v || null })),
    select("filter-range", "Date range", f.range, RANGE_KEYS.map((k) => option(k, RANGE_LABELS[k])), (v) => {
      const range = v as RangeKey;
      // A custom range starts from the range shown so far, to be adjusted.
      setFilters(range === "custom"
        ? { ...state.filters, range, from: state.resolved.from, to: state.resolved.to }
        : { ...state.filters, range, from: null, to: null });
    }),
    custom,
    select("filter-user", "User", f.actorId ?? "", actorOptions, (v) => setFilters({ ...state.filters, actorId: v || null })),
    h("div", { className: "field" }, h("label", { for: "filter-label" }, "Entity name"), labelInput,
      h("span", { id: "filter-label-help", className: "visually-hidden" }, "The start of the name the entity had when the entry was written")),
    h("div", { className: "field" }, h("label", { for: "filter-entity" }, "Entity ID"), entityInput),
    h("div", { className: "field field-actions" },
      h("button", {
        type: "button", className: "ghost", id: "clear-filters", disabled: isDefault,
        onclick: () => setFilters({ ...EMPTY_FILTERS }),
      }, "Clear filters")),
  );
}

// ---------------------------------------------------------------------------
// Loading a view: list, count, chart, actors
// ---------------------------------------------------------------------------

function setStatus(message: string, retry?: () => void, kind: "info" | "error" = "error"): void {
  replace(byId("list-status"), message ? messageBox(message, retry, kind) : null);
}

function loadView(): void {
  const session = state.session;
  if (!session) return;
  state.view.abort();
  state.view = new AbortController();
  const signal = state.view.signal;
  state.resolved = resolveFilters(state.filters, new Date());
  const filter = toGraphQLFilter(state.resolved);
  // The same filters for activityCounts, when it takes them all (null: the log's own aggregates answer).
  const countArgs = toActivityCountsArgs(state.resolved);
  state.entries = [];
  state.hasNextPage = false;
  state.endCursor = null;
  state.loadingMore = false;
  setStatus("");
  replace(byId("rows"), skeletonRows());
  byId("entries").setAttribute("aria-busy", "true");
  replace(byId("more"));
  replace(byId("count"), h("span", { className: "muted" }, "Counting…"));
  byId("count").removeAttribute("data-count");
  byId("count").removeAttribute("data-capped");
  byId("count").removeAttribute("title");
  chartData = null;
  byId("chart").removeAttribute("data-total");
  replace(byId("chart"), h("div", { className: "chart-loading" }, "Loading activity…"));
  replace(byId("chart-caption"));
  renderExport();

  const started = performance.now();
  fetchPage(session.token, filter, null, signal).then((page) => {
    state.entries = page.entries;
    state.hasNextPage = page.hasNextPage;
    state.endCursor = page.endCursor;
    byId("entries").removeAttribute("aria-busy");
    document.body.dataset.firstPageMs = String(Math.round(performance.now() - started));
    renderRows(true);
    void resolveAccountNames(page.entries, signal);
    // A link to one entry (from an alert's details) opens it once it is listed.
    const pending = state.pendingEntry;
    if (pending && page.entries.some((e) => e.id === pending)) openDetails(pending);
    else if (pending) dropEntryParam();
  }, (err: unknown) => {
    byId("entries").removeAttribute("aria-busy");
    replace(byId("rows"));
    handleError(err, (m, retry) => setStatus(m, retry), () => loadView());
  }).finally(() => {
    // The chart and the user menu aggregate over the whole range: they start
    // once the first page is in, so they never slow it down.
    if (!signal.aborted) loadSummaries(session.token, filter, countArgs, signal);
  });
  // The count is capped by the server, so it stays cheap on any size of log:
  // it is asked for together with the first page, not after it.
  loadCount(session.token, filter, countArgs, signal);
}

/** "1 entry", "1,234 entries", or "10,000+ entries" when more match than the server counts. */
function renderCount(matches: MatchCount): void {
  const el = byId("count");
  el.dataset.count = String(matches.count);
  el.dataset.capped = String(matches.isCapped);
  const shown = `${formatNumber(matches.count)}${matches.isCapped ? "+" : ""}`;
  if (matches.isCapped) el.title = `More than ${formatNumber(matches.count)} entries match. Narrow the filters for an exact count.`;
  else el.removeAttribute("title");
  replace(el, h("strong", {}, shown), matches.count === 1 && !matches.isCapped ? " entry" : " entries");
}

function loadCount(token: string, filter: Record<string, unknown>, countArgs: ActivityCountsArgs | null, signal: AbortSignal): void {
  // From the rollups (exact, and fast on any size of log) when the filters
  // allow; the capped count of the log otherwise.
  (countArgs ? fetchActivityTotal(token, countArgs, signal) : fetchMatchCount(token, filter, signal)).then((matches) => {
    renderCount(matches);
    // The export's progress shows "n of m" only when m is exact.
    renderExport(matches.isCapped ? undefined : matches.count);
  }, (err: unknown) => handleError(err, () => replace(byId("count"), h("span", { className: "muted" }, "Count unavailable"))));
}

function loadSummaries(token: string, filter: Record<string, unknown>, countArgs: ActivityCountsArgs | null, signal: AbortSignal): void {
  const size = bucketSizeFor(state.resolved.from, state.resolved.to);
  (countArgs ? fetchActivityCounts(token, countArgs, size, signal) : fetchActivity(token, filter, size, signal)).then((buckets) => {
    const resolved = state.resolved;
    chartData = { buckets, size, from: resolved.from, to: resolved.to };
    drawChart();
    const total = buckets.reduce((a, b) => a + b.count, 0);
    replace(byId("chart-caption"),
      `${formatNumber(total)} ${total === 1 ? "entry" : "entries"} · per ${size} (UTC), by resource type · select a bar to narrow the range`);
  }, (err: unknown) => handleError(err, (m) => replace(byId("chart"), h("p", { className: "alert" }, m))));

  // The user menu lists who acted in the selected period (other filters left
  // out, so the chosen user stays listed while the other filters change).
  const actorsFilter = toGraphQLFilter({ ...state.resolved, action: null, resourceType: null, actorId: null, entityId: null, entityLabel: null });
  const actorsKey = state.filters.range === "custom" ? `${state.resolved.from}|${state.resolved.to}` : state.filters.range;
  if (actorsKey !== state.actorsKey) {
    fetchActors(token, actorsFilter, signal).then((actors) => {
      state.actors = actors;
      state.actorsKey = actorsKey;
      renderFilters();
      renderIdentity();
    }, (err: unknown) => handleError(err, () => undefined));
  }
}

let chartData: { buckets: Bucket[]; size: BucketSize; from: string | null; to: string | null } | null = null;
let chartWidth = 0;

function drawChart(): void {
  const chart = byId("chart");
  if (!chartData) return;
  chartWidth = chart.clientWidth;
  const { svg, legend, total } = renderChart({
    ...chartData,
    width: chartWidth,
    resourceOrder: [...new Set(state.catalogue.map((e) => e.resourceType))],
    onSelect: (from, to) => setFilters({ ...state.filters, range: "custom", from, to }),
  });
  chart.dataset.total = String(total);
  replace(chart, total === 0 ? h("p", { className: "muted chart-empty" }, "No activity in this range.") : [svg, legend]);
}

// The chart is drawn in CSS pixels: redraw it when its width changes.
new ResizeObserver(() => {
  const width = byId("chart").clientWidth;
  if (chartData && width > 0 && Math.abs(width - chartWidth) > 4) drawChart();
}).observe(byId("chart"));

function skeletonRows(): HTMLElement[] {
  return Array.from({ length: 6 }, () => h("tr", { className: "skeleton", "aria-hidden": "true" },
    Array.from({ length: 5 }, () => h("td", {}, h("span", { className: "bone" })))));
}

async function resolveAccountNames(entries: ListedEntry[], signal: AbortSignal): Promise<void> {
  const session = state.session;
  if (!session) return;
  const wanted = new Set(entries.map((e) => e.accountId).filter((id): id is string => id !== null && !state.accountNames.has(id)));
  if (session.claims.account_id && !state.accountNames.has(session.claims.account_id)) wanted.add(session.claims.account_id);
  if (wanted.size === 0) return;
  try {
    const names = await fetchAccountNames(session.token, [...wanted], signal);
    for (const [id, name] of names) state.accountNames.set(id, name);
    for (const cell of document.querySelectorAll<HTMLElement>("td[data-account]")) {
      const id = cell.dataset.account ?? "";
      const name = state.accountNames.get(id);
      if (name && cell.textContent !== name) replace(cell, accountCell(id));
    }
    renderIdentity();
  } catch {
    // Names are a nicety; the ids stay.
  }
}

function accountCell(accountId: string | null): Node {
  if (!accountId) return h("span", { className: "muted" }, "Tenant level");
  const name = state.accountNames.get(accountId);
  return name ? h("span", { title: accountId }, name) : h("code", { title: accountId }, shortId(accountId));
}

/** The action under an entry's description, with the kind of an entry that is not a change ("Sign in · Application event"). */
function actionLine(entry: ListedEntry): HTMLElement {
  const kind = kindOfEntry(entry.event, state.catalogue);
  const tag = kind ? KIND_TAGS[kind] : null;
  return h("div", { className: "muted small action-line", "data-event": entry.event }, actionLabel(entry.action), tag ? ` · ${tag}` : null);
}

/** Rows drawn before the catalogue came in learn their kinds. */
function refreshActionLines(): void {
  for (const line of document.querySelectorAll<HTMLElement>("#rows .action-line")) {
    const entry = state.entries.find((e) => e.id === line.closest<HTMLElement>("tr[data-id]")?.dataset.id);
    if (entry) line.replaceWith(actionLine(entry));
  }
}

function renderRow(entry: ListedEntry): HTMLElement {
  const actor = describeActor(entry);
  const open = () => openDetails(entry.id);
  const what = entry.description ?? humanize(entry.event);
  const name = entityName(entry);
  return h("tr", {
    "data-id": entry.id, className: entry.id === state.selectedId ? "selected" : "",
    onclick: ((e: Event) => {
      if ((e.target as HTMLElement).closest("button")) return;
      open();
    }) as EventListener,
  },
  h("td", { className: "col-when" },
    h("time", { datetime: entry.occurredAt, title: entry.occurredAt }, formatLocal(entry.occurredAt)),
    h("div", { className: "muted small relative", "data-at": entry.occurredAt }, formatRelative(entry.occurredAt))),
  h("td", { className: "col-who" },
    h("div", { className: "strong" }, actor.primary),
    actor.secondary ? h("div", { className: "muted small" }, actor.secondary) : null),
  h("td", { className: "col-what" },
    h("button", { type: "button", className: "row-open", onclick: open, "aria-label": `${what} · ${name}: show details` }, what),
    // The entity by the name it had then; its short id when it has none.
    h("span", { className: entry.entityLabel ? "entity-name" : "entity-name muted", title: entry.entityLabel ? entry.entityId : undefined },
      ` · ${name}`),
    actionLine(entry)),
  h("td", { className: "col-resource" },
    h("span", { className: "tag" }, humanize(entry.resourceType)),
    h("div", {}, h("code", { className: "small", title: entry.entityId }, shortId(entry.entityId)))),
  h("td", { className: "col-account", "data-account": entry.accountId ?? "" }, accountCell(entry.accountId)),
  );
}

let moreObserver: IntersectionObserver | null = null;

function renderRows(reset: boolean): void {
  const rows = byId("rows");
  if (reset) replace(rows);
  const present = new Set([...rows.querySelectorAll<HTMLElement>("tr[data-id]")].map((r) => r.dataset.id));
  rows.append(...state.entries.filter((e) => !present.has(e.id)).map(renderRow));
  if (state.entries.length === 0) {
    const filtered = !filtersEqual(state.filters, EMPTY_FILTERS);
    replace(rows, h("tr", {}, h("td", { colspan: 5, className: "empty" },
      h("div", { className: "empty-title" }, "No entries match"),
      h("p", { className: "muted" }, filtered
        ? "Nothing recorded matches these filters. Try a wider date range or fewer filters."
        : "Nothing has been recorded in the last 30 days."),
      filtered ? h("button", { type: "button", className: "ghost", onclick: () => setFilters({ ...EMPTY_FILTERS }) }, "Clear filters") : null)));
  }
  const more = byId("more");
  moreObserver?.disconnect();
  if (state.hasNextPage) {
    const button = h("button", { type: "button", id: "load-more", className: "ghost", onclick: () => void loadMore() }, "Load more");
    replace(more, h("span", { className: "muted small" }, `Showing ${formatNumber(state.entries.length)}`), button);
    // Infinite scroll: load the next page as the button comes into view.
    moreObserver = new IntersectionObserver((seen) => {
      if (seen.some((s) => s.isIntersecting)) void loadMore();
    }, { rootMargin: "200px" });
    moreObserver.observe(button);
  } else {
    replace(more, state.entries.length > 0 ? h("span", { className: "muted small", id: "end-of-list" }, `All ${formatNumber(state.entries.length)} shown`) : null);
  }
}

async function loadMore(): Promise<void> {
  const session = state.session;
  if (!session || state.loadingMore || !state.hasNextPage) return;
  state.loadingMore = true;
  const signal = state.view.signal;
  const button = document.getElementById("load-more") as HTMLButtonElement | null;
  if (button) {
    button.disabled = true;
    button.textContent = "Loading…";
  }
  try {
    const page = await fetchPage(session.token, toGraphQLFilter(state.resolved), state.endCursor, signal);
    state.entries.push(...page.entries);
    state.hasNextPage = page.hasNextPage;
    state.endCursor = page.endCursor;
    state.loadingMore = false;
    renderRows(false);
    void resolveAccountNames(page.entries, signal);
  } catch (err) {
    state.loadingMore = false;
    if (button) {
      button.disabled = false;
      button.textContent = "Load more";
    }
    handleError(err, (m, retry) => setStatus(m, retry), () => void loadMore());
  }
}

// ---------------------------------------------------------------------------
// Details panel
// ---------------------------------------------------------------------------

function openDetails(id: string): void {
  const entry = state.entries.find((e) => e.id === id);
  if (!entry) return;
  if (state.pendingEntry !== id) dropEntryParam();
  state.selectedId = id;
  for (const row of document.querySelectorAll<HTMLElement>("#rows tr[data-id]")) row.classList.toggle("selected", row.dataset.id === id);
  const panel = byId("details");
  panel.dataset.id = id;
  replace(panel, renderDetails(entry, {
    onClose: () => closeDetails(true),
    onFilterEntity: (entityId) => setFilters({ ...state.filters, entityId }),
    accountName: (accountId) => state.accountNames.get(accountId) ?? null,
    kind: kindOfEntry(entry.event, state.catalogue),
  }));
  panel.hidden = false;
  document.body.classList.add("details-open");
  panel.querySelector<HTMLButtonElement>(".icon-button")?.focus();
}

/** Closes the panel; `dropEntry` also drops an `entry` link parameter from the URL. */
function closeDetails(restoreFocus: boolean, dropEntry = true): void {
  const panel = byId("details");
  if (panel.hidden) return;
  if (dropEntry) dropEntryParam();
  panel.hidden = true;
  document.body.classList.remove("details-open");
  const id = state.selectedId;
  state.selectedId = null;
  for (const row of document.querySelectorAll("#rows tr.selected")) row.classList.remove("selected");
  if (restoreFocus && id) document.querySelector<HTMLButtonElement>(`#rows tr[data-id="${CSS.escape(id)}"] .row-open`)?.focus();
}

document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && !byId("details").hidden) closeDetails(true);
});

// ---------------------------------------------------------------------------
// Export
// ---------------------------------------------------------------------------

let expectedCount: number | null = null;

function renderExport(count?: number): void {
  if (count !== undefined) expectedCount = count;
  else if (!state.exporting) expectedCount = null;
  if (state.exporting) return;
  const root = byId("export");
  replace(root,
    h("button", { type: "button", className: "ghost", id: "export-csv", onclick: () => void startExport("csv") }, "Export CSV"),
    // A JSON Lines export carries its proof; a CSV's is this separate file (fetch it with the CSV, for the same filters).
    h("button", {
      type: "button", className: "ghost small", id: "export-csv-proof", onclick: () => void startProof(),
      title: "The seals and Merkle proofs of the CSV's entries, to check it offline with npm run verify -- --export FILE.csv --proof FILE.proof.jsonl",
    }, "Proof for the CSV (sidecar)"),
    h("button", { type: "button", className: "ghost", id: "export-jsonl", onclick: () => void startExport("jsonl") }, "Export JSON Lines"),
    h("div", { id: "export-status", className: "export-status", role: "status" }),
  );
}

async function startExport(format: ExportFormat): Promise<void> {
  const session = state.session;
  if (!session || state.exporting) return;
  const controller = new AbortController();
  state.exporting = controller;
  const expected = expectedCount;
  const root = byId("export");
  // Without an exact count ("10,000+", or none), the bar shows activity, not a fraction.
  const bar = h("progress", { id: "export-progress", max: expected ?? undefined, value: expected ? 0 : undefined, "aria-label": "Export progress" });
  const text = h("span", { className: "small" }, "Starting export…");
  replace(root,
    h("div", { className: "export-running", role: "status", id: "export-status" }, bar, text),
    h("button", { type: "button", className: "ghost small", onclick: () => controller.abort() }, "Cancel"));
  try {
    const result = await runExport(format, resolvedToParams(state.resolved), session.token, (p) => {
      if (expected) bar.value = p.rows;
      replace(text, expected
        ? `Exporting… ${formatNumber(p.rows)} of ${formatNumber(expected)} entries`
        : `Exporting… ${formatNumber(p.rows)} entries`);
    }, controller.signal);
    state.exporting = null;
    renderExport();
    const status = byId("export-status");
    status.dataset.rows = String(result.rows);
    replace(status, `Exported ${formatNumber(result.rows)} ${result.rows === 1 ? "entry" : "entries"} to ${result.filename}`);
  } catch (err) {
    state.exporting = null;
    renderExport();
    if (isAbort(err)) {
      replace(byId("export-status"), "Export cancelled.");
      return;
    }
    handleError(err, (m) => replace(byId("export-status"), h("span", { className: "error-text" }, m)));
  }
}

/** Downloads the proof sidecar of the CSV export of the current filters. */
async function startProof(): Promise<void> {
  const session = state.session;
  if (!session || state.exporting) return;
  const controller = new AbortController();
  state.exporting = controller;
  const root = byId("export");
  replace(root,
    h("div", { className: "export-running", role: "status", id: "export-status" },
      h("progress", { id: "export-progress", "aria-label": "Proof download progress" }), h("span", { className: "small" }, "Collecting the CSV's proof…")),
    h("button", { type: "button", className: "ghost small", onclick: () => controller.abort() }, "Cancel"));
  try {
    const result = await runProof(resolvedToParams(state.resolved), session.token, controller.signal);
    state.exporting = null;
    renderExport();
    const status = byId("export-status");
    status.dataset.proofEntries = String(result.entries);
    replace(status, `Saved the CSV's proof to ${result.filename}: ${formatNumber(result.proved)} of ${formatNumber(result.entries)} ` +
      `${result.entries === 1 ? "entry" : "entries"} sealed${result.unsealed > 0 ? `, ${formatNumber(result.unsealed)} not sealed yet` : ""}`);
  } catch (err) {
    state.exporting = null;
    renderExport();
    if (isAbort(err)) {
      replace(byId("export-status"), "Proof download cancelled.");
      return;
    }
    handleError(err, (m) => replace(byId("export-status"), h("span", { className: "error-text" }, m)));
  }
}

// ---------------------------------------------------------------------------
// Start
// ---------------------------------------------------------------------------

// Relative times ("5 minutes ago") stay true while the page is open.
setInterval(() => {
  for (const el of document.querySelectorAll<HTMLElement>(".relative[data-at]")) el.textContent = formatRelative(el.dataset.at ?? "");
}, 60_000);

/** The GraphQL explorer link only where the server serves GraphiQL (it is off in production). */
async function checkExplorerLink(): Promise<void> {
  const link = document.querySelector<HTMLAnchorElement>('a[href="/graphiql"]');
  if (!link) return;
  try {
    const response = await fetch("/graphiql", { method: "HEAD" });
    if (!response.ok) link.closest("li")?.remove();
  } catch {
    link.closest("li")?.remove();
  }
}

function start(): void {
  void checkExplorerLink();
  const session = loadSession();
  if (!session) {
    void showSignIn(null);
    return;
  }
  if (isExpired(session.claims)) {
    clearSession();
    void showSignIn("Your session has expired. Sign in again to continue.");
    return;
  }
  state.session = session;
  void showApp();
}

start();
