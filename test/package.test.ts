/**
 * The built package as a user gets it: `dist/` (built by `npm run build`,
 * which `npm test` runs in pretest), loaded by name through the package.json
 * `exports` map from CommonJS and from ESM, in child processes.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

const PACKAGE_NAME = 'express-session-management';
const ROOT = resolve(__dirname, '..');

/** Export name → `typeof` value, per entry point, as a child process reports it. */
interface EntryExports {
  main: Record<string, string>;
  redis: Record<string, string>;
  /** `keys()` of an in-process coordinator with sessions `b` and `a`. */
  listed: string[];
}

/** The public functions each entry point must export. */
const MAIN_FUNCTIONS = [
  'sessionManagement',
  'createSessionManager',
  'MemoryStore',
  'IllegalStateError',
  'ConfigurationError',
  'StoreUnavailableError',
];
const REDIS_FUNCTIONS = ['redisCoordinator'];

/**
 * What a consumer prints: the type of every export, and the admin index of
 * an in-process coordinator used for real (its B+ tree is a CommonJS
 * dependency, whose default export the ESM build must find).
 */
const USE = `
  const types = (m) => Object.fromEntries(Object.keys(m).map((k) => [k, typeof m[k]]));
  const coordinator = new main.LocalCoordinator();
  const leave = (key) => coordinator.leave(key, { now: 1, timeoutMs: 1000, storeExpires: null, entered: false, lastAccessedTime: 1 });
  Promise.all([leave('b'), leave('a')])
    .then(() => coordinator.keys(null, 10))
    .then((listed) => process.stdout.write(JSON.stringify({ main: types(main), redis: types(redis), listed })));
`;

/** Source of a consumer that loads both entries by name and prints what they export. */
/**
 * A consumer that loads the package both ways in one process (mixed code
 * bases do): one implementation must answer both, so classes are the same,
 * `instanceof` holds across them, and a session made through one is seen
 * by routes that use the other.
 */
const MIXED = `
  import { createRequire } from 'node:module';
  const require = createRequire(import.meta.url);
  const cjs = require('${PACKAGE_NAME}');
  const cjsRedis = require('${PACKAGE_NAME}/redis');
  const esm = await import('${PACKAGE_NAME}');
  const esmRedis = await import('${PACKAGE_NAME}/redis');
  const express = createRequire(require.resolve('${PACKAGE_NAME}'))('express');
  const app = express();
  app.use(cjs.sessionManagement());
  const routes = express.Router();
  routes.post('/login', (req, res) => {
    req.session.user = 'alice';
    res.json({ session: req.getSession(false) !== null, id: req.sessionID });
  });
  routes.get('/me', (req, res) => res.json({ user: req.session.user ?? null, live: req.getSession(false) !== null }));
  app.use(routes);
  let configurationError;
  try { esm.createSessionManager({ resave: false }); } catch (error) { configurationError = error; }
  const server = app.listen(0, '127.0.0.1', async () => {
    const base = 'http://127.0.0.1:' + server.address().port;
    const login = await fetch(base + '/login', { method: 'POST' });
    const cookie = login.headers.get('set-cookie').split(';')[0];
    const me = await (await fetch(base + '/me', { headers: { cookie } })).json();
    server.close();
    process.stdout.write(JSON.stringify({
      sameClasses: cjs.ConfigurationError === esm.ConfigurationError && cjs.SessionManager === esm.SessionManager,
      sameRedis: cjsRedis.redisCoordinator === esmRedis.redisCoordinator,
      instanceAcross: configurationError instanceof cjs.ConfigurationError && configurationError instanceof esm.SessionManagementError,
      login: await login.json(),
      me,
    }));
    process.exit(0);
  });
`;

/**
 * A consumer of `/prometheus` both ways: the entry shares the main entry's
 * classes (its manager is the one `collectMetrics` reads), and a scrape
 * after one session shows it.
 */
const METRICS = `
  import { createRequire } from 'node:module';
  const require = createRequire(import.meta.url);
  const cjs = require('${PACKAGE_NAME}/prometheus');
  const esm = await import('${PACKAGE_NAME}/prometheus');
  const main = await import('${PACKAGE_NAME}');
  const { Registry } = createRequire(require.resolve('${PACKAGE_NAME}'))('prom-client');
  const manager = main.createSessionManager();
  const registry = new Registry();
  esm.collectMetrics(manager, { registry });
  const express = createRequire(require.resolve('${PACKAGE_NAME}'))('express');
  const app = express();
  app.use(manager.middleware());
  app.post('/start', (req, res) => { req.httpSession.setAttribute('n', 1); res.sendStatus(204); });
  const server = app.listen(0, '127.0.0.1', async () => {
    await fetch('http://127.0.0.1:' + server.address().port + '/start', { method: 'POST' });
    server.close();
    const page = await registry.metrics();
    process.stdout.write(JSON.stringify({
      same: cjs.collectMetrics === esm.collectMetrics,
      live: /^esm_sessions_live\\{app="default"\\} 1$/m.test(page),
      created: /^esm_sessions_created_total\\{app="default"\\} 1$/m.test(page),
    }));
    process.exit(0);
  });
`;

