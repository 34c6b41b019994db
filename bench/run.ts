// `npm run bench [-- --quick]`: the benchmark suite of issue 4. Starts the
// embedded PostgreSQL (bench/.work/cluster) unless DATABASE_URL is set,
// migrates a template database, runs the selected sections for each capture
// configuration, prints the tables and writes results.json / results.md.
// See bench/README.md.
import { destination, pino } from "pino";
import { measureBulk } from "./bulk.ts";
import { checkEquivalence } from "./equivalence.ts";
import { measureHttp } from "./http.ts";
import { measureDetect } from "./detect.ts";
import { measureLoad } from "./load.ts";
import { describeMachine } from "./machine.ts";
import { parseOptions, UsageError, type BenchOptions } from "./options.ts";
import { measurePartitions } from "./partitions.ts";
import { ensureReadDataset, ensureReadVariant, type ReadDataset } from "./read-dataset.ts";
import { measureReads } from "./reads.ts";
import { measureSeal } from "./seal.ts";
import { extractStreamArgs, measureStream, STREAM_USAGE, streamOptions, writeStreamResults, renderStreamMarkdown, type StreamCli } from "./stream.ts";
import { renderMarkdown, writeResults, type BenchResults } from "./report.ts";
import { extractRollupsArgs, measureRollups, renderRollupsMarkdown, ROLLUPS_USAGE, rollupsOptions, writeRollupsResults, type RollupsCli } from "./rollups.ts";
import { createMigratedDatabase, dropDatabase, openBenchServer, type BenchServer } from "./server.ts";
import { measureStorage } from "./storage.ts";
import { round } from "./stats.ts";
import { measureWrites } from "./writes.ts";
import { fixtureSize, peerVariant, prepareWriteDatabase } from "./write-database.ts";
import { findPgbench } from "./workload.ts";

const TEMPLATE = "audit_bench_template";

