// The activity chart: entries per day (or hour, for short ranges) stacked by
// resource type, from the API's grouped aggregates. Buckets are UTC, as the
// API groups them. Clicking (or Enter on) a bar narrows the range to it.
import { h, s } from "./dom.ts";
import { formatNumber, humanize } from "./format.ts";
import type { Bucket, BucketSize } from "./queries.ts";

const HOUR = 3600_000;
const DAY = 24 * HOUR;
const MAX_BUCKETS = 800;

// Distinguishable neighbours (Tableau 10 and two more), in catalogue order.
const PALETTE = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948",
  "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac", "#3b3b98", "#17becf",
];

export function colorFor(resourceType: string, order: readonly string[]): string {
  const i = order.indexOf(resourceType);
  return PALETTE[(i >= 0 ? i : order.length) % PALETTE.length] ?? "#64748b";
}

/** Hourly buckets for ranges up to two days, daily beyond. */
export function bucketSizeFor(from: string | null, to: string | null): BucketSize {
  if (from && to && Date.parse(to) - Date.parse(from) <= 2 * DAY) return "hour";
  return "day";
}

function floorTo(ms: number, size: BucketSize): number {
  const step = size === "day" ? DAY : HOUR;
  return Math.floor(ms / step) * step;
}

export interface ChartInput {
  buckets: Bucket[];
  size: BucketSize;
  from: string | null;
  to: string | null;
  resourceOrder: readonly string[];
  onSelect: (from: string, to: string) => void;
  /** Drawing width in CSS pixels (the container's), so that text keeps its size. */
  width: number;
}

const bucketLabel = (ms: number, size: BucketSize): string =>
  size === "day"
    ? new Date(ms).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" })
    : new Date(ms).toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone: "UTC" }) + " UTC";

