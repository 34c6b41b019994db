// The detector settings document (the API's `detectorSettings`) as the
// form edits it, and the one patch a save sends: only what changed, key by
// key (business hours key by key, each detector's settings key by key),
// which is how `updateDetectorSettings` merges it. No DOM here.
import { isObject } from "./context-values.ts";

export interface BusinessHours {
  time_zone: string;
  /** ISO weekdays, 1 (Monday) to 7 (Sunday). */
  days: number[];
  /** "HH:MM", local time in time_zone. */
  start: string;
  /** "HH:MM"; "24:00" is midnight at the end of the day. */
  end: string;
}

export interface DetectorSettingsDocument {
  business_hours: BusinessHours;
  /** Roles from least to most privileged. */
  role_ranking: string[];
  /** Per detector, its settings (enabled, threshold, window_minutes, ...). */
  detectors: Record<string, Record<string, unknown>>;
}

export const WEEKDAYS: readonly { day: number; short: string; long: string }[] = [
  { day: 1, short: "Mon", long: "Monday" },
  { day: 2, short: "Tue", long: "Tuesday" },
  { day: 3, short: "Wed", long: "Wednesday" },
  { day: 4, short: "Thu", long: "Thursday" },
  { day: 5, short: "Fri", long: "Friday" },
  { day: 6, short: "Sat", long: "Saturday" },
  { day: 7, short: "Sun", long: "Sunday" },
];

/** The document as the API returned it; a clear error when it is not one. */
export function readSettings(value: unknown): DetectorSettingsDocument {
  if (!isObject(value) || !isObject(value.business_hours) || !isObject(value.detectors)) {
    throw new Error("The server returned detector settings this page cannot read.");
  }
  const bh = value.business_hours;
  const detectors: Record<string, Record<string, unknown>> = {};
  for (const [name, settings] of Object.entries(value.detectors)) {
    if (isObject(settings)) detectors[name] = { ...settings };
  }
  return {
    business_hours: {
      time_zone: typeof bh.time_zone === "string" ? bh.time_zone : "UTC",
      days: Array.isArray(bh.days) ? bh.days.filter((d): d is number => typeof d === "number") : [],
      start: typeof bh.start === "string" ? bh.start : "",
      end: typeof bh.end === "string" ? bh.end : "",
    },
    role_ranking: Array.isArray(value.role_ranking) ? value.role_ranking.filter((r): r is string => typeof r === "string") : [],
    detectors,
  };
}

/** Deep equality of JSON values (key order ignored). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameJson(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    return [...keys].every((k) => sameJson(a[k], b[k]));
  }
  return false;
}

/** Days compare as a set: [5, 1] is [1, 5]. */
function sameDays(a: unknown, b: unknown): boolean {
  if (!Array.isArray(a) || !Array.isArray(b)) return sameJson(a, b);
  const sort = (x: unknown[]) => [...x].sort((p, q) => Number(p) - Number(q));
  return sameJson(sort(a), sort(b));
}

/**
 * The patch from `saved` to `edited`: the changed keys only, nested as
 * updateDetectorSettings merges them. Empty ({}) when nothing changed.
 */
export function settingsPatch(saved: DetectorSettingsDocument, edited: DetectorSettingsDocument): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  const hours: Record<string, unknown> = {};
  for (const key of Object.keys(edited.business_hours) as (keyof BusinessHours)[]) {
    const same = key === "days" ? sameDays(saved.business_hours.days, edited.business_hours.days) : sameJson(saved.business_hours[key], edited.business_hours[key]);
    if (!same) hours[key] = key === "days" ? [...edited.business_hours.days].sort((a, b) => a - b) : edited.business_hours[key];
  }
  if (Object.keys(hours).length > 0) patch.business_hours = hours;
  if (!sameJson(saved.role_ranking, edited.role_ranking)) patch.role_ranking = edited.role_ranking;
  const detectors: Record<string, Record<string, unknown>> = {};
  for (const [name, settings] of Object.entries(edited.detectors)) {
    const before = saved.detectors[name] ?? {};
    for (const [key, value] of Object.entries(settings)) {
      if (!sameJson(before[key], value)) (detectors[name] ??= {})[key] = value;
    }
  }
  if (Object.keys(detectors).length > 0) patch.detectors = detectors;
  return patch;
}

/**
 * Which field an API error names ("detectors.mass_change.threshold must be
 * …", "business_hours.time_zone: unknown …", "business_hours: start … must
 * be before end"): the settings path, for marking the field; null when the
 * message names none.
 */
export function fieldOfError(message: string): { section: "business_hours" | "detectors" | "role_ranking"; detector?: string; key?: string } | null {
  const detector = /^detectors\.([a-z_]+)(?:\.([a-z_]+))?/.exec(message);
  if (detector) return { section: "detectors", detector: detector[1], key: detector[2] };
  const hours = /^business_hours(?:\.([a-z_]+))?/.exec(message);
  if (hours) {
    // "business_hours: start (18:00) must be before end (08:00)": the end is where the fix usually goes
    if (hours[1]) return { section: "business_hours", key: hours[1] };
    return { section: "business_hours", key: /start .* before end/.test(message) ? "end" : undefined };
  }
  if (message.startsWith("role_ranking")) return { section: "role_ranking" };
  return null;
}

/** The IANA time zones the browser knows, plus UTC, sorted; empty when it cannot list them. */
export function timeZoneNames(): string[] {
  let zones: string[] = [];
  try {
    zones = Intl.supportedValuesOf("timeZone");
  } catch {
    zones = [];
  }
  return [...new Set(["UTC", ...zones])].sort((a, b) => (a === "UTC" ? -1 : b === "UTC" ? 1 : a.localeCompare(b)));
}

/** The current local time in a time zone ("14:05, Tue"), or null for a name the browser does not know. */
export function nowIn(timeZone: string, now = new Date()): string | null {
  try {
    return new Intl.DateTimeFormat("en-GB", { timeZone, weekday: "short", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }).format(now);
  } catch {
    return null;
  }
}
