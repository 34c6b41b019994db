// The detector settings form (tenant admins): business hours with a
// searchable time zone picker, weekdays and times; per detector a switch and
// its own settings. Save sends one patch of what changed; the API validates
// (its message is shown beside the form, on the field it names) and the
// saved document comes back to be shown again.
import { h, replace } from "./dom.ts";
import {
  DETECTORS, DETECTOR_EXPLANATIONS, DETECTOR_NAMES, SETTING_HELP, SETTING_LABELS, isDetector,
} from "./detectors.ts";
import {
  WEEKDAYS, fieldOfError, nowIn, readSettings, settingsPatch, timeZoneNames, type DetectorSettingsDocument,
} from "./detector-settings.ts";
import { formatNumber } from "./format.ts";

export interface SettingsFormHandlers {
  /** Sends the patch; resolves once the saved settings are shown again, rejects with the API's error. */
  save: (patch: Record<string, unknown>) => Promise<void>;
}

export interface SettingsFormOptions {
  /** A line for the status area (after a save). */
  status?: string | null;
}

const fieldId = (detector: string, key: string) => `settings-${detector}-${key}`;
const HOURS_IDS: Record<string, string> = { time_zone: "settings-time-zone", days: "settings-days", start: "settings-start", end: "settings-end" };

const TIME_PATTERN = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$";

/** The detectors in the page's order, then any the page does not know yet (kept as they are). */
function detectorOrder(doc: DetectorSettingsDocument): string[] {
  return [...DETECTORS.filter((d) => d in doc.detectors), ...Object.keys(doc.detectors).filter((d) => !isDetector(d))];
}

/** Keys in a fixed order: the switch first, then thresholds, roles, lists, the window last. */
const KEY_ORDER = ["enabled", "threshold", "min_role", "first_time_creator", "credential_keys", "window_minutes"];
function keysOf(settings: Record<string, unknown>): string[] {
  const rank = (k: string) => (KEY_ORDER.includes(k) ? KEY_ORDER.indexOf(k) : KEY_ORDER.length);
  return Object.keys(settings).sort((a, b) => rank(a) - rank(b));
}

function help(id: string, text: string | undefined): HTMLElement | null {
  return text ? h("p", { id, className: "muted small field-help" }, text) : null;
}

function settingField(detector: string, key: string, value: unknown, doc: DetectorSettingsDocument): HTMLElement | null {
  if (key === "enabled") return null; // the card's switch
  const id = fieldId(detector, key);
  const label = SETTING_LABELS[key] ?? key;
  const helpText = isDetector(detector) ? SETTING_HELP[detector]?.[key] : undefined;
  const helpId = `${id}-help`;
  const describedBy = helpText ? helpId : undefined;
  if (typeof value === "boolean") {
    return h("div", { className: "field field-check" },
      h("label", { className: "check" },
        h("input", { type: "checkbox", id, name: id, checked: value, "data-key": key, "aria-describedby": describedBy }),
        label),
      help(helpId, helpText));
  }
  if (key === "min_role") {
    const roles = doc.role_ranking.includes(String(value)) ? doc.role_ranking : [...doc.role_ranking, String(value)];
    const select = h("select", { id, name: id, "data-key": key, "aria-describedby": describedBy },
      roles.map((r) => h("option", { value: r }, r)));
    select.value = String(value);
    return h("div", { className: "field" }, h("label", { for: id }, label), select,
      help(helpId, `${helpText ?? ""} Ranking: ${doc.role_ranking.join(" → ")}.`.trim()));
  }
  if (Array.isArray(value)) {
    return h("div", { className: "field field-wide" }, h("label", { for: id }, label),
      h("textarea", { id, name: id, rows: Math.max(2, Math.min(6, value.length + 1)), "data-key": key, spellcheck: "false", "aria-describedby": describedBy },
        value.map(String).join("\n")),
      help(helpId, helpText));
  }
  if (typeof value === "number") {
    return h("div", { className: "field" }, h("label", { for: id }, label),
      h("input", {
        id, name: id, type: "number", step: 1, inputmode: "numeric", value: String(value), "data-key": key, "aria-describedby": describedBy,
        min: key === "threshold" ? 2 : 1, max: key === "threshold" ? 100_000 : 1440,
      }),
      help(helpId, helpText));
  }
  // A setting this page does not know: shown, kept as it is.
  return h("div", { className: "field" }, h("span", { className: "field-label" }, label), h("code", {}, JSON.stringify(value)));
}

