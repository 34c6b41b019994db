// The security detectors and what their alerts say, as the page names them:
// each detector's human name and a one-line explanation, the severities
// (words and a shape, never colour alone) and the alert statuses.

export const DETECTORS = [
  "role_escalation",
  "member_addition_burst",
  "unexpected_api_key_creator",
  "after_hours_settings_change",
  "mass_change",
] as const;
export type Detector = (typeof DETECTORS)[number];

export function isDetector(value: unknown): value is Detector {
  return typeof value === "string" && (DETECTORS as readonly string[]).includes(value);
}

export const DETECTOR_NAMES: Record<Detector, string> = {
  role_escalation: "Role escalation",
  member_addition_burst: "Burst of new members",
  unexpected_api_key_creator: "Unexpected API key",
  after_hours_settings_change: "After-hours change",
  mass_change: "Mass change",
};

/** One line: what the detector watches for. */
export const DETECTOR_EXPLANATIONS: Record<Detector, string> = {
  role_escalation: "Someone was given a privileged role (raised, added or invited with it), or raised their own.",
  member_addition_burst: "One actor added more members than the threshold within the time window.",
  unexpected_api_key_creator: "An API key was created by someone who was not an admin of its account or tenant at the time, or an admin created their first key.",
  after_hours_settings_change: "Settings or API keys were changed outside the tenant's business hours.",
  mass_change: "One actor deleted or updated more entities of one kind than the threshold within the time window.",
};

export function detectorName(detector: string): string {
  return isDetector(detector) ? DETECTOR_NAMES[detector] : detector;
}

export function detectorExplanation(detector: string): string | null {
  return isDetector(detector) ? DETECTOR_EXPLANATIONS[detector] : null;
}

export const SEVERITIES = ["high", "medium", "low"] as const;
export type Severity = (typeof SEVERITIES)[number];

export function isSeverity(value: unknown): value is Severity {
  return typeof value === "string" && (SEVERITIES as readonly string[]).includes(value);
}

export const SEVERITY_LABELS: Record<Severity, string> = { high: "High", medium: "Medium", low: "Low" };
/** A shape beside the word, so that severity reads without colour too. */
export const SEVERITY_MARKS: Record<Severity, string> = { high: "▲", medium: "◆", low: "●" };

export const STATUSES = ["open", "acknowledged", "resolved"] as const;
export type AlertStatus = (typeof STATUSES)[number];

export function isStatus(value: unknown): value is AlertStatus {
  return typeof value === "string" && (STATUSES as readonly string[]).includes(value);
}

export const STATUS_LABELS: Record<AlertStatus, string> = { open: "Open", acknowledged: "Acknowledged", resolved: "Resolved" };

/** Settings keys of the detectors, as the form labels them. */
export const SETTING_LABELS: Record<string, string> = {
  enabled: "Enabled",
  threshold: "Threshold",
  window_minutes: "Time window (minutes)",
  min_role: "Lowest privileged role",
  first_time_creator: "Also alert on an admin's first API key",
  credential_keys: "Credential settings keys",
};

/** What each setting means for its detector, shown under the field. */
export const SETTING_HELP: Partial<Record<Detector, Record<string, string>>> = {
  role_escalation: {
    min_role: "Roles from this one up (in the role ranking) count as privileged.",
    window_minutes: "Escalations by the same actor within this window join one alert.",
  },
  member_addition_burst: {
    threshold: "More member additions than this by one actor within the window raise an alert (2 to 100,000).",
    window_minutes: "The sliding window, 1 to 1,440 minutes.",
  },
  unexpected_api_key_creator: {
    window_minutes: "Keys created by the same actor within this window join one alert.",
  },
  after_hours_settings_change: {
    credential_keys: "One settings key per line; a change of one of these is high severity. A trailing * matches a prefix (smtp.*).",
    window_minutes: "Changes by the same actor within this window join one alert.",
  },
  mass_change: {
    threshold: "At least this many deletions or updates of one resource type by one actor within the window raise an alert (2 to 100,000).",
    window_minutes: "The sliding window, 1 to 1,440 minutes.",
  },
};
