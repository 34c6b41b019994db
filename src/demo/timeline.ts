// The demo's story: six months of a few tenants' life, as a chronological
// list of transactions against the business tables (app.*). Each
// transaction names its actor(s) through audit.set_context, exactly like an
// application would; the capture triggers turn the writes into audit entries.
// Dates are planned here and applied afterwards (see load.ts), because a
// transaction's now() cannot be in the past.
//
// Besides everyday activity (nightly jobs, process edits, invitations,
// settings, API keys, licenses), Acme Robotics gets the episodes the seed's
// use cases ask about: a rotation of the RPA credentials by the wrong person
// at night, an API key created by a plain member, a self-granted role
// escalation, a mass deletion, and a member removed from an account.
import type { DemoAccount, DemoPerson, DemoTenant } from "./cast.ts";
import { Random } from "./random.ts";
import { insertRows, lit } from "./sql-literal.ts";

export interface DemoActor {
  actor_type: "user" | "api_key" | "system";
  actor_id?: string;
  actor_name?: string;
}

export interface DemoStep {
  actor: DemoActor;
  context: Record<string, string>;
  sql: string[];
}

export interface DemoTransaction {
  /** When it happened (applied to its entries afterwards). */
  at: Date;
  tenantId: string;
  steps: DemoStep[];
  /** Runs as the owner, not as app_user: what the owner or a DBA does (detector settings). */
  asOwner?: boolean;
}

const DAY_MS = 86_400_000;
const MINUTE_MS = 60_000;
/** How far back the story starts. */
export const DEMO_DAYS = 182;

interface Process {
  id: string;
  account: DemoAccount;
  name: string;
  deleted: boolean;
  members: { id: string; userId: string }[];
}
interface Membership {
  id: string;
  userId: string;
  accountId: string | null;
  role: string;
}
interface ApiKey {
  id: string;
  accountId: string | null;
  name: string;
  revoked: boolean;
}
interface Setting {
  id: string;
  accountId: string | null;
  key: string;
  value: Record<string, unknown>;
}
interface Invitation {
  id: string;
  account: DemoAccount;
  email: string;
  name: string;
  role: string;
  acceptOn: number;
}

const PROCESS_NAMES = [
  "Invoice sync", "Vendor onboarding", "Payroll export", "Order intake", "Ticket triage", "Stock reconciliation",
  "Customs declarations", "Expense approval", "Contract renewal", "Bank statement import", "Timesheet check",
  "Credit note matching", "Shipment tracking", "Supplier scorecard", "Headcount report", "Leave requests",
  "Purchase order match", "Dunning letters", "Price list update", "Returns processing", "Freight audit",
  "Asset register", "Tax filing prep", "CRM dedupe", "Lead routing", "Warranty claims",
];
const BROWSERS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/141.0 Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 Version/18.1 Safari/605.1.15",
  "Mozilla/5.0 (X11; Linux x86_64; rv:144.0) Gecko/20100101 Firefox/144.0",
];
const GIVEN = ["Nora", "Ivan", "Priya", "Tomás", "Yuki", "Amara", "Jonas", "Leila", "Marek", "Sofia", "Omar", "Elena"];
const FAMILY = ["Berg", "Costa", "Novak", "Okafor", "Tanaka", "Silva", "Fischer", "Haddad", "Kowalski", "Moreau"];

class TenantStory {
  readonly transactions: DemoTransaction[] = [];
  private readonly rng: Random;
  private readonly start: number;
  private readonly users = new Map<string, DemoPerson & { active: boolean }>();
  private readonly memberships: Membership[] = [];
  private readonly processes: Process[] = [];
  private readonly apiKeys: ApiKey[] = [];
  private readonly settings: Setting[] = [];
  private readonly invitations: Invitation[] = [];
  private readonly accountNames = new Map<string, string>();
  private licenseId = "";
  private seats = 25;

  private readonly tenant: DemoTenant;
  private readonly now: Date;

  constructor(tenant: DemoTenant, now: Date) {
    this.tenant = tenant;
    this.now = now;
    this.rng = new Random(tenant.seed);
    // Midnight UTC, DEMO_DAYS ago.
    this.start = Math.floor(now.getTime() / DAY_MS) * DAY_MS - DEMO_DAYS * DAY_MS;
  }

  // ---------------------------------------------------------------- helpers

