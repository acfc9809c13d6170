/**
 * Plumbing shared by the cluster tests' child processes (`*-worker.ts`, run
 * with `node --import tsx`): closing their server, and running their main so
 * that they never outlive the parent and report a failure instead of dying
 * silently.
 */
import type { Server } from 'node:http';

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