const CONSUMERS = {
  'consumer.cjs': `
    const main = require('${PACKAGE_NAME}');
    const redis = require('${PACKAGE_NAME}/redis');
    ${USE}
  `,
  'consumer.mjs': `
    import * as main from '${PACKAGE_NAME}';
    import * as redis from '${PACKAGE_NAME}/redis';
    ${USE}
  `,
  'mixed.mjs': MIXED,
  'metrics.mjs': METRICS,
};

/**
 * A directory outside the repo whose node_modules links the package by
 * name, like an installed dependency, holding the consumer scripts.
 */
function makeConsumerDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'esm-package-test-'));
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(ROOT, join(dir, 'node_modules', PACKAGE_NAME), 'dir');
  for (const [file, source] of Object.entries(CONSUMERS)) writeFileSync(join(dir, file), source);
  return dir;
}

/** Runs a consumer script with node and parses what it printed. */
async function loadExports(dir: string, file: string): Promise<EntryExports> {
  try {
    const { stdout } = await run(process.execPath, [file], {
      cwd: dir,
      env: { ...process.env, NODE_OPTIONS: '' },
      timeout: 15_000,
    });
    return JSON.parse(stdout) as EntryExports;
  } catch (err) {
    const { stderr } = err as { stderr?: string };
    throw new Error(`node ${file} failed to load the built package:\n${stderr || String(err)}`);
  }
}

/** Every file path the package.json `exports` map points to. */
function exportTargets(): string[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: unknown };
  const targets: string[] = [];
  const walk = (node: unknown): void => {
    if (typeof node === 'string') targets.push(node);
    else if (node && typeof node === 'object') Object.values(node).forEach(walk);
  };
  walk(pkg.exports);
  return targets;
}

describe('the built package', () => {
  let dir: string;

  beforeAll(() => {
    if (!existsSync(join(ROOT, 'dist', 'index.js'))) {
      throw new Error('dist/ is missing or incomplete: run `npm run build` first (`npm test` does it in pretest)');
    }
    dir = makeConsumerDir();
  });

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('embeds the admin page and the Redis scripts as they are in their own files (no stale copy)', async () => {
    await expect(run(process.execPath, [join(ROOT, 'scripts', 'embed-assets.mjs'), '--check'])).resolves.toBeDefined();
  });

  it('has every file its exports map points to, types included', () => {
    const missing = exportTargets().filter((target) => !existsSync(join(ROOT, target)));
    expect(missing).toEqual([]);
  });

  it('is one implementation when one process both requires and imports it', async () => {
    const { stdout } = await run(process.execPath, ['mixed.mjs'], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' }, timeout: 15_000 });
    const result = JSON.parse(stdout) as Record<string, unknown>;
    expect(result).toEqual({
      sameClasses: true,
      sameRedis: true,
      instanceAcross: true,
      login: { session: true, id: expect.any(String) },
      me: { user: 'alice', live: true },
    });
  });

  it('serves /prometheus both ways, on the main entry\'s manager', async () => {
    const { stdout } = await run(process.execPath, ['metrics.mjs'], { cwd: dir, env: { ...process.env, NODE_OPTIONS: '' }, timeout: 15_000 });
    expect(JSON.parse(stdout)).toEqual({ same: true, live: true, created: true });
  });

  describe.each([
    ['require() from CommonJS', 'consumer.cjs'],
    ['import from ESM', 'consumer.mjs'],
  ])('%s', (_how, file) => {
    let loaded: EntryExports;

    beforeAll(async () => {
      loaded = await loadExports(dir, file);
    });

    it.each(MAIN_FUNCTIONS)(`gives ${PACKAGE_NAME} export %s as a function`, (name) => {
      expect(loaded.main[name]).toBe('function');
    });

    it.each(REDIS_FUNCTIONS)(`gives ${PACKAGE_NAME}/redis export %s as a function`, (name) => {
      expect(loaded.redis[name]).toBe('function');
    });

    it('runs the in-process coordinator, its key index included', () => {
      expect(loaded.listed).toEqual(['a', 'b']);
    });
  });
});