  private at(day: number, hour: number, minute = this.rng.int(0, 59)): Date {
    return new Date(this.start + day * DAY_MS + hour * 3_600_000 + minute * MINUTE_MS + this.rng.int(0, 59_999));
  }

  private businessTime(day: number): Date {
    return this.at(day, this.rng.int(7, 16), this.rng.int(0, 59));
  }

  private webContext(ip?: string): Record<string, string> {
    return {
      request_id: `req_${this.rng.hex(16)}`,
      ip: ip ?? `198.51.100.${this.rng.int(10, 60)}`,
      user_agent: this.rng.pick(BROWSERS),
    };
  }

  private user(person: DemoPerson): DemoActor {
    return { actor_type: "user", actor_id: person.id };
  }

  private push(at: Date, steps: DemoStep[]): void {
    this.transactions.push({ at, tenantId: this.tenant.id, steps });
  }

  private as(person: DemoPerson, at: Date, sql: string[], context = this.webContext()): void {
    this.push(at, [{ actor: this.user(person), context, sql }]);
  }

  private system(name: string, at: Date, sql: string[], context: Record<string, string> = {}): void {
    this.push(at, [{ actor: { actor_type: "system", actor_name: name }, context: { run_id: `run_${this.rng.hex(12)}`, ...context }, sql }]);
  }

  private get tenantAdmin(): DemoPerson {
    return this.tenant.people.find((p) => p.role === "tenant_admin")!;
  }

  private adminOf(account: DemoAccount): DemoPerson {
    const index = this.tenant.accounts.indexOf(account);
    return this.tenant.people.find((p) => p.role === "admin" && p.account === index) ?? this.tenantAdmin;
  }

  private activeMembersOf(account: DemoAccount): (DemoPerson & { active: boolean })[] {
    const ids = new Set(this.memberships.filter((m) => m.accountId === account.id).map((m) => m.userId));
    return [...this.users.values()].filter((u) => u.active && ids.has(u.id));
  }

  private activeProcesses(account?: DemoAccount): Process[] {
    return this.processes.filter((p) => !p.deleted && (!account || p.account === account));
  }

  private newProcessRows(account: DemoAccount, count: number): { rows: Record<string, string>[]; created: Process[] } {
    const created: Process[] = [];
    for (let i = 0; i < count; i++) {
      const base = this.rng.pick(PROCESS_NAMES);
      const taken = this.processes.filter((p) => p.name.startsWith(base)).length;
      created.push({ id: this.rng.uuid(), account, name: taken ? `${base} ${taken + 1}` : base, deleted: false, members: [] });
    }
    this.processes.push(...created);
    return {
      created,
      rows: created.map((p) => ({ id: p.id, tenant_id: this.tenant.id, account_id: account.id, name: p.name, description: `${p.name} (${account.name})` })),
    };
  }

  private membershipRow(m: Membership) {
    return { id: m.id, tenant_id: this.tenant.id, account_id: m.accountId, user_id: m.userId, role: m.role };
  }

  // ------------------------------------------------------------------ story

  write(): DemoTransaction[] {
    this.onboarding();
    for (let day = 1; day <= DEMO_DAYS; day++) {
      this.nightlyJobs(day);
      const weekday = new Date(this.start + day * DAY_MS).getUTCDay();
      const workday = weekday >= 1 && weekday <= 5;
      const actions = workday ? this.rng.int(0, Math.round(this.tenant.activity * 2)) : this.rng.chance(0.15) ? 1 : 0;
      const times = Array.from({ length: actions }, () => this.businessTime(day)).sort((a, b) => a.getTime() - b.getTime());
      for (const at of times) this.everyday(day, at);
      this.acceptInvitations(day);
      if (day % 30 === 15) this.rotateCredentials(day);
      if (day === 92) this.renewLicense(day);
      if (day === 140) this.addSeats(day);
      if (this.tenant.incidents) this.incidents(day);
    }
    const latest = this.now.getTime() - MINUTE_MS;
    return this.transactions.filter((t) => t.at.getTime() < latest);
  }

