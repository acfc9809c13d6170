/**
 * `npm start`: the demo on http://localhost:3000 (PORT overrides): the
 * default app at /, two more apps of the same manager at /shop and /bank,
 * and the admin page at /admin/ (from this machine only). The app itself is
 * in demo-app.ts.
 *
 * Sessions survive a restart (`persist`): they are saved to
 * `.data/demo-sessions.snapshot` (git-ignored; DEMO_SNAPSHOT overrides) every
 * minute and when the demo is stopped with Ctrl-C (SIGINT) or SIGTERM, and
 * read back when it starts.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createDemoApp } from './demo-app';

const port = Number(process.env.PORT ?? 3000);
const path = process.env.DEMO_SNAPSHOT ?? join(__dirname, '..', '.data', 'demo-sessions.snapshot');
mkdirSync(dirname(path), { recursive: true });
const { app, manager } = createDemoApp({ persist: { path, interval: 60 } });

const server = app.listen(port, () => {
  console.log(`express-session-management demo on http://localhost:${port} (apps: /, /shop, /bank; admin page: /admin/)`);
  console.log(`sessions are saved to ${path} every minute and on Ctrl-C`);
});

/** Stops taking requests, then closes the manager, which writes the snapshot. */
async function stop(signal: string): Promise<void> {
  console.log(`${signal}: saving the sessions ...`);
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await manager.close();
  console.log(`saved to ${path}`);
  process.exit(0);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    stop(signal).catch((error: unknown) => {
      console.error('could not save the sessions:', error);
      process.exit(1);
    });
  });
}
