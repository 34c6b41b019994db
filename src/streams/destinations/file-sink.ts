// JSON Lines files for a collector on the same host (Vector, Fluent Bit,
// the OpenTelemetry Collector's filelog receiver) to tail:
//
//   ${STREAM_FILE_ROOT}/<tenant id>/<stream id>/audit-<YYYYMMDDTHHMMSSZ>-<seq>.jsonl
//
// one stream document per line. The tenant admin names no path: the folder
// is made of the two ids, which must be uuids, must resolve inside the root,
// and are never followed through a symbolic link. Folders are created 0700,
// files 0600.
//
// Durability: deliver() appends the batch and fdatasync()s before it says
// ok (the worker moves its cursor only then), so an acknowledged entry
// survives a crash; a new file's folder entry is fsync'd too. A crash
// mid-write can leave half a line at the end of the newest file: the first
// deliver after opening cuts that file back to its last line feed and
// starts a new file (never appending to a file a previous run wrote), so a
// collector never reads half a line, and the worker's redelivery writes
// the batch whole. A write that fails (ENOSPC, EACCES) is taken back out of
// the file at once and reported; after any failure the next deliver starts
// afresh the same way.
//
// Rotation, by settings.rotate: "hour" (a new file when the UTC hour of a
// write differs from the file's) or "size" (a new file when the current one
// would grow past settings.max_bytes, default 100 MB; a batch larger than
// that still goes into one file). Files are only created and appended,
// never renamed: tailers follow names. Names sort in write order (the stamp
// never goes back, the sequence number always goes up).
//
// Hand-written rather than rotating-file-stream (the maintained rotating
// writer): that one has no fsync control, and an acknowledged entry must be
// on disk.
import type { FileHandle } from "node:fs/promises";
import { lstat, mkdir, open, readdir, unlink } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import type { DeliveryOutcome, Destination, DestinationOptions, StreamEntry, StreamTarget } from "../stream-types.ts";
import type { DocumentOf } from "./https.ts";

export interface FileSinkOptions extends DestinationOptions {
  /** The clock (tests); default: the system's. */
  now?: () => Date;
}

export const DEFAULT_MAX_BYTES = 100 * 1024 * 1024;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const FILE_NAME = /^audit-(\d{8}T\d{6}Z)-(\d{6,})\.jsonl$/;

interface Rotation {
  rotate: "hour" | "size";
  maxBytes: number;
}

/** The rotation settings, or why they are unusable. */
function rotation(settings: Record<string, unknown>): Rotation | string {
  const rotate = settings.rotate ?? "hour"; // the database's default too
  if (rotate !== "hour" && rotate !== "size") return `settings.rotate must be "hour" or "size", got ${JSON.stringify(rotate)}`;
  const maxBytes = settings.max_bytes ?? DEFAULT_MAX_BYTES;
  if (typeof maxBytes !== "number" || !Number.isSafeInteger(maxBytes) || maxBytes <= 0) return "settings.max_bytes must be a positive whole number of bytes";
  return { rotate, maxBytes };
}

