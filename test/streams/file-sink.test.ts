// The file sink: JSON Lines under STREAM_FILE_ROOT/<tenant>/<stream>/,
// confined there (uuids only, no symlink out), 0700 folders and 0600 files,
// appended and synced before ok, rotated by size or by UTC hour (an
// injected clock), a new file on every open with the previous run's half
// line cut off, names that sort in write order, and failures as outcomes.
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDestination, streamDocument } from "../../src/streams/destinations/index.ts";
import { fileSink, type FileSinkOptions } from "../../src/streams/destinations/file-sink.ts";
import type { DeliveryOutcome, Destination, StreamEntry, StreamTarget } from "../../src/streams/stream-types.ts";

const TENANT = "0b3c1a52-51a8-4a3e-9d6c-2f1f0d7c9e11";
const STREAM = "7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a098";

function entry(id: string): StreamEntry {
  return {
    id,
    occurredAt: "2025-03-04T05:06:07.123456Z",
    tenantId: TENANT,
    accountId: null,
    actorType: "system",
    actorId: null,
    actorEmail: null,
    actorName: "system",
    action: "update",
    resourceType: "settings",
    entityId: "billing.rate",
    entityLabel: "billing.rate",
    event: "settings.updated",
    description: "Settings updated",
    oldValues: null,
    newValues: '{"rate": 1.50}',
    context: "{}",
    transactionId: "77",
  };
}
const line = (id: string) => `${streamDocument(entry(id), "entry")}\n`;
const LINE_BYTES = Buffer.byteLength(line("100"));

let root: string;
let folder: string;
const open: Destination[] = [];

beforeEach(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), "file-sink-"));
  folder = path.join(root, TENANT, STREAM);
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((d) => d.close()));
  await rm(root, { recursive: true, force: true });
});

/** A clock the test moves. */
function clock(start: string) {
  let now = new Date(start);
  return { now: () => now, set: (iso: string) => (now = new Date(iso)) };
}

function sink(settings: Record<string, unknown>, options: Partial<FileSinkOptions> = {}, ids: Partial<StreamTarget> = {}): Destination {
  const target: StreamTarget = { tenantId: TENANT, streamId: STREAM, kind: "file", settings, secret: null, format: "entry", ...ids };
  const d = fileSink(target, { allowPrivate: false, timeoutMs: 1_000, fileRoot: root, ...options }, (row) => streamDocument(row, "entry"));
  open.push(d);
  return d;
}

async function files(): Promise<string[]> {
  return (await readdir(folder)).sort();
}
async function contents(): Promise<string[]> {
  return Promise.all((await files()).map((f) => readFile(path.join(folder, f), "utf8")));
}
function ok(outcome: DeliveryOutcome) {
  expect(outcome).toEqual({ ok: true, durationMs: expect.any(Number) });
}
function failed(outcome: DeliveryOutcome): string {
  expect(outcome).toMatchObject({ ok: false, statusCode: null });
  return (outcome as { error: string }).error;
}

