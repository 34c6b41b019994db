// The "New log stream" form (tenant admins): a name, the destination's kind
// with its own fields (an https receiver's URL; Splunk's HEC URL, token and
// index; Datadog's site, API key, service and tags; Elasticsearch's URL, API
// key and index; the files' rotation), the format, where it starts (from now
// on, or history from a UTC time) and an optional filter. What the form
// turns into API values (lists, numbers, the UTC time) it checks itself; the
// rest, and above all which secret a kind needs, is the API's to say: its
// message is shown beside the form, on the field it names.
import { h, replace } from "./dom.ts";
import { KIND_GROUPS, eventsByKind } from "./event-kinds.ts";
import { actionLabel, formatNumber, humanize } from "./format.ts";
import type { CreateLogStreamInput, KnownAccount, StreamFormat, StreamKind } from "./log-stream-queries.ts";
import { STREAM_KINDS } from "./log-stream-queries.ts";
import type { CatalogueEvent } from "./queries.ts";

// ---------------------------------------------------------------------------
// Words
// ---------------------------------------------------------------------------

export const KIND_LABELS: Record<StreamKind, string> = {
  https: "HTTPS endpoint",
  splunk: "Splunk",
  datadog: "Datadog",
  elastic: "Elasticsearch",
  file: "Files",
};

const KIND_HELP: Record<StreamKind, string> = {
  https: "JSON Lines POSTed to your URL, every batch signed with the stream's secret.",
  splunk: "Events sent to a Splunk HTTP Event Collector.",
  datadog: "Logs sent to Datadog's logs intake.",
  elastic: "Documents indexed through Elasticsearch's _bulk API.",
  file: "JSON Lines files on the server, for a log collector to pick up.",
};

export const FORMAT_LABELS: Record<StreamFormat, string> = {
  entry: "Audit entries",
  ocsf: "OCSF 1.3 events",
};

const FORMAT_HELP: Record<StreamFormat, string> = {
  entry: "Each entry as the API shows it: who, what, when, the values before and after.",
  ocsf: "Open Cybersecurity Schema Framework events (Account Change, Authentication, API Activity…), for SIEMs that read OCSF.",
};

/** Datadog's sites (the API's list), with the names Datadog gives them. */
export const DATADOG_SITES: readonly { site: string; label: string }[] = [
  { site: "datadoghq.com", label: "US1 (datadoghq.com)" },
  { site: "us3.datadoghq.com", label: "US3 (us3.datadoghq.com)" },
  { site: "us5.datadoghq.com", label: "US5 (us5.datadoghq.com)" },
  { site: "datadoghq.eu", label: "EU1 (datadoghq.eu)" },
  { site: "ap1.datadoghq.com", label: "AP1 (ap1.datadoghq.com)" },
  { site: "ap2.datadoghq.com", label: "AP2 (ap2.datadoghq.com)" },
  { site: "ddog-gov.com", label: "US1-FED (ddog-gov.com)" },
];

/** The receiver's URL: its label, an example, and whether the kind needs one (Datadog's comes from its site). */
const URL_FIELD: Record<Exclude<StreamKind, "file">, { label: string; placeholder: string; required: boolean; help?: string }> = {
  https: { label: "Receiver URL", placeholder: "https://siem.example.com/audit", required: true },
  splunk: { label: "HTTP Event Collector URL", placeholder: "https://splunk.example.com:8088/services/collector/event", required: true },
  datadog: { label: "Intake URL (optional)", placeholder: "https://http-intake.logs.datadoghq.com/api/v2/logs", required: false,
    help: "Leave empty to use the logs intake of the site." },
  elastic: { label: "Elasticsearch URL", placeholder: "https://elastic.example.com:9200", required: true },
};

/** The secret each vendor kind is stored with (an https stream's is generated; files have none). */
const SECRET_FIELD: Partial<Record<StreamKind, { label: string; help: string }>> = {
  splunk: { label: "HTTP Event Collector token", help: "The HEC token Splunk gave the collector." },
  datadog: { label: "Datadog API key", help: "An API key of your Datadog organisation (not an application key)." },
  elastic: { label: "Elasticsearch API key", help: "The encoded API key: base64 of id:api_key, as Elasticsearch's create API key call returns it." },
};

const SECRET_NOTE = "Stored apart from the stream's settings and used only to deliver: it is never shown again, not even here.";