/** 2024-01-02T03:04:05.678Z -> 20240102T030405Z */
function fileStamp(now: Date): string {
  return now.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

/** The UTC hour of a time: 2024-01-02T03 */
function hourOf(now: Date): string {
  return now.toISOString().slice(0, 13);
}

/** Cuts a file back to its last line feed (to nothing when it has none); returns its new size. */
async function cutPartialLine(file: string): Promise<number> {
  const handle = await open(file, "r+");
  try {
    const { size } = await handle.stat();
    const chunk = Buffer.alloc(64 * 1024);
    let keep = 0;
    for (let end = size; end > 0; ) {
      const start = Math.max(0, end - chunk.length);
      const { bytesRead } = await handle.read(chunk, 0, end - start, start);
      const lf = chunk.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (lf >= 0) {
        keep = start + lf + 1;
        break;
      }
      end = start;
    }
    if (keep < size) {
      await handle.truncate(keep);
      await handle.datasync();
    }
    return keep;
  } finally {
    await handle.close();
  }
}

/** Makes a new folder entry durable. */
async function syncFolder(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function writeAll(handle: FileHandle, data: Buffer): Promise<void> {
  for (let offset = 0; offset < data.length; ) {
    const { bytesWritten } = await handle.write(data, offset, data.length - offset, null);
    if (bytesWritten <= 0) throw new Error("the write made no progress");
    offset += bytesWritten;
  }
}

/** A failure that is ours to explain (no errno). */
class SinkError extends Error {}

interface OpenFile {
  handle: FileHandle;
  name: string;
  size: number;
  hour: string;
}

export function fileSink(target: StreamTarget, options: FileSinkOptions, documentOf: DocumentOf): Destination {
  const now = options.now ?? (() => new Date());
  const settings = rotation(target.settings);
  let folder: string | null = null;
  let current: OpenFile | null = null;
  /** The folder has been looked at since opening (or since a failed write): the newest file repaired, names known. */
  let prepared = false;
  let lastStamp = "";
  let lastSeq = 0;
  let queue: Promise<unknown> = Promise.resolve();

  const closeCurrent = async () => {
    const file = current;
    current = null;
    await file?.handle.close().catch(() => undefined);
  };

  /**
   * The stream's folder, made of the two ids and nothing else, inside the
   * root: each of the two levels created 0700 (its entry synced) or found
   * as a real folder, never followed through a symbolic link.
   */
  const resolveFolder = async (root: string): Promise<string> => {
    if (!UUID.test(target.tenantId)) throw new SinkError("the tenant id is not a uuid; refusing to make a folder of it");
    if (!UUID.test(target.streamId)) throw new SinkError("the stream id is not a uuid; refusing to make a folder of it");
    const dir = path.resolve(root, target.tenantId, target.streamId);
    const relative = path.relative(root, dir);
    if (relative === "" || relative.startsWith("..") || path.isAbsolute(relative)) throw new SinkError("the stream's folder would be outside STREAM_FILE_ROOT");
    await mkdir(root, { recursive: true, mode: 0o700 });
    let level = root;
    for (const [part, what] of [[target.tenantId, "tenant"], [target.streamId, "stream"]] as const) {
      const parent = level;
      level = path.join(parent, part);
      const created = await mkdir(level, { mode: 0o700 }).then(
        () => true,
        (err: NodeJS.ErrnoException) => {
          if (err.code === "EEXIST") return false;
          throw err;
        },
      );
      if (created) await syncFolder(parent);
      const info = await lstat(level);
      if (info.isSymbolicLink()) throw new SinkError(`the ${what}'s folder under STREAM_FILE_ROOT is a symbolic link; refusing to follow it`);
      if (!info.isDirectory()) throw new SinkError(`the ${what}'s folder under STREAM_FILE_ROOT is not a folder`);
    }
    return dir;
  };

  /** Repairs the newest file of a previous run (or of a failed write) and learns the names taken. */
  const prepare = async (dir: string) => {
    const names = (await readdir(dir)).filter((n) => FILE_NAME.test(n)).sort();
    for (const name of names) {
      const [, stamp = "", seq = "0"] = FILE_NAME.exec(name) ?? [];
      if (stamp > lastStamp) lastStamp = stamp;
      lastSeq = Math.max(lastSeq, Number(seq));
    }
    const newest = names.at(-1);
    if (newest !== undefined) {
      const file = path.join(dir, newest);
      // an empty file holds nothing to keep (a write that failed at once): remove it rather than leave one per retry
      if ((await cutPartialLine(file)) === 0) await unlink(file);
    }
    prepared = true;
  };

  /** A new file, named after now (never before the last one), 0600; its folder entry synced. */
  const createFile = async (dir: string, at: Date): Promise<OpenFile> => {
    const stamp = fileStamp(at) > lastStamp ? fileStamp(at) : lastStamp;
    for (let attempt = 0; ; attempt++) {
      const seq = lastSeq + 1;
      const name = `audit-${stamp}-${String(seq).padStart(6, "0")}.jsonl`;
      try {
        const handle = await open(path.join(dir, name), "ax", 0o600);
        lastStamp = stamp;
        lastSeq = seq;
        await syncFolder(dir);
        return { handle, name, size: 0, hour: hourOf(at) };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 10) throw err;
        lastSeq = seq; // someone else's file: take the next number
      }
    }
  };

  const write = async (entries: readonly StreamEntry[]): Promise<DeliveryOutcome> => {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const fail = (error: string): DeliveryOutcome => ({ ok: false, statusCode: null, error, durationMs: elapsed() });
    if (options.fileRoot === null || options.fileRoot === "") return fail("file streams need STREAM_FILE_ROOT (the folder the files are written under)");
    if (typeof settings === "string") return fail(settings);
    const root = path.resolve(options.fileRoot);
    try {
      folder ??= await resolveFolder(root);
      if (!prepared) await prepare(folder);
      const data = Buffer.from(entries.map((e) => `${documentOf(e)}\n`).join(""), "utf8");
      if (data.length === 0) return { ok: true, durationMs: elapsed() };
      const at = now();
      if (current) {
        const rotate = settings.rotate === "hour" ? hourOf(at) !== current.hour : current.size > 0 && current.size + data.length > settings.maxBytes;
        if (rotate) await closeCurrent();
      }
      current ??= await createFile(folder, at);
      const file = current;
      try {
        await writeAll(file.handle, data);
        await file.handle.datasync();
      } catch (err) {
        // take the partial batch back out at once, so that no collector reads half a line
        await file.handle.truncate(file.size).then(() => file.handle.datasync()).catch(() => undefined);
        throw err;
      }
      file.size += data.length;
      return { ok: true, durationMs: elapsed() };
    } catch (err) {
      // after any failure the next deliver starts afresh, as the first after opening does
      await closeCurrent();
      folder = null;
      prepared = false;
      if (err instanceof SinkError) return fail(err.message);
      // fs messages name the full path: show it from the root's name, not the host's layout
      const message = (err as Error).message.split(root).join("$STREAM_FILE_ROOT");
      return fail(`the stream's file could not be written: ${message}`);
    }
  };

  return {
    deliver(entries) {
      // one write at a time, in call order (the worker awaits each anyway)
      const run = queue.then(() => write(entries));
      queue = run.catch(() => undefined);
      return run;
    },
    async close() {
      await queue;
      await closeCurrent();
      prepared = false;
    },
  };
}
