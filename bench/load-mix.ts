// The page's mix for the load section: the requests the Audit Logs page
// sends, for each admin scope and view (a set of filters as the page keeps
// them in its URL), with the weights at which a person working in the page
// sends them. Every request is recorded from the page's own code
// (src/browser/queries.ts, export.ts, filter-state.ts) through a fetch that
// records instead of sending, so the load follows the page when its queries
// change. Relative ranges are resolved at the data set's end (the page run
// at that moment), as section 3b does.
import { bucketSizeFor } from "../src/browser/chart.ts";
import { runExport } from "../src/browser/export.ts";
import { EMPTY_FILTERS, resolveFilters, resolvedToParams, toGraphQLFilter, type Filters } from "../src/browser/filter-state.ts";
import { fetchAccountNames, fetchActivity, fetchActors, fetchCatalogue, fetchMatchCount, fetchPage } from "../src/browser/queries.ts";
import type { AdminScope } from "./http.ts";

/** The targets judge groups: the list (every page of entries), the capped count, the aggregates (chart, user menu). */
export type RequestGroup = "list" | "count" | "aggregates" | "other";

export interface PageRequest {
  /** What the report calls it ("list: actor filter"). */
  kind: string;
  group: RequestGroup;
  method: "GET" | "POST";
  /** Path and query, relative to the API's URL. */
  path: string;
  headers: Record<string, string>;
  body: string | null;
  /** Relative frequency in the mix (the weights of all requests add up to 100). */
  weight: number;
}

/** One export of a scope's default view (the page's "Export CSV"). */
export interface ExportRequest {
  scope: string;
  path: string;
  headers: Record<string, string>;
}

/**
 * Shares of the mix, per 100 requests. One view (a sign-in or a change of
 * filters) asks for its first page and its capped count together, then the
 * chart, and the user menu when the range changed; scrolling asks for next
 * pages; rows of accounts not yet named ask for their names; a sign-in asks
 * for the event catalogue. Exports come on their own schedule (load.ts).
 */
export const MIX_SHARES = { page: 22, count: 22, chart: 22, nextPage: 16, actors: 8, accountNames: 7, catalogue: 3 } as const;

interface View {
  label: string;
  /** Relative frequency among the views. */
  weight: number;
  filters: Filters;
}

const DAY = 86_400_000;
const RESOURCE_TYPES = ["settings", "api_key", "member", "process", "invitation"];

/** The views an admin moves between: the default (last 30 days), each filter of the page, other ranges. */
function viewsOf(scope: AdminScope, index: number, spanEnd: Date): View[] {
  const yearBack = new Date(spanEnd.getTime() - 365 * DAY);
  const f = (patch: Partial<Filters>): Filters => ({ ...EMPTY_FILTERS, ...patch });
  return [
    { label: "first page (last 30 days)", weight: 4, filters: f({}) },
    { label: "resource-type filter", weight: 1, filters: f({ resourceType: RESOURCE_TYPES[index % RESOURCE_TYPES.length]! }) },
    { label: "resource-type filter", weight: 1, filters: f({ resourceType: RESOURCE_TYPES[(index + 2) % RESOURCE_TYPES.length]! }) },
    { label: "action / event filter", weight: 0.5, filters: f({ action: "update" }) },
    { label: "action / event filter", weight: 0.5, filters: f({ action: "member.removed" }) },
    { label: "actor filter", weight: 1, filters: f({ actorId: scope.actorId }) },
    { label: "last 24 h / 7 days", weight: 0.5, filters: f({ range: "24h" }) },
    { label: "last 24 h / 7 days", weight: 0.5, filters: f({ range: "7d" }) },
    { label: "7 days a year back", weight: 1, filters: f({ range: "custom", from: yearBack.toISOString(), to: new Date(yearBack.getTime() + 7 * DAY).toISOString() }) },
    { label: "entity filter", weight: 1, filters: f({ entityId: scope.entityId }) },
  ];
}

interface Recorded {
  method: "GET" | "POST";
  path: string;
  headers: Record<string, string>;
  body: string | null;
}

/**
 * The request a page function sends, without sending it: the page's
 * functions call fetch synchronously, so a fetch swapped in for the call
 * sees the request, then fails it (the function's rejection is ignored).
 */
function record(send: (signal: AbortSignal) => Promise<unknown>): Recorded {
  const global = globalThis as { fetch: typeof fetch };
  const realFetch = global.fetch;
  const seen: Recorded[] = [];
  global.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    seen.push({
      method: init?.method === "POST" ? "POST" : "GET",
      path: String(input),
      headers: { ...(init?.headers as Record<string, string> | undefined) },
      body: typeof init?.body === "string" ? init.body : null,
    });
    throw new Error("recorded, not sent");
  }) as typeof fetch;
  try {
    send(new AbortController().signal).catch(() => undefined);
  } finally {
    global.fetch = realFetch;
  }
  if (seen.length !== 1) throw new Error(`the page's function sent ${seen.length} requests synchronously, expected one`);
  return seen[0]!;
}

