import type { SavedEntry } from '../coordination/local/local-coordinator';
import { isKept } from '../storage/memory-record';

/**
 * The snapshot file (docs/architecture.md, "Persistence"): newline-delimited
 * JSON, one line per session, so it is written and read a slice at a time
 * and never held whole in memory as one string.
 *
 * ```
 * {"format":"express-session-management/snapshot","version":1,"writtenAt":<ms>}
 * ["e",<key>,<lastAccessedTime>,<deadline|null>,<storeExpires|null>,<principal|null>,<record|null>]
 * ["r",<key>,<record>]
 * ["end","<sha256 of every byte before this line, hex>"]
 * ```
 *
 * - `e`: a coordinator entry, with the store's record of the same key when
 *   the store is in-process (read in the same instant, so a session is saved
 *   whole or not at all);
 * - `r`: a record the coordinator has no entry for (a migrated record);
 * - a record is the string `MemoryStore` keeps (`storage/memory-record.ts`),
 *   as a JSON string;
 * - the last line has a fixed length, so a reader finds it from the file's
 *   size before reading anything else: a file cut short has no valid last
 *   line, and a changed byte anywhere fails its digest.
 */

/** What the first line says the file is. */
export const FORMAT = 'express-session-management/snapshot';
/** The version of the layout above; a reader refuses any other. */
export const VERSION = 1;
/** The length of the last line in bytes: `["end","` + 64 hex digits + `"]` + newline. */
export const TRAILER_BYTES = 8 + 64 + 2 + 1;

/**
 * The longest run of the writer and the reader between two turns of the
 * event loop, ms: shorter than other long work's 5 ms, because a V8
 * collection falls inside a slice every few slices (a read makes a million
 * lasting objects, each copied by the young-generation collector) and adds
 * to it (docs/architecture.md, "Persistence").
 */
export const SLICE_MS = 2;

/** A file that is not a snapshot this version can read: foreign, cut short or changed. */
export class UnreadableSnapshotError extends Error {}

/** One line read back. */
export type SnapshotLine =
  | { kind: 'entry'; entry: SavedEntry; record: string | undefined }
  | { kind: 'record'; key: string; record: string };

/** The first line. */
export function headerLine(writtenAt: number): string {
  return `${JSON.stringify({ format: FORMAT, version: VERSION, writtenAt })}\n`;
}

/** The line of an entry and (with an in-process store) its record. */
export function entryLine(entry: SavedEntry, record: string | undefined): string {
  return (
    `["e",${JSON.stringify(entry.key)},${entry.lastAccessedTime},${entry.deadline},${entry.storeExpires},` +
    `${entry.principal === undefined ? 'null' : JSON.stringify(entry.principal)},${record === undefined ? 'null' : JSON.stringify(record)}]\n`
  );
}

/** The line of a record the coordinator has no entry for. */
export function recordLine(key: string, record: string): string {
  return `["r",${JSON.stringify(key)},${JSON.stringify(record)}]\n`;
}

/** The last line. */
export function trailerLine(digest: string): string {
  return `["end","${digest}"]\n`;
}

/** Checks the first line; throws {@link UnreadableSnapshotError} for a foreign file or another version. */
export function checkHeader(line: string): void {
  const header = parse(line) as { format?: unknown; version?: unknown } | undefined;
  if (typeof header !== 'object' || header === null || header.format !== FORMAT) throw new UnreadableSnapshotError('not a session snapshot');
  if (header.version !== VERSION) throw new UnreadableSnapshotError(`snapshot version ${String(header.version)}, this version reads ${VERSION}`);
}

/** The digest the last line carries; throws when the bytes are not a last line. */
export function digestOf(trailer: string): string {
  const match = /^\["end","([0-9a-f]{64})"\]\n$/.exec(trailer);
  if (!match) throw new UnreadableSnapshotError('no end line: the file was cut short');
  return match[1];
}

/** One line after the first, checked field by field; throws {@link UnreadableSnapshotError}. */
export function readLine(line: string): SnapshotLine {
  const fields = parse(line);
  if (!Array.isArray(fields) || typeof fields[1] !== 'string' || fields[1] === '') throw malformed();
  if (fields[0] === 'r' && fields.length === 3 && isKept(fields[2])) return { kind: 'record', key: fields[1], record: fields[2] };
  if (fields[0] !== 'e' || fields.length !== 7) throw malformed();
  const [, key, lastAccessedTime, deadline, storeExpires, principal, record] = fields as unknown[];
  if (!isTime(lastAccessedTime) || !isTimeOrNull(deadline) || !isTimeOrNull(storeExpires)) throw malformed();
  if (principal !== null && typeof principal !== 'string') throw malformed();
  if (record !== null && !isKept(record)) throw malformed();
  return {
    kind: 'entry',
    entry: { key: key as string, lastAccessedTime, deadline, storeExpires, principal: principal ?? undefined },
    record: record ?? undefined,
  };
}

function parse(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    throw malformed();
  }
}

function malformed(): UnreadableSnapshotError {
  return new UnreadableSnapshotError('a malformed line');
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isTimeOrNull(value: unknown): value is number | null {
  return value === null || isTime(value);
}
