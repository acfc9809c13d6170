/**
 * The node-redis client of an application under test, configured as most
 * users leave it (`default`) or as the README recommends for production
 * (`recommended`), and what it has queued: the fault suites and the soak
 * check that a fault leaves no command behind.
 */
import { createClient } from 'redis';

/** A node-redis v5 client as the fault suites use it. */
export type AppRedisClient = ReturnType<typeof createClient>;

/** How the application configured its client. */
export type ClientConfig = 'default' | 'recommended';

/**
 * The production settings we recommend with the library (README, "Redis
 * client settings"); every one of them is optional, the library keeps its
 * promises without them:
 * - `disableOfflineQueue`: while the client reconnects, a command fails at
 *   once (a 503 now) instead of waiting in an offline queue, to run late,
 *   after the request that sent it has given up;
 * - `commandsQueueMaxLength`: a partition cannot grow the queue without bound
 *   (commands beyond it fail at once);
 * - `pingInterval` with `socket.socketTimeout`: an idle connection sends a
 *   PING every 5 s, so a connection that has silently died (no answer for
 *   15 s: a partition, a load balancer that dropped it) is closed and
 *   reconnected before a request needs it (under traffic, writes count as
 *   activity and only the library's `storeTimeout` bounds a request; keep
 *   blocking commands such as BLPOP off this client);
 * - `socket.connectTimeout`: a connect attempt gives up after 2 s;
 * - `socket.reconnectStrategy`: reconnect forever, backing off to 2 s with
 *   jitter. node-redis's default strategy does that too, except after a
 *   socket timeout, where it gives up for good (the client closes): with
 *   `socketTimeout`, the strategy must be given.
 */
export function recommendedClientOptions(url: string): Parameters<typeof createClient>[0] {
  return {
    url,
    disableOfflineQueue: true,
    commandsQueueMaxLength: 10_000,
    pingInterval: 5_000,
    socket: {
      socketTimeout: 15_000,
      connectTimeout: 2_000,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2_000) + Math.floor(Math.random() * 200),
    },
  };
}

/** A connected client on `url`, configured the `config` way; connection errors are the caller's to observe. */
export async function connectAppClient(url: string, config: ClientConfig = 'default'): Promise<AppRedisClient> {
  const client = createClient(config === 'recommended' ? recommendedClientOptions(url) : { url });
  // Without a listener a connection error would crash the process; commands reject on their own.
  client.on('error', () => undefined);
  await client.connect();
  return client as AppRedisClient;
}

/**
 * Commands the client holds now, waiting to be written or for their reply
 * (node-redis's own count, reached through its internal queue: there is no
 * public accessor).
 */
export function pendingCommands(client: AppRedisClient): number {
  const queue = (client as unknown as { _getQueue?: () => { pendingCount?: number } })._getQueue?.();
  if (typeof queue?.pendingCount !== 'number') throw new Error('node-redis no longer exposes its command queue (_getQueue().pendingCount)');
  return queue.pendingCount;
}