describe("where the files go", () => {
  it("under the root, in the tenant's and stream's folder (0700), files 0600 named by time and sequence", async () => {
    const t = clock("2025-03-04T05:06:07.999Z");
    const d = sink({ rotate: "size", max_bytes: 1_000_000 }, { now: t.now });
    ok(await d.deliver([entry("1"), entry("2")]));
    ok(await d.deliver([entry("3")]));
    expect(await files()).toEqual(["audit-20250304T050607Z-000001.jsonl"]);
    expect(await contents()).toEqual([line("1") + line("2") + line("3")]);
    expect((await contents())[0]).toContain('"newValues":{"rate": 1.50}');
    expect((await stat(path.join(folder, "audit-20250304T050607Z-000001.jsonl"))).mode & 0o777).toBe(0o600);
    expect((await stat(folder)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(root, TENANT))).mode & 0o777).toBe(0o700);
  });

  it("through openDestination, with the stream's format", async () => {
    const d = openDestination({ tenantId: TENANT, streamId: STREAM, kind: "file", settings: { rotate: "hour" }, secret: null, format: "ocsf" }, { allowPrivate: false, timeoutMs: 1_000, fileRoot: root });
    open.push(d);
    ok(await d.deliver([entry("1")]));
    expect(JSON.parse((await contents())[0]!)).toMatchObject({ class_uid: 6003, metadata: { uid: "1" } });
  });

  it("refuses without a root, ids that are not uuids, a folder that resolves elsewhere", async () => {
    expect(failed(await sink({}, { fileRoot: null }).deliver([entry("1")]))).toBe("file streams need STREAM_FILE_ROOT (the folder the files are written under)");
    expect(failed(await sink({}, {}, { tenantId: "../../etc" }).deliver([entry("1")]))).toBe("the tenant id is not a uuid; refusing to make a folder of it");
    expect(failed(await sink({}, {}, { streamId: `${STREAM}/../..` }).deliver([entry("1")]))).toBe("the stream id is not a uuid; refusing to make a folder of it");
    expect(await readdir(root)).toEqual([]);
    // a tenant folder that is a link to somewhere else
    const elsewhere = await mkdtemp(path.join(os.tmpdir(), "elsewhere-"));
    try {
      await symlink(elsewhere, path.join(root, TENANT));
      expect(failed(await sink({}).deliver([entry("1")]))).toBe("the tenant's folder under STREAM_FILE_ROOT is a symbolic link; refusing to follow it");
      expect(await readdir(elsewhere)).toEqual([]); // nothing made there
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
    expect(failed(await sink({ rotate: "daily" }).deliver([entry("1")]))).toBe('settings.rotate must be "hour" or "size", got "daily"');
  });
});

describe("rotation", () => {
  it("by size: a new file when the current one would pass max_bytes; a larger batch whole in one file", async () => {
    const t = clock("2025-03-04T05:06:07Z");
    const d = sink({ rotate: "size", max_bytes: LINE_BYTES * 2 }, { now: t.now });
    ok(await d.deliver([entry("101")]));
    ok(await d.deliver([entry("102")])); // exactly max_bytes: same file
    t.set("2025-03-04T05:06:08Z");
    ok(await d.deliver([entry("103")])); // would pass: new file
    ok(await d.deliver([entry("104"), entry("105"), entry("106")])); // larger than max_bytes: a file of its own, whole
    ok(await d.deliver([entry("107")]));
    expect(await files()).toEqual([
      "audit-20250304T050607Z-000001.jsonl",
      "audit-20250304T050608Z-000002.jsonl",
      "audit-20250304T050608Z-000003.jsonl",
      "audit-20250304T050608Z-000004.jsonl",
    ]);
    expect(await contents()).toEqual([line("101") + line("102"), line("103"), line("104") + line("105") + line("106"), line("107")]);
  });

  it("by the UTC hour of the write; default 100 MB when rotating by size", async () => {
    const t = clock("2025-03-04T05:59:58Z");
    const d = sink({ rotate: "hour" }, { now: t.now });
    ok(await d.deliver([entry("1")]));
    t.set("2025-03-04T05:59:59.999Z");
    ok(await d.deliver([entry("2")]));
    t.set("2025-03-04T06:00:00Z");
    ok(await d.deliver([entry("3")]));
    t.set("2025-03-05T06:30:00Z"); // the same hour of another day
    ok(await d.deliver([entry("4")]));
    expect(await files()).toEqual(["audit-20250304T055958Z-000001.jsonl", "audit-20250304T060000Z-000002.jsonl", "audit-20250305T063000Z-000003.jsonl"]);
    expect(await contents()).toEqual([line("1") + line("2"), line("3"), line("4")]);
  });

  it("names keep sorting in write order when the clock goes back", async () => {
    const t = clock("2025-03-04T06:00:00Z");
    const d = sink({ rotate: "hour" }, { now: t.now });
    ok(await d.deliver([entry("1")]));
    t.set("2025-03-04T05:00:00Z");
    ok(await d.deliver([entry("2")]));
    expect(await files()).toEqual(["audit-20250304T060000Z-000001.jsonl", "audit-20250304T060000Z-000002.jsonl"]);
  });
});

