import { createHash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';
import type { SavedEntry } from '../coordination/local/local-coordinator';
import { TimeSlices } from '../expiry/time-slices';
import { expiresAtOf, withExpiresAt } from '../storage/memory-record';
import { checkHeader, digestOf, readLine, SLICE_MS, TRAILER_BYTES, UnreadableSnapshotError, type SnapshotLine } from './snapshot-format';
import type { SnapshotParts } from './snapshot-writer';

/** What a snapshot is read into, and when. */
export interface SnapshotTarget extends SnapshotParts {
  /** The time of the restart, ms. */
  now: number;
  /**
   * How long, from `now`, a record whose session has an entry is kept at
   * least, ms: no reaper ran while the process was down, so a session that
   * fell due meanwhile must still have its record when the first sweep (or
   * a request) destroys and announces it.
   */
  recordGraceMs: number;
}

/** What was read back. */
export interface LoadedSnapshot {
  /** Lines of sessions and records restored. */
  lines: number;
}

/** Bytes read at a time. */
const CHUNK_BYTES = 1 << 18;
/** Lines restored between two looks at the clock of the time slices. */
const LINES_PER_CHECK = 64;

/**
 * Reads the snapshot at `path` into `target` (docs/architecture.md,
 * "Persistence"): 1. the last line, found from the file's size (a file cut
 * short has none); 2. the digest of everything before it, checked before
 * anything is restored; 3. the lines, a slice at a time, the event loop
 * served in between. Throws `ENOENT` for a missing file and
 * {@link UnreadableSnapshotError} for a foreign, cut or changed one; a line
 * found malformed after the digest matched undoes what was restored, so the
 * manager starts empty.
 */
export async function readSnapshot(path: string, target: SnapshotTarget): Promise<LoadedSnapshot> {
  const file = await open(path, 'r');
  try {
    // 1.
    const { size } = await file.stat();
    if (size < TRAILER_BYTES) throw new UnreadableSnapshotError('the file was cut short');
    const trailer = Buffer.alloc(TRAILER_BYTES);
    await file.read(trailer, 0, TRAILER_BYTES, size - TRAILER_BYTES);
    const expected = digestOf(trailer.toString('latin1'));
    // 2.
    if ((await digestUpTo(file, size - TRAILER_BYTES)) !== expected) throw new UnreadableSnapshotError('its digest does not match: the file was changed');
    // 3.
    return await restoreLines(file, size - TRAILER_BYTES, target);
  } finally {
    await file.close().catch(() => undefined);
  }
}

/** The sha256 of the file's first `end` bytes, hex. */
async function digestUpTo(file: FileHandle, end: number): Promise<string> {
  const digest = createHash('sha256');
  for await (const chunk of chunks(file, end)) digest.update(chunk);
  return digest.digest('hex');
}

/** The lines before the trailer, restored; on a malformed line, what was restored is taken back. */
async function restoreLines(file: FileHandle, end: number, target: SnapshotTarget): Promise<LoadedSnapshot> {
  const restored = new KeyList();
  const slices = new TimeSlices(SLICE_MS);
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let header = true;
  try {
    for await (const chunk of chunks(file, end)) {
      const lines = (rest + decoder.write(chunk)).split('\n');
      rest = lines.pop()!;
      for (let i = 0; i < lines.length; i++) {
        if (header) {
          checkHeader(lines[i]);
          header = false;
        } else {
          restored.add(restore(readLine(lines[i]), target));
        }
        if (i % LINES_PER_CHECK === 0) await slices.yieldIfDue();
      }
    }
    if (header || rest + decoder.end() !== '') throw new UnreadableSnapshotError('the last line before the end line is incomplete');
  } catch (error) {
    await takeBack(restored, target, slices);
    throw error;
  }
  return { lines: restored.size };
}

/** Puts one line back; returns its key. */
function restore(line: SnapshotLine, target: SnapshotTarget): string {
  const { store, coordinator } = target;
  if (line.kind === 'record') {
    store?.restore(line.key, line.record);
    return line.key;
  }
  coordinator?.restore(line.entry);
  if (store && line.record !== undefined) store.restore(line.entry.key, keptUntilSwept(line.record, line.entry, target));
  return line.entry.key;
}

/** A session's record, kept long enough for the first sweep to find it with its attributes. */
function keptUntilSwept(record: string, entry: SavedEntry, target: SnapshotTarget): string {
  const floor = target.now + target.recordGraceMs;
  if (entry.deadline === null || expiresAtOf(record) >= floor) return record;
  return withExpiresAt(record, floor);
}

/** Removes what was restored, a slice at a time. */
async function takeBack(keys: KeyList, { store, coordinator }: SnapshotTarget, slices: TimeSlices): Promise<void> {
  let i = 0;
  for (const key of keys) {
    store?.remove(key);
    await coordinator?.remove(key);
    if (++i % LINES_PER_CHECK === 0) await slices.yieldIfDue();
  }
}

/**
 * The keys restored so far, in blocks of a fixed size: one array of a
 * million keys would be copied whole each time it grows, holding the event
 * loop (docs/architecture.md, "Faults").
 */
class KeyList {
  private readonly blocks: string[][] = [[]];
  size = 0;

  add(key: string): void {
    let block = this.blocks[this.blocks.length - 1];
    if (block.length === KEY_BLOCK) this.blocks.push((block = []));
    block.push(key);
    this.size++;
  }

  *[Symbol.iterator](): IterableIterator<string> {
    for (const block of this.blocks) yield* block;
  }
}

const KEY_BLOCK = 4096;

/** The file's bytes from the start up to `end`, a chunk at a time. */
async function* chunks(file: FileHandle, end: number): AsyncGenerator<Buffer> {
  for (let position = 0; position < end; ) {
    const buffer = Buffer.allocUnsafe(Math.min(CHUNK_BYTES, end - position));
    const { bytesRead } = await file.read(buffer, 0, buffer.length, position);
    if (bytesRead === 0) throw new UnreadableSnapshotError('the file was cut short while it was read');
    position += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}