// ---------------------------------------------------------------------------
// Values: what the form holds, and the API's input made of them
// ---------------------------------------------------------------------------

export type StreamField =
  | "name" | "kind" | "url" | "secret" | "index" | "source" | "sourcetype" | "site" | "service" | "tags"
  | "rotate" | "maxMegabytes" | "format" | "filter" | "startAt" | "batchSize";

/** The id of each field's input (or group), for labels, errors and focus. */
export const FIELD_IDS: Record<StreamField, string> = {
  name: "stream-name", kind: "stream-kind", url: "stream-url", secret: "stream-secret", index: "stream-index",
  source: "stream-source", sourcetype: "stream-sourcetype", site: "stream-site", service: "stream-service", tags: "stream-tags",
  rotate: "stream-rotate", maxMegabytes: "stream-max-mb", format: "stream-format", filter: "stream-filter",
  startAt: "stream-start-at", batchSize: "stream-batch-size",
};

export interface StreamFormValues {
  name: string;
  kind: StreamKind;
  url: string;
  secret: string;
  /** Splunk's index, or Elasticsearch's. */
  index: string;
  source: string;
  sourcetype: string;
  site: string;
  service: string;
  tags: string;
  rotate: "hour" | "size";
  maxMegabytes: string;
  format: StreamFormat;
  resourceTypes: string[];
  actions: string[];
  accountIds: string[];
  startMode: "now" | "from";
  /** A datetime-local value, read as UTC. */
  startAt: string;
  batchSize: string;
}

export interface FieldProblem {
  field: StreamField;
  message: string;
}

const MB = 1_048_576;
const MAX_MB = 10_240; // 10 GB, the API's limit
const DEFAULT_MB = 100;
const DEFAULT_BATCH = 1000;

/** A datetime-local value ("2026-11-30T14:05"), read as UTC: its instant in ms; null when it is not one. */
export function utcInputToMs(value: string): number | null {
  if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(value)) return null;
  const ms = Date.parse(`${value}Z`);
  return Number.isNaN(ms) ? null : ms;
}

/** An instant as a datetime-local value in UTC, to the minute. */
export function msToUtcInput(ms: number): string {
  return new Date(ms).toISOString().slice(0, 16);
}

/** "2026-11-30 14:05 UTC". */
export function formatUtc(iso: string | number): string {
  return new Date(iso).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** An http(s) URL, as typed; whether the server accepts it (https only, public addresses) is its to say. */
function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === "https:" || url.protocol === "http:") && url.hostname !== "";
  } catch {
    return false;
  }
}

function wholeNumber(text: string): number | null {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : null;
}

/** The kind's settings object (empty optional fields left out, so that the API fills in its defaults). */
function settingsOf(v: StreamFormValues): Record<string, unknown> {
  const s: Record<string, unknown> = {};
  const put = (key: string, value: string) => {
    if (value.trim() !== "") s[key] = value.trim();
  };
  switch (v.kind) {
    case "https":
      put("url", v.url);
      break;
    case "splunk":
      put("url", v.url);
      put("index", v.index);
      put("source", v.source);
      put("sourcetype", v.sourcetype);
      break;
    case "datadog":
      put("site", v.site);
      put("url", v.url);
      put("service", v.service);
      put("tags", v.tags);
      break;
    case "elastic":
      put("url", v.url);
      put("index", v.index);
      break;
    case "file":
      s.rotate = v.rotate;
      if (v.rotate === "size") s.max_bytes = (wholeNumber(v.maxMegabytes) ?? DEFAULT_MB) * MB;
      break;
  }
  return s;
}

/**
 * The createLogStream input of the form's values, or what to fix first.
 * Checked here: what the API cannot say in the form's words (a name, a URL
 * that is not one, megabytes, the UTC start, the batch size). Left to the
 * API: the secret (its message names the one each kind needs), https-only
 * and private addresses (the server's setting), index names, Datadog sites.
 */
