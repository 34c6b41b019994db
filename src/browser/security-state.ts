// The Security view's place in the URL: its paths (/security for the alerts,
// /security/settings for the detector settings), the alert list's filters
// (status, severity, detector) and the selected alert, read leniently and
// written short, and the GraphQL filter of the alert list.
import { isDetector, isSeverity, isStatus, type AlertStatus, type Detector, type Severity } from "./detectors.ts";
import { EMPTY_FILTERS, filtersToParams } from "./filter-state.ts";

export const SECURITY_PATH = "/security";
export const SETTINGS_PATH = "/security/settings";

export type SecurityTab = "alerts" | "settings";

/** The Security view's tab for a path, or null for another view (the Audit Logs at /). */
export function securityTabOf(pathname: string): SecurityTab | null {
  const path = pathname.replace(/\/+$/, "");
  if (path === SECURITY_PATH) return "alerts";
  if (path === SETTINGS_PATH) return "settings";
  return null;
}

/** The status filter: one status, every status, or (the default) what still needs someone: open and acknowledged. */
export type StatusChoice = AlertStatus | "all" | "active";
export const STATUS_CHOICES: readonly StatusChoice[] = ["active", "open", "acknowledged", "resolved", "all"];
export const STATUS_CHOICE_LABELS: Record<StatusChoice, string> = {
  active: "Open and acknowledged",
  open: "Open",
  acknowledged: "Acknowledged",
  resolved: "Resolved",
  all: "Any status",
};

export interface AlertFilters {
  status: StatusChoice;
  severity: Severity | null;
  detector: Detector | null;
}

export const DEFAULT_ALERT_FILTERS: AlertFilters = { status: "active", severity: null, detector: null };

const ALERT_ID = /^[1-9]\d{0,18}$/;

export function isAlertId(value: string | null | undefined): value is string {
  return typeof value === "string" && ALERT_ID.test(value);
}

/** The list's filters and the selected alert, from a query string; nonsense is dropped. */
export function parseSecurityParams(params: URLSearchParams): { filters: AlertFilters; alertId: string | null } {
  const status = params.get("status")?.trim() ?? "";
  const severity = params.get("severity")?.trim() ?? "";
  const detector = params.get("detector")?.trim() ?? "";
  const alert = params.get("alert")?.trim() ?? "";
  return {
    filters: {
      status: status === "all" || isStatus(status) ? status : "active",
      severity: isSeverity(severity) ? severity : null,
      detector: isDetector(detector) ? detector : null,
    },
    alertId: isAlertId(alert) ? alert : null,
  };
}

/** The query string of the list's filters and selected alert; defaults are left out. */
export function securityParams(filters: AlertFilters, alertId: string | null): URLSearchParams {
  const p = new URLSearchParams();
  if (filters.status !== "active") p.set("status", filters.status);
  if (filters.severity) p.set("severity", filters.severity);
  if (filters.detector) p.set("detector", filters.detector);
  if (alertId) p.set("alert", alertId);
  return p;
}

export function alertFiltersEqual(a: AlertFilters, b: AlertFilters): boolean {
  return a.status === b.status && a.severity === b.severity && a.detector === b.detector;
}

/** The `securityAlerts` filter of the list. */
export function alertGraphQLFilter(f: AlertFilters): Record<string, unknown> {
  const filter: Record<string, unknown> = {};
  if (f.status === "active") filter.status = { in: ["open", "acknowledged"] };
  else if (f.status !== "all") filter.status = { equalTo: f.status };
  if (f.severity) filter.severity = { equalTo: f.severity };
  if (f.detector) filter.detector = { equalTo: f.detector };
  return filter;
}

/**
 * The Audit Logs URL of an alert's entries: the alert filter over the
 * alert's span (first to last entry; `to` is exclusive, hence one
 * millisecond past the last), so that the list shows exactly its entries
 * whatever their age. `entry` opens one of them in the details panel.
 */
export function auditLogsUrlOfAlert(alert: { id: string; firstAt: string; lastAt: string }, entryId?: string): string {
  const from = Date.parse(alert.firstAt);
  const to = Date.parse(alert.lastAt);
  const span = !Number.isNaN(from) && !Number.isNaN(to)
    ? { range: "custom" as const, from: new Date(from).toISOString(), to: new Date(to + 1).toISOString() }
    : {};
  const p = filtersToParams({ ...EMPTY_FILTERS, ...span, alertId: alert.id });
  if (entryId) p.set(ENTRY_PARAM, entryId);
  return `/?${p}`;
}

/** The Audit Logs URL parameter that opens one entry's details once the list shows it (a link from an alert). */
export const ENTRY_PARAM = "entry";