  private onboarding(): void {
    const t = this.tenant;
    const setupAt = this.at(0, 9, 0);
    for (const p of t.people) this.users.set(p.id, { ...p, active: true });
    for (const p of t.people) {
      this.memberships.push({
        id: this.rng.uuid(),
        userId: p.id,
        accountId: p.role === "tenant_admin" ? null : t.accounts[p.account]!.id,
        role: p.role === "tenant_admin" ? "admin" : p.role,
      });
    }
    this.licenseId = this.rng.uuid();
    this.system("onboarding", setupAt, [
      insertRows("app.tenants", [{ id: t.id, name: t.name }]),
      insertRows("app.accounts", t.accounts.map((a) => ({ id: a.id, tenant_id: t.id, name: a.name }))),
      insertRows("app.users", t.people.map((p) => ({ id: p.id, tenant_id: t.id, email: p.email, name: p.name }))),
      insertRows("app.memberships", this.memberships.map((m) => this.membershipRow(m))),
      insertRows("app.licenses", [
        { id: this.licenseId, tenant_id: t.id, plan: "business", seats: this.seats, activated_at: setupAt, expires_at: new Date(setupAt.getTime() + 365 * DAY_MS) },
      ]),
    ]);

    // The tenant admin configures the tenant and each account's RPA credentials.
    const admin = this.tenantAdmin;
    const tenantSetting: Setting = { id: this.rng.uuid(), accountId: null, key: "security.mfa_required", value: { enabled: true } };
    const credentials = t.accounts.map<Setting>((a) => ({
      id: this.rng.uuid(),
      accountId: a.id,
      key: "rpa.credentials",
      value: { username: `svc-rpa-${a.name.toLowerCase().replace(/\W+/g, "-")}`, password: this.rng.hex(20), vault: "primary" },
    }));
    this.settings.push(tenantSetting, ...credentials);
    this.as(admin, this.at(0, 9, 20), [
      insertRows("app.settings", [tenantSetting, ...credentials].map((s) => ({ id: s.id, tenant_id: t.id, account_id: s.accountId, key: s.key, value: { json: s.value } }))),
    ]);
    // The tenant admin has the tenant's detector settings set (the owner's
    // audit.set_detector_settings; recorded as security_policy.updated).
    this.transactions.push({
      // (no draw from the story's generator: the rest of the story stays as it was)
      at: new Date(this.start + 9 * 3_600_000 + 25 * MINUTE_MS),
      tenantId: t.id,
      asOwner: true,
      steps: [{ actor: this.user(admin), context: { request_id: "req_demo_detector_settings" }, sql: [`select audit.set_detector_settings(${lit(t.id)}, ${lit({ json: t.detectorSettings })})`] }],
    });
    const key: ApiKey = { id: this.rng.uuid(), accountId: null, name: "Nightly integration", revoked: false };
    this.apiKeys.push(key);
    this.as(admin, this.at(0, 9, 35), [this.apiKeyInsert(key, admin)]);

    // A process sync brings in each account's processes; admins assign people.
    t.accounts.forEach((account, i) => {
      const { rows } = this.newProcessRows(account, this.rng.int(6, 10));
      this.system("process-sync", this.at(0, 10, 5 + i * 7), [insertRows("app.processes", rows)], { source: "orchestrator" });
    });
    t.accounts.forEach((account, i) => {
      const members = this.activeMembersOf(account);
      const rows = this.activeProcesses(account).flatMap((p) =>
        members.filter(() => this.rng.chance(0.5)).map((u) => {
          const id = this.rng.uuid();
          p.members.push({ id, userId: u.id });
          return { id, tenant_id: t.id, account_id: account.id, process_id: p.id, user_id: u.id };
        }),
      );
      if (rows.length) this.as(this.adminOf(account), this.at(0, 11, 10 + i * 9), [insertRows("app.process_members", rows)]);
    });
  }

  private apiKeyInsert(key: ApiKey, creator: DemoPerson): string {
    return insertRows("app.api_keys", [
      { id: key.id, tenant_id: this.tenant.id, account_id: key.accountId, name: key.name, key_hash: `sha256:${this.rng.hex(64)}`, created_by: creator.id },
    ]);
  }