export function renderChart(input: ChartInput): { svg: SVGSVGElement; legend: HTMLElement; total: number } {
  const { buckets, size, resourceOrder } = input;
  const step = size === "day" ? DAY : HOUR;
  const starts = buckets.map((b) => Date.parse(b.start)).filter((n) => !Number.isNaN(n));
  const now = Date.now();
  const first = floorTo(input.from ? Date.parse(input.from) : starts.length ? Math.min(...starts) : now - 29 * DAY, size);
  const last = floorTo(input.to ? Date.parse(input.to) - 1 : starts.length ? Math.max(...starts) : now, size);
  const count = Math.max(1, Math.min(MAX_BUCKETS, Math.round((last - first) / step) + 1));

  const stacks = new Map<number, Map<string, number>>();
  const totals = new Map<string, number>();
  let total = 0;
  for (const b of buckets) {
    const at = floorTo(Date.parse(b.start), size);
    const stack = stacks.get(at) ?? new Map<string, number>();
    stack.set(b.resourceType, (stack.get(b.resourceType) ?? 0) + b.count);
    stacks.set(at, stack);
    totals.set(b.resourceType, (totals.get(b.resourceType) ?? 0) + b.count);
    total += b.count;
  }
  let max = 0;
  for (const stack of stacks.values()) max = Math.max(max, [...stack.values()].reduce((a, c) => a + c, 0));

  const W = Math.max(320, Math.round(input.width)), H = 170, left = 44, right = 8, top = 10, bottom = 24;
  const plotW = W - left - right, plotH = H - top - bottom;
  const slot = plotW / count;
  const barW = Math.min(48, Math.max(1, slot * 0.78));
  const yMax = niceMax(max);
  const types = [...totals.keys()].sort((a, b) => indexOr(resourceOrder, a) - indexOr(resourceOrder, b));

  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, className: "chart-svg", role: "group", "aria-label": `Entries per ${size}, stacked by resource type` });
  for (const frac of [0, 0.5, 1]) {
    const y = top + plotH - frac * plotH;
    svg.append(
      s("line", { x1: left, x2: W - right, y1: y, y2: y, className: "grid" }),
      s("text", { x: left - 6, y: y + 4, className: "axis", "text-anchor": "end" }, formatCompact(yMax * frac)),
    );
  }
  const labelEvery = Math.ceil(count / Math.max(2, Math.floor(plotW / 70)));
  for (let i = 0; i < count; i++) {
    const at = first + i * step;
    const stack = stacks.get(at);
    const sum = stack ? [...stack.values()].reduce((a, c) => a + c, 0) : 0;
    const x = left + i * slot + (slot - barW) / 2;
    const label = bucketLabel(at, size);
    const select = () => {
      const from = Math.max(at, input.from ? Date.parse(input.from) : at);
      const to = Math.min(at + step, input.to ? Date.parse(input.to) : at + step);
      input.onSelect(new Date(from).toISOString(), new Date(to).toISOString());
    };
    const g = s("g", {
      className: "bar", tabindex: -1, role: "button", "data-start": new Date(at).toISOString(), "data-count": sum,
      "aria-label": `${label}: ${formatNumber(sum)} ${sum === 1 ? "entry" : "entries"}. Show only this ${size}.`,
      onclick: select,
      onkeydown: ((e: KeyboardEvent) => {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); select(); }
      }) as EventListener,
    });
    g.append(s("title", {}, `${label}: ${formatNumber(sum)}` + (stack ? "\n" + types.filter((t) => stack.get(t)).map((t) => `${humanize(t)}: ${formatNumber(stack.get(t) ?? 0)}`).join("\n") : "")));
    g.append(s("rect", { x: left + i * slot, y: top, width: slot, height: plotH, className: "hit" }));
    let y = top + plotH;
    for (const t of types) {
      const n = stack?.get(t) ?? 0;
      if (n === 0) continue;
      const hgt = yMax > 0 ? (n / yMax) * plotH : 0;
      y -= hgt;
      g.append(s("rect", { x, y, width: barW, height: Math.max(hgt, 0.5), fill: colorFor(t, resourceOrder) }));
    }
    svg.append(g);
    if (i % labelEvery === 0) {
      svg.append(s("text", { x: left + i * slot + slot / 2, y: H - 6, className: "axis", "text-anchor": "middle" },
        size === "day" ? bucketLabel(at, size) : new Date(at).toISOString().slice(11, 16)));
    }
  }
  // One tab stop for the whole chart (the latest bar with entries); the arrow
  // keys move between bars, so the keyboard does not tab through 30 of them.
  const bars = [...svg.querySelectorAll<SVGGElement>("g.bar")];
  const start = [...bars].reverse().find((b) => b.dataset.count !== "0") ?? bars.at(-1);
  start?.setAttribute("tabindex", "0");
  svg.addEventListener("keydown", (e) => {
    const i = bars.indexOf(e.target as SVGGElement);
    if (i < 0) return;
    const next = e.key === "ArrowLeft" ? i - 1 : e.key === "ArrowRight" ? i + 1 : e.key === "Home" ? 0 : e.key === "End" ? bars.length - 1 : null;
    if (next === null || !bars[next]) return;
    e.preventDefault();
    bars[i]?.setAttribute("tabindex", "-1");
    bars[next].setAttribute("tabindex", "0");
    bars[next].focus();
  });

  const legend = h("ul", { className: "legend", "aria-label": "Resource types in the chart" },
    types.map((t) => h("li", {},
      h("span", { className: "swatch", style: `background:${colorFor(t, resourceOrder)}`, "aria-hidden": "true" }),
      `${humanize(t)} `, h("span", { className: "muted" }, formatNumber(totals.get(t) ?? 0)))),
  );
  return { svg, legend, total };
}

function indexOr(order: readonly string[], v: string): number {
  const i = order.indexOf(v);
  return i < 0 ? order.length : i;
}

function niceMax(max: number): number {
  if (max <= 4) return 4;
  const magnitude = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * magnitude >= max) return m * magnitude;
  }
  return 10 * magnitude;
}

function formatCompact(n: number): string {
  return new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 }).format(n);
}
