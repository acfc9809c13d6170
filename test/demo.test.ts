import request from 'supertest';
import { createDemoApp } from '../examples/demo-app';

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
    await browser.post('/attributes').type('form').send({ name: 'colour', value: '<b>blue</b>' }).expect(303).expect('Location', '/');
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
});