export function toCreateInput(v: StreamFormValues, now = Date.now()): { input: CreateLogStreamInput; problems: [] } | { input: null; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const name = v.name.trim();
  if (name === "") problems.push({ field: "name", message: "Give the stream a name, e.g. \u201cSplunk production\u201d." });
  else if (name.length > 200) problems.push({ field: "name", message: `The name is at most 200 characters (this one has ${formatNumber(name.length)}).` });
  if (v.kind !== "file") {
    const spec = URL_FIELD[v.kind];
    const url = v.url.trim();
    if (url === "" && spec.required) problems.push({ field: "url", message: `Enter the ${spec.label.replace(/ \(optional\)$/, "")}, e.g. ${spec.placeholder}.` });
    else if (url !== "" && !isHttpUrl(url)) problems.push({ field: "url", message: `That is not a full URL: start it with https://, e.g. ${spec.placeholder}.` });
  }
  if (v.kind === "file" && v.rotate === "size") {
    const mb = wholeNumber(v.maxMegabytes);
    if (mb === null || mb < 1 || mb > MAX_MB) problems.push({ field: "maxMegabytes", message: `The largest file is a whole number of MB, from 1 to ${formatNumber(MAX_MB)} (10 GB).` });
  }
  let startFrom: string | null = null;
  if (v.startMode === "from") {
    const ms = utcInputToMs(v.startAt);
    if (v.startAt.trim() === "") problems.push({ field: "startAt", message: "Choose the date and time (UTC) to start from, or \u201cFrom now on\u201d." });
    else if (ms === null) problems.push({ field: "startAt", message: "That is not a date and time." });
    else if (ms > now) problems.push({ field: "startAt", message: `${formatUtc(ms)} is in the future: choose a time up to now, or \u201cFrom now on\u201d.` });
    else startFrom = new Date(ms).toISOString();
  }
  const batch = wholeNumber(v.batchSize);
  if (batch === null || batch < 1 || batch > 10_000) problems.push({ field: "batchSize", message: "A batch is a whole number of entries, from 1 to 10,000." });
  if (problems.length > 0) return { input: null, problems };

  const input: CreateLogStreamInput = { name, kind: v.kind, settings: settingsOf(v), format: v.format, startFrom, batchSize: batch! };
  // Pasted tokens often carry a line break; a secret has no spaces anyway.
  const secret = v.secret.trim();
  if (SECRET_FIELD[v.kind] && secret !== "") input.secret = secret;
  if (v.resourceTypes.length > 0) input.resourceTypes = v.resourceTypes;
  if (v.actions.length > 0) input.actions = v.actions;
  if (v.accountIds.length > 0) input.accountIds = v.accountIds;
  return { input, problems: [] };
}

