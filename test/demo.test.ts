import request, { type Response } from 'supertest';
import { createDemoApp } from '../examples/demo-app';
import { cookieFrom } from './support/cookies';

/** The session id shown on a page, or null. */
function shownId(html: string): string | null {
  return /<td id="session-id"><code>([^<]+)<\/code>/.exec(html)?.[1] ?? null;
}

/** The session part of a page (not the event log, which shows every app's events), or null. */
function sessionPart(html: string): string | null {
  return /<section id="session">([\s\S]*?)<\/section>/.exec(html)?.[1] ?? null;
}

/**
 * Checks a redirect of the demo (tracking `['cookie', 'url']`): the first
 * response of a new session, whose browser has sent no cookie yet, carries
 * the id in the Location as well as in its Set-Cookie; once the cookie
 * comes back, Locations are plain.
 */
function redirectsTo(path: string, firstOfSession = false): (res: Response) => void {
  return (res) => {
    if (!firstOfSession) {
      expect(res.headers.location).toBe(path);
      return;
    }
    const cookie = cookieFrom(res);
    expect(cookie).toBeDefined();
    expect(res.headers.location).toBe(`${path};jsessionid=${cookie!.slice('JSESSIONID='.length)}`);
  };
}

describe('examples/demo-app', () => {
  const demo = createDemoApp();
  afterAll(() => demo.manager.close());

  it('renders the page with no session and creates none', async () => {
    const res = await request(demo.app).get('/').expect(200).expect('Content-Type', /html/);
    expect(res.text).toContain('id="no-session"');
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('shows a set attribute, escaped, and logs the events', async () => {
    const browser = request.agent(demo.app);
    await browser.post('/attributes').type('form').send({ name: 'colour', value: '<b>blue</b>' }).expect(303).expect(redirectsTo('/', true));
    const res = await browser.get('/').expect(200);
    expect(res.text).toContain('id="session"');
    expect(res.text).toContain('colour');
    expect(res.text).toContain('&quot;&lt;b&gt;blue&lt;/b&gt;&quot;');
    expect(res.text).not.toContain('<b>blue</b>');
    expect(res.text).toContain('sessionCreated');
    expect(res.text).toContain('attributeAdded');
  });

  it('changes the timeout and removes an attribute', async () => {
    const browser = request.agent(demo.app);
    await browser.post('/attributes').type('form').send({ name: 'a', value: '1' }).expect(303);
    await browser.post('/timeout').type('form').send({ seconds: '60' }).expect(303);
    expect((await browser.get('/')).text).toContain('<td id="timeout">60 s idle</td>');
    await browser.post('/attributes/remove').type('form').send({ name: 'a' }).expect(303);
    expect((await browser.get('/')).text).toContain('<p>None.</p>');
  });

  it('invalidates: the cookie is cleared and the old id names no session', async () => {
    const browser = request.agent(demo.app);
    const created = await browser.post('/attributes').type('form').send({ name: 'x', value: 'y' }).expect(303);
    const cookie = (created.headers['set-cookie'] as unknown as string[])[0].split(';')[0];
    const res = await browser.post('/invalidate').expect(303);
    expect(String(res.headers['set-cookie'])).toMatch(/JSESSIONID=;.*Expires=Thu, 01 Jan 1970/);
    const after = await request(demo.app).get('/').set('Cookie', cookie).expect(200);
    expect(after.text).toContain('id="no-session"');
    expect(after.text).toContain('reason=invalidated');
  });

  it('escapes the error message and rejects a reserved name without a 500', async () => {
    const res = await request(demo.app).post('/attributes').type('form').send({ name: '__proto__', value: 'x' }).expect(303);
    const page = await request(demo.app).get(res.headers.location).expect(200);
    expect(page.text).toContain('class="error"');
    const xss = await request(demo.app).get('/?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E').expect(200);
    expect(xss.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(xss.text).not.toContain('<script>');
  });

  describe('two apps of one manager, /shop and /bank', () => {
    it('share the session id, but not attributes or timeouts', async () => {
      const browser = request.agent(demo.app);
      await browser.post('/shop/cart').type('form').send({ item: 'apple' }).expect(303).expect(redirectsTo('/shop', true));
      await browser.post('/bank/deposit').type('form').send({ amount: '100' }).expect(303).expect(redirectsTo('/bank'));
      const shop = (await browser.get('/shop').expect(200)).text;
      const bank = (await browser.get('/bank').expect(200)).text;
      expect(shownId(shop)).not.toBeNull();
      expect(shownId(bank)).toBe(shownId(shop));
      expect(sessionPart(shop)).toContain('<td>cart</td><td><code>[&quot;apple&quot;]</code>');
      expect(sessionPart(shop)).not.toContain('balance');
      expect(sessionPart(bank)).toContain('<td>balance</td><td><code>100</code>');
      expect(sessionPart(bank)).not.toContain('cart');
      expect(shop).toContain('<td id="timeout">1800 s idle</td>');
      expect(bank).toContain('<td id="timeout">300 s idle</td>');
      // Neither app's session is the default app's.
      expect((await browser.get('/').expect(200)).text).toContain('id="no-session"');
    });

    it('shows the checkout subsession, its steps, and cancels it without touching the cart', async () => {
      const browser = request.agent(demo.app);
      await browser.post('/shop/cart').type('form').send({ item: 'pear' }).expect(303);
      await browser.post('/shop/checkout/start').expect(303).expect('Location', '/shop');
      await browser.post('/shop/checkout/next').expect(303).expect('Location', '/shop');
      const during = sessionPart((await browser.get('/shop').expect(200)).text)!;
      expect(during).toContain('<tr><th>subsessions</th><td>checkout</td></tr>');
      expect(during).toContain('id="subsession-checkout"');
      expect(during).toContain('timeout: 120 s idle');
      expect(during).toContain('<td>step</td><td><code>2</code></td><td>own</td>');
      expect(during).toContain('<td>cart</td><td><code>[&quot;pear&quot;]</code></td><td>from the parent</td>');

      await browser.post('/shop/checkout/cancel').expect(303).expect('Location', '/shop');
      const after = (await browser.get('/shop').expect(200)).text;
      expect(sessionPart(after)).toContain('<tr><th>subsessions</th><td>none</td></tr>');
      expect(sessionPart(after)).not.toContain('subsession-checkout');
      expect(sessionPart(after)).toContain('<td>cart</td>');
      expect(after).toMatch(/<td>sessionDestroyed<\/td><td>shop<\/td><td>checkout<\/td><td><code>[^<]*reason=invalidated/);

      const next = await browser.post('/shop/checkout/next').expect(303);
      expect(next.headers.location).toMatch(/^\/shop\?error=/);
    });

    it('invalidates the bank session and leaves the shop session, its id and the cookie', async () => {
      const browser = request.agent(demo.app);
      await browser.post('/shop/cart').type('form').send({ item: 'apple' }).expect(303);
      await browser.post('/bank/deposit').type('form').send({ amount: '-50' }).expect(303);
      const id = shownId((await browser.get('/shop')).text);
      const res = await browser.post('/bank/invalidate').expect(303).expect('Location', '/bank');
      expect(res.headers['set-cookie']).toBeUndefined(); // the shop still holds the id
      const bank = (await browser.get('/bank').expect(200)).text;
      expect(bank).toContain('id="no-session"');
      expect(bank).toMatch(/<td>sessionDestroyed<\/td><td>bank<\/td><td><\/td><td><code>[^<]*reason=invalidated/);
      const shop = (await browser.get('/shop').expect(200)).text;
      expect(shownId(shop)).toBe(id);
      expect(sessionPart(shop)).toContain('<td>cart</td>');
    });

    it('creates no session on a view and escapes what was typed', async () => {
      const view = await request(demo.app).get('/bank').expect(200);
      expect(view.text).toContain('id="no-session"');
      expect(view.headers['set-cookie']).toBeUndefined();
      const browser = request.agent(demo.app);
      await browser.post('/shop/cart').type('form').send({ item: '<img src=x onerror=alert(1)>' }).expect(303);
      const shop = (await browser.get('/shop')).text;
      expect(shop).not.toContain('<img');
      expect(shop).toContain('&lt;img src=x onerror=alert(1)&gt;');
    });
  });

  describe('the admin page at /admin and the login form', () => {
    it('serves the admin page and its API to requests from loopback', async () => {
      const res = await request(demo.app).get('/admin/').expect(200).expect('Content-Type', /html/);
      expect(res.text).toContain('<title>Sessions</title>');
      await request(demo.app).get('/admin/admin.js').expect(200).expect('Content-Type', /javascript/);
      const stats = await request(demo.app).get('/admin/api/stats').expect(200);
      expect(stats.body).toEqual(expect.objectContaining({ live: expect.any(Number), sessions: expect.any(Object) }));
      expect((await request(demo.app).get('/')).text).toContain('<a href="/admin/">admin page</a>');
    });

    it('binds the sessions of a logged-in user, found by user on the admin API, and logs out', async () => {
      const browser = request.agent(demo.app);
      await browser.post('/login').type('form').send({ user: 'demo-ann' }).expect(303).expect(redirectsTo('/', true));
      expect((await browser.get('/').expect(200)).text).toContain('Logged in as <strong>demo-ann</strong>');
      await browser.post('/attributes').type('form').send({ name: 'colour', value: 'red' }).expect(303);
      await browser.post('/shop/cart').type('form').send({ item: 'apple' }).expect(303);
      const id = shownId((await browser.get('/').expect(200)).text);
      const listed = await request(demo.app).get('/admin/api/sessions?principal=demo-ann').expect(200);
      expect(listed.body.sessions.map((s: { id: string; app: string }) => [s.id, s.app]).sort()).toEqual([
        [id, 'default'],
        [id, 'shop'],
      ]);

      const out = await browser.post('/logout').expect(303).expect(redirectsTo('/'));
      expect(String(out.headers['set-cookie'])).toMatch(/demo_user=;.*Expires=Thu, 01 Jan 1970/);
      expect(String(out.headers['set-cookie'])).toMatch(/JSESSIONID=;.*Expires=Thu, 01 Jan 1970/);
      const after = (await browser.get('/').expect(200)).text;
      expect(after).toContain('id="no-session"');
      expect(after).toContain('<form id="login" method="post" action="/login">');
      // The default app's session is gone; the shop's stays bound to the user until an admin kills it.
      const left = await request(demo.app).get('/admin/api/sessions?principal=demo-ann').expect(200);
      expect(left.body.sessions.map((s: { app: string }) => s.app)).toEqual(['shop']);
      await request(demo.app).delete('/admin/api/sessions?principal=demo-ann').set('X-Requested-With', 'test').expect(200, { killed: 1 });
    });

    it('starts afresh when another user logs in on the same browser, and rejects a bad name', async () => {
      const browser = request.agent(demo.app);
      await browser.post('/login').type('form').send({ user: 'demo-bob' }).expect(303);
      await browser.post('/attributes').type('form').send({ name: 'x', value: '1' }).expect(303);
      const switched = await browser.post('/login').type('form').send({ user: 'demo-cy' }).expect(303);
      expect(String(switched.headers['set-cookie'])).toMatch(/JSESSIONID=;/);
      const page = (await browser.get('/').expect(200)).text; // not bob's session, and no 403
      expect(page).toContain('Logged in as <strong>demo-cy</strong>');
      expect(page).toContain('id="no-session"');

      const bad = await request(demo.app).post('/login').type('form').send({ user: '<b>x</b>' }).expect(303);
      expect(bad.headers.location).toMatch(/^\/\?error=/);
      expect(bad.headers['set-cookie']).toBeUndefined();
    });
  });

  describe('without cookies', () => {
    it('keeps the session through encoded links, also on an app where the browser has no session yet', async () => {
      const login = await request(demo.app).post('/login').type('form').send({ user: 'demo-dee' }).expect(303);
      const home = login.headers.location as string;
      const id = /^\/;jsessionid=([A-Za-z0-9_-]{43})$/.exec(home)?.[1];
      expect(id).toBeDefined();
      const page = await request(demo.app).get(home).expect(200);
      expect(shownId(page.text)).toBe(id);
      expect(page.text).toContain('Logged in as <strong>demo-dee</strong>');
      expect(page.headers['referrer-policy']).toBe('no-referrer');
      // The shop holds no session for this browser, but its links keep the id the default app's session is under.
      const shop = (await request(demo.app).get(`/shop;jsessionid=${id}`).expect(200)).text;
      expect(shop).toContain('id="no-session"');
      expect(shop).toContain(`<a href="/;jsessionid=${id}">default</a>`);
      expect(shop).toContain(`action="/shop/cart;jsessionid=${id}"`);
      // A client that sends an id nobody holds gets plain links.
      const stranger = (await request(demo.app).get(`/shop;jsessionid=${'A'.repeat(43)}`).expect(200)).text;
      expect(stranger).toContain('<a href="/">default</a>');
    });
  });
});
