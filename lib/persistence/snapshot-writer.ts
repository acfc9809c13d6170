import { createHash } from 'node:crypto';
import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { LocalCoordinator } from '../coordination/local/local-coordinator';
import { TimeSlices } from '../expiry/time-slices';
import type { MemoryStore } from '../storage/memory-store';
import { entryLine, headerLine, recordLine, SLICE_MS, trailerLine } from './snapshot-format';

/** What a snapshot is taken of: the in-process parts of a manager (at least one). */
export interface SnapshotParts {
  store: MemoryStore | undefined;
  coordinator: LocalCoordinator | undefined;
}

/** What a written snapshot holds. */
export interface WrittenSnapshot {
  /** Lines of sessions and records (the first and last lines not counted). */
  lines: number;
  bytes: number;
}

/** Text gathered before it is handed to the file (and the digest) as one buffer. */
const CHUNK_CHARS = 1 << 18;
/** Sessions looked at (written or skipped) between two looks at the clock of the time slices. */
const LINES_PER_CHECK = 64;

/** The temporary file a snapshot is written to before it replaces `path`. */
export function temporaryPath(path: string): string {
  return `${path}.tmp`;
}

/**
 * Writes a snapshot of `parts` to `path` atomically (docs/architecture.md,
 * "Persistence"): 1. into `<path>.tmp`, a slice at a time, the event loop
 * served in between; 2. flushed to the disk (fsync); 3. renamed over
 * `path`, and the directory flushed so the rename survives a power cut. A
 * process killed at any point leaves the previous snapshot whole: until the
 * rename, `path` is untouched.
 *
 * The sessions are read while requests go on, so the snapshot is fuzzy: a
 * session changed during the write is saved as it was when its line was
 * written, and one created after its place in the walk is not saved.
 */
export async function writeSnapshot(path: string, parts: SnapshotParts, writtenAt: number): Promise<WrittenSnapshot> {
  const temporary = temporaryPath(path);
  const file = await open(temporary, 'w');
  try {
    const written = await writeLines(file, parts, writtenAt);
    await file.sync();
    await file.close();
    await rename(temporary, path);
    await syncDirectory(dirname(path));
    return written;
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(temporary, { force: true }).catch(() => undefined);
    throw error;
  }
}

/** The header, every line, the trailer with the digest of all before it. */
async function writeLines(file: FileHandle, { store, coordinator }: SnapshotParts, writtenAt: number): Promise<WrittenSnapshot> {
  const digest = createHash('sha256');
  const slices = new TimeSlices(SLICE_MS);
  let pending: string[] = [headerLine(writtenAt)];
  let pendingChars = pending[0].length;
  let bytes = 0;
  let lines = 0;
  const flush = async (): Promise<void> => {
    const buffer = Buffer.from(pending.join(''), 'utf8');
    pending = [];
    pendingChars = 0;
    digest.update(buffer);
    bytes += buffer.length;
    await file.write(buffer);
  };
  let looked = 0;
  const add = async (line: string | undefined): Promise<void> => {
    if (line !== undefined) {
      pending.push(line);
      pendingChars += line.length;
      lines++;
      if (pendingChars >= CHUNK_CHARS) await flush();
    }
    if (++looked % LINES_PER_CHECK === 0) await slices.yieldIfDue();
  };
  // 1. Every entry, with its record when the store is in-process.
  if (coordinator) for (const entry of coordinator.savedEntries()) await add(entryLine(entry, store?.kept(entry.key)));
  // 2. The records the coordinator has no entry for (a claimed entry's record is going: not saved).
  if (store) {
    for (const [key, record] of store.keptRecords()) await add(coordinator?.knows(key) ? undefined : recordLine(key, record));
  }
  await flush();
  const trailer = Buffer.from(trailerLine(digest.digest('hex')), 'utf8');
  await file.write(trailer);
  return { lines, bytes: bytes + trailer.length };
}

/** Flushes a directory's entries (a rename) to the disk, where the platform can. */
async function syncDirectory(directory: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(directory, 'r');
    await handle.sync();
  } catch {
    // Windows cannot open a directory; the rename itself is still atomic there.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}
