import { IsInt, IsOptional, IsString, Min, MinLength, validateSync } from 'class-validator';
import { LocalCoordinator } from '../coordination/local/local-coordinator';
import { snapshotPathViolations } from '../persistence/snapshot-path';
import { MemoryStore } from '../storage/memory-store';
import { isPlainObject } from './option-validators';
import { PERSIST_OPTION_NAMES, type PersistOptions, type ResolvedManagerOptions, type SessionManagerOptions } from './options';

class PersistOptionsSchema {
  @IsString({ message: 'persist.path must be a file path' }) @MinLength(1, { message: 'persist.path must not be empty' })
  path?: string;

  @IsOptional() @IsInt({ message: 'persist.interval must be a whole number of seconds' })
  @Min(1, { message: 'persist.interval must be at least 1 second' })
  interval?: number;
}

/**
 * What is wrong with the `persist` option (docs/architecture.md,
 * "Persistence"): its shape; then that there is something in process to
 * save (the store, the coordinator or both are ours); then that its path
 * can be written.
 */
export function persistViolations(options: SessionManagerOptions): string[] {
  const persist = options.persist as unknown;
  if (persist === undefined || persist === null) return [];
  if (!isPlainObject(persist)) return ['persist must be an object ({ path, interval? })'];
  const unknown = Object.keys(persist)
    .filter((key) => !(PERSIST_OPTION_NAMES as readonly string[]).includes(key))
    .map((key) => `persist.${key} is not an option (known: ${PERSIST_OPTION_NAMES.join(', ')})`);
  const schema = Object.assign(new PersistOptionsSchema(), { path: persist.path, interval: persist.interval ?? undefined });
  const shape = [...unknown, ...validateSync(schema).flatMap((error) => Object.values(error.constraints ?? {}))];
  if (shape.length > 0) return shape;
  const externalStore = options.store !== undefined && options.store !== null && !(options.store instanceof MemoryStore);
  const externalCoordinator = options.coordinator !== undefined && options.coordinator !== null && !(options.coordinator instanceof LocalCoordinator);
  if (externalStore && externalCoordinator) return ['persist needs the in-process MemoryStore or LocalCoordinator: with an external store and coordinator there is nothing to save'];
  return snapshotPathViolations(persist.path as string);
}

/** The checked `persist` option as the manager uses it. */
export function resolvePersist(persist: PersistOptions | undefined | null): ResolvedManagerOptions['persist'] {
  if (persist === undefined || persist === null) return undefined;
  return { path: persist.path, intervalMs: persist.interval === undefined || persist.interval === null ? undefined : persist.interval * 1000 };
}
