/**
 * One node of a fault suite in the test's own process: the app's node-redis
 * client, a manager on connect-redis + `redisCoordinator` (or on any store),
 * the fault app (fault-app.ts) listening on a loopback port, and the
 * `sessionDestroyed` events it fired.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SessionManager, SessionManagerOptions } from '../../lib';
import { createSessionManager } from '../../lib';
import { connectAppClient, type AppRedisClient, type ClientConfig } from './app-redis-client';
import { faultApp, redisManager } from './fault-app';

/** How long {@link FaultNode.close} waits for `manager.close()`. */
const CLOSE_BOUND_MS = 10_000;

/** A `sessionDestroyed` as a node saw it. */
export interface Destroyed {
  id: string;
  reason: string;
}

/** A running node. */
export interface FaultNode {
  /** The app's client (absent for a node without Redis). */
  client: AppRedisClient | undefined;
  manager: SessionManager;
  server: Server;
  port: number;
  destroyed: Destroyed[];
  /**
   * Stops the server, closes the manager and destroys the client; resolves
   * with how long `manager.close()` took (ms), or rejects when it took over
   * {@link CLOSE_BOUND_MS} (pending work that never ends). Calling it again
   * gives the first call's outcome.
   */
  close(): Promise<number>;
}

/** Options of {@link startFaultNode}. */
export interface FaultNodeOptions {
  /** Manager options beyond the store and coordinator (reaperInterval under 10 s is not warned about). */
  manager?: SessionManagerOptions;
  /** How the app's client is configured. @default 'default' */
  client?: ClientConfig;
}

/** A node on connect-redis + `redisCoordinator` at `url` (keys under `prefix`). */
export async function startRedisFaultNode(url: string, prefix: string, options: FaultNodeOptions = {}): Promise<FaultNode> {
  const client = await connectAppClient(url, options.client);
  const manager = quietly(() => redisManager(client, prefix, options.manager));
  await manager.ready;
  return listen(manager, client);
}

/** A node on the manager's defaults (MemoryStore, in-process coordinator) plus `options`. */
export async function startLocalFaultNode(options: SessionManagerOptions = {}): Promise<FaultNode> {
  return listen(quietly(() => createSessionManager(options)), undefined);
}

async function listen(manager: SessionManager, client: AppRedisClient | undefined): Promise<FaultNode> {
  const destroyed: Destroyed[] = [];
  manager.on('sessionDestroyed', (e) => destroyed.push({ id: e.id, reason: e.reason }));
  const server = createServer(faultApp(manager));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let closing: Promise<number> | undefined;
  return {
    client,
    manager,
    server,
    port: (server.address() as AddressInfo).port,
    destroyed,
    close: () => (closing ??= closeNode(server, manager, client)),
  };
}

/** See {@link FaultNode.close}. */
async function closeNode(server: Server, manager: SessionManager, client: AppRedisClient | undefined): Promise<number> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const started = performance.now();
  try {
    await bounded(manager.close(), CLOSE_BOUND_MS, 'manager.close()');
    return performance.now() - started;
  } finally {
    client?.destroy();
  }
}

/** Resolves as `work` does, or rejects once `ms` have passed. */
function bounded<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not resolve within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

/** Runs `build` without its startup warnings (a reaperInterval of 1 s is on purpose here). */
function quietly<T>(build: () => T): T {
  const emit = process.emitWarning;
  process.emitWarning = (() => undefined) as typeof process.emitWarning;
  try {
    return build();
  } finally {
    process.emitWarning = emit;
  }
}
