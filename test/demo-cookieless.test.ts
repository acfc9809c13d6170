/**
 * The demo with cookies blocked (issue 17; docs/url-tracking.md): Debian's
 * Chromium, driven by playwright-core, with its cookie setting on "block
 * all" (a profile whose preferences say so), logs in, follows the demo's
 * encoded links and forms, and keeps its session through `;jsessionid=`.
 *
 * Without Chromium (`/usr/bin/chromium`, or `CHROMIUM_PATH`) the suite is
 * skipped with a loud line; under `CI=true` the file fails instead.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { createDemoApp } from '../examples/demo-app';
import type { SessionManager } from '../lib';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  const how = 'install it (apt-get install chromium; .ci/run does) or set CHROMIUM_PATH';
  if (process.env.CI === 'true') throw new Error(`CI=true and ${CHROMIUM} is missing: the cookieless demo test may not skip in CI — ${how}`);
  console.warn(`!!! SKIPPING the cookieless demo browser test: ${CHROMIUM} not found — ${how}`);
}
const describeBrowser = HAVE_CHROMIUM ? describe : describe.skip;

/** The session id the page shows. */
async function shownId(page: Page): Promise<string> {
  return (await page.locator('#session-id').textContent()) ?? '';
}

describeBrowser('the demo in Chromium with cookies blocked', () => {
  let profile: string;
  let context: BrowserContext;
  let server: http.Server;
  let manager: SessionManager;
  let origin: string;

  beforeAll(async () => {
    // A profile whose content settings block every cookie, as the user's "Block all cookies" does.
    profile = mkdtempSync(path.join(tmpdir(), 'esm-cookieless-'));
    mkdirSync(path.join(profile, 'Default'));
    writeFileSync(
      path.join(profile, 'Default', 'Preferences'),
      JSON.stringify({ profile: { default_content_setting_values: { cookies: 2 }, block_third_party_cookies: true } }),
    );
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-dev-shm-usage'],
    });
    const demo = createDemoApp();
    manager = demo.manager;
    server = http.createServer(demo.app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await context?.close();
    await new Promise((resolve) => server?.close(resolve));
    await manager?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it('logs in, follows encoded links and forms, and keeps its session', async () => {
    const page = await context.newPage();
    const referrers: (string | undefined)[] = [];
    page.on('response', (response) => {
      if (response.url().includes(';jsessionid=')) referrers.push(response.headers()['referrer-policy']);
    });
    await page.goto(`${origin}/`);
    await page.fill('#login input[name=user]', 'demo-cookieless');
    await page.click('#login button');
    await page.waitForSelector('#session-id');
    expect(page.url()).toMatch(/\/;jsessionid=[A-Za-z0-9_-]{43}$/);
    expect(await page.textContent('#login')).toContain('Logged in as demo-cookieless');
    const id = await shownId(page);

    // The browser really kept no cookie: the id lives in the URL alone.
    expect(await context.cookies(origin)).toEqual([]);

    // A form: set an attribute, redirected back with the id.
    await page.fill('input[name=name][placeholder=name]', 'colour');
    await page.fill('input[name=value][placeholder=value]', 'green');
    await page.click('text=setAttribute');
    await page.waitForSelector('#session td:has-text("colour")');
    expect(await shownId(page)).toBe(id);

    // An encoded link to another app of the manager, and a form there: the same id, the shop's own session.
    await page.click('nav a:has-text("shop")');
    await page.waitForURL(/\/shop;jsessionid=/);
    await page.click('button[value=apple]');
    await page.waitForSelector('#session td:has-text("cart")');
    expect(await shownId(page)).toBe(id);

    // Back to the default app by its link: still logged in, the attribute still there.
    await page.click('nav a:has-text("default")');
    await page.waitForSelector('#session td:has-text("colour")');
    expect(await shownId(page)).toBe(id);
    expect(await page.textContent('#login')).toContain('Logged in as demo-cookieless');
    expect(await context.cookies(origin)).toEqual([]);
    expect(referrers.length).toBeGreaterThan(0);
    expect(referrers.every((policy) => policy === 'no-referrer')).toBe(true);

    // Logging out ends it: the next page has no session and offers the login again.
    await page.click('#login button');
    await page.waitForSelector('#no-session');
    expect(page.url()).toBe(`${origin}/`);
    expect(await page.locator('#login input[name=user]').count()).toBe(1);
  });
});
