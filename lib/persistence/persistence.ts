import { rename } from 'node:fs/promises';
import createDebug from 'debug';
import type { Store } from 'express-session';
import type { Clock } from '../clock';
import type { Coordinator } from '../coordination/coordinator';
import { LocalCoordinator } from '../coordination/local/local-coordinator';
import { MemoryStore } from '../storage/memory-store';
import { readSnapshot } from './snapshot-reader';
import { writeSnapshot, type SnapshotParts, type WrittenSnapshot } from './snapshot-writer';

const debug = createDebug('express-session-management:persist');

/** What {@link Persistence} needs from the manager. */
export interface PersistenceOptions extends SnapshotParts {
  path: string;
  /** ms between snapshots; `undefined`: only at `close()`. */
  intervalMs: number | undefined;
  clock: Clock;
  /** How long a record of a session that fell due while the process was down is kept, ms (see `readSnapshot`). */
  recordGraceMs: number;
}

/**
 * Sessions that survive a restart (docs/architecture.md, "Persistence";
 * Tomcat's `SESSIONS.ser`): the in-process store and coordinator are read
 * back from one file at startup and written to it at `close()` and every
 * `interval`. Snapshots never overlap: one asked for while another is being
 * written runs after it.
 *
 * Failure modes: a crash loses what changed since the last snapshot (and a
 * session destroyed since may come back, to be destroyed and announced
 * again); a file that cannot be read is moved aside and the manager starts
 * empty.
 */
export class Persistence {
  private timer: NodeJS.Timeout | undefined;
  private writing: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: PersistenceOptions) {}

  /**
   * Reads the snapshot back. Never rejects: a missing file is a first
   * start; one that cannot be read is renamed `<path>.corrupt-<time>` and
   * reported with `process.emitWarning`, and the manager starts empty.
   */
  async load(): Promise<void> {
    const { path, clock, recordGraceMs } = this.options;
    try {
      const { lines } = await readSnapshot(path, { ...this.parts(), now: clock.now(), recordGraceMs });
      debug('read %d lines from %s', lines, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      await this.setAside(error);
    }
  }

  /** Starts writing a snapshot every `interval` (the timer never keeps the process alive). */
  start(): void {
    if (this.options.intervalMs === undefined || this.stopped) return;
    this.timer = setTimeout(() => {
      this.save()
        .catch((error: unknown) => warn(`could not write the snapshot ${this.options.path}: ${messageOf(error)}`, 'ESM_PERSIST_WRITE'))
        .finally(() => this.start());
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Writes a snapshot now (after the one being written, if any). */
  save(): Promise<WrittenSnapshot> {
    const written = this.writing.then(() => writeSnapshot(this.options.path, this.parts(), this.options.clock.now()));
    this.writing = written.catch(() => undefined);
    return written.then((result) => {
      debug('wrote %d lines, %d bytes to %s', result.lines, result.bytes, this.options.path);
      return result;
    });
  }

  /** Stops the timer and writes the last snapshot; rejects if it cannot be written. */
  async close(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.save();
  }

  private parts(): SnapshotParts {
    return { store: this.options.store, coordinator: this.options.coordinator };
  }

  /** Moves an unreadable snapshot aside so the next one does not overwrite what an operator may want to see. */
  private async setAside(error: unknown): Promise<void> {
    const { path } = this.options;
    const aside = `${path}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    const moved = await rename(path, aside).then(
      () => `it was renamed ${aside}`,
      (renameError: unknown) => `it could not be renamed aside either (${messageOf(renameError)})`,
    );
    warn(`the snapshot ${path} could not be read (${messageOf(error)}); ${moved}, and the manager starts empty`, 'ESM_PERSIST_UNREADABLE');
  }
}

/**
 * The manager's `persist`, if set: what of it is in process is saved — its
 * `MemoryStore`, its `LocalCoordinator`, or both (docs/architecture.md,
 * "Persistence").
 */
export function createPersistence(
  persist: { path: string; intervalMs: number | undefined } | undefined,
  store: Store,
  coordinator: Coordinator,
  clock: Clock,
  recordGraceMs: number,
): Persistence | undefined {
  if (!persist) return undefined;
  return new Persistence({
    ...persist,
    clock,
    recordGraceMs,
    store: store instanceof MemoryStore ? store : undefined,
    coordinator: coordinator instanceof LocalCoordinator ? coordinator : undefined,
  });
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function warn(message: string, code: string): void {
  process.emitWarning(`express-session-management: ${message}`, { code });
}
