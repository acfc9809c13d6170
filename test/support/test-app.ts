/**
 * An Express app with the session middleware mounted, listening on a
 * loopback port, its manager on a {@link FakeClock}: what every HTTP suite
 * builds once per test.
 */
import http from 'node:http';
import type { Express } from 'express';
import request from 'supertest';
import type { Response } from 'supertest';
import {
  createSessionManager,
  type AppOptions,
  type SessionManager,
  type SessionManagerOptions,
} from '../../lib';
import type { AccessEntry } from '../../lib/coordination/coordinator';
import { sessionKey } from '../../lib/storage/session-key';
import { cookieFrom } from './cookies';
import { FakeClock } from './fake-clock';
import { promisifyStore, type PromiseStore } from './store-promises';

/** Options of {@link createTestApp}. */
export interface TestAppOptions {
  /** Manager options; `clock` defaults to a fresh {@link FakeClock}. */
  manager?: SessionManagerOptions;
  /** Options of `manager.middleware()`. */
  app?: AppOptions;
}

/** What a route-defining callback gets besides the app. */
export interface TestAppParts {
  manager: SessionManager;
  clock: FakeClock;
}

/** A running test app. */
export interface TestApp extends TestAppParts {
  app: Express;
  server: http.Server;
  /** The manager's store with promises. */
  store: PromiseStore;
  /** A supertest client for the running server. */
  http(): ReturnType<typeof request>;
  /** The coordinator's entry of a session of the app (in-process coordinator only). */
  peek(id: string): Promise<AccessEntry | undefined>;
  /** Stops the server (cutting open connections) and closes the manager. */
  close(): Promise<void>;
}

/**
 * Builds an app on the given Express flavour: session middleware first, then
 * `routes`. The manager runs on a fake clock unless `options.manager.clock`
 * says otherwise.
 */
export async function createTestApp(
  flavour: () => Express,
  options: TestAppOptions,
  routes: (app: Express, parts: TestAppParts) => void,
): Promise<TestApp> {
  const clock = options.manager?.clock instanceof FakeClock ? options.manager.clock : new FakeClock();
  const manager = createSessionManager({ clock, ...options.manager });
  const app = flavour();
  app.use(manager.middleware(options.app));
  routes(app, { manager, clock });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const appName = options.app?.app ?? 'default';
  return {
    app,
    server,
    manager,
    clock,
    store: promisifyStore(manager.store),
    http: () => request(server),
    peek: (id) => manager.coordinator.inspect(sessionKey(appName, id)),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await manager.close();
    },
  };
}

/** The session id a response sent in its `JSESSIONID` cookie (unsigned ids), or undefined. */
export function sessionIdFrom(res: Response): string | undefined {
  const pair = cookieFrom(res);
  return pair?.slice(pair.indexOf('=') + 1) || undefined;
}

/** The `Cookie` header that sends `id` back. */
export function cookieFor(id: string): string {
  return `JSESSIONID=${id}`;
}

/** Retries `assertion` until it passes or `timeoutMs` has passed (then its last error is thrown). */
export async function eventually(assertion: () => void | Promise<void>, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await assertion();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}

/** A promise with its resolve function outside, for handlers that must wait for the test. */
export interface Gate {
  promise: Promise<void>;
  open(): void;
}

/** A closed {@link Gate}. */
export function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}
