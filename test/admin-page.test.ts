/**
 * The admin page (issue 6; docs/architecture.md, "Administration") in a real browser: Debian's Chromium
 * driven by playwright-core, against an Express app with two apps of one
 * manager and sessions of two users and an anonymous one.
 *
 * Without Chromium (`/usr/bin/chromium`, or `CHROMIUM_PATH`) the browser
 * suite is skipped with a loud line; under `CI=true` the file fails instead.
 * `ESM_SCREENSHOT=1` also writes docs/admin-page.png.
 */
import { existsSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import express, { type Request } from 'express';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { createSessionManager, type SessionDestroyedEvent, type SessionManager } from '../lib';
import { ADMIN_PAGE, ADMIN_SCRIPT, ADMIN_STYLES } from '../lib/admin/page/assets.generated';
import { cookieFor, eventually, gate } from './support/test-app';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  const how = 'install it (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH';
  if (process.env.CI === 'true') {
    throw new Error(`CI=true and ${CHROMIUM} is missing: the admin page browser tests may not skip in CI — ${how}`);
  }
  console.warn(`!!! SKIPPING the admin page browser tests: ${CHROMIUM} not found — ${how}`);
}
const describeBrowser = HAVE_CHROMIUM ? describe : describe.skip;

const SCREENSHOT = path.join(__dirname, '..', 'docs', 'admin-page.png');
const ROWS = '#sessions tbody tr[data-id]';

/** How a test session is made: its user (the `x-user` header), app, attributes and timeout. */
interface SessionSpec {
  user?: string;
  app?: 'default' | 'shop';
  attributes?: Record<string, unknown>;
  /** `setMaxInactiveInterval`, seconds. */
  timeout?: number;
  subsession?: string;
}

/** A running app with the admin page at /admin. */
interface AdminRig {
  url: string;
  manager: SessionManager;
  destroyed: SessionDestroyedEvent[];
  /** Creates a session as a new browser would; resolves its id. */
  create(spec: SessionSpec): Promise<string>;
  /**
   * Starts a request on session `id` (of `user`) that runs until `release()`;
   * resolves once it runs, with the request's end.
   */
  hold(id: string, user?: string): Promise<{ release(): void; ended: Promise<void> }>;
  close(): Promise<void>;
}

/**
 * The default app at / and a `shop` app (5-minute timeout) at /shop, one
 * manager whose `principal` is the `x-user` header (caps: 10 sessions a user, 100 an app); `POST /login` (or
 * `/shop/login`) creates a session from a JSON {@link SessionSpec}.
 */
