// For tests that send a server bad input: the server's log lines, captured
// (a client's mistake must not be logged as a server fault: nothing at warn
// or above), console.error (grafserv reports some failures there), and a
// fingerprint of every table, which no bad request may change.
import { Writable } from "node:stream";
import type pg from "pg";
import { pino, type Logger } from "pino";
import { afterAll, beforeAll, expect, vi } from "vitest";
import type { RunningServer, ServerOptions } from "../../src/server/app.ts";
import { createTestDatabase, type TestDatabase } from "../support/database.ts";
import { startTestServer } from "./helpers.ts";

export interface LogLine {
  level: number;
  msg?: string;
  [key: string]: unknown;
}

/** pino's levels: 40 warn, 50 error, 60 fatal. */
const WARN = 40;

export interface FaultWatch {
  /** Give this to startTestServer({ logger }). */
  logger: Logger;
  lines: LogLine[];
  /** A position in the log, for faultsSince. */
  mark(): number;
  /** Log lines at warn or above, and console.error calls, since a mark. */
  faultsSince(mark: number): unknown[];
  /** Stops watching console.error. */
  restore(): void;
}

export function watchFaults(): FaultWatch {
  const lines: LogLine[] = [];
  const errors: unknown[][] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString("utf8").split("\n")) if (line) lines.push(JSON.parse(line) as LogLine);
      done();
    },
  });
  const logger = pino({ level: "debug", base: { service: "audit-trail" } }, stream);
  const spy = vi.spyOn(console, "error").mockImplementation((...args: unknown[]) => {
    if (!isDevTrace(args)) errors.push(args);
  });
  // A mark covers both: log lines and console.error calls, each counted from its own start.
  const marks: [number, number][] = [];
  return {
    logger,
    lines,
    mark() {
      marks.push([lines.length, errors.length]);
      return marks.length - 1;
    },
    faultsSince(mark) {
      const [line, error] = marks[mark] ?? [0, 0];
      return [...lines.slice(line).filter((l) => l.level >= WARN), ...errors.slice(error)];
    },
    restore() {
      spy.mockRestore();
    },
  };
}

/**
 * @dataplan/pg's development mode (NODE_ENV=test, as under vitest) traces a
 * refused cursor with console.error before refusing it to the client; a
 * production server (GRAPHILE_ENV=production, set by src/cli/start.ts) does not.
 */
function isDevTrace(args: unknown[]): boolean {
  const [first] = args;
  return first === "Invalid cursor:" || (first instanceof Error && first.message.startsWith("Invalid cursor"));
}

/** Every table of the app and audit schemas, as row count and a hash of its rows. */
export async function dataFingerprint(owner: pg.Pool): Promise<Record<string, string>> {
  const { rows: tables } = await owner.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where n.nspname in ('app', 'audit', 'audit_private') and c.relkind in ('r', 'p') and not c.relispartition
      order by 1`,
  );
  const fingerprint: Record<string, string> = {};
  for (const { name } of tables) {
    const { rows } = await owner.query<{ n: number; hash: string }>(
      `select count(*)::int as n, md5(coalesce(string_agg(t::text, E'\\n' order by t::text), '')) as hash from ${name} t`,
    );
    fingerprint[name] = `${rows[0]!.n}:${rows[0]!.hash}`;
  }
  return fingerprint;
}

export interface WatchedServer<T> {
  db: TestDatabase;
  server: RunningServer;
  /** What `seed` returned. */
  seeded: T;
  faults: FaultWatch;
  /** No table changed since the server started, and nothing was logged at warn or above. */
  expectUnharmed(): Promise<void>;
}

/**
 * A test file's server over a fresh database seeded by `seed`, with its
 * faults watched (beforeAll / afterAll hooks; the fields are set once
 * beforeAll has run).
 */
export function watchedServer<T>(seed: (db: TestDatabase) => Promise<T>, options: Partial<ServerOptions> = {}): WatchedServer<T> {
  let before: Record<string, string> = {};
  const watched = {
    async expectUnharmed() {
      expect(await dataFingerprint(watched.db.owner)).toEqual(before);
      expect(watched.faults.lines.filter((line) => line.level >= WARN)).toEqual([]);
    },
  } as WatchedServer<T>;
  beforeAll(async () => {
    watched.db = await createTestDatabase();
    watched.seeded = await seed(watched.db);
    watched.faults = watchFaults();
    watched.server = await startTestServer(watched.db, { ...options, logger: watched.faults.logger });
    before = await dataFingerprint(watched.db.owner);
  });
  afterAll(async () => {
    watched.faults?.restore();
    await watched.server?.close();
    await watched.db?.drop();
  });
  return watched;
}
