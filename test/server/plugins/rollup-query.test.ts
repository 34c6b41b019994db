// Which requests the rollups answer (src/server/plugins/rollup-query.ts):
// the decisions themselves; test/server/rollup-aggregates.test.ts checks the
// answers against the log.
import { describe, expect, it } from "vitest";
import { fitsShape, rollupQueryOf, shapeOfGrouping } from "../../../src/server/plugins/rollup-query.ts";

describe("rollupQueryOf", () => {
  it("takes a time range and one set per account, resource type, action and event, also inside `and`", () => {
    expect(rollupQueryOf(null, null)).toEqual({ lower: [], upper: [], sets: {} });
    expect(rollupQueryOf({}, {})).toEqual({ lower: [], upper: [], sets: {} });
    expect(rollupQueryOf({
      occurredAt: { greaterThan: "a", lessThanOrEqualTo: "b" },
      and: [{ occurredAt: { greaterThanOrEqualTo: "c" } }, { resourceType: { in: ["process"] } }],
      accountId: { equalTo: "acc" },
    }, { action: "update", event: undefined })).toEqual({
      lower: [{ value: "a", inclusive: false }, { value: "c", inclusive: true }],
      upper: [{ value: "b", inclusive: true }],
      sets: { resourceTypes: ["process"], accountIds: ["acc"], actions: ["update"] },
    });
    expect(rollupQueryOf({ occurredAt: { equalTo: "t" } }, null)).toEqual({
      lower: [{ value: "t", inclusive: true }], upper: [{ value: "t", inclusive: true }], sets: {},
    });
    expect(rollupQueryOf({ event: { in: [] } }, null)?.sets).toEqual({ events: [] });
  });

  it("leaves to the log whatever the rollups do not carry or cannot combine", () => {
    for (const filter of [
      { actorId: { equalTo: "u" } },
      { entityId: { equalTo: "e" } },
      { or: [{ action: { equalTo: "update" } }] },
      { not: { action: { equalTo: "update" } } },
      { action: { notEqualTo: "update" } },
      { action: { notIn: ["update"] } },
      { accountId: { isNull: true } },
      { event: { startsWith: "process." } },
      { action: { equalTo: "update" }, and: [{ action: { in: ["update"] } }] },
      { newValues: { contains: {} } },
      { and: "not a list" },
    ]) {
      expect(rollupQueryOf(filter, null), JSON.stringify(filter)).toBeNull();
    }
    expect(rollupQueryOf(null, { accountId: null })).toBeNull();
    expect(rollupQueryOf(null, { actorId: "u" })).toBeNull();
    expect(rollupQueryOf({ action: { equalTo: "update" } }, { action: "update" })).toBeNull();
  });
});

describe("shapeOfGrouping", () => {
  it("asks for the finest bucket any key needs, and per kind when a kind is a key", () => {
    expect(shapeOfGrouping([])).toEqual({ bucket: "total", byKind: false });
    expect(shapeOfGrouping(["RESOURCE_TYPE"])).toEqual({ bucket: "total", byKind: true });
    expect(shapeOfGrouping(["OCCURRED_AT_DAY_OF_WEEK"])).toEqual({ bucket: "day", byKind: false });
    expect(shapeOfGrouping(["OCCURRED_AT_TRUNCATED_TO_DAY", "OCCURRED_AT_HOUR_OF_DAY", "EVENT"])).toEqual({ bucket: "hour", byKind: true });
    expect(shapeOfGrouping(["OCCURRED_AT_TRUNCATED_TO_HOUR", "OCCURRED_AT_TRUNCATED_TO_DAY"])).toEqual({ bucket: "hour", byKind: false });
  });

  it("has no shape for keys the rollups do not carry", () => {
    for (const key of ["ACTOR_ID", "ACCOUNT_ID", "ACTOR_EMAIL", "ACTOR_NAME", "ACTOR_TYPE", 3, null]) {
      expect(shapeOfGrouping(["EVENT", key]), String(key)).toBeNull();
    }
  });
});

describe("fitsShape", () => {
  const now = Date.parse("2026-11-30T12:00:00Z");
  const hourly = { bucket: "hour", byKind: false } as const;
  it("hourly counts need a lower bound within 400 days of the end (or now)", () => {
    const from = (value: string) => ({ lower: [{ value, inclusive: true }], upper: [], sets: {} });
    expect(fitsShape(from("2026-01-01T00:00:00Z"), hourly, now)).toBe(true);
    expect(fitsShape(from("2025-10-01T00:00:00Z"), hourly, now)).toBe(false);
    expect(fitsShape({ lower: [], upper: [], sets: {} }, hourly, now)).toBe(false);
    expect(fitsShape(from("last tuesday"), hourly, now)).toBe(false);
    expect(fitsShape({ ...from("2020-01-01T00:00:00Z"), upper: [{ value: "2020-06-01T00:00:00Z", inclusive: false }] }, hourly, now)).toBe(true);
    // Days and totals have no limit.
    expect(fitsShape({ lower: [], upper: [], sets: {} }, { bucket: "day", byKind: true }, now)).toBe(true);
  });
});
