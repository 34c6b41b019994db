// Per-tenant detector settings (migrations/current.sql, sections 4 and 8):
// the owner's setter validates a whole document (clear 22023 errors that
// name the problem, nothing changed), fills defaults and records
// security_policy.updated; the API's patch merges key by key and is for
// tenant admins only.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../../support/database.ts";
import {
  alertsOf, asApiAdmin, createTenant, detectUntil, failure, provision, setDetectorSettings, write, type Claims, type Tenant,
} from "./support/security.ts";

let db: TestDatabase;
let auth: pg.Pool;
let defaults: Record<string, any>;

beforeAll(async () => {
  db = await createTestDatabase();
  auth = new pg.Pool({ connectionString: db.authUrl, max: 2 });
  auth.on("error", () => undefined);
  defaults = (await db.owner.query("select audit_private.default_detector_settings() as d")).rows[0].d;
});
afterAll(async () => {
  await auth?.end();
  await db?.drop();
});

async function stored(tenantId: string): Promise<unknown> {
  return (await db.owner.query("select settings from audit.detector_settings where tenant_id = $1", [tenantId])).rows[0]?.settings ?? null;
}

async function policyEntries(tenantId: string): Promise<any[]> {
  return (await db.owner.query("select * from audit.log where tenant_id = $1 and event = 'security_policy.updated' order by id", [tenantId])).rows;
}

const tenantAdminOf = (t: Tenant): Claims => ({ role: "tenant_admin", tenantId: t.id, sub: t.admin.id, email: t.admin.email, name: t.admin.name });

