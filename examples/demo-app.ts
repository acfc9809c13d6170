/**
 * The demo app: one page showing your session, forms that call the
 * HttpSession API, and a log of the manager's events. `examples/demo.ts`
 * serves it; `test/demo.test.ts` drives it with supertest.
 */
import express, { type Express, type Request } from 'express';
import { sessionManagement, type HttpSession, type SessionManager } from '../lib/index';

interface LogLine {
  at: number;
  event: string;
  detail: string;
}

export function createDemoApp(): { app: Express; manager: SessionManager } {
  // Zero config: in-process store, 30-minute idle timeout. The reaper sweeps
  // every 10 s (default: every 5 min) so that a short timeout set below visibly
  // ends in a `sessionDestroyed ... expired` line.
  const sessions = sessionManagement({ reaperInterval: 10 });
  const manager = sessions.manager;

  // The last 20 events of every session, newest first. Ids are shortened:
  // a full session id is a credential.
  const log: LogLine[] = [];
  const record = (event: string, id: string, detail = ''): void => {
    log.unshift({ at: Date.now(), event, detail: `${id.slice(0, 8)}… ${detail}` });
    log.length = Math.min(log.length, 20);
  };
  manager.on('sessionCreated', (e) => record('sessionCreated', e.id));
  manager.on('sessionDestroyed', (e) => record('sessionDestroyed', e.id, `reason=${e.reason}`));
  manager.on('attributeAdded', (e) => record('attributeAdded', e.id, `${e.name} = ${json(e.value)}`));
  manager.on('attributeReplaced', (e) => record('attributeReplaced', e.id, `${e.name}: ${json(e.value)} → ${json(e.newValue)}`));
  manager.on('attributeRemoved', (e) => record('attributeRemoved', e.id, `${e.name} (was ${json(e.value)})`));
  manager.on('sessionIdChanged', (e) => record('sessionIdChanged', e.id, `from ${e.oldId.slice(0, 8)}…`));

  const app = express();
  app.use(sessions);
  app.use(express.urlencoded({ extended: false }));

  app.get('/', (req, res) => {
    // getSession(false): the session if there is one, without creating it.
    const error = typeof req.query.error === 'string' ? req.query.error : undefined;
    res.type('html').send(page(req.getSession(false), log, error));
  });

  app.post('/attributes', (req, res) => {
    try {
      req.httpSession.setAttribute(field(req, 'name'), field(req, 'value')); // the first write creates the session
      res.redirect(303, '/');
    } catch (error) {
      res.redirect(303, `/?error=${encodeURIComponent((error as Error).message)}`); // e.g. the name "__proto__"
    }
  });

  app.post('/attributes/remove', (req, res) => {
    req.getSession(false)?.removeAttribute(field(req, 'name'));
    res.redirect(303, '/');
  });

  app.post('/timeout', (req, res) => {
    const seconds = Number(field(req, 'seconds'));
    if (!Number.isInteger(seconds)) return res.redirect(303, '/?error=The+timeout+must+be+a+whole+number+of+seconds');
    req.httpSession.setMaxInactiveInterval(seconds); // <= 0: never expires
    res.redirect(303, '/');
  });

  app.post('/invalidate', (req, res) => {
    req.getSession(false)?.invalidate(); // listeners run now; the cookie is cleared
    res.redirect(303, '/');
  });

  return { app, manager };
}

function field(req: Request, name: string): string {
  const value = (req.body as Record<string, unknown> | undefined)?.[name];
  return typeof value === 'string' ? value : '';
}

function page(session: HttpSession | null, log: LogLine[], error: string | undefined): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>express-session-management demo</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; }
  table { border-collapse: collapse; } td, th { border: 1px solid #ccc; padding: .2rem .6rem; text-align: left; }
  form { display: inline-block; margin: .3rem 0; } .error { color: #b00; } code { font-size: 13px; }
</style></head><body>
<h1>Your session</h1>
${error ? `<p class="error">${escape(error)}</p>` : ''}
${session ? sessionTable(session) : '<p id="no-session">No session yet. Set an attribute to create one: reading never creates a session.</p>'}

<h2>Set an attribute</h2>
<form method="post" action="/attributes">
  <input name="name" placeholder="name" required> <input name="value" placeholder="value" required>
  <button>setAttribute</button>
</form>

<h2>Timeout</h2>
<form method="post" action="/timeout">
  <button name="seconds" value="60">1 minute</button> <button name="seconds" value="1800">30 minutes</button>
  <button name="seconds" value="-1">never</button>
</form>
<form method="post" action="/timeout">
  <input name="seconds" type="number" placeholder="seconds" required> <button>setMaxInactiveInterval</button>
</form>

<h2>End it</h2>
<form method="post" action="/invalidate"><button>invalidate()</button></form>

<h2>Events (last 20, every session)</h2>
<table><tr><th>time</th><th>event</th><th>session, detail</th></tr>
${log.map((l) => `<tr><td>${time(l.at)}</td><td>${escape(l.event)}</td><td><code>${escape(l.detail)}</code></td></tr>`).join('\n')}
</table>
</body></html>`;
}

function sessionTable(s: HttpSession): string {
  const rows = s
    .getAttributeNames()
    .map(
      (name) => `<tr><td>${escape(name)}</td><td><code>${escape(json(s.getAttribute(name)))}</code></td>
<td><form method="post" action="/attributes/remove"><input type="hidden" name="name" value="${escape(name)}"><button>remove</button></form></td></tr>`,
    )
    .join('\n');
  return `<table id="session">
<tr><th>id</th><td><code>${escape(s.getId())}</code></td></tr>
<tr><th>created</th><td>${time(s.getCreationTime())}</td></tr>
<tr><th>last accessed</th><td>${time(s.getLastAccessedTime())} (start of your previous request)</td></tr>
<tr><th>timeout</th><td id="timeout">${timeout(s.getMaxInactiveInterval())}</td></tr>
<tr><th>isNew</th><td>${s.isNew()}</td></tr>
</table>
<h2>Attributes</h2>
${rows ? `<table id="attributes">${rows}</table>` : '<p>None.</p>'}`;
}

function timeout(seconds: number): string {
  return seconds < 0 ? 'never (-1)' : `${seconds} s idle`;
}

function json(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function time(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19) + ' UTC';
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Everything a user typed goes through this before it reaches the page. */
function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}
