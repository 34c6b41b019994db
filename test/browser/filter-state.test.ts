// The page's filters without a browser: URL ⇄ state, pinned ranges, the
// GraphQL filter.
import { describe, expect, test } from "vitest";
import { EMPTY_FILTERS, filtersToParams, parseFilters, resolveFilters, resolvedToParams, toGraphQLFilter } from "../../src/browser/filter-state.ts";

const USER = "0b7c2e52-8f7e-4a55-9d6c-1f3b7b0f2a11";

describe("filters", () => {
  test("URL round trip; the default range is left out", () => {
    const f = { ...EMPTY_FILTERS, action: "member.removed", resourceType: "member", actorId: USER, entityId: "abc" };
    const params = filtersToParams(f);
    expect(params.toString()).toBe(`action=member.removed&resource=member&user=${USER}&entity=abc`);
    expect(parseFilters(params)).toEqual(f);
    expect(filtersToParams(EMPTY_FILTERS).toString()).toBe("");
  });

  test("hand-edited nonsense is dropped, not fatal", () => {
    const f = parseFilters(new URLSearchParams("action=DROP TABLE&resource=1&range=1y&user=nobody&from=yesterday"));
    expect(f).toEqual(EMPTY_FILTERS);
  });

  test("bounds without a range mean a custom range; custom bounds are normalised to ISO", () => {
    const f = parseFilters(new URLSearchParams("from=2026-01-01T00:00:00%2B01:00"));
    expect(f.range).toBe("custom");
    expect(f.from).toBe("2025-12-31T23:00:00.000Z");
    expect(f.to).toBeNull();
  });

  test("relative ranges are pinned to instants once, upper bound exclusive", () => {
    const now = new Date("2026-03-10T12:00:00.000Z");
    const r = resolveFilters({ ...EMPTY_FILTERS, range: "7d" }, now);
    expect(r.from).toBe("2026-03-03T12:00:00.000Z");
    expect(r.to).toBe("2026-03-10T12:00:00.001Z");
  });

  test("GraphQL filter: an event name filters the event, an action the action", () => {
    const base = { actorId: null, entityId: null, entityLabel: null, resourceType: null, from: null, to: null };
    expect(toGraphQLFilter({ ...base, action: "member.removed" })).toEqual({ event: { equalTo: "member.removed" } });
    expect(toGraphQLFilter({ ...base, action: "update", from: "a", to: "b" })).toEqual({
      action: { equalTo: "update" }, occurredAt: { greaterThanOrEqualTo: "a", lessThan: "b" },
    });
  });
});

describe("entity name filter", () => {
  test("round-trips through the URL as `label`, after the other filters", () => {
    const f = { ...EMPTY_FILTERS, resourceType: "process", entityLabel: "Invoice bot" };
    const params = filtersToParams(f);
    expect(params.toString()).toBe("resource=process&label=Invoice+bot");
    expect(parseFilters(params)).toEqual(f);
  });

  test("is a prefix in the GraphQL filter and reaches the export's parameters", () => {
    const r = resolveFilters({ ...EMPTY_FILTERS, entityLabel: "Invoice" }, new Date("2026-03-10T12:00:00.000Z"));
    expect(toGraphQLFilter(r)).toMatchObject({ entityLabel: { startsWithInsensitive: "Invoice" } });
    expect(resolvedToParams(r).get("label")).toBe("Invoice");
  });

  test("a label longer than any recorded one, or with a NUL, is dropped", () => {
    expect(parseFilters(new URLSearchParams({ label: "x".repeat(501) })).entityLabel).toBeNull();
    expect(parseFilters(new URLSearchParams({ label: "a\0b" })).entityLabel).toBeNull();
    expect(parseFilters(new URLSearchParams({ label: "  Ada  " })).entityLabel).toBe("Ada");
  });
});
