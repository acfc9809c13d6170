/**
 * CPU profile of one configuration's server under load:
 *   npx tsx benchmarks/profile.ts [config=esm+memory] [route=read] [seconds=10]
 *       [--connections=10] [--one-session] [--serial-access=on]
 * Runs the compiled server with `node --cpu-prof`, drives it with autocannon,
 * and prints the top functions by self time and the self time per file/package.
 * `--one-session`: every connection sends the same session's cookie (as
 * concurrency.ts's "one"); `--serial-access=on` runs this library with
 * `serialAccess: true`. The .cpuprofile is kept (path printed) for Chrome DevTools.
 * BENCH_NO_COMPILE=1 profiles benchmarks/.build as it is, e.g. after an experiment edited it.
 * PROFILE_V8='--no-turbo-inlining' (V8 flags, space-separated) is passed to the server: without
 * inlining, time is charged to the function that spent it rather than to its caller.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { findOnPath, startRedisServer, type RedisServer } from '../test/support/redis-server';
import { CONFIGS, SERVER_ROUTES, usesRedis, variantArgs, type ConfigName, type ServerRoute } from './configs';
import { compileServers, createSessions, load, ROOT, startServer } from './harness';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

async function main(): Promise<void> {
  const flags = process.argv.slice(2).filter((a) => a.startsWith('--'));
  const [configArg, routeArg, secondsArg] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  const config = (configArg ?? 'esm+memory') as ConfigName;
  const route = (routeArg ?? 'read') as ServerRoute;
  const seconds = Number(secondsArg ?? 10);
  const connections = Number(flags.find((f) => f.startsWith('--connections='))?.split('=')[1] ?? 10);
  const oneSession = flags.includes('--one-session');
  const serialAccess = flags.includes('--serial-access=on');
  if (!CONFIGS.includes(config) || !SERVER_ROUTES.includes(route)) {
    throw new Error(`usage: profile.ts <${CONFIGS.join('|')}> <${SERVER_ROUTES.join('|')}> [seconds] [--connections=10] [--one-session] [--serial-access=on]`);
  }
  // BENCH_NO_COMPILE=1 reuses benchmarks/.build as it is (to try a hand-edited build).
  if (process.env.BENCH_NO_COMPILE !== '1') await compileServers();
  let redis: RedisServer | undefined;
  if (usesRedis(config)) redis = await startRedisServer(findOnPath('redis-server') ?? 'redis-server');
  const dir = mkdtempSync(join(tmpdir(), 'esm-profile-'));
  const server = await startServer(config, { redisUrl: redis?.url, execArgv: ['--cpu-prof', `--cpu-prof-dir=${dir}`, ...(process.env.PROFILE_V8 ? process.env.PROFILE_V8.split(' ') : [])], args: variantArgs({ serialAccess }) });
  try {
    const cookies = await createSessions(server, connections);
    const sent = oneSession ? [cookies[0]] : cookies;
    await load(server, route, sent, { connections, duration: 2 });
    const result = await load(server, route, sent, { connections, duration: seconds });
    const what = `${connections} connections on ${oneSession ? 'one session' : 'a session each'}${serialAccess ? ', serial access on' : ''}`;
    console.log(`${config} ${route}, ${what}: ${result.rps.toFixed(0)} req/s, p99 ${result.latencyP99} ms (under the profiler)`);
  } finally {
    await server.stop();
    await redis?.stop();
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no profile written in ${dir}`);
  report(join(dir, file));
}

function report(path: string): void {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[] };
  const total = profile.samples.length;
  const byFunction = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (!hits) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = place(url);
    const key = `${functionName || '(anonymous)'}  ${where}${url ? `:${lineNumber + 1}` : ''}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + hits);
    byFile.set(where, (byFile.get(where) ?? 0) + hits);
  }
  const top = (map: Map<string, number>, n: number): string =>
    [...map.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, v]) => `${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`)
      .join('\n');
  console.log(`\nprofile: ${path} (${total} samples)\n\nTop functions by self time:\n${top(byFunction, 30)}`);
  console.log(`\nSelf time by file / package:\n${top(byFile, 20)}`);
  console.log(`\nInclusive time (self + callees) of the library's functions:\n${top(inclusiveOfLib(profile.nodes), 25)}`);
}

/** Inclusive hits of every function in lib/, counted once per stack (no double count on recursion). */
function inclusiveOfLib(nodes: ProfileNode[]): Map<string, number> {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const childIds = new Set(nodes.flatMap((n) => n.children ?? []));
  const result = new Map<string, number>();
  const walk = (node: ProfileNode, onStack: Set<string>): number => {
    const { functionName, url, lineNumber } = node.callFrame;
    const where = place(url);
    const key = where.startsWith('lib/') ? `${functionName || '(anonymous)'}  ${where}:${lineNumber + 1}` : undefined;
    const fresh = key !== undefined && !onStack.has(key);
    if (fresh) onStack.add(key);
    let hits = node.hitCount ?? 0;
    for (const id of node.children ?? []) hits += walk(byId.get(id)!, onStack);
    if (fresh) {
      onStack.delete(key);
      result.set(key, (result.get(key) ?? 0) + hits);
    }
    return hits;
  };
  for (const node of nodes) if (!childIds.has(node.id)) walk(node, new Set());
  return result;
}

/** `lib/x.js`, `node_modules/<pkg>`, `node:internal/...`, or a marker for VM-internal frames. */
function place(url: string): string {
  if (!url) return '(native/gc/idle)';
  const path = url.replace(/^file:\/\//, '');
  const inModules = path.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
  if (inModules) return `node_modules/${inModules[1]}`;
  if (path.startsWith(ROOT)) return relative(join(ROOT, 'benchmarks', '.build'), path);
  return path;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
