// How entries read to a person: labels, times, actors.

const WORD_OVERRIDES: Record<string, string> = { api: "API", ip: "IP", id: "ID", rpa: "RPA" };

/** "api_key" → "API key", "process_member" → "Process member". */
export function humanize(name: string): string {
  const words = name.split(/[_.]/).filter(Boolean).map((w) => WORD_OVERRIDES[w] ?? w);
  const first = words[0] ?? "";
  words[0] = first === first.toUpperCase() ? first : first.charAt(0).toUpperCase() + first.slice(1);
  return words.join(" ");
}

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const dateTimeThisYear = new Intl.DateTimeFormat(undefined, {
  month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
});
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
const number = new Intl.NumberFormat();

/**
 * Actions whose humanized name reads awkwardly ("Sign in fail"); the others
 * read well as they are ("unassign" → "Unassign").
 */
const ACTION_LABELS: Record<string, string> = {
  sign_in: "Sign in",
  sign_in_fail: "Failed sign-in",
  sign_out: "Sign out",
  view: "View",
  export: "Export",
  export_finish: "Export finished",
  run: "Run",
};

/** "sign_in_fail" → "Failed sign-in", "unassign" → "Unassign". */
export function actionLabel(action: string): string {
  return ACTION_LABELS[action] ?? humanize(action);
}

/** The affected entity as a person reads it: its recorded name, else its short id. */
export function entityName(entry: { entityId: string; entityLabel?: string | null }): string {
  return entry.entityLabel || shortId(entry.entityId);
}

export function formatNumber(n: number): string {
  return number.format(n);
}

/** Local date and time; the year only when it is not this year. */
export function formatLocal(iso: string, full = false): string {
  const d = new Date(iso);
  return (!full && d.getFullYear() === new Date().getFullYear() ? dateTimeThisYear : dateTime).format(d);
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 365 * 24 * 3600],
  ["month", 30 * 24 * 3600],
  ["week", 7 * 24 * 3600],
  ["day", 24 * 3600],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

export function formatRelative(iso: string, now = Date.now()): string {
  const seconds = (new Date(iso).getTime() - now) / 1000;
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size || unit === "second") {
      return relative.format(Math.round(seconds / size), unit);
    }
  }
  return "";
}

/** datetime-local input value (local time, minutes) ⇄ ISO instant. */
export function isoToLocalInput(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function localInputToIso(value: string): string | null {
  if (!value) return null;
  const ms = new Date(value).getTime();
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

export function shortId(id: string): string {
  return id.length > 13 ? `${id.slice(0, 8)}…` : id;
}

export interface ActorLike {
  actorType: string;
  actorId: string | null;
  actorEmail: string | null;
  actorName: string | null;
}

/** Main and secondary line of "who": a person, an API key, the system or a database role. */
export function describeActor(a: ActorLike): { primary: string; secondary: string; kind: string } {
  switch (a.actorType) {
    case "user":
      return { primary: a.actorName || a.actorEmail || "Unknown user", secondary: a.actorEmail ?? "", kind: "User" };
    case "api_key":
      return { primary: a.actorName ? `API key “${a.actorName}”` : "API key", secondary: a.actorId ? shortId(a.actorId) : "", kind: "API key" };
    case "database_role":
      return { primary: "Database role", secondary: a.actorName ?? "", kind: "Database role" };
    default:
      return { primary: a.actorName && a.actorName !== "system" ? `System (${a.actorName})` : "System", secondary: "", kind: "System" };
  }
}

/** The value stored in place of secrets by the capture triggers. */
export const REDACTED = "[redacted]";
