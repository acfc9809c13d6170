/**
 * Plumbing shared by the cluster tests' child processes (`*-worker.ts`, run
 * with `node --import tsx`): serving their app until the parent asks them to
 * stop, closing their server, and running their main so that they never
 * outlive the parent and report a failure instead of dying silently.
 */
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ErrorRequestHandler } from 'express';

/** The worker's name, as the parent gave it (`ESM_CLUSTER_WORKER`). */
export const workerName = process.env.ESM_CLUSTER_WORKER ?? `worker-${process.pid}`;

/**
 * What every worker is given by its parent (see reaper-cluster.ts): the
 * test's key prefix (`ESM_CLUSTER_PREFIX`; throws when it is missing) and,
 * for a worker on the single server, its Redis (`REDIS_URL`; the others
 * connect through redis-topology.ts). Silences process warnings (the short
 * timeouts and reaper intervals of the tests cause them), so stderr keeps
 * only real trouble.
 */
export function workerSettings(): { url: string | undefined; prefix: string } {
  const prefix = process.env.ESM_CLUSTER_PREFIX;
  if (!prefix) throw new Error('ESM_CLUSTER_PREFIX is required');
  process.removeAllListeners('warning');
  return { url: process.env.REDIS_URL, prefix };
}

/** How a worker serves until stopped (see {@link serveWorker}). */
export interface WorkerService {
  /** Closes the manager (or app); before the server, so requests still running end. */
  close(): Promise<void>;
  /** Closes the worker's Redis connection, after the server. */
  closeClient(): Promise<void> | void;
  /** What `stopped` reports (called once everything is closed). */
  stats(): unknown;
  /** Any other message from the parent. */
  onMessage?(message: { type?: string }): void;
}

/**
 * Serves `app` on a free loopback port and tells the parent `{ type:
 * 'ready', worker, port }`. On `{ type: 'stop' }`: closes the manager, the
 * server and the client, reports `{ type: 'stopped', worker, stats }` and
 * disconnects (which ends the process, see {@link runWorker}).
 */
export async function serveWorker(worker: string, app: RequestListener, service: WorkerService): Promise<void> {
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.on('message', (message: { type?: string }) => {
    if (message?.type !== 'stop') return service.onMessage?.(message);
    void (async () => {
      await service.close();
      await closeServer(server);
      await service.closeClient();
      process.send?.({ type: 'stopped', worker, stats: service.stats() });
      process.disconnect();
    })();
  });
  process.send?.({ type: 'ready', worker, port: (server.address() as AddressInfo).port });
}

/** Closes `server`, cutting its open (keep-alive) connections. */
export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/**
 * Runs a worker's `main`: the worker exits when the parent goes (or asks it
 * to, by disconnecting); a failure is sent as `{ type: 'failed', worker,
 * error }` and exits with 1.
 */
export function runWorker(worker: string, main: () => Promise<void>): void {
  process.on('disconnect', () => process.exit(0));
  main().catch((error: unknown) => {
    process.send?.({ type: 'failed', worker, error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
    process.exit(1);
  });
}

/** An error handler answering an error's status and name, printing it for the parent's failure messages. */
export function answerErrors(worker: string): ErrorRequestHandler {
  return (err: Error & { status?: number }, req, res, _next) => {
    process.stderr.write(`${worker} ${req.method} ${req.url}: ${err.stack ?? err.message}\n`);
    res.status(err.status ?? 500).json({ name: err.name, message: err.message });
  };
}
