// Command-line options of `npm run bench`.
import { readdirSync } from "node:fs";
import { benchDir } from "./server.ts";

export const SECTIONS = ["writes", "bulk", "storage", "partitions", "reads", "http", "load", "detect", "seal"] as const;
export type Section = (typeof SECTIONS)[number];

export interface BenchOptions {
  quick: boolean;
  sections: Section[];
  /** Capture configurations measured by the write sections: "migrated" and files in bench/variants/. */
  variants: string[];
  /** Peer audit triggers (bench/peers/*.sql) measured by the single-row section beside the product's capture. */
  peers: string[];
  /** Configurations the read sections measure. */
  readVariants: string[];
  /** The configuration the GraphQL-over-HTTP section runs on. */
  httpVariant: string;
  /** Read data set sizes (entries). */
  rows: number[];
  /** Seconds per single-row write run, and alternating audited/unaudited pairs. */
  seconds: number;
  pairs: number;
  /** Rows of the bulk statements. */
  bulkRows: number;
  /** Samples per read query and scope. */
  readSamples: number;
  /** Detect section: timed audit.detect() rounds of ~1,000 new entries. */
  detectSamples: number;
  /** Load section: read requests/s of the target run (and the capacity search's step), its seconds, the search's highest rate, the writer's fixed rate. */
  loadRate: number;
  loadSeconds: number;
  loadMaxRate: number;
  writerRate: number;
  /** Seal section: entries of the read data set it seals (default: the first of rows, 10M in full mode, 10,000 in quick mode). */
  sealRows: number;
  /** Seal section: the writer's fixed rate beside the sealing loop, and the seconds of each period (with and without it). */
  sealRate: number;
  sealSeconds: number;
  driver: "pgbench" | "node" | "auto";
  regenerate: boolean;
  /** Where results.json / results.md go (prefix without extension). */
  resultsPrefix: string;
}

export const USAGE = `Usage: npm run bench -- [options]
  --quick               small smoke run (CI): seconds, not minutes
  --only LIST           sections, comma separated: ${SECTIONS.join(", ")}, and the sections with
                        options and results of their own: stream (bench/stream.ts), rollups
                        (bench/rollups.ts)
  --variants LIST       capture configurations for the write sections: migrated (as the
                        migrations leave it) and/or names of bench/variants/*.sql, joined
                        with + to combine (default: migrated)
  --peers LIST          other audit triggers (bench/peers/*.sql) measured in the single-row
                        section under the same workload (default: all; "none" for none)
  --read-variants LIST  configurations for the read sections (default: migrated)
  --http-variant NAME   configuration for GraphQL over HTTP (default: migrated)
  --rows LIST           read data set sizes, e.g. 10000000,1000000 (full default) or 1e6
  --seconds N           seconds per single-row write run (full: 15)
  --pairs N             alternating audited/unaudited pairs (full: 5, quick: 3)
  --bulk-rows N         rows of the bulk insert/update statements (full: 100000)
  --samples N           samples per read query and admin scope (full: 40)
  --detect-samples N    detect: timed audit.detect() rounds of ~1,000 new entries (full: 40,
                        quick: 5); its mass change deletes --bulk-rows rows
  --load-rate N         load: the admins' requests/s beside the writer, and the step of the
                        capacity search (default: 25)
  --load-seconds N      load: seconds at that rate (full: 180, quick: 4); the writer's
                        baseline and each capacity step last min(N, 60)
  --load-max-rate N     load: the highest rate the capacity search tries (full: 500, quick: 50)
  --writer-rate N       load: the writer's audited transactions/s (default: 1000)
  --seal-rows N         seal: entries of the read data set it seals (default: the first of --rows,
                        10000000 in full mode, 10000 in quick mode)
  --seal-rate N         seal: the writer's audited transactions/s beside the sealing loop (full:
                        500, quick: 100)
  --seal-seconds N      seal: seconds of each writer period, without and with the sealing loop
                        (full: 120, quick: 10)
  --driver NAME         pgbench | node | auto (default: pgbench when installed)
  --regenerate          rebuild the read data sets even when a matching one exists
  --results PREFIX      write PREFIX.json and PREFIX.md (full default: bench/results, or
                        bench/results-seal for --only seal; quick default: bench/.work/quick-results)
Environment: DATABASE_URL (a superuser connection to a server dedicated to benchmarking;
default: an embedded PostgreSQL in bench/.work/cluster), LOG_LEVEL.`;

export class UsageError extends Error {
  override name = "UsageError";
}

function parseCount(raw: string | undefined, name: string): number {
  const n = Number(raw);
  if (raw === undefined || !Number.isFinite(n) || n <= 0 || Math.round(n) !== n) {
    throw new UsageError(`${name} needs a positive whole number, got "${raw ?? ""}"`);
  }
  return n;
}