function detectorCard(name: string, settings: Record<string, unknown>, doc: DetectorSettingsDocument): HTMLElement {
  const title = isDetector(name) ? DETECTOR_NAMES[name] : name;
  const switchId = fieldId(name, "enabled");
  const enabled = settings.enabled === true;
  const fields = keysOf(settings).map((k) => settingField(name, k, settings[k], doc)).filter((f): f is HTMLElement => f !== null);
  return h("section", { className: "card detector-card", id: `detector-${name}`, "data-detector": name, "aria-labelledby": `detector-${name}-title` },
    h("div", { className: "detector-head" },
      h("div", {},
        h("h3", { id: `detector-${name}-title`, className: "detector-title" }, title),
        isDetector(name) ? h("p", { className: "muted small" }, DETECTOR_EXPLANATIONS[name]) : null),
      "enabled" in settings
        ? h("label", { className: "switch" },
          h("input", {
            type: "checkbox", role: "switch", id: switchId, name: switchId, checked: enabled, "data-key": "enabled",
            "aria-label": `${title}: enabled`,
          }),
          h("span", { className: "switch-track", "aria-hidden": "true" }),
          h("span", { className: "switch-text" }, enabled ? "On" : "Off"))
        : null),
    h("div", { className: "detector-fields" }, fields),
  );
}

/** The number, as typed; what is not one goes to the API as typed (it says what is wrong). */
function numberOf(raw: string): unknown {
  const text = raw.trim();
  if (text === "") return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : text;
}

/** The document the form holds now. */
function collect(form: HTMLFormElement, saved: DetectorSettingsDocument): DetectorSettingsDocument {
  const value = (id: string) => (form.querySelector<HTMLInputElement>(`#${id}`)?.value ?? "").trim();
  const days = WEEKDAYS.filter((d) => form.querySelector<HTMLInputElement>(`#settings-day-${d.day}`)?.checked).map((d) => d.day);
  const detectors: Record<string, Record<string, unknown>> = {};
  for (const [name, settings] of Object.entries(saved.detectors)) {
    const out: Record<string, unknown> = { ...settings };
    for (const key of Object.keys(settings)) {
      const el = form.querySelector<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>(`#${fieldId(name, key)}`);
      if (!el) continue;
      if (el instanceof HTMLInputElement && el.type === "checkbox") out[key] = el.checked;
      else if (el instanceof HTMLInputElement && el.type === "number") out[key] = numberOf(el.value);
      else if (el instanceof HTMLTextAreaElement) out[key] = el.value.split(/[\n,]/).map((s) => s.trim()).filter(Boolean);
      else out[key] = el.value;
    }
    detectors[name] = out;
  }
  return {
    business_hours: { time_zone: value(HOURS_IDS.time_zone!), days, start: value(HOURS_IDS.start!), end: value(HOURS_IDS.end!) },
    role_ranking: saved.role_ranking,
    detectors,
  };
}

function describePatch(patch: Record<string, unknown>): string {
  const hours = Object.keys((patch.business_hours as Record<string, unknown> | undefined) ?? {}).length;
  const detectors = Object.values((patch.detectors as Record<string, Record<string, unknown>> | undefined) ?? {})
    .reduce((n, d) => n + Object.keys(d).length, 0);
  const n = hours + detectors + (patch.role_ranking ? 1 : 0);
  return n === 0 ? "No unsaved changes." : `${formatNumber(n)} unsaved ${n === 1 ? "change" : "changes"}.`;
}

let zoneList: string[] | null = null;

