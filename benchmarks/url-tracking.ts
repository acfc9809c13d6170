/**
 * `npm run bench:url-tracking`: the per-request CPU cost of URL tracking
 * (issue 17; docs/url-tracking.md). Two servers, each in its own process
 * (so the load generator's CPU is not counted): `tracking: 'cookie'` and
 * `tracking: ['cookie', 'url']`, the same route on a session that exists —
 * it reads an attribute and renders one link through `res.encodeURL`. Three
 * loads:
 *
 * - `cookie`: the cookie-tracked server, clients sending the cookie;
 * - `both/cookie`: the `['cookie', 'url']` server, clients sending the cookie
 *   (the URL is still looked at and the link is left plain);
 * - `both/url`: the same server, clients without cookies, the id in
 *   `;jsessionid=` (taken out of `req.url`, the link encoded, a
 *   `Referrer-Policy` set).
 *
 * The server's CPU time (user + system, `process.cpuUsage()`) over a run,
 * divided by the requests served, is the per-request cost. Rounds alternate
 * the load order; the medians of the per-round ratios to `cookie` are
 * printed (paired: each round measures all three back to back), with the
 * load average seen before and after.
 *
 * Options: --duration=3 --rounds=7 --connections=10
 */
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import { cpus, loadavg } from 'node:os';
import autocannon from 'autocannon';
import express from 'express';
import { sessionManagement } from '../lib';
import { median } from './harness';

const LOADS = ['cookie', 'both/cookie', 'both/url'] as const;
type Load = (typeof LOADS)[number];

function option(name: string, fallback: string): string {
  const arg = process.argv.find((a) => a.startsWith(`--${name}=`));
  return arg ? arg.slice(name.length + 3) : fallback;
}

/** Child: one server; answers `cpu` messages with its CPU time in µs. */
async function serve(mode: 'cookie' | 'both'): Promise<void> {
  const app = express();
  app.use(sessionManagement({ tracking: mode === 'cookie' ? 'cookie' : ['cookie', 'url'] }));
  app.post('/setup', (req, res) => {
    req.httpSession.setAttribute('user', { id: 1, name: 'alice' });
    res.json({ link: res.encodeURL('/read') });
  });
  app.get('/read', (req, res) => {
    res.json({ user: req.httpSession.getAttribute('user') ?? null, next: res.encodeURL('/read?page=2') });
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message) => {
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send!({ cpu: user + system });
    }
  });
  process.send!({ port: (server.address() as { port: number }).port });
}

/** Parent: starts a server process and waits for its port. */
function start(mode: 'cookie' | 'both'): Promise<{ child: ChildProcess; url: string }> {
  const child = fork(__filename, [`--serve=${mode}`], { execArgv: ['--import', 'tsx'] });
  return new Promise((resolve) => {
    child.once('message', (message: { port: number }) => resolve({ child, url: `http://127.0.0.1:${message.port}` }));
  });
}

/** The child's CPU time so far, µs. */
function cpuOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (message: { cpu: number }) => resolve(message.cpu));
    child.send('cpu');
  });
}

async function main(): Promise<void> {
  const duration = Number(option('duration', '3'));
  const rounds = Number(option('rounds', '7'));
  const connections = Number(option('connections', '10'));
  const before = loadavg();
  const servers = { cookie: await start('cookie'), both: await start('both') };
  // One session per connection; `both/url` clients use the encoded link, the others the cookie.
  const clients: Record<Load, { path: string; cookie?: string }[]> = { cookie: [], 'both/cookie': [], 'both/url': [] };
  for (let i = 0; i < connections; i++) {
    const plain = await fetch(`${servers.cookie.url}/setup`, { method: 'POST' });
    clients.cookie.push({ path: '/read', cookie: plain.headers.getSetCookie()[0].split(';')[0] });
    const both = await fetch(`${servers.both.url}/setup`, { method: 'POST' });
    clients['both/cookie'].push({ path: '/read', cookie: both.headers.getSetCookie()[0].split(';')[0] });
    clients['both/url'].push({ path: ((await both.json()) as { link: string }).link });
  }
  const serverOf = (load: Load): { child: ChildProcess; url: string } => (load === 'cookie' ? servers.cookie : servers.both);
  /** µs of server CPU per request over one run. */
  const run = async (load: Load, seconds: number): Promise<number> => {
    const { child, url } = serverOf(load);
    let next = 0;
    const cpuBefore = await cpuOf(child);
    const result = await autocannon({
      url: `${url}/read`,
      connections,
      duration: seconds,
      setupClient(client) {
        const c = clients[load][next++ % connections];
        client.setRequest({ method: 'GET', path: c.path, headers: c.cookie ? { cookie: c.cookie } : {} });
      },
    });
    const cpu = (await cpuOf(child)) - cpuBefore;
    if (result.non2xx > 0 || result.errors > 0) {
      const probe = await fetch(`${url}${clients[load][0].path}`, { headers: clients[load][0].cookie ? { cookie: clients[load][0].cookie! } : {} });
      process.stderr.write(`probe: ${probe.status} ${await probe.text()}\n`);
    }
    if (result.non2xx > 0 || result.errors > 0) throw new Error(`${load}: ${result.non2xx} non-2xx, ${result.errors} errors`);
    return cpu / result.requests.total;
  };
  for (const load of LOADS) await run(load, 1); // warm-up
  const perRequest: Record<Load, number[]> = { cookie: [], 'both/cookie': [], 'both/url': [] };
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? LOADS : [...LOADS].reverse();
    for (const load of order) perRequest[load].push(await run(load, duration));
  }
  for (const { child } of Object.values(servers)) child.kill();
  const after = loadavg();
  const ratio = (load: Load): number[] => perRequest[load].map((value, i) => value / perRequest.cookie[i]);
  const rows = LOADS.map((load) => {
    const ratios = ratio(load);
    return `| ${load} | ${median(perRequest[load]).toFixed(1)} | ${median(ratios).toFixed(3)} | ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)} |`;
  });
  const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' ');
  process.stdout.write(
    `node ${process.version}, ${cpus().length} CPUs, ${rounds} rounds × ${duration} s, ${connections} connections; ` +
      `load average before ${load(before)}, after ${load(after)}\n\n` +
      `| load | server CPU µs/request (median) | ratio to cookie (median of rounds) | range of round ratios |\n|---|---|---|---|\n${rows.join('\n')}\n`,
  );
  process.exit(0);
}

const serveMode = option('serve', '');
if (serveMode === 'cookie' || serveMode === 'both') void serve(serveMode);
else {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1); // the server processes see their channel close and exit
  });
}