/** The names of the SQL files of a folder of bench/ (none, or no folder, is fine). */
function sqlNames(folder: "variants" | "peers"): string[] {
  let files: string[];
  try {
    files = readdirSync(`${benchDir}${folder}`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  return files.filter((f) => f.endsWith(".sql")).map((f) => f.slice(0, -4)).sort();
}

/** The SQL files of bench/variants/ (none is fine: every section then runs as migrated). */
export function availableVariants(): string[] {
  return sqlNames("variants");
}

/** The peer audit triggers of bench/peers/. */
export function availablePeers(): string[] {
  return sqlNames("peers");
}

export function parseOptions(argv: readonly string[]): BenchOptions {
  const quick = argv.includes("--quick");
  const o: BenchOptions = {
    quick,
    sections: [...SECTIONS],
    // Everything as the migrations leave it; bench/variants/ files are
    // opt-in proposals (--variants, --read-variants, --http-variant).
    variants: ["migrated"],
    peers: availablePeers(),
    readVariants: ["migrated"],
    httpVariant: "migrated",
    rows: quick ? [10_000] : [10_000_000, 1_000_000],
    seconds: quick ? 1 : 15,
    pairs: quick ? 3 : 5,
    bulkRows: quick ? 5_000 : 100_000,
    readSamples: quick ? 3 : 40,
    detectSamples: quick ? 5 : 40,
    loadRate: 25,
    loadSeconds: quick ? 4 : 180,
    loadMaxRate: quick ? 50 : 500,
    writerRate: 1000,
    sealRows: 0, // set below: the first of rows unless --seal-rows
    sealRate: quick ? 100 : 500,
    sealSeconds: quick ? 10 : 120,
    driver: "auto",
    regenerate: false,
    resultsPrefix: quick ? `${benchDir}.work/quick-results` : `${benchDir}results`,
  };
  let sealRows: number | null = null;
  let resultsGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const value = () => {
      const v = argv[++i];
      if (v === undefined || v.startsWith("--")) throw new UsageError(`${arg} needs a value`);
      return v;
    };
    switch (arg) {
      case "--quick":
        break;
      case "--only": {
        const wanted = value().split(",").map((s) => s.trim()).filter(Boolean);
        for (const s of wanted) {
          if (!(SECTIONS as readonly string[]).includes(s)) throw new UsageError(`unknown section "${s}"; sections: ${[...SECTIONS, "stream", "rollups"].join(", ")}`);
        }
        o.sections = wanted as Section[];
        break;
      }
      case "--http-variant":
      case "--variants":
      case "--read-variants": {
        const available = availableVariants();
        const known = ["migrated", ...available];
        const wanted = value().split(",").map((s) => s.trim()).filter(Boolean);
        for (const v of wanted) {
          for (const part of v === "migrated" ? [v] : v.split("+")) {
            if (!known.includes(part) || part === "migrated" && v !== "migrated") throw new UsageError(`unknown variant "${v}"; variants: ${known.join(", ")}${available.length ? " (join several with +)" : " (bench/variants/ holds no .sql file)"}`);
          }
        }
        if (arg === "--variants") o.variants = wanted;
        else if (arg === "--read-variants") o.readVariants = wanted;
        else if (wanted.length === 1) o.httpVariant = wanted[0]!;
        else throw new UsageError("--http-variant takes one configuration");
        break;
      }
      case "--peers": {
        const raw = value().trim();
        const wanted = raw === "none" ? [] : raw.split(",").map((s) => s.trim()).filter(Boolean);
        const known = availablePeers();
        for (const peer of wanted) {
          if (!known.includes(peer)) throw new UsageError(`unknown peer "${peer}"; peers: ${known.join(", ") || "(bench/peers/ holds no .sql file)"}, or none`);
        }
        o.peers = wanted;
        break;
      }
      case "--rows":
        o.rows = value().split(",").map((s) => parseCount(String(Number(s.trim())), "--rows"));
        break;
      case "--seconds":
        o.seconds = parseCount(value(), "--seconds");
        break;
      case "--pairs":
        o.pairs = parseCount(value(), "--pairs");
        break;
      case "--bulk-rows":
        o.bulkRows = parseCount(value(), "--bulk-rows");
        break;
      case "--samples":
        o.readSamples = parseCount(value(), "--samples");
        break;
      case "--detect-samples":
        o.detectSamples = parseCount(value(), "--detect-samples");
        break;
      case "--load-rate":
        o.loadRate = parseCount(value(), "--load-rate");
        break;
      case "--load-seconds":
        o.loadSeconds = parseCount(value(), "--load-seconds");
        break;
      case "--load-max-rate":
        o.loadMaxRate = parseCount(value(), "--load-max-rate");
        break;
      case "--writer-rate":
        o.writerRate = parseCount(value(), "--writer-rate");
        break;
      case "--seal-rows":
        sealRows = parseCount(String(Number(value().trim())), "--seal-rows");
        break;
      case "--seal-rate":
        o.sealRate = parseCount(value(), "--seal-rate");
        break;
      case "--seal-seconds":
        o.sealSeconds = parseCount(value(), "--seal-seconds");
        break;
      case "--driver": {
        const d = value();
        if (d !== "pgbench" && d !== "node" && d !== "auto") throw new UsageError(`--driver must be pgbench, node or auto, got "${d}"`);
        o.driver = d;
        break;
      }
      case "--regenerate":
        o.regenerate = true;
        break;
      case "--results":
        o.resultsPrefix = value();
        resultsGiven = true;
        break;
      case "--help":
      case "-h":
        throw new UsageError(USAGE);
      default:
        throw new UsageError(`unknown option "${arg}"\n${USAGE}`);
    }
  }
  // Quick mode seals the quick read data set the other sections generate anyway (another size would cost a generation).
  o.sealRows = sealRows ?? o.rows[0]!;
  // A full run of the seal section alone keeps its results beside the others' (results-detect.md's way), not over results.md.
  if (!quick && !resultsGiven && o.sections.length === 1 && o.sections[0] === "seal") o.resultsPrefix = `${benchDir}results-seal`;
  if (o.pairs < 3 && !quick) process.stderr.write("warning: fewer than 3 pairs: medians are weak\n");
  return o;
}
