// The "New log stream" form (tenant admins): a name, the destination's kind
// with its own fields (an https receiver's URL; Splunk's HEC URL, token and
// index; Datadog's site, API key, service and tags; Elasticsearch's URL, API
// key and index; the files' rotation), the format, where it starts (from now
// on, or history from a UTC time) and an optional filter. What the form
// turns into API values (lists, numbers, the UTC time) it checks itself; the
// rest, and above all which secret a kind needs, is the API's to say: its
// message is shown beside the form, on the field it names.
//
// The same form edits a stream (in its item of the list): prefilled from the
// stream, its kind fixed, no start (a replay moves it), the token field
// empty (a typed one replaces the stored one), and only what the admin
// changed is sent. Several can be open at once: each form's ids carry a
// prefix of its own.
import { h, replace } from "./dom.ts";
import { KIND_GROUPS, eventsByKind } from "./event-kinds.ts";
import { actionLabel, formatNumber, humanize, shortId } from "./format.ts";
import type { CreateLogStreamInput, KnownAccount, LogStream, StreamFormat, StreamKind, UpdateLogStreamInput } from "./log-stream-queries.ts";
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

/** The secret each vendor kind is stored with (an https stream's is generated; files have none); `noun` for the edit form's hint. */
const SECRET_FIELD: Partial<Record<StreamKind, { label: string; help: string; noun: string }>> = {
  splunk: { label: "HTTP Event Collector token", help: "The HEC token Splunk gave the collector.", noun: "token" },
  datadog: { label: "Datadog API key", help: "An API key of your Datadog organisation (not an application key).", noun: "API key" },
  elastic: { label: "Elasticsearch API key", help: "The encoded API key: base64 of id:api_key, as Elasticsearch's create API key call returns it.", noun: "API key" },
};

const SECRET_NOTE = "Stored apart from the stream's settings and used only to deliver: it is never shown again, not even here.";

// ---------------------------------------------------------------------------
// Values: what the form holds, and the API's input made of them
// ---------------------------------------------------------------------------

export type StreamField =
  | "name" | "kind" | "url" | "secret" | "index" | "source" | "sourcetype" | "site" | "service" | "tags"
  | "rotate" | "maxMegabytes" | "format" | "filter" | "startAt" | "batchSize";

/**
 * The id of each field's input (or group), for labels, errors and focus,
 * under a form's prefix: "stream" for the new-stream form, one per stream
 * for an edit form (the ids of the form's other parts use it too).
 */
export function fieldIds(p: string): Record<StreamField, string> {
  return {
    name: `${p}-name`, kind: `${p}-kind`, url: `${p}-url`, secret: `${p}-secret`, index: `${p}-index`,
    source: `${p}-source`, sourcetype: `${p}-sourcetype`, site: `${p}-site`, service: `${p}-service`, tags: `${p}-tags`,
    rotate: `${p}-rotate`, maxMegabytes: `${p}-max-mb`, format: `${p}-format`, filter: `${p}-filter`,
    startAt: `${p}-start-at`, batchSize: `${p}-batch-size`,
  };
}

/** The new-stream form's ids. */
export const FIELD_IDS = fieldIds("stream");