describe("audit.set_detector_settings: refused documents", () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await createTenant(db.app, "Refusals");
    await setDetectorSettings(db.owner, t.id, { detectors: { mass_change: { threshold: 80 } } });
  });

  const mc = (s: Record<string, unknown>) => ({ detectors: { mass_change: s } });
  const bh = (s: Record<string, unknown>) => ({ business_hours: s });
  const cases: [string, unknown, RegExp][] = [
    ["not an object", [], /detector settings must be a JSON object, got array/],
    ["an unknown top-level key", { bogus: 1 }, /detector settings: unknown key "bogus" \(expected business_hours, role_ranking, detectors\)/],
    ["an unknown detector", { detectors: { intrusion: {} } }, /detectors: unknown detector "intrusion" \(known: role_escalation, .*mass_change\)/],
    ["an unknown setting of a detector", mc({ limit: 5 }), /detectors\.mass_change: unknown setting "limit" \(known: enabled, threshold, window_minutes\)/],
    ["threshold 0", mc({ threshold: 0 }), /detectors\.mass_change\.threshold must be a whole number between 2 and 100000, got 0/],
    ["threshold 1", mc({ threshold: 1 }), /detectors\.mass_change\.threshold must be a whole number between 2 and 100000, got 1/],
    ["threshold 100001", mc({ threshold: 100001 }), /threshold must be a whole number between 2 and 100000, got 100001/],
    ["threshold 1.5", mc({ threshold: 1.5 }), /threshold must be a whole number between 2 and 100000, got 1\.5/],
    ['threshold "10"', mc({ threshold: "10" }), /threshold must be a whole number between 2 and 100000, got "10"/],
    ['threshold "ten"', { detectors: { member_addition_burst: { threshold: "ten" } } }, /detectors\.member_addition_burst\.threshold must be a whole number/],
    ["window_minutes 0", mc({ window_minutes: 0 }), /detectors\.mass_change\.window_minutes must be a whole number of minutes between 1 and 1440, got 0/],
    ['enabled "yes"', mc({ enabled: "yes" }), /detectors\.mass_change\.enabled must be true or false, got "yes"/],
    ["days [0]", bh({ days: [0] }), /business_hours\.days must be a list of distinct ISO weekdays, 1 \(Monday\) to 7 \(Sunday\).*got \[0\]/],
    ["days [8]", bh({ days: [8] }), /business_hours\.days must be a list of distinct ISO weekdays.*got \[8\]/],
    ["days [1,1]", bh({ days: [1, 1] }), /business_hours\.days must be a list of distinct ISO weekdays.*got \[1, 1\]/],
    ['days "1-5"', bh({ days: "1-5" }), /business_hours\.days must be a list of distinct ISO weekdays/],
    ['start "8:00"', bh({ start: "8:00" }), /business_hours\.start must be a time "HH:MM" \(00:00 to 24:00\), got "8:00"/],
    ['start "25:00"', bh({ start: "25:00" }), /business_hours\.start must be a time "HH:MM".*got "25:00"/],
    ["start after end", bh({ start: "18:00", end: "08:00" }), /business_hours: start \(18:00\) must be before end \(08:00\)/],
    ["start equal to end", bh({ start: "09:00", end: "09:00" }), /business_hours: start \(09:00\) must be before end \(09:00\)/],
    ["an unknown business_hours key", bh({ timezone: "UTC" }), /business_hours: unknown key "timezone" \(expected time_zone, days, start, end\)/],
    ['time zone "Mars/Base"', bh({ time_zone: "Mars/Base" }), /business_hours\.time_zone: unknown time zone "Mars\/Base"; use an IANA name/],
    ['POSIX time zone "UTC+5"', bh({ time_zone: "UTC+5" }), /business_hours\.time_zone: unknown time zone "UTC\+5"; use an IANA name/],
    ["min_role not in role_ranking", { detectors: { role_escalation: { min_role: "owner" } } },
      /detectors\.role_escalation\.min_role must be one of the roles of role_ranking \(viewer, member, admin\), got "owner"/],
    ["role_ranking with duplicates", { role_ranking: ["viewer", "admin", "admin"] }, /role_ranking must list 2 to 20 distinct role names from least to most privileged/],
    ['role_ranking "admin"', { role_ranking: "admin" }, /role_ranking must list 2 to 20 distinct role names/],
  ];

  it.each(cases)("%s: 22023 naming the problem, and nothing changes", async (_name, doc, message) => {
    const before = await stored(t.id);
    const entries = (await policyEntries(t.id)).length;
    const err = await failure(setDetectorSettings(db.owner, t.id, doc));
    expect(err.code).toBe("22023");
    expect(err.message).toMatch(message);
    expect(await stored(t.id)).toEqual(before);
    expect(await policyEntries(t.id)).toHaveLength(entries);
  });

  it("refuses an unknown tenant", async () => {
    const err = await failure(setDetectorSettings(db.owner, randomUUID(), {}));
    expect(err.code).toBe("22023");
    expect(err.message).toMatch(/audit\.set_detector_settings: no tenant with id/);
  });

  it('takes IANA names, including the legacy "EST5EDT" zone of the IANA database', async () => {
    for (const zone of ["Europe/Berlin", "America/New_York", "UTC", "EST5EDT"]) {
      const s = await setDetectorSettings(db.owner, t.id, { business_hours: { time_zone: zone } });
      expect(s.business_hours.time_zone).toBe(zone);
    }
  });
});

