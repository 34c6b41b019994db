// The Audit Logs header's tamper-evidence line: "Sealed up to <local time>"
// and the last verification ("Verified 5 minutes ago: no findings", or its
// findings, or "Not verified yet"), with the newest seal (its number and
// hash, which the tenant keeps outside the database) in a small popover.
// Asked for at sign-in, every minute while the tab is visible, and when it
// becomes visible again. When the request fails (a server without
// sealStatus, a network error), the line is left out: the page works
// without it, and the list's own requests report what needs reporting.
import { isAbort } from "./api.ts";
import { copyButton } from "./copy-button.ts";
import { byId, h, replace } from "./dom.ts";
import { formatLocal, formatNumber, formatRelative } from "./format.ts";
import { fetchSealStatus, type SealStatus } from "./seal-queries.ts";

const REFRESH_MS = 60_000;

export const ANCHOR_SENTENCE = "Keep this hash outside the database: it anchors your log's seal chain.";

/** Finding statuses in the order they are listed, and how a count of each reads ("2 modified", "1 chain broken"). */
const FINDING_LABELS: [status: string, label: (n: number) => string][] = [
  ["modified", () => "modified"],
  ["missing", () => "missing"],
  ["inserted", () => "inserted"],
  ["chain_broken", () => "chain broken"],
  ["bad_signature", (n) => (n === 1 ? "bad signature" : "bad signatures")],
  ["maintenance", (n) => (n === 1 ? "maintenance change" : "maintenance changes")],
  ["unsealed", () => "unsealed"],
];

/** A verification's findings as words, most telling first: ["2 modified", "1 chain broken"]; [] when there are none. */
export function describeFindings(findings: Record<string, unknown> | null): string[] {
  const rank = (status: string) => {
    const i = FINDING_LABELS.findIndex(([s]) => s === status);
    return i < 0 ? FINDING_LABELS.length : i;
  };
  return Object.entries(findings ?? {})
    .map(([status, value]) => [status, Number(value)] as const)
    .filter(([, n]) => Number.isFinite(n) && n > 0)
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([status, n]) => {
      const label = FINDING_LABELS.find(([s]) => s === status)?.[1](n) ?? status.replace(/_/g, " ");
      return `${formatNumber(n)} ${label}`;
    });
}

let tokenOf: () => string | null = () => null;
let timer: ReturnType<typeof setInterval> | null = null;
let inFlight: AbortController | null = null;
/** What is on screen, to leave it alone (an open popover, a selected hash) while nothing changed. */
let shown = "";

function instant(iso: string, relative: boolean): HTMLElement {
  // `.relative[data-at]` is kept current by main.ts's minute timer.
  return relative
    ? h("time", { className: "relative", "data-at": iso, datetime: iso, title: formatLocal(iso, true) }, formatRelative(iso))
    : h("time", { datetime: iso, title: formatLocal(iso, true) }, formatLocal(iso));
}

function verificationLine(status: SealStatus): HTMLElement {
  const at = status.lastVerifiedAt;
  if (!at) return h("span", { className: "seal-verification seal-unverified", id: "seal-verification", "data-state": "unverified" }, "Not verified yet");
  // Journaled maintenance is reported, but it is not tampering: it keeps the line green.
  const { maintenance, ...tampering } = status.lastVerificationFindings ?? {};
  const findings = describeFindings(tampering);
  if (findings.length === 0) {
    const journaled = describeFindings({ maintenance });
    return h("span", { className: "seal-verification seal-ok", id: "seal-verification", "data-state": "ok" },
      h("span", { className: "seal-mark", "aria-hidden": "true" }, "✓"),
      h("span", {}, "Verified ", instant(at, true), journaled.length ? `: no tampering (${journaled[0]})` : ": no findings"));
  }
  return h("span", { className: "seal-verification seal-findings", id: "seal-verification", "data-state": "findings" },
    h("span", { className: "seal-mark", "aria-hidden": "true" }, "!"), h("span", {}, "Verified ", instant(at, true), `: ${findings.join(", ")}`));
}