/** An API message as the form shows it: without the mutation's name ("createLogStream: "), as a sentence. */
export function readableApiMessage(message: string): string {
  const text = message.replace(/^[a-z][A-Za-z]*: /, "");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Which field an API error is about, from its words; null when it names none. */
export function fieldOfStreamError(message: string): StreamField | null {
  const m = message.replace(/^[a-z][A-Za-z]*: /, "");
  // (not just "token": "this token is an account admin's" is about the admin's own)
  if (/\bsecret\b|Event Collector token|API key/i.test(m)) return "secret";
  if (/^name /.test(m)) return "name";
  if (/Datadog site/.test(m)) return "site";
  if (/index name/.test(m)) return "index";
  if (/max_bytes/.test(m)) return "maxMegabytes";
  if (/rotate/.test(m)) return "rotate";
  if (/start_from/.test(m)) return "startAt";
  if (/batch_size/.test(m)) return "batchSize";
  if (/^format /.test(m)) return "format";
  if (/filter|resource types|account/i.test(m)) return "filter";
  if (/\burl\b|URL|address|host/.test(m)) return "url";
  return null;
}

// ---------------------------------------------------------------------------
// The form
// ---------------------------------------------------------------------------

export interface StreamFormChoices {
  /** The event catalogue (resource types, actions, events); empty when it could not be read. */
  catalogue: readonly CatalogueEvent[];
  /** The tenant's accounts the log knows by name. */
  accounts: readonly KnownAccount[];
}

export interface StreamFormHandlers {
  /** Creates the stream; resolves once the page shows it, rejects with the API's error (kept beside the form). */
  create: (input: CreateLogStreamInput) => Promise<void>;
  cancel: () => void;
}

const errorId = (field: StreamField) => `${FIELD_IDS[field]}-error`;

function help(id: string, text: string): HTMLElement {
  return h("p", { id, className: "muted small field-help" }, text);
}

/** A labelled text-like input with its help line. */
function input(field: StreamField, label: string, attrs: Record<string, string | number | boolean | undefined>, helpText?: string): HTMLElement {
  const id = FIELD_IDS[field];
  return h("div", { className: "field", "data-field": field },
    h("label", { for: id }, label),
    h("input", { id, name: field, type: "text", autocomplete: "off", spellcheck: "false", "aria-describedby": helpText ? `${id}-help` : undefined, ...attrs }),
    helpText ? help(`${id}-help`, helpText) : null);
}

/** A choice in a box: the whole box is its label; its name is the label's first words, the rest its description. */
function radio(name: string, value: string, checked: boolean, label: string, helpText?: string): HTMLElement {
  const id = `stream-${name}-${value}`;
  return h("label", { className: "choice", for: id },
    h("input", { type: "radio", id, name: `stream-${name}`, value, checked, "aria-labelledby": `${id}-label`, "aria-describedby": helpText ? `${id}-help` : undefined }),
    h("span", { className: "choice-text" },
      h("span", { className: "strong", id: `${id}-label` }, label),
      helpText ? h("span", { className: "muted small", id: `${id}-help` }, helpText) : null));
}

/** The fields of one kind; `kept` refills what was typed before the kind changed (never the secret). */
function kindFields(kind: StreamKind, kept: Partial<Record<StreamField, string>>): HTMLElement[] {
  const out: HTMLElement[] = [];
  if (kind !== "file") {
    const spec = URL_FIELD[kind];
    out.push(input("url", spec.label, { type: "url", inputmode: "url", placeholder: spec.placeholder, value: kept.url ?? "", className: "wide-input", "aria-required": spec.required ? "true" : undefined }, spec.help));
  }
  const secret = SECRET_FIELD[kind];
  if (secret) {
    // A password input: the token is not shown on screen nor kept by the browser's autofill.
    out.push(input("secret", secret.label, { type: "password", autocomplete: "off", className: "wide-input", "aria-required": "true" }, `${secret.help} ${SECRET_NOTE}`));
  }
  if (kind === "https") {
    out.push(h("p", { className: "info small field-wide", id: "stream-https-note" },
      "A signing secret is generated when you create the stream and shown once: your receiver checks each batch's ",
      h("code", {}, "Audit-Trail-Signature"), " header (HMAC-SHA256 of the body) with it."));
  }
  if (kind === "splunk") {
    out.push(
      input("index", "Index (optional)", { value: kept.index ?? "", placeholder: "The token's default", className: "medium-input" }),
      input("source", "Source (optional)", { value: kept.source ?? "", placeholder: "audit-trail", className: "medium-input" }),
      input("sourcetype", "Source type (optional)", { value: kept.sourcetype ?? "", placeholder: "audit-trail:entry", className: "medium-input" }));
  }
  if (kind === "datadog") {
    const site = h("select", { id: FIELD_IDS.site, name: "site", "aria-describedby": `${FIELD_IDS.site}-help` },
      DATADOG_SITES.map((s) => h("option", { value: s.site }, s.label)));
    site.value = kept.site ?? DATADOG_SITES[0]!.site;
    out.push(
      h("div", { className: "field", "data-field": "site" }, h("label", { for: FIELD_IDS.site }, "Site"), site,
        help(`${FIELD_IDS.site}-help`, "Where your Datadog organisation lives: its URL is app.<site>.")),
      input("service", "Service (optional)", { value: kept.service ?? "", placeholder: "audit-trail", className: "medium-input" }),
      input("tags", "Tags (optional)", { value: kept.tags ?? "", placeholder: "env:prod,team:security", className: "medium-input" }, "Comma separated key:value pairs, added to every log."));
  }
  if (kind === "elastic") {
    out.push(input("index", "Index", { value: kept.index ?? "audit-trail", placeholder: "audit-trail", className: "medium-input" }, "Lower case letters, digits, \u201c.\u201d, \u201c_\u201d and \u201c-\u201d."));
  }
  if (kind === "file") {
    const rotate = kept.rotate === "size" ? "size" : "hour";
    const maxField = input("maxMegabytes", "Largest file (MB)", {
      type: "number", inputmode: "numeric", min: 1, max: MAX_MB, step: 1, value: kept.maxMegabytes ?? String(DEFAULT_MB), className: "number-input",
    }, `From 1 to ${formatNumber(MAX_MB)} (10 GB).`);
    maxField.hidden = rotate !== "size";
    out.push(
      h("fieldset", { className: "field", id: FIELD_IDS.rotate, "data-field": "rotate" },
        h("legend", {}, "New file"),
        h("div", { className: "choices" },
          radio("rotate", "hour", rotate === "hour", "Every hour"),
          radio("rotate", "size", rotate === "size", "At a size"))),
      maxField,
      h("p", { className: "info small field-wide", id: "stream-file-note" },
        "Written on the server under ", h("code", {}, "STREAM_FILE_ROOT/<tenant>/<stream>/"),
        " as JSON Lines; the folder is the server's setting, not the stream's."));
  }
  return out;
}

/** A list of checkboxes in a scrolling box, with a legend and a "none: all" note. */
function checkList(field: StreamField, key: string, legend: string, none: string, groups: { title: string | null; items: { value: string; label: string; title?: string }[] }[]): HTMLElement | null {
  if (groups.every((g) => g.items.length === 0)) return null;
  const id = `stream-filter-${key}`;
  return h("fieldset", { className: "field check-list-field", id, "data-field": field, "aria-describedby": `${id}-help` },
    h("legend", {}, legend),
    h("div", { className: "check-list" }, groups.filter((g) => g.items.length > 0).flatMap((g) => [
      g.title ? h("div", { className: "check-list-group", "aria-hidden": "true" }, g.title) : null,
      ...g.items.map((item) => h("label", { className: "check", title: item.title },
        h("input", { type: "checkbox", name: key, value: item.value, "aria-label": g.title ? `${item.label} (${g.title})` : undefined }),
        h("span", {}, item.label))),
    ])),
    help(`${id}-help`, none));
}

function filterLists(choices: StreamFormChoices): HTMLElement[] {
  const resources = [...new Set(choices.catalogue.map((e) => e.resourceType))].sort((a, b) => humanize(a).localeCompare(humanize(b)));
  const actions = [...new Set(choices.catalogue.map((e) => e.action))].sort((a, b) => actionLabel(a).localeCompare(actionLabel(b)));
  const lists = [
    checkList("filter", "resources", "Resource types", "None ticked: every resource type.", [
      { title: null, items: resources.map((r) => ({ value: r, label: humanize(r) })) }]),
    // Actions (create, delete…) and single events (member.role_updated): the API takes both in one list.
    checkList("filter", "actions", "Actions and events", "None ticked: every action.", [
      { title: "Action types", items: actions.map((a) => ({ value: a, label: actionLabel(a) })) },
      ...eventsByKind(choices.catalogue).map(([kind, events]) => ({
        title: KIND_GROUPS[kind],
        items: [...events].sort((a, b) => a.description.localeCompare(b.description)).map((e) => ({ value: e.event, label: e.description, title: e.event })),
      }))]),
    checkList("filter", "accounts", "Accounts", "None ticked: the whole tenant, tenant-level entries included. Ticked: only those accounts' entries.", [
      { title: null, items: choices.accounts.map((a) => ({ value: a.id, label: a.name, title: a.id })) }]),
  ].filter((l): l is HTMLElement => l !== null);
  if (lists.length === 0) {
    return [h("p", { className: "muted small" }, "The catalogue of events could not be read: the stream takes every entry. You can still create it and filter later through the API.")];
  }
  return lists;
}

/** Draws the form into `root`. */
export function renderStreamForm(root: HTMLElement, handlers: StreamFormHandlers, choices: StreamFormChoices, now = () => Date.now()): void {
  const error = h("div", { id: "stream-form-error", className: "alert empty", role: "alert" });
  const createButton = h("button", { type: "submit", className: "primary", id: "stream-create" }, "Create stream");
  const kindRoot = h("div", { className: "form-grid", id: "stream-kind-fields" });
  const startAt = h("input", {
    id: FIELD_IDS.startAt, name: "startAt", type: "datetime-local", step: 60, max: msToUtcInput(now()),
    value: msToUtcInput(now() - 24 * 3600_000), disabled: true, "aria-describedby": `${FIELD_IDS.startAt}-help`,
  });
  // Shown with "From a date and time" only (hidden and disabled otherwise, so it is neither seen nor sent).
  const startAtField = h("div", { className: "field start-at", "data-field": "startAt", hidden: true },
    h("label", { for: FIELD_IDS.startAt }, "Start from (UTC)"),
    startAt,
    help(`${FIELD_IDS.startAt}-help`, "In UTC, not your local time."));
  const form = h("form", { id: "stream-form", className: "card stream-form", novalidate: true, "aria-labelledby": "stream-form-title" },
    h("div", { className: "card-head" },
      h("h2", { id: "stream-form-title" }, "New log stream"),
      h("p", { className: "muted" }, "Creating, pausing, replaying and deleting streams are recorded in the audit log.")),
    h("div", { className: "form-grid" },
      input("name", "Name", { value: "", maxlength: 200, className: "wide-input", placeholder: "Splunk production", "aria-required": "true" })),
    h("fieldset", { className: "field", id: FIELD_IDS.kind },
      h("legend", {}, "Destination"),
      h("div", { className: "choices kind-choices" }, STREAM_KINDS.map((k) => radio("kind", k, k === "https", KIND_LABELS[k], KIND_HELP[k])))),
    kindRoot,
    h("fieldset", { className: "field", id: FIELD_IDS.format },
      h("legend", {}, "Format"),
      h("div", { className: "choices" },
        radio("format", "entry", true, FORMAT_LABELS.entry, FORMAT_HELP.entry),
        radio("format", "ocsf", false, FORMAT_LABELS.ocsf, FORMAT_HELP.ocsf))),
    h("fieldset", { className: "field", id: "stream-start" },
      h("legend", {}, "Start"),
      h("div", { className: "choices" },
        radio("start", "now", true, "From now on", "Entries written from now on."),
        radio("start", "from", false, "From a date and time", "The log's history from then is delivered first, then new entries.")),
      startAtField),
    h("details", { className: "form-section", id: FIELD_IDS.filter },
      h("summary", {}, "Filter (optional)"),
      h("p", { className: "muted small" }, "Only the entries that match every ticked list are streamed."),
      h("div", { className: "filter-lists" }, filterLists(choices))),
    h("details", { className: "form-section", id: "stream-delivery" },
      h("summary", {}, "Delivery"),
      h("div", { className: "form-grid" },
        input("batchSize", "Entries per batch", { type: "number", inputmode: "numeric", min: 1, max: 10_000, step: 1, value: String(DEFAULT_BATCH), className: "number-input" },
          "At most this many entries per request, from 1 to 10,000; a receiver that answers 413 gets smaller batches."))),
    error,
    h("div", { className: "form-actions" },
      createButton,
      h("button", { type: "button", className: "ghost", id: "stream-cancel", onclick: () => handlers.cancel() }, "Cancel")),
  );

  const kindOf = (): StreamKind => (form.querySelector<HTMLInputElement>('input[name="stream-kind"]:checked')?.value ?? "https") as StreamKind;
  const radioValue = (name: string) => form.querySelector<HTMLInputElement>(`input[name="stream-${name}"]:checked`)?.value ?? "";
  const fieldValue = (field: StreamField) => (form.querySelector<HTMLInputElement | HTMLSelectElement>(`#${FIELD_IDS[field]}`)?.value ?? "");
  const ticked = (key: string) => [...form.querySelectorAll<HTMLInputElement>(`input[name="${key}"]:checked`)].map((b) => b.value);

  /** What the kind's fields hold now (not the secret: it is typed again for another kind). */
  const keptValues = (): Partial<Record<StreamField, string>> => {
    const kept: Partial<Record<StreamField, string>> = {};
    for (const field of ["url", "index", "source", "sourcetype", "site", "service", "tags", "maxMegabytes"] as const) {
      const el = kindRoot.querySelector<HTMLInputElement | HTMLSelectElement>(`#${FIELD_IDS[field]}`);
      if (el) kept[field] = el.value;
    }
    const rotate = radioValue("rotate");
    if (rotate) kept.rotate = rotate;
    return kept;
  };
  let previousKind: StreamKind = "https";
  const drawKind = () => {
    const kept = keptValues();
    // Elasticsearch's default index is not Splunk's: a value only carries over between the same kind.
    if (previousKind !== kindOf()) delete kept.index;
    previousKind = kindOf();
    replace(kindRoot, kindFields(kindOf(), kept));
  };

  const values = (): StreamFormValues => ({
    name: fieldValue("name"),
    kind: kindOf(),
    url: fieldValue("url"),
    secret: fieldValue("secret"),
    index: fieldValue("index"),
    source: fieldValue("source"),
    sourcetype: fieldValue("sourcetype"),
    site: fieldValue("site"),
    service: fieldValue("service"),
    tags: fieldValue("tags"),
    rotate: radioValue("rotate") === "size" ? "size" : "hour",
    maxMegabytes: fieldValue("maxMegabytes"),
    format: radioValue("format") === "ocsf" ? "ocsf" : "entry",
    resourceTypes: ticked("resources"),
    actions: ticked("actions"),
    accountIds: ticked("accounts"),
    startMode: radioValue("start") === "from" ? "from" : "now",
    startAt: startAt.value,
    batchSize: fieldValue("batchSize"),
  });

  const clearErrors = () => {
    error.className = "alert empty";
    replace(error);
    for (const el of form.querySelectorAll(".field-error")) el.remove();
    for (const el of form.querySelectorAll("[aria-invalid]")) {
      el.removeAttribute("aria-invalid");
      const described = (el.getAttribute("aria-describedby") ?? "").split(" ")
        .filter((x) => x && x !== "stream-form-error" && !x.endsWith("-error")).join(" ");
      if (described) el.setAttribute("aria-describedby", described);
      else el.removeAttribute("aria-describedby");
    }
  };

  /** The element that stands for a field (its input, or its group), opening a closed section around it. */
  const targetOf = (field: StreamField): HTMLElement | null => {
    const el = form.querySelector<HTMLElement>(`#${FIELD_IDS[field]}`);
    const section = el?.closest("details");
    if (section) section.open = true;
    return el;
  };
  /** Focus on the field, or on the first control of a group. */
  const focus = (target: HTMLElement) => {
    const control = target.matches("input, select, textarea") ? target : target.querySelector<HTMLElement>("input:not([disabled]), select, textarea, summary");
    (control ?? target).focus();
  };
  const mark = (target: HTMLElement, describedBy: string) => {
    target.setAttribute("aria-invalid", "true");
    target.setAttribute("aria-describedby", [target.getAttribute("aria-describedby"), describedBy].filter(Boolean).join(" "));
  };

  /** The form's own findings: each under its field, the first focused. */
  const showProblems = (problems: FieldProblem[]) => {
    for (const p of problems) {
      const target = targetOf(p.field);
      if (!target) continue;
      const message = h("p", { className: "field-error small", id: errorId(p.field) }, p.message);
      (target.closest(".field") ?? target).append(message);
      mark(target, errorId(p.field));
    }
    error.className = "alert";
    replace(error, h("span", { id: "stream-form-error-message" },
      problems.length === 1 ? "Check the highlighted field." : `Check the ${formatNumber(problems.length)} highlighted fields.`));
    const first = targetOf(problems[0]!.field);
    if (first) focus(first);
  };

  /** The API's refusal: its message beside the form, its field marked and focused. */
  const showApiError = (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    error.className = "alert";
    replace(error, h("div", {}, h("strong", {}, "The stream was not created. "), h("span", { id: "stream-form-error-message" }, readableApiMessage(message))));
    const field = fieldOfStreamError(message);
    const target = field ? targetOf(field) : null;
    if (target) {
      mark(target, "stream-form-error");
      focus(target);
    } else {
      error.tabIndex = -1;
      error.focus();
    }
  };

  form.addEventListener("change", (e) => {
    const t = e.target as HTMLInputElement;
    if (t.name === "stream-kind") drawKind();
    if (t.name === "stream-start") {
      startAt.disabled = t.value !== "from";
      startAtField.hidden = startAt.disabled;
      if (!startAt.disabled) startAt.focus();
    }
    if (t.name === "stream-rotate") {
      const max = kindRoot.querySelector<HTMLElement>('[data-field="maxMegabytes"]');
      if (max) max.hidden = t.value !== "size";
    }
  });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    clearErrors();
    const result = toCreateInput(values(), now());
    if (!result.input) {
      showProblems(result.problems);
      return;
    }
    form.setAttribute("aria-busy", "true");
    createButton.disabled = true;
    createButton.textContent = "Creating…";
    handlers.create(result.input).catch((err: unknown) => {
      form.removeAttribute("aria-busy");
      createButton.disabled = false;
      createButton.textContent = "Create stream";
      showApiError(err);
    });
  });

  replace(root, form);
  drawKind();
  form.querySelector<HTMLInputElement>(`#${FIELD_IDS.name}`)?.focus();
}
