/**
 * A private, throw-away redis-server: started from PATH on a free loopback
 * port, with no persistence unless asked, and stopped by its owner (global
 * teardown for the run's server). The fault suites also pause it (SIGSTOP),
 * resume it (SIGCONT), stop it (SIGTERM) and start it again on its data on
 * the same port. The machine's own Redis (6379 or wherever it runs) is never
 * touched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { createClient } from 'redis';

/** A running redis-server started by {@link startRedisServer}. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`; the same after {@link RedisServer.restart}. */
  url: string;
  /** The port it listens on (127.0.0.1). */
  port: number;
  /** The redis-server process id now (what the signals go to; a restart changes it). */
  readonly pid: number;
  /** Stops the server (SIGCONT, SIGTERM, then SIGKILL after 3 s) and removes its directory. */
  stop(): Promise<void>;
  /** Freezes the process (SIGSTOP): connections stay open, nothing is answered. */
  pause(): void;
  /** Thaws a paused process (SIGCONT). */
  resume(): void;
  /** Stops the process (SIGTERM, as an orchestrator would) and keeps its directory for {@link RedisServer.restart}. */
  terminate(): Promise<void>;
  /** Kills the process (SIGKILL: a crash, nothing flushed, no goodbye to replicas or the cluster) and waits until it has exited. */
  crash(): Promise<void>;
  /**
   * Starts the server again on the same port and directory and resolves once
   * it answers PING. It comes back with its data only when started with
   * `persistent: true`.
   */
  restart(): Promise<void>;
}

/** Options of {@link startRedisServer}. */
export interface RedisServerOptions {
  /**
   * Keep the data across {@link RedisServer.restart}: an append-only file
   * fsynced on every write (`--appendonly yes --appendfsync always`), so
   * every acknowledged write survives a SIGTERM. @default false (no persistence)
   */
  persistent?: boolean;
  /** More arguments, after the defaults (e.g. `--cluster-enabled yes`, `--replicaof 127.0.0.1 N`). @default none */
  args?: string[];
  /**
   * A configuration file's text: written to the server's directory and
   * given as its first argument (Sentinel needs a file it can rewrite).
   * @default none
   */
  config?: string;
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
 * resolves once it answers PING: `--port N --bind 127.0.0.1 --save ""
 * --appendonly no` (or, `persistent`, `--appendonly yes --appendfsync
 * always`), in a temp directory of its own.
 */
export async function startRedisServer(binary: string, options: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'esm-redis-'));
  const persistence = options.persistent ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const configFile = join(dir, 'redis.conf');
  if (options.config !== undefined) writeFileSync(configFile, options.config);
  const args = [
    ...(options.config !== undefined ? [configFile] : []),
    ...['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', dir],
    ...(options.args ?? []),
  ];
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  // Backstop for a run that dies before teardown: never leave a server behind.
  const killOnExit = (): void => {
    child?.kill('SIGKILL');
  };
  onExit(killOnExit);

  /** Spawns the server and waits for PING; on failure the message carries what it said. */
  const launch = async (): Promise<void> => {
    const current = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = current;
    const output = collectOutput(current);
    try {
      await waitForPing(url, current);
    } catch (err) {
      await stopChild(current);
      const reason = err instanceof Error ? err.message : String(err);
      throw new Error(`${reason}${output().trim() ? `; redis-server said:\n${output().trim()}` : ''}`);
    }
    if (current.pid === undefined) throw new Error('redis-server has no pid');
  };

  const stop = async (): Promise<void> => {
    exitHooks.delete(killOnExit);
    if (child) await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await launch();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    port,
    get pid() {
      return child!.pid!;
    },
    stop,
    pause: () => {
      child!.kill('SIGSTOP');
    },
    resume: () => {
      child!.kill('SIGCONT');
    },
    terminate: () => stopChild(child!),
    crash: async () => {
      const current = child!;
      if (!running(current)) return;
      const exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
      current.kill('SIGKILL');
      await exited;
    },
    restart: async () => {
      if (child && running(child)) throw new Error('restart: the server is still running (terminate() it first)');
      await launch();
    },
  };
}

/** What runs when the process exits: one `exit` listener for every server, however many run. */
const exitHooks = new Set<() => void>();
let exitListening = false;

function onExit(hook: () => void): void {
  if (!exitListening) process.once('exit', () => {
    for (const run of exitHooks) run();
  });
  exitListening = true;
  exitHooks.add(hook);
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

/** Whether the child has not exited yet. */
function running(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/** SIGTERM (after a SIGCONT, should it be paused), then SIGKILL if the child is still there after 3 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (!running(child)) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGCONT');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}