  private nightlyJobs(day: number): void {
    for (const account of this.tenant.accounts) {
      if (!this.rng.chance(this.tenant.nightlyJobs)) continue;
      const processes = this.activeProcesses(account);
      if (processes.length === 0) continue;
      const count = Math.min(processes.length, this.rng.int(1, 4));
      const startedAt = this.at(day, this.rng.int(1, 3));
      const rows = Array.from({ length: count }, (_, i) => {
        const r = this.rng.next();
        const status = r < 0.86 ? "completed" : r < 0.97 ? "failed" : "cancelled";
        const started = new Date(startedAt.getTime() + i * 4 * MINUTE_MS);
        return {
          id: this.rng.uuid(),
          tenant_id: this.tenant.id,
          account_id: account.id,
          process_id: this.rng.pick(processes).id,
          status,
          started_at: started,
          finished_at: new Date(started.getTime() + this.rng.int(20, 600) * 1000),
        };
      });
      const key = this.apiKeys.find((k) => !k.revoked && (k.accountId === null || k.accountId === account.id));
      if (this.tenant.jobsByApiKey && key) {
        this.push(startedAt, [
          {
            actor: { actor_type: "api_key", actor_id: key.id },
            context: { request_id: `req_${this.rng.hex(16)}`, ip: "203.0.113.20", user_agent: "globex-orchestrator/3.2" },
            sql: [insertRows("app.jobs", rows)],
          },
        ]);
      } else {
        this.system("scheduler", startedAt, [insertRows("app.jobs", rows)], { schedule: "nightly" });
      }
    }
  }

  private everyday(day: number, at: Date): void {
    const account = this.rng.pick(this.tenant.accounts);
    const admin = this.adminOf(account);
    const members = this.activeMembersOf(account);
    const worker = members.find((m) => m.role !== "viewer" && this.rng.chance(0.5)) ?? admin;
    const processes = this.activeProcesses(account);
    const roll = this.rng.next();

    if (roll < 0.3 && processes.length) {
      const p = this.rng.pick(processes);
      this.as(worker, at, [`update app.processes set description = ${lit(`${p.name}: ${this.rng.pick(["new selectors", "retry on timeout", "owner changed", "schedule moved", "fixed mapping"])}`)} where id = ${lit(p.id)}`]);
    } else if (roll < 0.42) {
      const { rows } = this.newProcessRows(account, 1);
      this.as(admin, at, [insertRows("app.processes", rows)]);
    } else if (roll < 0.56 && processes.length && members.length) {
      const p = this.rng.pick(processes);
      const assigned = p.members.length ? this.rng.pick(p.members) : null;
      if (assigned && this.rng.chance(0.4)) {
        p.members.splice(p.members.indexOf(assigned), 1);
        this.as(admin, at, [`delete from app.process_members where id = ${lit(assigned.id)}`]);
      } else {
        const u = this.rng.pick(members);
        if (p.members.some((m) => m.userId === u.id)) return;
        const id = this.rng.uuid();
        p.members.push({ id, userId: u.id });
        this.as(admin, at, [insertRows("app.process_members", [{ id, tenant_id: this.tenant.id, account_id: account.id, process_id: p.id, user_id: u.id }])]);
      }
    } else if (roll < 0.64) {
      const s = this.settings.find((x) => x.key === "notifications.digest" && x.accountId === account.id);
      const value = { frequency: this.rng.pick(["daily", "weekly", "off"]), recipients: [admin.email] };
      if (s) {
        s.value = value;
        this.as(admin, at, [`update app.settings set value = ${lit({ json: value })} where id = ${lit(s.id)}`]);
      } else {
        const id = this.rng.uuid();
        this.settings.push({ id, accountId: account.id, key: "notifications.digest", value });
        this.as(admin, at, [insertRows("app.settings", [{ id, tenant_id: this.tenant.id, account_id: account.id, key: "notifications.digest", value: { json: value } }])]);
      }
    } else if (roll < 0.72) {
      const name = `${this.rng.pick(GIVEN)} ${this.rng.pick(FAMILY)}`;
      const email = `${name.toLowerCase().normalize("NFD").replace(/[^a-z ]/g, "").replace(" ", ".")}.${this.rng.int(1, 99)}@${this.tenant.domain}`;
      const invitation: Invitation = { id: this.rng.uuid(), account, email, name, role: this.rng.pick(["member", "member", "viewer"]), acceptOn: day + this.rng.int(0, 3) };
      this.invitations.push(invitation);
      this.as(admin, at, [
        insertRows("app.invitations", [
          { id: invitation.id, tenant_id: this.tenant.id, account_id: account.id, email, role: invitation.role, invited_by: admin.id, expires_at: new Date(at.getTime() + 14 * DAY_MS) },
        ]),
      ]);
    } else if (roll < 0.78) {
      const u = this.rng.pick([...this.users.values()].filter((x) => x.active));
      const renamed = u.name.includes("(") ? u.name.replace(/ \(.*\)$/, "") : `${u.name} (${this.rng.pick(["contractor", "on leave", "new team"])})`;
      u.name = renamed;
      this.as(u, at, [`update app.users set name = ${lit(renamed)} where id = ${lit(u.id)}`]);
    } else if (roll < 0.82 && processes.length > 3) {
      const p = this.rng.pick(processes);
      p.deleted = true;
      this.as(admin, at, [`update app.processes set deleted_at = ${lit(at)} where id = ${lit(p.id)}`]);
    } else if (roll < 0.84) {
      const p = this.processes.find((x) => x.deleted && x.account === account);
      if (!p) return;
      p.deleted = false;
      this.as(admin, at, [`update app.processes set deleted_at = null where id = ${lit(p.id)}`]);
    } else if (roll < 0.88) {
      const m = this.memberships.find((x) => x.accountId === account.id && x.role === "viewer");
      if (!m) return;
      m.role = "member";
      this.as(this.tenantAdmin, at, [`update app.memberships set role = 'member' where id = ${lit(m.id)}`]);
    } else if (roll < 0.93) {
      const live = this.apiKeys.filter((k) => !k.revoked && k.accountId === account.id);
      if (live.length > 1 || (live.length === 1 && this.rng.chance(0.5))) {
        const k = live[0]!;
        k.revoked = true;
        this.as(admin, at, [`update app.api_keys set revoked_at = ${lit(at)} where id = ${lit(k.id)}`]);
      } else {
        const key: ApiKey = { id: this.rng.uuid(), accountId: account.id, name: `${account.name} ${this.rng.pick(["reporting", "webhook", "BI export", "sync"])} key`, revoked: false };
        this.apiKeys.push(key);
        this.as(admin, at, [this.apiKeyInsert(key, admin)]);
      }
    } else if (roll < 0.97) {
      // Only people who joined later leave this way (the cast keeps its roles).
      const m = this.memberships.find((x) => x.accountId === account.id && x.role !== "admin" && !this.tenant.people.some((p) => p.id === x.userId));
      if (!m) return;
      this.memberships.splice(this.memberships.indexOf(m), 1);
      this.as(this.tenantAdmin, at, [`delete from app.memberships where id = ${lit(m.id)}`]);
    } else {
      const current = this.accountNames.get(account.id) ?? account.name;
      const renamed = current === account.name ? `${account.name} Team` : account.name;
      this.accountNames.set(account.id, renamed);
      this.as(this.tenantAdmin, at, [`update app.accounts set name = ${lit(renamed)} where id = ${lit(account.id)}`]);
    }
  }

