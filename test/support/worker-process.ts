/**
 * Plumbing shared by the cluster tests' child processes (`*-worker.ts`, run
 * with `node --import tsx`): closing their server, and running their main so
 * that they never outlive the parent and report a failure instead of dying
 * silently.
 */
import type { Server } from 'node:http';
import type { ErrorRequestHandler } from 'express';

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
