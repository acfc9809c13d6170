/**
 * Bytes per session in Redis (issue 13): `npx tsx benchmarks/redis-bytes.ts [--sessions=10000] [--rounds=3]`.
 * For express-session + connect-redis, this library + connect-redis
 * (in-process coordinator) and this library + connect-redis +
 * redisCoordinator, each on a private, empty redis-server (never the
 * machine's): `--sessions` small sessions are created over HTTP (`POST /new`,
 * the benchmark server's route: a session with one small object attribute),
 * and Redis's `used_memory` before and after, divided by the sessions, is
 * the cost of one session. `MEMORY USAGE` of one session's keys, and the
 * keys per session, show where the bytes go. Medians of the rounds.
 */
import { createClient } from 'redis';
import { compileServers, startServer } from './harness';
import type { ConfigName } from './configs';
import { findOnPath, startRedisServer } from '../test/support/redis-server';

const CONFIGS: ConfigName[] = ['express-session+redis', 'esm+redis', 'esm+redis+coordinator'];

function option(name: string, fallback: number): number {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  return flag ? Number(flag.split('=')[1]) : fallback;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function createSessions(url: string, count: number): Promise<void> {
  const batch = 50;
  for (let made = 0; made < count; made += batch) {
    const answers = await Promise.all(Array.from({ length: Math.min(batch, count - made) }, () => fetch(`${url}/new`, { method: 'POST' })));
    for (const answer of answers) if (answer.status !== 204) throw new Error(`POST /new answered ${answer.status}`);
  }
}

interface Measure {
  bytesPerSession: number;
  keysPerSession: number;
  /** MEMORY USAGE of one session's keys, by kind of key. */
  sample: Record<string, number>;
}

async function measure(config: ConfigName, sessions: number): Promise<Measure> {
  const redis = await startRedisServer(findOnPath('redis-server') ?? 'redis-server');
  const client = createClient({ url: redis.url });
  await client.connect();
  const server = await startServer(config, { redisUrl: redis.url });
  try {
    await createSessions(server.url, 20); // the coordinator's scripts and shared keys exist before the baseline
    const used = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await client.info('memory'))![1]);
    const keysBefore = await client.dbSize();
    const before = await used();
    await createSessions(server.url, sessions);
    const after = await used();
    const keysAfter = await client.dbSize();
    const sample: Record<string, number> = {};
    const record = (await client.keys(`sess:${config}:*`)).find((key) => !key.includes('#'));
    if (record) {
      sample.record = (await client.memoryUsage(record)) ?? 0;
      const id = record.slice(`sess:${config}:`.length);
      for (const key of await client.keys(`*${id}*`)) if (key !== record) sample[`entry ${key.replace(id, '<id>')}`] = (await client.memoryUsage(key)) ?? 0;
    }
    return { bytesPerSession: (after - before) / sessions, keysPerSession: (keysAfter - keysBefore) / sessions, sample };
  } finally {
    await server.stop();
    await client.quit();
    await redis.stop();
  }
}

async function main(): Promise<void> {
  const sessions = option('sessions', 10000);
  const rounds = option('rounds', 3);
  await compileServers();
  const results = new Map<ConfigName, Measure[]>();
  for (let round = 0; round < rounds; round++) {
    for (const config of CONFIGS) {
      const result = await measure(config, sessions);
      console.log(`[redis-bytes] round ${round + 1} ${config}: ${result.bytesPerSession.toFixed(0)} B/session, ${result.keysPerSession.toFixed(2)} keys/session`);
      results.set(config, [...(results.get(config) ?? []), result]);
    }
  }
  console.log(`\n${sessions} sessions, median of ${rounds} rounds\n`);
  console.log('| configuration | Redis bytes per session | keys per session | MEMORY USAGE of one session\'s keys |');
  console.log('|---|---:|---:|---|');
  for (const config of CONFIGS) {
    const all = results.get(config)!;
    const sample = Object.entries(all[0].sample).map(([key, bytes]) => `${key}: ${bytes}`).join(', ');
    console.log(`| ${config} | ${median(all.map((r) => r.bytesPerSession)).toFixed(0)} | ${median(all.map((r) => r.keysPerSession)).toFixed(2)} | ${sample} |`);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