  /** Invited people sign up: the user is created by the sign-up service, then accepts as themselves. */
  private acceptInvitations(day: number): void {
    for (const inv of this.invitations.filter((i) => i.acceptOn === day)) {
      this.invitations.splice(this.invitations.indexOf(inv), 1);
      if (this.rng.chance(0.15)) continue; // never accepted
      const person: DemoPerson = { id: this.rng.uuid(), name: inv.name, email: inv.email, role: inv.role as DemoPerson["role"], account: this.tenant.accounts.indexOf(inv.account) };
      const membership: Membership = { id: this.rng.uuid(), userId: person.id, accountId: inv.account.id, role: inv.role };
      this.users.set(person.id, { ...person, active: true });
      this.memberships.push(membership);
      const at = this.businessTime(day);
      const context = this.webContext(`203.0.113.${this.rng.int(100, 200)}`);
      this.push(at, [
        { actor: { actor_type: "system", actor_name: "sign-up" }, context, sql: [insertRows("app.users", [{ id: person.id, tenant_id: this.tenant.id, email: person.email, name: person.name }])] },
        {
          actor: this.user(person),
          context,
          sql: [`update app.invitations set accepted_at = ${lit(at)} where id = ${lit(inv.id)}`, insertRows("app.memberships", [this.membershipRow(membership)])],
        },
      ]);
    }
  }

