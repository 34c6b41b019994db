// Moving between the page's views without reloading it: links marked
// `data-nav` (the sidebar, the Security view's tabs, links between alerts
// and their entries) push their URL and let the page draw the view; a
// modified click (new tab, new window) or another origin is left to the
// browser. Back and Forward redraw the view of the URL they land on, and a
// reload serves the same page at every one of those URLs.

let onRoute: (() => void) | null = null;

/** The function that draws the view of the current URL. */
export function setRouteHandler(handler: () => void): void {
  onRoute = handler;
}

/** Goes to a URL of the page: a new history entry (push) or in place of the current one. */
export function navigate(url: string, push = true): void {
  const target = new URL(url, location.href);
  if (target.origin !== location.origin) {
    location.assign(target.href);
    return;
  }
  const relative = `${target.pathname}${target.search}${target.hash}`;
  if (relative === `${location.pathname}${location.search}${location.hash}`) {
    onRoute?.();
    return;
  }
  if (push) history.pushState(null, "", relative);
  else history.replaceState(null, "", relative);
  onRoute?.();
}

document.addEventListener("click", (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const link = (e.target as Element | null)?.closest?.<HTMLAnchorElement>("a[data-nav]");
  if (!link || link.target === "_blank" || link.hasAttribute("download")) return;
  const target = new URL(link.href, location.href);
  if (target.origin !== location.origin) return;
  e.preventDefault();
  navigate(target.href);
});

window.addEventListener("popstate", () => onRoute?.());