function popover(status: SealStatus): HTMLElement[] {
  const parts: HTMLElement[] = [];
  const { newestSeq: seq, newestSealHash: hash } = status;
  if (seq && hash) {
    const code = h("code", { className: "seal-hash", id: "seal-hash" }, hash);
    parts.push(
      h("p", { id: "seal-newest" }, h("strong", {}, `Seal #${seq}`),
        status.newestSealedAt ? h("span", { className: "muted" }, " · made ", instant(status.newestSealedAt, false)) : null),
      h("div", { className: "seal-hash-row" }, code, copyButton(hash, code, { id: "seal-copy", label: "Copy the seal's hash" })),
      h("p", { className: "small" }, ANCHOR_SENTENCE),
    );
  } else {
    parts.push(h("p", { id: "seal-newest" }, "No seal yet: none of your tenant's entries has been sealed."));
  }
  const signatures = status.lastVerifiedAt === null
    ? "No verification has run yet."
    : status.lastVerificationSignaturesChecked
      ? "The last verification checked the seals' signatures."
      : "The last verification did not check the seals' signatures.";
  parts.push(h("p", { className: "small muted", id: "seal-signatures" }, signatures,
    status.lastVerifiedAt && status.lastVerifiedBy ? ` (${status.lastVerifiedBy}, ${formatLocal(status.lastVerifiedAt)})` : ""));
  return parts;
}

function render(status: SealStatus): void {
  const el = byId("seal-status");
  const json = JSON.stringify(status);
  if (json === shown && !el.hidden) return;
  shown = json;
  const wasOpen = el.querySelector<HTMLDetailsElement>("#seal-details")?.open ?? false;
  const sealed = status.sealedUpTo
    ? h("span", { className: "seal-sealed", id: "seal-sealed" }, "Sealed up to ", instant(status.sealedUpTo, false))
    : h("span", { className: "seal-sealed", id: "seal-sealed" }, "Not sealed yet");
  const summary = h("summary", { title: "The newest seal and its hash" }, "Seal details");
  const details = h("details", { className: "seal-details", id: "seal-details" },
    summary, h("div", { className: "seal-popover", role: "group", "aria-label": "Newest seal" }, popover(status)));
  details.open = wasOpen;
  // Escape closes the popover only (not the entry's details panel behind it).
  details.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || !details.open) return;
    details.open = false;
    summary.focus();
    e.stopPropagation();
  });
  replace(el, sealed, h("span", { className: "seal-sep", "aria-hidden": "true" }, "·"), verificationLine(status), details);
  el.hidden = false;
}

function hide(): void {
  const el = byId("seal-status");
  el.hidden = true;
  replace(el);
  shown = "";
}

/** Asks for the status now (a request still running is dropped). */
export function refreshSealStatus(): void {
  const token = tokenOf();
  if (!token) return;
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  fetchSealStatus(token, controller.signal).then((status) => {
    if (inFlight === controller) inFlight = null;
    if (status) render(status);
    else hide();
  }, (err: unknown) => {
    if (inFlight === controller) inFlight = null;
    if (!isAbort(err)) hide();
  });
}

/** Shows the line for the signed-in admin and keeps it current. */
export function startSealStatus(token: () => string | null): void {
  tokenOf = token;
  refreshSealStatus();
  if (timer === null) {
    timer = setInterval(() => {
      if (document.visibilityState === "visible") refreshSealStatus();
    }, REFRESH_MS);
  }
}

/** Stops (sign-out) and removes the line. */
export function stopSealStatus(): void {
  if (timer !== null) clearInterval(timer);
  timer = null;
  inFlight?.abort();
  inFlight = null;
  hide();
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && timer !== null) refreshSealStatus();
});

// A click elsewhere closes the popover.
document.addEventListener("click", (e) => {
  const details = document.getElementById("seal-details") as HTMLDetailsElement | null;
  if (details?.open && !details.contains(e.target as Node)) details.open = false;
});