async function main(opts: BenchOptions, streamCli: StreamCli, rollupsCli: RollupsCli, resultsGiven: boolean): Promise<void> {
  // Progress goes to stderr as structured logs; the tables to stdout.
  const logger = pino({ level: process.env.LOG_LEVEL ?? "info", base: { service: "audit-trail-bench" } }, destination(2));
  const started = new Date();
  const pgbench = opts.driver === "node" ? null : await findPgbench();
  if (opts.driver === "pgbench" && !pgbench) throw new UsageError("--driver pgbench: pgbench is not installed (Debian: apt-get install postgresql-client)");
  const driver = pgbench ? "pgbench" : "node";

  const server: BenchServer = await openBenchServer(logger);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await server.stop();
  };
  process.once("SIGINT", () => void stop().then(() => process.exit(130)));
  process.once("SIGTERM", () => void stop().then(() => process.exit(143)));

  try {
    const writeSections = opts.sections.filter((s) => s === "writes" || s === "bulk" || s === "storage" || s === "partitions");
    let templateReady = false;
    const ensureTemplate = async () => {
      if (!templateReady) await createMigratedDatabase(server, TEMPLATE, logger);
      templateReady = true;
    };
    await ensureTemplate();
    const machine = await describeMachine(server.url(TEMPLATE), pgbench?.version ?? null);

    const results: BenchResults = {
      mode: opts.quick ? "quick" : "full",
      startedAt: started.toISOString(),
      finishedAt: "",
      durationSeconds: 0,
      machine,
      options: { ...opts, resultsPrefix: undefined, driver },
      writes: [],
      bulk: [],
      storage: [],
      partitions: [],
      reads: [],
      equivalence: [],
      http: null,
      load: null,
      detect: null,
      seal: null,
      notes: [],
    };
    const fixture = fixtureSize(opts.quick);

    if (writeSections.length) {
      results.equivalence = await checkEquivalence(server, TEMPLATE, opts.variants);
      for (const e of results.equivalence) {
        if (!e.identical) throw new Error(`capture configuration "${e.variant}" records different entries than the migrated one:\n${e.differences.join("\n")}`);
        logger.info({ variant: e.variant, entries: e.entries }, "same entries as the migrated capture");
      }
      for (const variant of opts.variants) {
        const db = await prepareWriteDatabase(server, TEMPLATE, variant, fixture, logger);
        logger.info({ variant, database: db.name }, "capture configuration ready");
        if (opts.sections.includes("writes")) {
          results.writes.push(await measureWrites(server, db, { seconds: opts.seconds, pairs: opts.pairs, driver, measureCpu: server.embedded, floor: true }, logger));
        }
        if (opts.sections.includes("bulk")) {
          results.bulk.push(await measureBulk(server, db, { rows: opts.bulkRows, pairs: opts.pairs }, logger));
        }
        if (opts.sections.includes("storage")) {
          results.storage.push(await measureStorage(server, db));
        }
        if (opts.sections.includes("partitions")) {
          results.partitions.push(await measurePartitions(server, db, { repetitions: opts.quick ? 1 : 3, readerHoldMs: opts.quick ? 300 : 1000 }, logger));
        }
        await dropDatabase(server.rootUrl, db.name);
      }
      // Peers: other audit triggers under the same single-row workload, in
      // the same run (they write elsewhere, so only the single-row section).
      if (opts.sections.includes("writes")) {
        for (const peer of opts.peers) {
          const db = await prepareWriteDatabase(server, TEMPLATE, peerVariant(peer), fixture, logger);
          logger.info({ peer, database: db.name }, "peer audit trigger ready");
          results.writes.push(await measureWrites(server, db, { seconds: opts.seconds, pairs: opts.pairs, driver, measureCpu: server.embedded, floor: false }, logger));
          await dropDatabase(server.rootUrl, db.name);
        }
      }
    }

    // The read data sets, ensured once per size for every section that reads them.
    const datasets = new Map<number, ReadDataset>();
    const dataset = async (rows: number) => {
      let ds = datasets.get(rows);
      if (!ds) datasets.set(rows, (ds = await ensureReadDataset(server, rows, opts.regenerate, logger)));
      return ds;
    };

    if (opts.sections.includes("reads") || opts.sections.includes("http")) {
      const readVariants = opts.sections.includes("reads") ? opts.readVariants : [];
      for (const rows of opts.rows) {
        const base = await dataset(rows);
        for (const variant of readVariants) {
          const ds = await ensureReadVariant(server, base, variant, logger);
          const r = await measureReads(server, ds, { samples: opts.readSamples, variant }, logger);
          results.reads.push({ ...r, dataset: { reused: ds.reused, generationSeconds: ds.generationSeconds, ...ds.sizes } });
        }
        // Through the API: once, on the largest data set (logged in as
        // audit_authenticator, reading in the admin kind's role, like reads.ts).
        if (opts.sections.includes("http") && rows === opts.rows[0]) {
          const ds = await ensureReadVariant(server, base, opts.httpVariant, logger);
          results.http = await measureHttp(server, ds, { samples: opts.readSamples }, logger);
        }
      }
    }

    // Load: on the largest data set in the HTTP section's configuration; the
    // writer is pgbench at a fixed rate.
    if (opts.sections.includes("load")) {
      if (driver !== "pgbench") {
        results.load = { skipped: "the writer of the load section is pgbench (--rate): install it (Debian: postgresql-client) and leave --driver at pgbench or auto" };
      } else {
        const ds = await ensureReadVariant(server, await dataset(opts.rows[0]!), opts.httpVariant, logger);
        results.load = await measureLoad(server, ds, { quick: opts.quick, rate: opts.loadRate, seconds: opts.loadSeconds, maxRate: opts.loadMaxRate, writerRate: opts.writerRate }, logger);
      }
    }

    // Detection: audit.detect() on a copy of the largest read data set.
    if (opts.sections.includes("detect")) {
      results.detect = await measureDetect(server, await dataset(opts.rows[0]!), { quick: opts.quick, samples: opts.detectSamples, massRows: opts.quick ? Math.min(opts.bulkRows, 1000) : opts.bulkRows }, logger);
    }

    // Tamper evidence: sealing the history of a copy of a read data set,
    // verifying its largest tenant, and a writer's latency beside the sealing loop.
    if (opts.sections.includes("seal")) {
      results.seal = await measureSeal(server, await dataset(opts.sealRows), { quick: opts.quick, rate: opts.sealRate, seconds: opts.sealSeconds, verifyRuns: 1, pgbench: driver === "pgbench" }, logger);
    }

    // Log streams: catch-up and live lag on a copy of a read data set; results of their own.
    let streamProblems: string[] = [];
    if (streamCli.selected) {
      const so = streamOptions(streamCli, opts, resultsGiven, driver === "pgbench");
      const streamStarted = new Date();
      const stream = await measureStream(server, await dataset(so.rows), so, logger);
      const streamFinished = new Date();
      const { resultsPrefix, ...soRest } = so;
      const streamResults = {
        mode: results.mode,
        startedAt: streamStarted.toISOString(),
        finishedAt: streamFinished.toISOString(),
        durationSeconds: round((streamFinished.getTime() - streamStarted.getTime()) / 1000, 0),
        machine,
        options: soRest,
        stream,
      };
      const files = await writeStreamResults(resultsPrefix, streamResults);
      process.stdout.write(renderStreamMarkdown(streamResults));
      process.stdout.write(`\nWritten: ${files.json}, ${files.md}\n`);
      streamProblems = stream.problems;
    }

    // Rollups: fresh copies of the read data sets, the 100M simulation, the consumer beside a writer; results of their own.
    let rollupsProblems: string[] = [];
    if (rollupsCli.selected) {
      // --results names its files only when nothing else of the run writes there.
      const ro = rollupsOptions(rollupsCli, opts, resultsGiven && rollupsCli.alone && !streamCli.selected, driver === "pgbench");
      const rollupsStarted = new Date();
      const rollups = await measureRollups(server, dataset, ro, logger);
      const rollupsFinished = new Date();
      const { resultsPrefix, ...roRest } = ro;
      const rollupsResults = {
        mode: results.mode,
        startedAt: rollupsStarted.toISOString(),
        finishedAt: rollupsFinished.toISOString(),
        durationSeconds: round((rollupsFinished.getTime() - rollupsStarted.getTime()) / 1000, 0),
        machine,
        options: roRest,
        rollups,
      };
      const files = await writeRollupsResults(resultsPrefix, rollupsResults);
      process.stdout.write(renderRollupsMarkdown(rollupsResults));
      process.stdout.write(`\nWritten: ${files.json}, ${files.md}\n`);
      rollupsProblems = rollups.problems;
    }

    await dropDatabase(server.rootUrl, TEMPLATE);
    const finished = new Date();
    results.finishedAt = finished.toISOString();
    results.durationSeconds = round((finished.getTime() - started.getTime()) / 1000, 0);
    // `--only stream` / `--only rollups` alone: no section of results.md ran, so it is left as it is.
    if (opts.sections.length) {
      const files = await writeResults(opts.resultsPrefix, results);
      process.stdout.write(renderMarkdown(results));
      process.stdout.write(`\nWritten: ${files.json}, ${files.md}\n`);
    }
    // Something broken (not a figure): fail once the results are written.
    const broken = [
      ...(results.seal?.problems.length ? [`seal: ${results.seal.problems.join("; ")}`] : []),
      ...(streamProblems.length ? [`stream: ${streamProblems.join("; ")}`] : []),
      ...(rollupsProblems.length ? [`rollups: ${rollupsProblems.join("; ")}`] : []),
    ];
    if (broken.length) throw new Error(broken.join("\n"));
  } finally {
    await stop();
  }
}

let options: BenchOptions;
let streamCli: StreamCli;
let rollupsCli: RollupsCli;
const argv = process.argv.slice(2);
try {
  // The stream and rollups sections' options (--stream-*, --rollups-*, their names in --only)
  // are their own (bench/stream.ts, bench/rollups.ts).
  const split = extractStreamArgs(argv);
  streamCli = split.cli;
  const split2 = extractRollupsArgs(split.rest);
  rollupsCli = split2.cli;
  options = parseOptions(split2.rest);
} catch (err) {
  const help = argv.includes("--help") || argv.includes("-h") || (err instanceof UsageError && /^unknown option/.test(err.message));
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n${help ? `${STREAM_USAGE}\n${ROLLUPS_USAGE}\n` : ""}`);
  process.exit(2);
}
main(options, streamCli, rollupsCli, argv.includes("--results")).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
