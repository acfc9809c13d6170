/**
 * A private, throw-away redis-server for one test run: started from PATH on
 * a free loopback port, with no persistence, and stopped by global teardown.
 * The machine's own Redis (6379 or wherever it runs) is never touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createClient } from 'redis';

/** A running redis-server started by {@link startRedisServer}. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  /** The redis-server process id (what {@link RedisServer.stop} signals). */
  pid: number;
  /** Stops the server (SIGTERM, then SIGKILL after 3 s) and removes its directory. */
  stop(): Promise<void>;
}

/** How long a started server may take to answer PING. */
const STARTUP_TIMEOUT_MS = 10_000;

/** The full path of `command` on PATH, or `undefined`. */
export function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

/** Resolves when the Redis at `url` answers PING; rejects with the reason otherwise. */
export async function pingRedis(url: string, timeoutMs = 2000): Promise<void> {
  const client = createClient({ url, socket: { connectTimeout: timeoutMs, reconnectStrategy: false } });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const answer = await client.ping();
    if (answer !== 'PONG') throw new Error(`PING answered ${String(answer)}`);
  } finally {
    if (client.isOpen) client.destroy();
  }
}

/**
 * Starts `redis-server` (found at `binary`) on a free loopback port and
 * resolves once it answers PING:
 * `--port N --bind 127.0.0.1 --save "" --appendonly no`, in a temp directory.
 */
export async function startRedisServer(binary: string): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'esm-redis-'));
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output = collectOutput(child);
  // Backstop for a run that dies before teardown: never leave a server behind.
  const killOnExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', killOnExit);

  const stop = async (): Promise<void> => {
    process.removeListener('exit', killOnExit);
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await waitForPing(`redis://127.0.0.1:${port}`, child);
  } catch (err) {
    await stop();
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`${reason}${output().trim() ? `; redis-server said:\n${output().trim()}` : ''}`);
  }
  if (child.pid === undefined) throw new Error('redis-server has no pid');
  return { url: `redis://127.0.0.1:${port}`, pid: child.pid, stop };
}

/** Polls PING until the server answers, exits, or {@link STARTUP_TIMEOUT_MS} passes. */
async function waitForPing(url: string, child: ChildProcess): Promise<void> {
  let spawnError: Error | undefined;
  child.once('error', (err) => {
    spawnError = err;
  });
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (spawnError) throw spawnError;
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server exited (${child.exitCode ?? child.signalCode}) before answering PING`);
    }
    try {
      await pingRedis(url, 500);
      return;
    } catch (err) {
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const detail = lastError instanceof Error ? `: ${lastError.message}` : '';
  throw new Error(`redis-server did not answer PING within ${STARTUP_TIMEOUT_MS} ms${detail}`);
}

/** Keeps the first 8 KB of the child's output for error messages; drains the rest. */
function collectOutput(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer): void => {
    if (text.length < 8192) text += chunk.toString('utf8');
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text;
}

/** SIGTERM, then SIGKILL if the child is still there after 3 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}