  private rotateCredentials(day: number): void {
    // The monthly rotation is planned work: on the next weekday.
    const weekday = new Date(this.start + day * DAY_MS).getUTCDay();
    const workday = day + (weekday === 6 ? 2 : weekday === 0 ? 1 : 0);
    for (const s of this.settings.filter((x) => x.key === "rpa.credentials")) {
      const account = this.tenant.accounts.find((a) => a.id === s.accountId)!;
      s.value = { ...s.value, password: this.rng.hex(20) };
      this.as(this.adminOf(account), this.businessTime(workday), [`update app.settings set value = ${lit({ json: s.value })} where id = ${lit(s.id)}`]);
    }
  }

  private renewLicense(day: number): void {
    const at = this.businessTime(day);
    this.as(this.tenantAdmin, at, [
      `update app.licenses set activated_at = ${lit(at)}, expires_at = ${lit(new Date(at.getTime() + 365 * DAY_MS))} where id = ${lit(this.licenseId)}`,
    ]);
  }

  private addSeats(day: number): void {
    this.seats += 10;
    this.as(this.tenantAdmin, this.businessTime(day), [`update app.licenses set seats = ${this.seats} where id = ${lit(this.licenseId)}`]);
  }

  /** Acme's suspicious episodes, at fixed distances from today. */
  private incidents(day: number): void {
    const daysAgo = DEMO_DAYS - day;
    const [operations, finance] = this.tenant.accounts as [DemoAccount, DemoAccount, DemoAccount];
    const person = (name: string) => this.tenant.people.find((p) => p.name.startsWith(name))!;
    const max = person("Max");
    const oscar = person("Oscar");
    const linus = person("Linus");

    if (daysAgo === 100) {
      // A second sync fills Finance with processes (the ones deleted en masse later).
      const { rows } = this.newProcessRows(finance, 18);
      this.system("process-sync", this.at(day, 6, 30), [insertRows("app.processes", rows)], { source: "orchestrator" });
    }
    if (daysAgo === 60) {
      // "When was this user removed?": Linus leaves Finance.
      const m = this.memberships.find((x) => x.userId === linus.id && x.accountId === finance.id);
      if (m) {
        this.memberships.splice(this.memberships.indexOf(m), 1);
        this.as(this.tenantAdmin, this.at(day, 10, 15), [`delete from app.memberships where id = ${lit(m.id)}`]);
      }
    }
    if (daysAgo === 45) {
      // After hours (02:47 UTC) and by someone outside Finance: the RPA credentials change.
      const s = this.settings.find((x) => x.key === "rpa.credentials" && x.accountId === finance.id)!;
      s.value = { username: "svc-rpa-temp", password: this.rng.hex(20), vault: "personal" };
      this.as(oscar, this.at(day, 2, 47), [`update app.settings set value = ${lit({ json: s.value })} where id = ${lit(s.id)}`], this.webContext("192.0.2.66"));
    }
    if (daysAgo === 30) {
      // An API key created by a plain member, late in the evening.
      const key: ApiKey = { id: this.rng.uuid(), accountId: operations.id, name: "prod-export", revoked: false };
      this.apiKeys.push(key);
      this.as(max, this.at(day, 23, 12), [this.apiKeyInsert(key, max)], this.webContext("192.0.2.66"));
    }
    if (daysAgo === 21) {
      // Role escalation: Max makes himself admin of Operations.
      const m = this.memberships.find((x) => x.userId === max.id && x.accountId === operations.id);
      if (m) {
        m.role = "admin";
        this.as(max, this.at(day, 22, 5), [`update app.memberships set role = 'admin' where id = ${lit(m.id)}`], this.webContext("192.0.2.66"));
      }
    }
    if (daysAgo === 14) {
      // Mass deletion: most of Finance's processes, in one statement.
      const doomed = this.activeProcesses(finance).slice(0, 20);
      for (const p of doomed) p.deleted = true;
      const at = this.at(day, 16, 40);
      this.as(max, at, [`update app.processes set deleted_at = ${lit(at)} where id in (${doomed.map((p) => lit(p.id)).join(", ")})`], this.webContext("192.0.2.66"));
    }
  }
}

/** All tenants' transactions, oldest first, none later than a minute ago. */
export function writeTimeline(tenants: readonly DemoTenant[], now: Date): DemoTransaction[] {
  return tenants.flatMap((t) => new TenantStory(t, now).write()).sort((a, b) => a.at.getTime() - b.at.getTime());
}