/** An edit form's prefix: several streams' forms can be open at once. */
export const editPrefix = (streamId: string) => `stream-${streamId}-edit`;

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
  /** Ticked; null when the form has no such list (nothing to choose from): an edited stream's stays as it is. */
  resourceTypes: string[] | null;
  actions: string[] | null;
  accountIds: string[] | null;
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
const DEFAULT_BATCH = 2000;

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
 * What the API cannot say in the form's words, for a new stream and an
 * edited one alike: a name, a URL that is not one, megabytes (and the batch
 * size, batchProblems: the form's last field, so its problem comes last).
 * Left to the API: the secret (its message names the one each kind needs,
 * or that a kind takes none), https-only and private addresses (the
 * server's setting), index names, Datadog sites.
 */
function valueProblems(v: StreamFormValues): FieldProblem[] {
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
  return problems;
}

function batchProblems(v: StreamFormValues): FieldProblem[] {
  const batch = wholeNumber(v.batchSize);
  return batch === null || batch < 1 || batch > 10_000 ? [{ field: "batchSize", message: "A batch is a whole number of entries, from 1 to 10,000." }] : [];
}

/** The createLogStream input of the form's values, or what to fix first (the UTC start too). */
export function toCreateInput(v: StreamFormValues, now = Date.now()): { input: CreateLogStreamInput; problems: [] } | { input: null; problems: FieldProblem[] } {
  const problems = valueProblems(v);
  let startFrom: string | null = null;
  if (v.startMode === "from") {
    const ms = utcInputToMs(v.startAt);
    if (v.startAt.trim() === "") problems.push({ field: "startAt", message: "Choose the date and time (UTC) to start from, or \u201cFrom now on\u201d." });
    else if (ms === null) problems.push({ field: "startAt", message: "That is not a date and time." });
    else if (ms > now) problems.push({ field: "startAt", message: `${formatUtc(ms)} is in the future: choose a time up to now, or \u201cFrom now on\u201d.` });
    else startFrom = new Date(ms).toISOString();
  }
  problems.push(...batchProblems(v));
  if (problems.length > 0) return { input: null, problems };

  const input: CreateLogStreamInput = { name: v.name.trim(), kind: v.kind, settings: settingsOf(v), format: v.format, startFrom, batchSize: wholeNumber(v.batchSize)! };
  const secret = typedSecret(v);
  if (secret) input.secret = secret;
  if (v.resourceTypes?.length) input.resourceTypes = v.resourceTypes;
  if (v.actions?.length) input.actions = v.actions;
  if (v.accountIds?.length) input.accountIds = v.accountIds;
  return { input, problems: [] };
}

/** The token or API key typed for a kind that takes one. */
function typedSecret(v: StreamFormValues): string | null {
  // Pasted tokens often carry a line break; a secret has no spaces anyway.
  const secret = v.secret.trim();
  return SECRET_FIELD[v.kind] && secret !== "" ? secret : null;
}

const sameList = (a: readonly string[], b: readonly string[]) => [...a].sort().join("\n") === [...b].sort().join("\n");

/**
 * The updateLogStream input of what changed since the form was filled
 * (`initial`), or what to fix first. Only changes are sent: a rename leaves
 * the settings alone, so the API does not check them again, and what the
 * API completed (Datadog's intake URL, the default sizes) is not rewritten.
 * A typed token is always a change (the stored one is never shown). Just
 * `{ id }`: nothing changed.
 */
export function toUpdateInput(id: string, v: StreamFormValues, initial: StreamFormValues): { input: UpdateLogStreamInput; problems: [] } | { input: null; problems: FieldProblem[] } {
  const problems = [...valueProblems(v), ...batchProblems(v)];
  if (problems.length > 0) return { input: null, problems };

  const input: UpdateLogStreamInput = { id };
  if (v.name.trim() !== initial.name.trim()) input.name = v.name.trim();
  const settings = settingsOf(v);
  if (JSON.stringify(settings) !== JSON.stringify(settingsOf(initial))) input.settings = settings;
  const secret = typedSecret(v);
  if (secret) input.secret = secret;
  if (v.format !== initial.format) input.format = v.format;
  const batch = wholeNumber(v.batchSize)!;
  if (batch !== wholeNumber(initial.batchSize)) input.batchSize = batch;
  // (an empty list sent removes that filter)
  if (v.resourceTypes && !sameList(v.resourceTypes, initial.resourceTypes ?? [])) input.resourceTypes = v.resourceTypes;
  if (v.actions && !sameList(v.actions, initial.actions ?? [])) input.actions = v.actions;
  if (v.accountIds && !sameList(v.accountIds, initial.accountIds ?? [])) input.accountIds = v.accountIds;
  return { input, problems: [] };
}

/** Datadog's logs intake of a site, as the API fills it in when the settings give no URL. */
const datadogIntake = (site: string) => `https://http-intake.logs.${site}/api/v2/logs`;

/**
 * An edited stream's settings as its kind's fields show them. Datadog's
 * intake URL that the API made of the site is left empty, so that it
 * follows the site when the admin changes it.
 */
function keptOfSettings(stream: LogStream): Partial<Record<StreamField, string>> {
  const s = stream.settings ?? {};
  const kept: Partial<Record<StreamField, string>> = {};
  for (const field of ["url", "index", "source", "sourcetype", "site", "service", "tags"] as const) {
    const value = s[field];
    if (typeof value === "string") kept[field] = value;
  }
  if (stream.kind === "datadog" && kept.url === datadogIntake(kept.site ?? DATADOG_SITES[0]!.site)) delete kept.url;
  if (s.rotate === "hour" || s.rotate === "size") kept.rotate = s.rotate;
  if (typeof s.max_bytes === "number") kept.maxMegabytes = String(s.max_bytes / MB);
  return kept;
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

export interface StreamEditHandlers {
  /** Saves the changes (`{ id }` alone: there are none); resolves once the page shows them, rejects with the API's error (kept beside the form). */
  save: (input: UpdateLogStreamInput) => Promise<void>;
  cancel: () => void;
}

/** A stream the edit form can show: one of the kinds the page knows. */
export type EditableStream = LogStream & { kind: StreamKind };

export function isEditable(stream: LogStream): stream is EditableStream {
  return (STREAM_KINDS as readonly string[]).includes(stream.kind);
}

/** What a form is for: a new stream, or changing one. */
type FormMode =
  | { stream: null; handlers: StreamFormHandlers }
  | { stream: EditableStream; handlers: StreamEditHandlers };

function wordsOf(mode: FormMode): { title: string; intro: string; submit: string; busy: string; failed: string } {
  return mode.stream === null
    ? { title: "New log stream", intro: "Creating, pausing, replaying and deleting streams are recorded in the audit log.",
      submit: "Create stream", busy: "Creating…", failed: "The stream was not created. " }
    : { title: `Edit \u201c${mode.stream.name}\u201d`, intro: "Changes apply from the stream's place in the log on, and are recorded in the audit log.",
      submit: "Save", busy: "Saving…", failed: "The changes were not saved. " };
}

/** What the filter lists tick: an edited stream's own filter. */
interface Ticked {
  resources: readonly string[];
  actions: readonly string[];
  accounts: readonly string[];
}

const NONE_TICKED: Ticked = { resources: [], actions: [], accounts: [] };

const tickedOf = (stream: LogStream): Ticked => ({ resources: stream.resourceTypes ?? [], actions: stream.actions ?? [], accounts: stream.accountIds ?? [] });

const errorId = (p: string, field: StreamField) => `${fieldIds(p)[field]}-error`;

function help(id: string, text: string): HTMLElement {
  return h("p", { id, className: "muted small field-help" }, text);
}

/** A labelled text-like input with its help line. */
function input(p: string, field: StreamField, label: string, attrs: Record<string, string | number | boolean | undefined>, helpText?: string): HTMLElement {
  const id = fieldIds(p)[field];
  return h("div", { className: "field", "data-field": field },
    h("label", { for: id }, label),
    h("input", { id, name: field, type: "text", autocomplete: "off", spellcheck: "false", "aria-describedby": helpText ? `${id}-help` : undefined, ...attrs }),
    helpText ? help(`${id}-help`, helpText) : null);
}

/** A choice in a box: the whole box is its label; its name is the label's first words, the rest its description. */
function radio(p: string, name: string, value: string, checked: boolean, label: string, helpText?: string): HTMLElement {
  const id = `${p}-${name}-${value}`;
  // (the group's name is the same in every form: a radio group is a form's own)
  return h("label", { className: "choice", for: id },
    h("input", { type: "radio", id, name: `stream-${name}`, value, checked, "aria-labelledby": `${id}-label`, "aria-describedby": helpText ? `${id}-help` : undefined }),
    h("span", { className: "choice-text" },
      h("span", { className: "strong", id: `${id}-label` }, label),
      helpText ? h("span", { className: "muted small", id: `${id}-help` }, helpText) : null));
}

/** The secret's field: required for a new stream; when editing, empty keeps the stored one. */
function secretField(p: string, spec: { label: string; help: string; noun: string }, editing: boolean): HTMLElement {
  // A password input: the token is not shown on screen nor kept by the browser's autofill.
  return editing
    ? input(p, "secret", spec.label, { type: "password", autocomplete: "off", className: "wide-input" },
      `Leave empty to keep the current ${spec.noun}; one typed here replaces it. ${spec.help} ${SECRET_NOTE}`)
    : input(p, "secret", spec.label, { type: "password", autocomplete: "off", className: "wide-input", "aria-required": "true" }, `${spec.help} ${SECRET_NOTE}`);
}

/** The fields of one kind; `kept` refills what was typed before the kind changed, or an edited stream's settings (never the secret). */
function kindFields(p: string, kind: StreamKind, kept: Partial<Record<StreamField, string>>, editing: boolean): HTMLElement[] {
  const ids = fieldIds(p);
  const out: HTMLElement[] = [];
  if (kind !== "file") {
    const spec = URL_FIELD[kind];
    out.push(input(p, "url", spec.label, { type: "url", inputmode: "url", placeholder: spec.placeholder, value: kept.url ?? "", className: "wide-input", "aria-required": spec.required ? "true" : undefined }, spec.help));
  }
  const secret = SECRET_FIELD[kind];
  if (secret) out.push(secretField(p, secret, editing));
  if (kind === "https") {
    out.push(h("p", { className: "info small field-wide", id: `${p}-https-note` }, editing
      ? ["The signing secret stays the one shown when the stream was created: a stream cannot be given another (create a new stream for a new secret)."]
      : ["A signing secret is generated when you create the stream and shown once: your receiver checks each batch's ",
        h("code", {}, "Audit-Trail-Signature"), " header (HMAC-SHA256 of the body) with it."]));
  }
  if (kind === "splunk") {
    out.push(
      input(p, "index", "Index (optional)", { value: kept.index ?? "", placeholder: "The token's default", className: "medium-input" }),
      input(p, "source", "Source (optional)", { value: kept.source ?? "", placeholder: "audit-trail", className: "medium-input" }),
      input(p, "sourcetype", "Source type (optional)", { value: kept.sourcetype ?? "", placeholder: "audit-trail:entry", className: "medium-input" }));
  }
  if (kind === "datadog") {
    const site = h("select", { id: ids.site, name: "site", "aria-describedby": `${ids.site}-help` },
      DATADOG_SITES.map((s) => h("option", { value: s.site }, s.label)));
    site.value = kept.site ?? DATADOG_SITES[0]!.site;
    out.push(
      h("div", { className: "field", "data-field": "site" }, h("label", { for: ids.site }, "Site"), site,
        help(`${ids.site}-help`, "Where your Datadog organisation lives: its URL is app.<site>.")),
      input(p, "service", "Service (optional)", { value: kept.service ?? "", placeholder: "audit-trail", className: "medium-input" }),
      input(p, "tags", "Tags (optional)", { value: kept.tags ?? "", placeholder: "env:prod,team:security", className: "medium-input" }, "Comma separated key:value pairs, added to every log."));
  }
  if (kind === "elastic") {
    out.push(input(p, "index", "Index", { value: kept.index ?? "audit-trail", placeholder: "audit-trail", className: "medium-input" }, "Lower case letters, digits, \u201c.\u201d, \u201c_\u201d and \u201c-\u201d."));
  }
  if (kind === "file") out.push(...fileFields(p, kept));
  return out;
}

function fileFields(p: string, kept: Partial<Record<StreamField, string>>): HTMLElement[] {
  const rotate = kept.rotate === "size" ? "size" : "hour";
  const maxField = input(p, "maxMegabytes", "Largest file (MB)", {
    type: "number", inputmode: "numeric", min: 1, max: MAX_MB, step: 1, value: kept.maxMegabytes ?? String(DEFAULT_MB), className: "number-input",
  }, `From 1 to ${formatNumber(MAX_MB)} (10 GB).`);
  maxField.hidden = rotate !== "size";
  return [
    h("fieldset", { className: "field", id: fieldIds(p).rotate, "data-field": "rotate" },
      h("legend", {}, "New file"),
      h("div", { className: "choices" },
        radio(p, "rotate", "hour", rotate === "hour", "Every hour"),
        radio(p, "rotate", "size", rotate === "size", "At a size"))),
    maxField,
    h("p", { className: "info small field-wide", id: `${p}-file-note` },
      "Written on the server under ", h("code", {}, "STREAM_FILE_ROOT/<tenant>/<stream>/"),
      " as JSON Lines; the folder is the server's setting, not the stream's."),
  ];
}

type CheckItem = { value: string; label: string; title?: string };

/** A list of checkboxes in a scrolling box, with a legend and a "none: all" note; `ticked` are checked. */
function checkList(p: string, key: string, legend: string, none: string, groups: { title: string | null; items: CheckItem[] }[], ticked: readonly string[]): HTMLElement | null {
  if (groups.every((g) => g.items.length === 0)) return null;
  const id = `${p}-filter-${key}`;
  return h("fieldset", { className: "field check-list-field", id, "data-field": "filter", "aria-describedby": `${id}-help` },
    h("legend", {}, legend),
    h("div", { className: "check-list" }, groups.filter((g) => g.items.length > 0).flatMap((g) => [
      g.title ? h("div", { className: "check-list-group", "aria-hidden": "true" }, g.title) : null,
      ...g.items.map((item) => h("label", { className: "check", title: item.title },
        h("input", { type: "checkbox", name: key, value: item.value, checked: ticked.includes(item.value), "aria-label": g.title ? `${item.label} (${g.title})` : undefined }),
        h("span", {}, item.label))),
    ])),
    help(`${id}-help`, none));
}

/**
 * The filter's lists. An edited stream's own values that the catalogue or
 * the known accounts lack are offered (ticked) too: saving the list sends
 * what is ticked, and would drop them otherwise.
 */
function filterLists(p: string, choices: StreamFormChoices, ticked: Ticked, editing: boolean): HTMLElement[] {
  const resources = [...new Set([...choices.catalogue.map((e) => e.resourceType), ...ticked.resources])].sort((a, b) => humanize(a).localeCompare(humanize(b)));
  const actions = [...new Set(choices.catalogue.map((e) => e.action))].sort((a, b) => actionLabel(a).localeCompare(actionLabel(b)));
  const knownActions = new Set([...actions, ...choices.catalogue.map((e) => e.event)]);
  const otherActions = ticked.actions.filter((a) => !knownActions.has(a));
  const knownAccounts = new Set(choices.accounts.map((a) => a.id));
  const lists = [
    checkList(p, "resources", "Resource types", "None ticked: every resource type.", [
      { title: null, items: resources.map((r) => ({ value: r, label: humanize(r) })) }], ticked.resources),
    // Actions (create, delete…) and single events (member.role_updated): the API takes both in one list.
    checkList(p, "actions", "Actions and events", "None ticked: every action.", [
      { title: "Action types", items: actions.map((a) => ({ value: a, label: actionLabel(a) })) },
      ...eventsByKind(choices.catalogue).map(([kind, events]) => ({
        title: KIND_GROUPS[kind],
        items: [...events].sort((a, b) => a.description.localeCompare(b.description)).map((e) => ({ value: e.event, label: e.description, title: e.event })),
      })),
      { title: "Not in the catalogue", items: otherActions.map((a) => ({ value: a, label: a, title: a })) }], ticked.actions),
    checkList(p, "accounts", "Accounts", "None ticked: the whole tenant, tenant-level entries included. Ticked: only those accounts' entries.", [
      { title: null, items: [
        ...choices.accounts.map((a) => ({ value: a.id, label: a.name, title: a.id })),
        ...ticked.accounts.filter((id) => !knownAccounts.has(id)).map((id) => ({ value: id, label: `Account ${shortId(id)}`, title: id })),
      ] }], ticked.accounts),
  ].filter((l): l is HTMLElement => l !== null);
  if (lists.length === 0) {
    return [h("p", { className: "muted small" }, editing
      ? "The catalogue of events could not be read: the stream's filter stays as it is."
      : "The catalogue of events could not be read: the stream takes every entry. You can still create it and filter later through the API.")];
  }
  return lists;
}

function kindChoices(p: string): HTMLElement {
  return h("fieldset", { className: "field", id: fieldIds(p).kind },
    h("legend", {}, "Destination"),
    h("div", { className: "choices kind-choices" }, STREAM_KINDS.map((k) => radio(p, "kind", k, k === "https", KIND_LABELS[k], KIND_HELP[k]))));
}

/** An edited stream's destination: its kind cannot change (the API keeps it). */
function fixedKind(p: string, kind: StreamKind): HTMLElement {
  return h("div", { className: "field", id: fieldIds(p).kind },
    h("span", { className: "field-label" }, "Destination"),
    h("p", { className: "fixed-kind" }, h("span", { className: "tag" }, KIND_LABELS[kind]), " ",
      h("span", { className: "muted small" }, "A stream keeps its kind of destination: for another kind, create a new stream.")));
}

function formatChoices(p: string, format: StreamFormat): HTMLElement {
  return h("fieldset", { className: "field", id: fieldIds(p).format },
    h("legend", {}, "Format"),
    h("div", { className: "choices" },
      radio(p, "format", "entry", format === "entry", FORMAT_LABELS.entry, FORMAT_HELP.entry),
      radio(p, "format", "ocsf", format === "ocsf", FORMAT_LABELS.ocsf, FORMAT_HELP.ocsf)));
}

/** Where a new stream starts, with the UTC time of "From a date and time". */
function startSection(p: string, now: () => number): { section: HTMLElement; startAt: HTMLInputElement; startAtField: HTMLElement } {
  const id = fieldIds(p).startAt;
  const startAt = h("input", {
    id, name: "startAt", type: "datetime-local", step: 60, max: msToUtcInput(now()),
    value: msToUtcInput(now() - 24 * 3600_000), disabled: true, "aria-describedby": `${id}-help`,
  });
  // Shown with "From a date and time" only (hidden and disabled otherwise, so it is neither seen nor sent).
  const startAtField = h("div", { className: "field start-at", "data-field": "startAt", hidden: true },
    h("label", { for: id }, "Start from (UTC)"),
    startAt,
    help(`${id}-help`, "In UTC, not your local time."));
  const section = h("fieldset", { className: "field", id: `${p}-start` },
    h("legend", {}, "Start"),
    h("div", { className: "choices" },
      radio(p, "start", "now", true, "From now on", "Entries written from now on."),
      radio(p, "start", "from", false, "From a date and time", "The log's history from then is delivered first, then new entries.")),
    startAtField);
  return { section, startAt, startAtField };
}

function deliverySection(p: string, batchSize: number): HTMLElement {
  return h("details", { className: "form-section", id: `${p}-delivery` },
    h("summary", {}, "Delivery"),
    h("div", { className: "form-grid" },
      input(p, "batchSize", "Entries per batch", { type: "number", inputmode: "numeric", min: 1, max: 10_000, step: 1, value: String(batchSize), className: "number-input" },
        "At most this many entries per request, from 1 to 10,000; a receiver that answers 413 gets smaller batches.")));
}

/** Draws the new-stream form into `root`. */
export function renderStreamForm(root: HTMLElement, handlers: StreamFormHandlers, choices: StreamFormChoices, now = () => Date.now()): void {
  drawForm(root, { stream: null, handlers }, choices, now);
}

/** Draws the form that edits `stream` into `root`, filled from the stream (never its secret). */
export function renderStreamEditForm(root: HTMLElement, stream: EditableStream, handlers: StreamEditHandlers, choices: StreamFormChoices): void {
  drawForm(root, { stream, handlers }, choices, () => Date.now());
}

function drawForm(root: HTMLElement, mode: FormMode, choices: StreamFormChoices, now: () => number): void {
  const editing = mode.stream;
  const p = editing ? editPrefix(editing.id) : "stream";
  const ids = fieldIds(p);
  const words = wordsOf(mode);
  const error = h("div", { id: `${p}-form-error`, className: "alert empty", role: "alert" });
  const submitButton = h("button", { type: "submit", className: "primary", id: editing ? `${p}-save` : "stream-create" }, words.submit);
  const kindRoot = h("div", { className: "form-grid", id: `${p}-kind-fields` });
  const start = editing ? null : startSection(p, now);
  const ticked = editing ? tickedOf(editing) : NONE_TICKED;
  const form = h("form", { id: `${p}-form`, className: editing ? "stream-form stream-edit-form" : "card stream-form", novalidate: true, "aria-labelledby": `${p}-form-title` },
    h("div", { className: "card-head" },
      // (an edit form sits in its stream's item, under the stream's h3)
      h(editing ? "h4" : "h2", { id: `${p}-form-title` }, words.title),
      h("p", { className: "muted" }, words.intro)),
    h("div", { className: "form-grid" },
      input(p, "name", "Name", { value: editing?.name ?? "", maxlength: 200, className: "wide-input", placeholder: "Splunk production", "aria-required": "true" })),
    editing ? fixedKind(p, editing.kind) : kindChoices(p),
    kindRoot,
    formatChoices(p, editing?.format === "ocsf" ? "ocsf" : "entry"),
    start?.section ?? null,
    // An edited stream's filter is shown open: what it takes is what the admin came to check.
    h("details", { className: "form-section", id: ids.filter, open: Object.values(ticked).some((l) => l.length > 0) },
      h("summary", {}, "Filter (optional)"),
      h("p", { className: "muted small" }, "Only the entries that match every ticked list are streamed."),
      h("div", { className: "filter-lists" }, filterLists(p, choices, ticked, editing !== null))),
    deliverySection(p, editing?.batchSize ?? DEFAULT_BATCH),
    error,
    h("div", { className: "form-actions" },
      submitButton,
      h("button", { type: "button", className: "ghost", id: `${p}-cancel`, onclick: () => mode.handlers.cancel() }, "Cancel")),
  );

  const kindOf = (): StreamKind => editing?.kind ?? (form.querySelector<HTMLInputElement>('input[name="stream-kind"]:checked')?.value ?? "https") as StreamKind;
  const radioValue = (name: string) => form.querySelector<HTMLInputElement>(`input[name="stream-${name}"]:checked`)?.value ?? "";
  const fieldValue = (field: StreamField) => (form.querySelector<HTMLInputElement | HTMLSelectElement>(`#${ids[field]}`)?.value ?? "");
  const tickedIn = (key: string) => [...form.querySelectorAll<HTMLInputElement>(`input[name="${key}"]:checked`)].map((b) => b.value);
  /** A list's ticked values; null when the form has none to tick. */
  const listed = (key: string) => (form.querySelector(`#${p}-filter-${key}`) ? tickedIn(key) : null);

  /** What the kind's fields hold now (not the secret: it is typed again for another kind). */
  const keptValues = (): Partial<Record<StreamField, string>> => {
    const kept: Partial<Record<StreamField, string>> = {};
    for (const field of ["url", "index", "source", "sourcetype", "site", "service", "tags", "maxMegabytes"] as const) {
      const el = kindRoot.querySelector<HTMLInputElement | HTMLSelectElement>(`#${ids[field]}`);
      if (el) kept[field] = el.value;
    }
    const rotate = radioValue("rotate");
    if (rotate) kept.rotate = rotate;
    return kept;
  };
  let previousKind: StreamKind = kindOf();
  const drawKind = (kept = keptValues()) => {
    // Elasticsearch's default index is not Splunk's: a value only carries over between the same kind.
    if (previousKind !== kindOf()) delete kept.index;
    previousKind = kindOf();
    replace(kindRoot, kindFields(p, kindOf(), kept, editing !== null));
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
    resourceTypes: listed("resources"),
    actions: listed("actions"),
    accountIds: listed("accounts"),
    startMode: radioValue("start") === "from" ? "from" : "now",
    startAt: start?.startAt.value ?? "",
    batchSize: fieldValue("batchSize"),
  });

  const clearErrors = () => {
    error.className = "alert empty";
    replace(error);
    for (const el of form.querySelectorAll(".field-error")) el.remove();
    for (const el of form.querySelectorAll("[aria-invalid]")) {
      el.removeAttribute("aria-invalid");
      const described = (el.getAttribute("aria-describedby") ?? "").split(" ")
        .filter((x) => x && x !== `${p}-form-error` && !x.endsWith("-error")).join(" ");
      if (described) el.setAttribute("aria-describedby", described);
      else el.removeAttribute("aria-describedby");
    }
  };

  /** The element that stands for a field (its input, or its group), opening a closed section around it. */
  const targetOf = (field: StreamField): HTMLElement | null => {
    const el = form.querySelector<HTMLElement>(`#${ids[field]}`);
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
    for (const pr of problems) {
      const target = targetOf(pr.field);
      if (!target) continue;
      const message = h("p", { className: "field-error small", id: errorId(p, pr.field) }, pr.message);
      (target.closest(".field") ?? target).append(message);
      mark(target, errorId(p, pr.field));
    }
    error.className = "alert";
    replace(error, h("span", { id: `${p}-form-error-message` },
      problems.length === 1 ? "Check the highlighted field." : `Check the ${formatNumber(problems.length)} highlighted fields.`));
    const first = targetOf(problems[0]!.field);
    if (first) focus(first);
  };

  /** The API's refusal: its message beside the form, its field marked and focused (the box itself when the form has no such field). */
  const showApiError = (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    error.className = "alert";
    replace(error, h("div", {}, h("strong", {}, words.failed), h("span", { id: `${p}-form-error-message` }, readableApiMessage(message))));
    const field = fieldOfStreamError(message);
    const target = field ? targetOf(field) : null;
    if (target) {
      mark(target, `${p}-form-error`);
      focus(target);
    } else {
      error.tabIndex = -1;
      error.focus();
    }
  };

  form.addEventListener("change", (e) => {
    const t = e.target as HTMLInputElement;
    if (t.name === "stream-kind") drawKind();
    if (t.name === "stream-start" && start) {
      start.startAt.disabled = t.value !== "from";
      start.startAtField.hidden = start.startAt.disabled;
      if (!start.startAt.disabled) start.startAt.focus();
    }
    if (t.name === "stream-rotate") {
      const max = kindRoot.querySelector<HTMLElement>('[data-field="maxMegabytes"]');
      if (max) max.hidden = t.value !== "size";
    }
  });

  drawKind(editing ? keptOfSettings(editing) : {});
  // What an edit compares to, to send only what changed.
  const initial = values();

  /** Sends the form's request (resolves once the page shows the result), or returns what to fix first. */
  const send = (): Promise<void> | FieldProblem[] => {
    if (mode.stream === null) {
      const result = toCreateInput(values(), now());
      return result.input ? mode.handlers.create(result.input) : result.problems;
    }
    const result = toUpdateInput(mode.stream.id, values(), initial);
    return result.input ? mode.handlers.save(result.input) : result.problems;
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    clearErrors();
    const sent = send();
    if (Array.isArray(sent)) {
      showProblems(sent);
      return;
    }
    form.setAttribute("aria-busy", "true");
    submitButton.disabled = true;
    submitButton.textContent = words.busy;
    sent.catch((err: unknown) => {
      form.removeAttribute("aria-busy");
      submitButton.disabled = false;
      submitButton.textContent = words.submit;
      showApiError(err);
    });
  });

  replace(root, form);
  form.querySelector<HTMLInputElement>(`#${ids.name}`)?.focus();
}
