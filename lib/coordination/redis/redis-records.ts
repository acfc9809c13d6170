import type { AccessEntry, ColocatedRecords, LeaveUpdate, RecordWrite } from '../coordinator';
import type { StoredRecord } from '../../storage/store-adapter';
import type { ScriptName } from './redis-scripts';
import { toAccessEntry } from './redis-entry';
import type { ScriptArguments } from './script-arguments';

/** What the colocated records need of their coordinator: its scripts and its key layout. */
export interface RecordScripts {
  run(name: ScriptName, keys: string[], args: string[]): Promise<unknown>;
  entryKey(key: string): string;
  /** The shard of a session key (its keys' hash tag). */
  shardOf(key: string): number;
  /** Where the store keeps a session's record (connect-redis: its prefix and the key). */
  recordKey(key: string): string;
  /** The KEYS and ARGV of entering, leaving and removing, as the coordinator's own calls build them. */
  args: ScriptArguments;
}

/**
 * connect-redis's records reached by the Redis coordinator itself
 * (docs/architecture.md, "Colocated records"): read with `enter` in one
 * script, written (JSON, `EX` the record's TTL, as connect-redis writes them)
 * with the `leave` of every request of a group of commits in one script, an
 * optimistic version guarding merges.
 */
export class RedisRecords implements ColocatedRecords {
  constructor(private readonly scripts: RecordScripts) {}

  async load(key: string, now: number, strictExpiry: boolean, request: string): Promise<{ record: StoredRecord | undefined; entry: AccessEntry | undefined }> {
    const { scripts } = this;
    const keys = [scripts.entryKey(key), scripts.recordKey(key)];
    const reply = (await scripts.run('load', keys, scripts.args.enterArgs(now, strictExpiry, request))) as [string | null, unknown];
    return { record: parse(reply[0]), entry: toAccessEntry(reply[1]) };
  }

  async write(key: string, record: StoredRecord, ttlSeconds: number, version: number | undefined, updates: LeaveUpdate[], writer = '', after = ''): Promise<RecordWrite> {
    const { scripts } = this;
    const shard = scripts.shardOf(key);
    const keys = [...updates.flatMap((update) => scripts.args.leaveKeys(key, update, shard)), scripts.recordKey(key)];
    const expected = version === undefined ? '' : String(version);
    const args = [...updates.flatMap((update) => scripts.args.leaveArgs(key, update, shard)), JSON.stringify(record), String(ttlSeconds), expected, after, writer];
    const reply = (await scripts.run('write', keys, args)) as [string, number?, ...number[]];
    if (reply[0] !== 'written') return { written: false };
    return { written: true, version: Number(reply[1]), lastOfKilled: reply.slice(2).map((left) => Number(left) === 2) };
  }

  async touch(key: string, ttlSeconds: number, update: LeaveUpdate): Promise<boolean> {
    const { scripts } = this;
    const shard = scripts.shardOf(key);
    const keys = [...scripts.args.leaveKeys(key, update, shard), scripts.recordKey(key)];
    return Number(await scripts.run('touch', keys, [...scripts.args.leaveArgs(key, update, shard), String(ttlSeconds)])) === 2;
  }

  async read(key: string): Promise<{ record: StoredRecord | undefined; version: number; claimed: boolean; known: boolean }> {
    const { scripts } = this;
    const [record, version, claimed, exists] = (await scripts.run('read', [scripts.entryKey(key), scripts.recordKey(key)], [])) as (
      | string
      | number
      | null
    )[];
    return { record: parse(record as string | null), version: Number(version ?? 0), claimed: claimed === '1', known: Number(exists) === 1 };
  }

  async remove(key: string): Promise<boolean> {
    const { scripts } = this;
    return Number(await scripts.run('remove', [...scripts.args.removeKeys(key), scripts.recordKey(key)], scripts.args.removeArgs(key))) === 1;
  }
}

/** A record as connect-redis keeps it (JSON), or `undefined`. */
function parse(json: string | null | undefined): StoredRecord | undefined {
  if (!json) return undefined;
  const record: unknown = JSON.parse(json);
  return record && typeof record === 'object' ? (record as StoredRecord) : undefined;
}

/** What a store must be for its records to be colocated (connect-redis's fields). */
interface CandidateStore {
  client?: unknown;
  prefix?: unknown;
  serializer?: unknown;
  ttl?: unknown;
  disableTTL?: unknown;
  disableTouch?: unknown;
}

/**
 * The records of `store` reached by the coordinator's own scripts, when it
 * is connect-redis on the coordinator's own client (one server or Sentinel;
 * a cluster keeps them in another slot), keeping JSON records with the TTL
 * of their `cookie.expires` (its defaults); else `undefined`.
 */
export function colocatedRecords(
  store: object,
  on: { client: unknown; clustered: boolean },
  scripts: Omit<RecordScripts, 'recordKey'>,
): RedisRecords | undefined {
  const candidate = store as CandidateStore;
  if (on.clustered || candidate.client !== on.client) return undefined;
  if (typeof candidate.prefix !== 'string' || candidate.serializer !== JSON) return undefined;
  if (typeof candidate.ttl === 'function' || candidate.disableTTL || candidate.disableTouch) return undefined;
  const prefix = candidate.prefix;
  return new RedisRecords({ ...scripts, recordKey: (key) => prefix + key });
}
