// The sidebar's count of open security alerts: asked for when the admin
// signs in, after every acknowledge or resolve, whenever the tab becomes
// visible again, and every minute while it is visible.
import { isAbort } from "./api.ts";
import { byId, h, replace } from "./dom.ts";
import { formatNumber } from "./format.ts";
import { fetchOpenAlertCount } from "./security-queries.ts";

const REFRESH_MS = 60_000;

let tokenOf: () => string | null = () => null;
let onError: (err: unknown) => void = () => undefined;
let timer: ReturnType<typeof setInterval> | null = null;
let inFlight: AbortController | null = null;

function render(count: number, capped: boolean): void {
  const badge = byId("security-badge");
  badge.dataset.count = String(count);
  badge.dataset.capped = String(capped);
  const text = `${formatNumber(count)}${capped ? "+" : ""}`;
  badge.hidden = count === 0;
  badge.title = `${text} open security ${count === 1 && !capped ? "alert" : "alerts"}`;
  replace(badge, h("span", { "aria-hidden": "true" }, text), h("span", { className: "visually-hidden" }, ` (${badge.title})`));
}

/** Asks for the count now (a request still running is dropped). */
export function refreshSecurityBadge(): void {
  const token = tokenOf();
  if (!token) return;
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  fetchOpenAlertCount(token, controller.signal).then(({ count, capped }) => {
    if (inFlight === controller) inFlight = null;
    render(count, capped);
  }, (err: unknown) => {
    if (inFlight === controller) inFlight = null;
    if (!isAbort(err)) onError(err);
  });
}

/** Starts counting for the signed-in admin. */
export function startSecurityBadge(token: () => string | null, handleError: (err: unknown) => void): void {
  tokenOf = token;
  onError = handleError;
  refreshSecurityBadge();
  if (timer === null) {
    timer = setInterval(() => {
      if (document.visibilityState === "visible") refreshSecurityBadge();
    }, REFRESH_MS);
  }
}

/** Stops counting (sign-out) and forgets the count. */
export function stopSecurityBadge(): void {
  if (timer !== null) clearInterval(timer);
  timer = null;
  inFlight?.abort();
  inFlight = null;
  const badge = byId("security-badge");
  badge.hidden = true;
  delete badge.dataset.count;
  replace(badge);
}

document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && timer !== null) refreshSecurityBadge();
});