describe("audit.set_detector_settings: a valid document", () => {
  it("fills the defaults, normalises the days, stores it, and records security_policy.updated with old and new values", async () => {
    const t = await createTenant(db.app, "Valid");
    const doc = { business_hours: { time_zone: "Europe/Berlin", days: [5, 1, 2] }, detectors: { mass_change: { threshold: 80 } } };
    const result = await setDetectorSettings(db.owner, t.id, doc);
    const expected = structuredClone(defaults);
    expected.business_hours = { time_zone: "Europe/Berlin", days: [1, 2, 5], start: "08:00", end: "18:00" };
    expected.detectors.mass_change = { enabled: true, threshold: 80, window_minutes: 10 };
    expect(result).toEqual(expected);
    expect(await stored(t.id)).toEqual(expected);
    const entries = await policyEntries(t.id);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      tenant_id: t.id, account_id: null, action: "update", resource_type: "security_policy", entity_id: t.id, entity_label: "Detector settings",
      actor_type: "database_role", old_values: defaults, new_values: expected,
    });

    // The same document again: nothing to record.
    await setDetectorSettings(db.owner, t.id, doc);
    expect(await policyEntries(t.id)).toHaveLength(1);
    // A change: old and new are the stored documents.
    const next = await setDetectorSettings(db.owner, t.id, {});
    expect(next).toEqual(defaults);
    const [, second] = await policyEntries(t.id);
    expect(second).toMatchObject({ old_values: expected, new_values: defaults });
  });

  it("by an application actor: named as the capture names it", async () => {
    const t = await createTenant(db.app, "ValidActor");
    const c = await db.owner.connect();
    try {
      await c.query("begin");
      await c.query("select audit.set_context($1::jsonb)", [JSON.stringify({ actor_id: t.admin.id, actor_type: "user" })]);
      await c.query("select audit.set_detector_settings($1, '{\"detectors\": {\"mass_change\": {\"enabled\": false}}}')", [t.id]);
      await c.query("commit");
    } finally {
      c.release();
    }
    expect((await policyEntries(t.id))[0]).toMatchObject({ actor_type: "user", actor_id: t.admin.id, actor_email: t.admin.email });
  });
});

describe("audit.update_detector_settings (the API's patch)", () => {
  let t: Tenant;
  beforeAll(async () => {
    t = await createTenant(db.app, "Patch");
    await setDetectorSettings(db.owner, t.id, {
      business_hours: { time_zone: "Europe/Berlin", days: [1, 2, 3, 4], start: "07:00", end: "19:00" },
      detectors: { mass_change: { threshold: 80, window_minutes: 15 } },
    });
  });

  const patch = (claims: Claims, p: unknown) => asApiAdmin<{ s: any }>(auth, claims, "select audit.update_detector_settings($1::jsonb) as s", [JSON.stringify(p)]);

  it("merges business_hours key by key and a detector's settings key by key; lists replace; records the admin of the token", async () => {
    const before = await stored(t.id) as any;
    const entries = (await policyEntries(t.id)).length;
    const { rows } = await patch(tenantAdminOf(t), {
      business_hours: { time_zone: "America/New_York" },
      detectors: { mass_change: { window_minutes: 30 }, role_escalation: { min_role: "member" } },
      role_ranking: ["viewer", "member", "admin"],
    });
    const after = rows[0]!.s;
    expect(after.business_hours).toEqual({ time_zone: "America/New_York", days: [1, 2, 3, 4], start: "07:00", end: "19:00" });
    expect(after.detectors.mass_change).toEqual({ enabled: true, threshold: 80, window_minutes: 30 });
    expect(after.detectors.role_escalation).toEqual({ enabled: true, min_role: "member", window_minutes: 60 });
    expect(after.detectors.member_addition_burst).toEqual(before.detectors.member_addition_burst);
    expect(after.detectors.after_hours_settings_change).toEqual(before.detectors.after_hours_settings_change);
    expect(await stored(t.id)).toEqual(after);
    const { rows: [row] } = await db.owner.query("select updated_by from audit.detector_settings where tenant_id = $1", [t.id]);
    expect(row.updated_by).toBe(t.admin.email);
    const logged = await policyEntries(t.id);
    expect(logged).toHaveLength(entries + 1);
    expect(logged.at(-1)).toMatchObject({
      actor_type: "user", actor_id: t.admin.id, actor_email: t.admin.email, actor_name: t.admin.name, context: { source: "api" },
      old_values: before, new_values: after,
    });
    // The reader returns the same, complete document.
    const read = await asApiAdmin<{ s: unknown }>(auth, tenantAdminOf(t), "select audit.detector_settings_document() as s");
    expect(read.rows[0]!.s).toEqual(after);
  });

  it("validates the merged document whole: a bad patch is refused (22023) and changes nothing", async () => {
    const before = await stored(t.id);
    const entries = (await policyEntries(t.id)).length;
    for (const [p, message] of [
      [{ detectors: { mass_change: { threshold: 0 } } }, /detectors\.mass_change\.threshold must be a whole number/],
      [{ business_hours: { start: "20:00" } }, /business_hours: start \(20:00\) must be before end \(19:00\)/],
      [{ detectors: { intrusion: { enabled: true } } }, /unknown detector "intrusion"/],
      [{ business_hours: "always" }, /updateDetectorSettings: business_hours must be an object/],
      [[1, 2], /updateDetectorSettings: patch must be a JSON object/],
    ] as [unknown, RegExp][]) {
      const err = await failure(patch(tenantAdminOf(t), p));
      expect(err.code, JSON.stringify(p)).toBe("22023");
      expect(err.message).toMatch(message);
    }
    expect(await stored(t.id)).toEqual(before);
    expect(await policyEntries(t.id)).toHaveLength(entries);
  });

  it("refuses account admins (42501) with a message saying what they cannot do, and tokens without an admin", async () => {
    const before = await stored(t.id);
    const accountAdmin: Claims = { role: "account_admin", tenantId: t.id, accountId: t.accountId, sub: t.member.id };
    const err = await failure(patch(accountAdmin, { detectors: { mass_change: { enabled: false } } }));
    expect(err.code).toBe("42501");
    expect(err.message).toBe("updateDetectorSettings: only tenant admins can change the detector settings; this token is an account admin's");
    const read = await failure(asApiAdmin(auth, accountAdmin, "select audit.detector_settings_document()"));
    expect(read.code).toBe("42501");
    expect(read.message).toMatch(/only tenant admins can read the detector settings/);
    const unclaimed = await failure(db.owner.query("select audit.update_detector_settings('{}')"));
    expect(unclaimed.code).toBe("42501");
    expect(unclaimed.message).toMatch(/updateDetectorSettings: no admin scope/);
    expect(await stored(t.id)).toEqual(before);
  });
});

