import { closeSync, openSync, statSync, unlinkSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { temporaryPath } from './snapshot-writer';

/**
 * What is wrong with `path` as the place of a snapshot, checked once at
 * startup so a path that cannot be written is a `ConfigurationError` then,
 * not a lost snapshot at `close()`: its directory must exist, the path must
 * not be a directory, and the temporary file beside it must be creatable
 * (created and removed again: the one sure test, whoever runs the process).
 */
export function snapshotPathViolations(path: string): string[] {
  const absolute = resolve(path);
  const directory = dirname(absolute);
  if (!statOf(directory)?.isDirectory()) return [`persist.path: the directory ${directory} does not exist`];
  const existing = statOf(absolute);
  if (existing && !existing.isFile()) return [`persist.path: ${absolute} exists and is not a file`];
  const probe = temporaryPath(absolute);
  try {
    closeSync(openSync(probe, 'w'));
    unlinkSync(probe);
  } catch (error) {
    return [`persist.path: cannot write beside ${absolute} (${(error as NodeJS.ErrnoException).code ?? String(error)})`];
  }
  return [];
}

function statOf(path: string): ReturnType<typeof statSync> | undefined {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}
