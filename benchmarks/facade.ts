/**
 * `npm run bench:facade`: what express-session's `req.session` costs beside
 * the Servlet API, on one in-process server (this library from `lib/`,
 * compiled by tsx): three routes on sessions that exist —
 * `attr` reads an attribute with `req.httpSession.getAttribute('user')`,
 * `compat` reads it as `req.session.user` (the view is built on first read),
 * `none` reads no session at all (what every request pays for the accessors).
 * Rounds alternate the route order; the medians of the per-round ratios to
 * `attr` are printed (paired: each round measures all three back to back).
 *
 * Options: --duration=3 --rounds=5 --connections=10
 */
import http from 'node:http';
import autocannon from 'autocannon';
import express from 'express';
import { sessionManagement } from '../lib';
import { median } from './harness';

declare module 'express-session' {
  interface SessionData {
    benchUser: { id: number; name: string };
  }
}

const ROUTES = ['attr', 'compat', 'none'] as const;
type Route = (typeof ROUTES)[number];

function option(name: string, fallback: number): number {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? Number(arg.split('=')[1]) : fallback;
}

async function main(): Promise<void> {
  const duration = option('duration', 3);
  const rounds = option('rounds', 5);
  const connections = option('connections', 10);
  const app = express();
  app.use(sessionManagement());
  app.post('/setup', (req, res) => {
    req.httpSession.setAttribute('benchUser', { id: 1, name: 'alice' });
    res.sendStatus(204);
  });
  app.get('/attr', (req, res) => res.json(req.httpSession.getAttribute('benchUser') ?? null));
  app.get('/compat', (req, res) => res.json(req.session.benchUser ?? null));
  app.get('/none', (_req, res) => res.json(null));
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  const cookies: string[] = [];
  for (let i = 0; i < connections; i++) {
    const res = await fetch(`${url}/setup`, { method: 'POST' });
    cookies.push(res.headers.getSetCookie()[0].split(';')[0]);
  }
  const run = async (route: Route, seconds: number): Promise<number> => {
    let next = 0;
    const result = await autocannon({
      url: `${url}/${route}`,
      connections,
      duration: seconds,
      setupClient(client) {
        client.setHeaders({ cookie: cookies[next++ % cookies.length] });
      },
    });
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${route}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    return result.requests.average;
  };
  for (const route of ROUTES) await run(route, 1); // warm-up
  const rps: Record<Route, number[]> = { attr: [], compat: [], none: [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? ROUTES : [...ROUTES].reverse();
    for (const route of order) rps[route].push(await run(route, duration));
  }
  server.close();
  const ratio = (route: Route): number => median(rps[route].map((value, i) => value / rps.attr[i]));
  const rows = ROUTES.map((route) => `| ${route} | ${Math.round(median(rps[route]))} | ${ratio(route).toFixed(3)} |`);
  process.stdout.write(`| route | req/s (median) | ratio to attr (median of rounds) |\n|---|---|---|\n${rows.join('\n')}\n`);
  process.exit(0);
}

void main();