describe("a whole number written with a decimal point (threshold 50.0, window_minutes 60.0)", () => {
  it("is refused, or accepted and then works: detect() keeps running for every tenant", async () => {
    const odd = await createTenant(db.app, "DecimalPoint");
    const bystander = await createTenant(db.app, "Bystander");
    let accepted = true;
    try {
      await db.owner.query(`select audit.set_detector_settings($1, '{"detectors": {"mass_change": {"threshold": 50.0}, "role_escalation": {"window_minutes": 60.0}}}')`, [odd.id]);
    } catch (err) {
      accepted = false;
      expect((err as { code?: string }).code).toBe("22023");
    }
    try {
      await provision(db.app, (c) => c.query("insert into app.processes (tenant_id, account_id, name) values ($1, $2, 'one')", [odd.id, odd.accountId]));
      const a = await write(db.app, odd.admin.id, (c) => c.query("update app.processes set description = 'x' where tenant_id = $1", [odd.id]));
      const b = await write(db.app, bystander.admin.id, (c) => c.query("update app.memberships set role = 'admin' where id = $1", [bystander.memberships.viewer]));
      await detectUntil(db.owner, a.xid, b.xid);
      expect(await alertsOf(db.owner, bystander.id, "role_escalation")).toHaveLength(1);
      if (accepted) {
        const s = await stored(odd.id) as any;
        expect(Number(s.detectors.mass_change.threshold)).toBe(50);
      }
    } finally {
      // Leave the database's detectors working for whatever runs after this test.
      await db.owner.query("delete from audit.detector_settings where tenant_id = $1", [odd.id]);
    }
  });
});