async function startRig(authorize: (req: Request) => boolean = () => true): Promise<AdminRig> {
  const manager = createSessionManager({ principal: (req) => req.get('x-user') || undefined, maxSessionsPerPrincipal: 10, maxActiveSessions: 100 });
  const destroyed: SessionDestroyedEvent[] = [];
  manager.on('sessionDestroyed', (e) => void destroyed.push(e));
  const app = express();
  const login = express.Router();
  login.use(express.json());
  login.post('/login', (req, res) => {
    const spec = req.body as SessionSpec;
    for (const [name, value] of Object.entries(spec.attributes ?? { user: spec.user ?? 'guest' })) {
      req.httpSession.setAttribute(name, value);
    }
    if (spec.timeout !== undefined) req.httpSession.setMaxInactiveInterval(spec.timeout);
    if (spec.subsession) req.httpSession.getSubsession(spec.subsession)!.setAttribute('step', 1);
    res.json({ id: req.httpSession.getId() });
  });
  let holding = { entered: gate(), released: gate() };
  login.post('/hold', async (req, res) => {
    const { entered, released } = holding;
    req.httpSession.getAttribute('user'); // the request uses the session
    entered.open();
    await released.promise;
    res.sendStatus(204);
  });
  app.use('/admin', manager.adminRouter({ authorize }));
  const shop = express.Router();
  shop.use(manager.middleware({ app: 'shop', maxInactiveInterval: 300 }), login);
  app.use('/shop', shop);
  app.use(manager.middleware(), login);

  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    manager,
    destroyed,
    async create(spec) {
      const res = await fetch(`${url}${spec.app === 'shop' ? '/shop' : ''}/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(spec.user ? { 'x-user': spec.user } : {}) },
        body: JSON.stringify(spec),
      });
      if (!res.ok) throw new Error(`POST /login answered ${res.status}`);
      return ((await res.json()) as { id: string }).id;
    },
    async hold(id, user) {
      holding = { entered: gate(), released: gate() };
      const { entered, released } = holding;
      const headers: Record<string, string> = { cookie: cookieFor(id), ...(user ? { 'x-user': user } : {}) };
      const ended = fetch(`${url}/hold`, { method: 'POST', headers }).then(() => undefined);
      await entered.promise;
      return { release: released.open, ended };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await manager.close();
    },
  };
}

/** Three sessions of ann (one in the shop), two of bob (one in the shop), one anonymous. */
async function populate(rig: AdminRig): Promise<{ ann: string[]; bob: string[]; anonymous: string }> {
  const ann = [
    await rig.create({ user: 'ann', attributes: { user: 'ann', theme: 'dark' } }),
    await rig.create({ user: 'ann', attributes: { user: 'ann', remember: true }, timeout: -1 }),
    await rig.create({ user: 'ann', app: 'shop', attributes: { cart: ['apple'] }, subsession: 'checkout' }),
  ];
  const bob = [
    await rig.create({ user: 'bob', attributes: { user: 'bob' } }),
    await rig.create({ user: 'bob', app: 'shop', attributes: { cart: ['pear', 'plum'] } }),
  ];
  const anonymous = await rig.create({ attributes: { visits: 1 } });
  return { ann, bob, anonymous };
}

/** Waits until the table shows `count` rows. */
async function rowsShown(page: Page, count: number): Promise<void> {
  await page.waitForFunction(`document.querySelectorAll(${JSON.stringify(ROWS)}).length === ${count}`, undefined, { timeout: 6000 });
}

/** Waits until the element `selector` has the text `text` (exactly, or matching). */
async function shows(page: Page, selector: string, text: string | RegExp): Promise<void> {
  const hasText = typeof text === 'string' ? new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`) : text;
  await page.locator(selector, { hasText }).waitFor({ timeout: 6000 });
}

/** The `data-id`s of the rows shown. */
async function shownIds(page: Page): Promise<string[]> {
  const rows = page.locator(ROWS);
  const ids: string[] = [];
  for (let i = 0; i < (await rows.count()); i++) ids.push((await rows.nth(i).getAttribute('data-id'))!);
  return ids;
}

function row(page: Page, id: string, app = 'default') {
  return page.locator(`${ROWS}[data-id="${id}"][data-app="${app}"]`);
}

describe('admin page assets', () => {
  it('is a script that compiles and never writes markup', () => {
    expect(() => new Function(ADMIN_SCRIPT)).not.toThrow();
    expect(ADMIN_SCRIPT).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });

  it('loads its style and script relative to the page', () => {
    expect(ADMIN_PAGE).toContain('<link rel="stylesheet" href="admin.css">');
    expect(ADMIN_PAGE).toContain('<script src="admin.js" defer></script>');
    expect(ADMIN_STYLES).toContain('table {');
  });
});

describeBrowser('admin page in Chromium', () => {
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let rig: AdminRig | undefined;

  beforeAll(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-dev-shm-usage'],
    });
  });
  afterAll(async () => {
    await browser?.close();
  });
  beforeEach(async () => {
    context = await browser.newContext({ viewport: { width: 1360, height: 680 } });
    page = await context.newPage();
  });
  afterEach(async () => {
    await context.close();
    await rig?.close();
    rig = undefined;
  });

  it('lists the live sessions, filters by user, kills one and all of a user', async () => {
    rig = await startRig();
    const { ann, bob, anonymous } = await populate(rig);
    await page.goto(`${rig.url}/admin/`);
    await rowsShown(page, 6);
    await shows(page, '#stat-live', '6');
    await shows(page, '#stat-created', '7'); // the shop's checkout subsession counts too
    await shows(page, '#stat-evicted', '0');
    await shows(page, '#cap-lifetime', 'none');
    await shows(page, '#cap-active', '100 per app');
    await shows(page, '#cap-user', '10 (evict the oldest)');
    await expect(row(page, anonymous).locator('td').nth(2).textContent()).resolves.toBe('anonymous');
    await expect(row(page, ann[0]).locator('[data-testid=expires]').textContent()).resolves.toBe('in 30 min');
    await expect(row(page, ann[1]).locator('[data-testid=expires]').textContent()).resolves.toBe('never');
    await expect(row(page, ann[2], 'shop').locator('[data-testid=expires]').textContent()).resolves.toBe('in 5 min');
    await expect(row(page, ann[2], 'shop').locator('td.attributes').textContent()).resolves.toBe('cart; subsessions: checkout');
    await expect(row(page, anonymous).locator('[data-action=kill-principal]').count()).resolves.toBe(0);
    await expect(page.locator('#message').isHidden()).resolves.toBe(true);
    if (process.env.ESM_SCREENSHOT === '1') {
      mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
    }

    // Filter by user: bob's two sessions, in the address too.
    await page.getByLabel('User', { exact: true }).fill('bob');
    await page.getByLabel('User', { exact: true }).press('Enter');
    await rowsShown(page, 2);
    expect((await shownIds(page)).sort()).toEqual([...bob].sort());
    expect(new URL(page.url()).searchParams.get('principal')).toBe('bob');
    await shows(page, '#showing', /of user “bob”/);

    // Kill one of bob's: the row goes, the manager says "killed".
    await row(page, bob[0]).locator('[data-action=kill]').click();
    await rowsShown(page, 1);
    await shows(page, '#message', /^Killed session/);
    await eventually(() => {
      expect(rig!.destroyed.filter((e) => e.id === bob[0]).map((e) => [e.app, e.reason])).toEqual([['default', 'killed']]);
    });
    await expect(rig.manager.sessions.get(bob[0])).resolves.toBeNull();

    // Every user again, then all of ann's sessions, after a confirm().
    await page.getByRole('button', { name: 'Clear' }).click();
    await rowsShown(page, 5);
    const dialog = new Promise<string>((resolve) => {
      page.once('dialog', (d) => {
        resolve(d.message());
        void d.accept();
      });
    });
    await row(page, ann[0]).getByRole('button', { name: 'Kill all sessions of user ann' }).click();
    expect(await dialog).toContain('ann');
    await rowsShown(page, 2);
    expect((await shownIds(page)).sort()).toEqual([bob[1], anonymous].sort());
    await eventually(() => {
      const annKilled = rig!.destroyed.filter((e) => ann.includes(e.id) && e.subsession === undefined);
      expect(annKilled.map((e) => e.reason)).toEqual(['killed', 'killed', 'killed']);
    });
    await shows(page, '#message', 'Killed 3 sessions of user “ann”.');
    await shows(page, '#stat-live', '2');
    await shows(page, '#stat-killed', '5'); // 4 sessions and the checkout subsession
  });

  it('refreshes the list and the stats every 3 s, and reaps on demand', async () => {
    rig = await startRig();
    await populate(rig);
    await page.goto(`${rig.url}/admin/`);
    await rowsShown(page, 6);
    await shows(page, '#reaper-runs', '0');
    await shows(page, '#reaper-last', 'not yet');

    const added = await rig.create({ user: 'cy' });
    await rowsShown(page, 7); // no reload: the 3-second refresh
    await expect(row(page, added).locator('td').nth(2).textContent()).resolves.toBe('cy');
    await shows(page, '#stat-live', '7');

    await page.getByRole('button', { name: 'Reap now' }).click();
    await shows(page, '#message', /^Reaper swept: 0 expired/);
    await shows(page, '#reaper-runs', '1');
    await shows(page, '#reaper-last', /\((\d+|under 1) ms\)$/);
  });

  it('marks a session killed while in use; it goes when its request ends', async () => {
    rig = await startRig();
    const id = await rig.create({ user: 'ann' });
    const other = await rig.create({ user: 'bob' });
    const request = await rig.hold(id, 'ann');
    await page.goto(`${rig.url}/admin/`);
    await rowsShown(page, 2);
    await expect(row(page, id).locator('td.num').first().textContent()).resolves.toBe('1');

    await row(page, id).locator('[data-action=kill]').click();
    await shows(page, '#message', /is marked for deletion: it goes when its running request ends\.$/);
    await row(page, id).locator('[data-testid=marked]').waitFor({ timeout: 6000 });
    await expect(row(page, other).locator('[data-testid=marked]').count()).resolves.toBe(0);
    expect(rig.destroyed).toEqual([]);

    request.release();
    await request.ended;
    await eventually(() => {
      expect(rig!.destroyed.map((e) => [e.id, e.reason])).toEqual([[id, 'killed']]);
    });
    await page.getByRole('button', { name: 'Filter', exact: true }).click(); // a refresh now, not in 3 s
    await rowsShown(page, 1);
  });

  it('pages with the cursor and filters by app', async () => {
    rig = await startRig();
    const { ann, bob } = await populate(rig);
    await page.goto(`${rig.url}/admin/?limit=4`);
    await rowsShown(page, 4);
    await expect(page.getByLabel('Per page', { exact: true }).inputValue()).resolves.toBe('4');
    const first = await shownIds(page);
    await page.getByRole('button', { name: 'Next page' }).click();
    await rowsShown(page, 2);
    await expect(page.getByRole('button', { name: 'Next page' }).isDisabled()).resolves.toBe(true);
    const second = await shownIds(page);
    expect(new Set([...first, ...second]).size).toBe(6);
    await page.getByRole('button', { name: 'First page' }).click();
    await rowsShown(page, 4);
    expect(await shownIds(page)).toEqual(first);

    await page.getByLabel('App', { exact: true }).fill('shop');
    await page.getByLabel('App', { exact: true }).press('Enter');
    await rowsShown(page, 2);
    expect((await shownIds(page)).sort()).toEqual([ann[2], bob[1]].sort());
  });

  it('works when opened without the trailing slash', async () => {
    rig = await startRig();
    await populate(rig);
    await page.goto(`${rig.url}/admin?principal=ann`);
    await rowsShown(page, 3);
    expect(new URL(page.url()).pathname).toBe('/admin/');
    await expect(page.getByLabel('User', { exact: true }).inputValue()).resolves.toBe('ann');
    await expect(page.locator('#kill-filtered-user').textContent()).resolves.toBe('Kill all sessions of ann');
  });

  it('shows the server’s 400 for a bad filter value', async () => {
    rig = await startRig();
    await populate(rig);
    await page.goto(`${rig.url}/admin/`);
    await rowsShown(page, 6);
    await page.getByLabel('App', { exact: true }).fill('no such app!');
    await page.getByLabel('App', { exact: true }).press('Enter');
    await shows(page, '#message.error', /^HTTP 400: app must be/);
  });

  it('answers 403 to the page when authorize says no', async () => {
    rig = await startRig(() => false);
    const response = await page.goto(`${rig.url}/admin/`);
    expect(response!.status()).toBe(403);
    await expect(page.locator('body').textContent()).resolves.toContain('not authorized');
  });

  it('shows a 403 when authorize lets the page read but not kill', async () => {
    rig = await startRig((req) => req.method === 'GET');
    const { bob } = await populate(rig);
    await page.goto(`${rig.url}/admin/`);
    await rowsShown(page, 6);
    await row(page, bob[0]).locator('[data-action=kill]').click();
    await shows(page, '#message.error', 'HTTP 403: not authorized');
    await rowsShown(page, 6);
    expect(rig.destroyed).toEqual([]);
  });

  it('shows user data as text, never as markup', async () => {
    rig = await startRig();
    const evil = '<img src=x onerror="document.title=1">';
    const id = await rig.create({ user: evil, attributes: { [evil]: 1 } });
    await page.goto(`${rig.url}/admin/`);
    await rowsShown(page, 1);
    await expect(row(page, id).locator('td').nth(2).textContent()).resolves.toBe(evil);
    await expect(row(page, id).locator('td.attributes').textContent()).resolves.toBe(evil);
    await expect(page.locator('#sessions img').count()).resolves.toBe(0);
    await expect(page.title()).resolves.toBe('Sessions');
  });
});