export function renderSettingsForm(root: HTMLElement, savedValue: unknown, handlers: SettingsFormHandlers, options: SettingsFormOptions = {}): void {
  const saved = readSettings(savedValue);
  zoneList ??= timeZoneNames();
  const bh = saved.business_hours;
  const zoneNow = h("span", { id: "settings-time-zone-now", className: "muted small" });
  const showZoneNow = (zone: string) => {
    const now = nowIn(zone);
    replace(zoneNow, now ? `Now ${now} there.` : "");
  };
  const zoneInput = h("input", {
    id: HOURS_IDS.time_zone, name: "time_zone", type: "text", list: "time-zone-names", value: bh.time_zone, autocomplete: "off",
    spellcheck: "false", "aria-describedby": "settings-time-zone-help settings-time-zone-now",
  });
  const status = h("p", { id: "settings-status", className: "muted small", role: "status" }, options.status ?? "");
  const error = h("div", { id: "settings-error", className: "alert empty", role: "alert" });
  const changes = h("span", { id: "settings-changes", className: "muted small", "aria-live": "polite" }, describePatch({}));
  const saveButton = h("button", { type: "submit", className: "primary", id: "settings-save", disabled: true }, "Save settings");
  const discardButton = h("button", { type: "button", className: "ghost", id: "settings-discard", disabled: true }, "Discard changes");

  const form = h("form", { id: "settings-form", className: "settings-form", novalidate: true, "aria-labelledby": "settings-title" },
    h("section", { className: "card", "aria-labelledby": "hours-title" },
      h("div", { className: "card-head" },
        h("h2", { id: "hours-title" }, "Business hours"),
        h("p", { className: "muted" }, "The after-hours detector alerts on changes outside these hours.")),
      h("div", { className: "settings-grid" },
        h("div", { className: "field field-zone" },
          h("label", { for: HOURS_IDS.time_zone }, "Time zone"),
          zoneInput,
          h("datalist", { id: "time-zone-names" }, zoneList.map((z) => h("option", { value: z }))),
          h("p", { id: "settings-time-zone-help", className: "muted small field-help" },
            "An IANA name such as Europe/Berlin or America/New_York, or UTC: type to search."),
          zoneNow),
        h("fieldset", { className: "field days", id: HOURS_IDS.days },
          h("legend", {}, "Days"),
          h("div", { className: "day-boxes" }, WEEKDAYS.map((d) =>
            h("label", { className: "day", title: d.long },
              h("input", { type: "checkbox", id: `settings-day-${d.day}`, name: "days", value: String(d.day), checked: bh.days.includes(d.day), "aria-label": d.long }),
              h("span", { "aria-hidden": "true" }, d.short))))),
        h("div", { className: "field" },
          h("label", { for: HOURS_IDS.start }, "Start"),
          h("input", { id: HOURS_IDS.start, name: "start", type: "text", inputmode: "numeric", pattern: TIME_PATTERN, value: bh.start, placeholder: "08:00", "aria-describedby": "settings-hours-help", className: "time-input" })),
        h("div", { className: "field" },
          h("label", { for: HOURS_IDS.end }, "End"),
          h("input", { id: HOURS_IDS.end, name: "end", type: "text", inputmode: "numeric", pattern: TIME_PATTERN, value: bh.end, placeholder: "18:00", "aria-describedby": "settings-hours-help", className: "time-input" })),
      ),
      h("p", { id: "settings-hours-help", className: "muted small field-help" }, "Local times in the time zone, 24-hour HH:MM; the end may be 24:00 (midnight)."),
    ),
    h("h2", { className: "section-title" }, "Detectors"),
    h("div", { className: "detector-cards" }, detectorOrder(saved).map((name) => detectorCard(name, saved.detectors[name] ?? {}, saved))),
    h("div", { className: "settings-actions" }, saveButton, discardButton, changes),
    error,
    status,
  );
  replace(root, form);
  showZoneNow(bh.time_zone);

  const clearError = () => {
    error.className = "alert empty";
    replace(error);
    for (const el of form.querySelectorAll("[aria-invalid]")) {
      el.removeAttribute("aria-invalid");
      const described = (el.getAttribute("aria-describedby") ?? "").split(" ").filter((x) => x && x !== "settings-error").join(" ");
      if (described) el.setAttribute("aria-describedby", described);
      else el.removeAttribute("aria-describedby");
    }
  };
  const refresh = () => {
    const patch = settingsPatch(saved, collect(form, saved));
    const dirty = Object.keys(patch).length > 0;
    saveButton.disabled = !dirty;
    discardButton.disabled = !dirty;
    replace(changes, describePatch(patch));
    for (const sw of form.querySelectorAll<HTMLInputElement>('input[role="switch"]')) {
      const text = sw.parentElement?.querySelector(".switch-text");
      if (text) text.textContent = sw.checked ? "On" : "Off";
    }
  };
  form.addEventListener("input", () => {
    refresh();
    replace(status);
  });
  form.addEventListener("change", refresh);
  zoneInput.addEventListener("input", () => showZoneNow(zoneInput.value.trim()));
  discardButton.addEventListener("click", () => renderSettingsForm(root, savedValue, handlers, { status: "Changes discarded." }));

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const patch = settingsPatch(saved, collect(form, saved));
    if (Object.keys(patch).length === 0) return;
    clearError();
    saveButton.disabled = true;
    saveButton.textContent = "Saving…";
    replace(status, "Saving…");
    form.setAttribute("aria-busy", "true");
    handlers.save(patch).catch((err: unknown) => {
      form.removeAttribute("aria-busy");
      saveButton.textContent = "Save settings";
      refresh();
      replace(status);
      const message = err instanceof Error ? err.message : String(err);
      error.className = "alert";
      replace(error, h("div", {}, h("strong", {}, "The settings were not saved. "), h("span", { id: "settings-error-message" }, message)));
      const field = fieldOfError(message);
      const target = field?.section === "detectors" && field.detector
        ? form.querySelector<HTMLElement>(`#${fieldId(field.detector, field.key ?? "enabled")}`) ?? form.querySelector<HTMLElement>(`#detector-${field.detector}`)
        : field?.section === "business_hours"
          ? form.querySelector<HTMLElement>(`#${HOURS_IDS[field.key ?? "time_zone"] ?? HOURS_IDS.time_zone}`)
          : null;
      if (target) {
        target.setAttribute("aria-invalid", "true");
        target.setAttribute("aria-describedby", [target.getAttribute("aria-describedby"), "settings-error"].filter(Boolean).join(" "));
        target.focus();
      } else {
        error.tabIndex = -1;
        error.focus();
      }
    });
  });
}
