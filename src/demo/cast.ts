// The demo's tenants, accounts and people. Fixed ids, so that tokens and
// README examples stay valid across fresh demo databases.

export interface DemoPerson {
  id: string;
  name: string;
  email: string;
  /** tenant_admin: admin of the whole tenant; admin/member/viewer: of `account`. */
  role: "tenant_admin" | "admin" | "member" | "viewer";
  /** Index into the tenant's accounts (ignored for tenant admins). */
  account: number;
}

export interface DemoAccount {
  id: string;
  name: string;
}

export interface DemoTenant {
  id: string;
  name: string;
  domain: string;
  accounts: DemoAccount[];
  people: DemoPerson[];
  /** Seed of this tenant's story. */
  seed: number;
  /** Average business-hours actions per weekday. */
  activity: number;
  /** Probability that an account runs a nightly batch of jobs. */
  nightlyJobs: number;
  /** Nightly jobs are started through an API key (else by the scheduler). */
  jobsByApiKey: boolean;
  /** The scripted suspicious episodes (see timeline.ts). */
  incidents: boolean;
  /**
   * The tenant's detector settings (audit.set_detector_settings), set by its
   * tenant admin once the story is written: business hours in the tenant's
   * own time zone, and what its security team tuned.
   */
  detectorSettings: Record<string, unknown>;
}

const person = (id: string, name: string, local: string, domain: string, role: DemoPerson["role"], account = 0): DemoPerson => ({
  id,
  name,
  email: `${local}@${domain}`,
  role,
  account,
});

export const ACME: DemoTenant = {
  id: "6f1c2a7e-3b8d-4c51-9e0a-4d2b8f7c1a01",
  name: "Acme Robotics",
  domain: "acme-robotics.example",
  accounts: [
    { id: "a3d9e2b4-5c6f-4a1b-8d7e-2f3a4b5c6d01", name: "Operations" },
    { id: "b7e1f3c5-6d8a-4b2c-9e0f-3a4b5c6d7e02", name: "Finance" },
    { id: "c2f4a6b8-7e9c-4d3e-8f1a-4b5c6d7e8f03", name: "People" },
  ],
  people: [
    person("0d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f01", "Ada Lovelace", "ada", "acme-robotics.example", "tenant_admin"),
    person("1e5f6a7b-8c9d-4e0f-9a1b-2c3d4e5f6a02", "Grace Hopper", "grace", "acme-robotics.example", "admin", 0),
    person("2f6a7b8c-9d0e-4f1a-8b2c-3d4e5f6a7b03", "Katherine Johnson", "katherine", "acme-robotics.example", "admin", 1),
    person("3a7b8c9d-0e1f-4a2b-9c3d-4e5f6a7b8c04", "Alan Turing", "alan", "acme-robotics.example", "admin", 2),
    person("4b8c9d0e-1f2a-4b3c-8d4e-5f6a7b8c9d05", "Max Mustermann", "max", "acme-robotics.example", "member", 0),
    person("5c9d0e1f-2a3b-4c4d-9e5f-6a7b8c9d0e06", "Oscar Ortiz", "oscar", "acme-robotics.example", "member", 0),
    person("6d0e1f2a-3b4c-4d5e-8f6a-7b8c9d0e1f07", "Linus Lindqvist", "linus", "acme-robotics.example", "member", 1),
    person("7e1f2a3b-4c5d-4e6f-9a7b-8c9d0e1f2a08", "Mary Jackson", "mary", "acme-robotics.example", "member", 1),
    person("8f2a3b4c-5d6e-4f7a-8b8c-9d0e1f2a3b09", "Dorothy Vaughan", "dorothy", "acme-robotics.example", "viewer", 2),
    person("9a3b4c5d-6e7f-4a8b-9c9d-0e1f2a3b4c10", "Edsger Dijkstra", "edsger", "acme-robotics.example", "member", 2),
  ],
  seed: 20241,
  activity: 4,
  nightlyJobs: 0.9,
  jobsByApiKey: false,
  incidents: true,
  // Work starts at 8 in Munich; the Finance processes are few, so 15
  // deletions at once are already a mass deletion.
  detectorSettings: {
    business_hours: { time_zone: "Europe/Berlin", days: [1, 2, 3, 4, 5], start: "08:00", end: "19:00" },
    detectors: { mass_change: { threshold: 15 } },
  },
};

export const GLOBEX: DemoTenant = {
  id: "7a2d3b8f-4c9e-4d62-8f1b-5e3c9a8d2b02",
  name: "Globex Logistics",
  domain: "globex.example",
  accounts: [
    { id: "d3a5b7c9-8f0d-4e4f-9a2b-5c6d7e8f9a04", name: "Shipping" },
    { id: "e4b6c8d0-9a1e-4f5a-8b3c-6d7e8f9a0b05", name: "Billing" },
  ],
  people: [
    person("aa4c5d6e-7f8a-4b9c-8d0e-1f2a3b4c5d11", "Hank Scorpio", "hank", "globex.example", "tenant_admin"),
    person("bb5d6e7f-8a9b-4c0d-9e1f-2a3b4c5d6e12", "Frank Grimes", "frank", "globex.example", "admin", 0),
    person("cc6e7f8a-9b0c-4d1e-8f2a-3b4c5d6e7f13", "Mindy Simmons", "mindy", "globex.example", "admin", 1),
    person("dd7f8a9b-0c1d-4e2f-9a3b-4c5d6e7f8a14", "Lenny Leonard", "lenny", "globex.example", "member", 0),
    person("ee8a9b0c-1d2e-4f3a-8b4c-5d6e7f8a9b15", "Carl Carlson", "carl", "globex.example", "member", 1),
  ],
  seed: 20242,
  activity: 2.5,
  nightlyJobs: 0.8,
  jobsByApiKey: true,
  incidents: false,
  detectorSettings: { business_hours: { time_zone: "Europe/London", days: [1, 2, 3, 4, 5], start: "07:00", end: "18:00" } },
};

export const INITECH: DemoTenant = {
  id: "8b3e4c9a-5d0f-4e73-9a2c-6f4d0b9e3c03",
  name: "Initech",
  domain: "initech.example",
  accounts: [{ id: "f5c7d9e1-0b2f-4a6b-9c4d-7e8f9a0b1c06", name: "TPS Reports" }],
  people: [
    person("ff9b0c1d-2e3f-4a4b-9c5d-6e7f8a9b0c16", "Bill Lumbergh", "bill", "initech.example", "tenant_admin"),
    person("0a1b2c3d-4e5f-4a6b-8c7d-8e9f0a1b2c17", "Peter Gibbons", "peter", "initech.example", "admin", 0),
    person("1b2c3d4e-5f6a-4b7c-9d8e-9f0a1b2c3d18", "Milton Waddams", "milton", "initech.example", "member", 0),
  ],
  seed: 20243,
  activity: 1.5,
  nightlyJobs: 0.5,
  jobsByApiKey: false,
  incidents: false,
  detectorSettings: { business_hours: { time_zone: "Europe/Dublin", days: [1, 2, 3, 4, 5], start: "07:00", end: "18:00" } },
};

export const DEMO_TENANTS: readonly DemoTenant[] = [ACME, GLOBEX, INITECH];

/** The identities the printed demo tokens are for. */
export const DEMO_TENANT_ADMIN = { tenant: ACME, person: ACME.people[0]! };
export const DEMO_ACCOUNT_ADMIN = { tenant: ACME, account: ACME.accounts[0]!, person: ACME.people[1]! };