describe("reopening", () => {
  it("never appends to a previous run's file, and cuts its half line", async () => {
    const t = clock("2025-03-04T05:06:07Z");
    const first = sink({ rotate: "size" }, { now: t.now });
    ok(await first.deliver([entry("1"), entry("2")]));
    await first.close();
    // a crash in the middle of the next write
    const previous = path.join(folder, "audit-20250304T050607Z-000001.jsonl");
    await writeFile(previous, line("3").slice(0, 25), { flag: "a" });

    t.set("2025-03-04T05:10:00Z");
    const second = sink({ rotate: "size" }, { now: t.now });
    ok(await second.deliver([entry("3")]));
    expect(await files()).toEqual(["audit-20250304T050607Z-000001.jsonl", "audit-20250304T051000Z-000002.jsonl"]);
    expect(await contents()).toEqual([line("1") + line("2"), line("3")]);
    // close and deliver again: a new file too
    await second.close();
    ok(await second.deliver([entry("4")]));
    expect((await files()).at(-1)).toBe("audit-20250304T051000Z-000003.jsonl");
  });

  it("removes a newest file that held nothing but half a line", async () => {
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, "audit-20250304T050607Z-000007.jsonl"), '{"id":"1","occ');
    await writeFile(path.join(folder, "notes.txt"), "not ours");
    const d = sink({ rotate: "hour" }, { now: () => new Date("2025-03-04T05:07:00Z") });
    ok(await d.deliver([entry("1")]));
    expect(await readdir(folder).then((f) => f.sort())).toEqual(["audit-20250304T050700Z-000008.jsonl", "notes.txt"]);
  });

  it("writes concurrent deliveries one after the other, whole", async () => {
    const d = sink({ rotate: "size" });
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => d.deliver([entry(String(i)), entry(String(i + 100))])));
    outcomes.forEach(ok);
    expect((await contents()).join("")).toBe(Array.from({ length: 20 }, (_, i) => line(String(i)) + line(String(i + 100))).join(""));
  });
});

describe("failures are outcomes", () => {
  it("a folder that cannot be made, a file that cannot be opened: reported without the host's path, then recovered", async () => {
    await mkdir(path.join(root, TENANT), { recursive: true });
    await writeFile(folder, "a file where the folder goes");
    const d = sink({ rotate: "size" }, { now: () => new Date("2025-03-04T05:06:07Z") });
    expect(failed(await d.deliver([entry("1")]))).toBe("the stream's folder under STREAM_FILE_ROOT is not a folder");
    await rm(folder);
    // a folder where the next file goes
    await mkdir(path.join(folder, "audit-20250304T050607Z-000001.jsonl"), { recursive: true });
    const error = failed(await d.deliver([entry("1")]));
    expect(error).toBe(`the stream's file could not be written: EISDIR: illegal operation on a directory, open '$STREAM_FILE_ROOT/${TENANT}/${STREAM}/audit-20250304T050607Z-000001.jsonl'`);
    expect(error).not.toContain(root);
    await rm(path.join(folder, "audit-20250304T050607Z-000001.jsonl"), { recursive: true });
    ok(await d.deliver([entry("1")]));
    expect(await contents()).toEqual([line("1")]);
  });

  it.skipIf(process.getuid?.() === 0)("a folder it may not write to (EACCES)", async () => {
    const d = sink({ rotate: "size" });
    ok(await d.deliver([entry("1")]));
    await d.close();
    await chmod(folder, 0o500);
    try {
      expect(failed(await d.deliver([entry("2")]))).toMatch(/^the stream's file could not be written: EACCES: permission denied/);
    } finally {
      await chmod(folder, 0o700);
    }
    ok(await d.deliver([entry("2")]));
    expect(await contents()).toEqual([line("1"), line("2")]);
  });
});