const scopeName = (s: AdminScope) => `${s.role.replace("_", " ")} of tenant #${s.rank}`;

interface PageData {
  auditLogs: { nodes: { accountId: string | null }[]; pageInfo: { hasNextPage: boolean; endCursor: string | null } };
}

/**
 * Every request of the mix for these scopes, weighted, and the exports.
 * `send` runs a request once and returns its `data` (it throws on any
 * error): the first pages give the cursors of the next pages and the
 * accounts whose names the page asks for, and every request is checked
 * (and its plan and pages warmed) before the load starts.
 */
export async function buildMix(
  scopes: AdminScope[], spanEnd: Date, send: (r: PageRequest) => Promise<unknown>,
): Promise<{ requests: PageRequest[]; exports: ExportRequest[] }> {
  const n = scopes.length;
  const requests: PageRequest[] = [];
  const add = async (r: Recorded, kind: string, group: RequestGroup, weight: number): Promise<unknown> => {
    const request: PageRequest = { ...r, kind, group, weight };
    requests.push(request);
    return send(request);
  };
  for (const [index, scope] of scopes.entries()) {
    const views = viewsOf(scope, index, spanEnd);
    const total = views.reduce((a, v) => a + v.weight, 0);
    const accounts = new Set<string>(scope.accountId ? [scope.accountId] : []);
    const nextPages: { r: Recorded; weight: number }[] = [];
    const menus = new Map<string, { r: Recorded; weight: number }>();
    for (const view of views) {
      const share = view.weight / total / n;
      const resolved = resolveFilters(view.filters, spanEnd);
      const filter = toGraphQLFilter(resolved);
      const first = (await add(record((signal) => fetchPage(scope.token, filter, null, signal)), `list: ${view.label}`, "list", MIX_SHARES.page * share)) as PageData;
      for (const e of first.auditLogs.nodes) if (e.accountId && view === views[0]) accounts.add(e.accountId);
      // Scrolling: the default view a few pages deep, the others one page.
      let page = first.auditLogs.pageInfo;
      const cursors: string[] = [];
      for (let depth = 0; depth < (view === views[0] ? 3 : 1) && page.hasNextPage && page.endCursor; depth++) {
        cursors.push(page.endCursor);
        if (view === views[0] && depth < 2) {
          const after = page.endCursor;
          page = ((await send({ ...record((signal) => fetchPage(scope.token, filter, after, signal)), kind: "prepare", group: "list", weight: 0 })) as PageData).auditLogs.pageInfo;
        }
      }
      for (const after of cursors) nextPages.push({ r: record((signal) => fetchPage(scope.token, filter, after, signal)), weight: view.weight / cursors.length });
      await add(record((signal) => fetchMatchCount(scope.token, filter, signal)), "capped count", "count", MIX_SHARES.count * share);
      await add(record((signal) => fetchActivity(scope.token, filter, bucketSizeFor(resolved.from, resolved.to), signal)), "activity chart", "aggregates", MIX_SHARES.chart * share);
      // The user menu covers the range only (the page leaves the other filters out): one per range.
      const rangeOnly = toGraphQLFilter({ ...resolved, action: null, resourceType: null, actorId: null, entityId: null });
      const menu = menus.get(JSON.stringify(rangeOnly)) ?? { r: record((signal) => fetchActors(scope.token, rangeOnly, signal)), weight: 0 };
      menu.weight += MIX_SHARES.actors * share;
      menus.set(JSON.stringify(rangeOnly), menu);
    }
    for (const m of menus.values()) await add(m.r, "user menu (actors of the range)", "aggregates", m.weight);
    const nextTotal = nextPages.reduce((a, p) => a + p.weight, 0);
    for (const p of nextPages) await add(p.r, "list: next page (cursor)", "list", (MIX_SHARES.nextPage * p.weight) / nextTotal / n);
    // Account names are read from the accounts' own entries (an entity lookup).
    if (accounts.size) await add(record((signal) => fetchAccountNames(scope.token, [...accounts], signal)), "account names", "other", MIX_SHARES.accountNames / n);
    await add(record((signal) => fetchCatalogue(scope.token, signal)), "event catalogue", "other", MIX_SHARES.catalogue / n);
  }
  const exports = scopes.map((scope) => {
    const resolved = resolveFilters(EMPTY_FILTERS, spanEnd);
    const r = record((signal) => runExport("csv", resolvedToParams(resolved), scope.token, () => undefined, signal));
    return { scope: scopeName(scope), path: r.path, headers: r.headers };
  });
  // Scopes without next pages or accounts leave a little weight out: scale back to 100.
  const sum = requests.reduce((a, r) => a + r.weight, 0);
  for (const r of requests) r.weight = (r.weight * 100) / sum;
  return { requests, exports };
}
