// The page's filters without a browser: URL ⇄ state, pinned ranges, the
// GraphQL filter.
import { describe, expect, test } from "vitest";
import { EMPTY_FILTERS, filtersToParams, parseFilters, resolveFilters, toGraphQLFilter } from "../../src/browser/filter-state.ts";

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
    const base = { actorId: null, entityId: null, resourceType: null, from: null, to: null };
    expect(toGraphQLFilter({ ...base, action: "member.removed" })).toEqual({ event: { equalTo: "member.removed" } });
    expect(toGraphQLFilter({ ...base, action: "update", from: "a", to: "b" })).toEqual({
      action: { equalTo: "update" }, occurredAt: { greaterThanOrEqualTo: "a", lessThan: "b" },
    });
  });
});
