// The Security view's logic without a browser: its URLs (paths, filters,
// selected alert), the alert list's GraphQL filter, the Audit Logs URL of an
// alert's entries and the alert filter there (never exported unfiltered),
// the settings patch (only what changed) and which field an API error names.
import { describe, expect, test } from "vitest";
import { fieldOfError, readSettings, settingsPatch, timeZoneNames } from "../../src/browser/detector-settings.ts";
import { EMPTY_FILTERS, filtersToParams, parseFilters, resolveFilters, resolvedToParams, toGraphQLFilter } from "../../src/browser/filter-state.ts";
import {
  DEFAULT_ALERT_FILTERS, alertGraphQLFilter, auditLogsUrlOfAlert, parseSecurityParams, securityParams, securityTabOf,
} from "../../src/browser/security-state.ts";

describe("the Security view's URL", () => {
  test("paths: /security and /security/settings; anything else is another view", () => {
    expect(securityTabOf("/security")).toBe("alerts");
    expect(securityTabOf("/security/")).toBe("alerts");
    expect(securityTabOf("/security/settings")).toBe("settings");
    expect(securityTabOf("/")).toBeNull();
    expect(securityTabOf("/securityx")).toBeNull();
  });

  test("filters and the selected alert round-trip; defaults are left out; nonsense is dropped", () => {
    const f = { status: "resolved", severity: "high", detector: "mass_change" } as const;
    const params = securityParams(f, "42");
    expect(params.toString()).toBe("status=resolved&severity=high&detector=mass_change&alert=42");
    expect(parseSecurityParams(params)).toEqual({ filters: f, alertId: "42" });
    expect(securityParams(DEFAULT_ALERT_FILTERS, null).toString()).toBe("");
    expect(parseSecurityParams(new URLSearchParams("status=closed&severity=urgent&detector=x&alert=1;drop"))).toEqual({
      filters: DEFAULT_ALERT_FILTERS, alertId: null,
    });
  });

  test("the list's GraphQL filter: open and acknowledged by default, one status, or any", () => {
    expect(alertGraphQLFilter(DEFAULT_ALERT_FILTERS)).toEqual({ status: { in: ["open", "acknowledged"] } });
    expect(alertGraphQLFilter({ status: "all", severity: null, detector: null })).toEqual({});
    expect(alertGraphQLFilter({ status: "open", severity: "low", detector: "role_escalation" })).toEqual({
      status: { equalTo: "open" }, severity: { equalTo: "low" }, detector: { equalTo: "role_escalation" },
    });
  });
});

describe("an alert's entries in Audit Logs", () => {
  const alert = { id: "7", firstAt: "2026-03-01T10:00:00.123456+00:00", lastAt: "2026-03-02T11:30:00.999999+00:00" };

  test("the link spans the alert's first to last entry (the end exclusive, past the last), with the alert filter", () => {
    const url = new URL(auditLogsUrlOfAlert(alert), "http://x");
    expect(url.pathname).toBe("/");
    expect(url.searchParams.get("alert")).toBe("7");
    expect(url.searchParams.get("from")).toBe("2026-03-01T10:00:00.123Z");
    expect(url.searchParams.get("to")).toBe("2026-03-02T11:30:01.000Z");
    const f = parseFilters(url.searchParams);
    expect(f).toMatchObject({ range: "custom", alertId: "7" });
    expect(new URL(auditLogsUrlOfAlert(alert, "99"), "http://x").searchParams.get("entry")).toBe("99");
  });

  test("the alert filter reaches the GraphQL filter, round-trips through the URL, and goes to the export", () => {
    const f = { ...EMPTY_FILTERS, resourceType: "process", alertId: "12" };
    expect(filtersToParams(f).toString()).toBe("resource=process&alert=12");
    expect(parseFilters(filtersToParams(f))).toEqual(f);
    const r = resolveFilters(f, new Date("2026-03-10T12:00:00.000Z"));
    expect(toGraphQLFilter(r)).toMatchObject({ alertId: { equalTo: "12" }, resourceType: { equalTo: "process" } });
    // The export filters by it too (src/server/routes/export-params.ts)
    expect(resolvedToParams(r).get("alert")).toBe("12");
    expect(parseFilters(new URLSearchParams("alert=abc")).alertId).toBeNull();
    expect(parseFilters(new URLSearchParams("alert=0")).alertId).toBeNull();
  });
});

describe("detector settings", () => {
  const saved = readSettings({
    business_hours: { time_zone: "UTC", days: [1, 2, 3, 4, 5], start: "08:00", end: "18:00" },
    role_ranking: ["viewer", "member", "admin"],
    detectors: {
      role_escalation: { enabled: true, min_role: "admin", window_minutes: 60 },
      mass_change: { enabled: true, threshold: 50, window_minutes: 10 },
      after_hours_settings_change: { enabled: true, credential_keys: ["rpa.credentials"], window_minutes: 120 },
    },
  });

  test("the patch holds only what changed, key by key; days compare as a set", () => {
    expect(settingsPatch(saved, structuredClone(saved))).toEqual({});
    const edited = structuredClone(saved);
    edited.business_hours.days = [5, 4, 3, 2, 1];
    expect(settingsPatch(saved, edited)).toEqual({});
    edited.business_hours.time_zone = "Europe/Berlin";
    edited.business_hours.days = [2, 1, 3];
    edited.detectors.mass_change!.threshold = 30;
    edited.detectors.after_hours_settings_change!.credential_keys = ["rpa.credentials", "smtp.*"];
    expect(settingsPatch(saved, edited)).toEqual({
      business_hours: { time_zone: "Europe/Berlin", days: [1, 2, 3] },
      detectors: { mass_change: { threshold: 30 }, after_hours_settings_change: { credential_keys: ["rpa.credentials", "smtp.*"] } },
    });
  });

  test("an API message names its field", () => {
    expect(fieldOfError("detectors.mass_change.threshold must be a whole number between 2 and 100000, got 1"))
      .toEqual({ section: "detectors", detector: "mass_change", key: "threshold" });
    expect(fieldOfError('business_hours.time_zone: unknown time zone "Mars/Base"')).toEqual({ section: "business_hours", key: "time_zone" });
    expect(fieldOfError("business_hours: start (18:00) must be before end (08:00)")).toEqual({ section: "business_hours", key: "end" });
    expect(fieldOfError("updateDetectorSettings: patch must be a JSON object")).toBeNull();
  });

  test("time zones: UTC first, then the runtime's IANA names", () => {
    const zones = timeZoneNames();
    expect(zones[0]).toBe("UTC");
    expect(zones).toContain("Europe/Berlin");
    expect(new Set(zones).size).toBe(zones.length);
  });

  test("a document that is not one is refused clearly", () => {
    expect(() => readSettings(null)).toThrow(/cannot read/);
    expect(() => readSettings({ detectors: {} })).toThrow(/cannot read/);
  });
});
