/**
 * `npm start` keeps its sessions across restarts: examples/demo.ts run as a
 * real process (`node --import tsx`), a session made, the process stopped
 * with SIGTERM (as Ctrl-C would), started again on the same snapshot, and
 * the session is still there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const DEMO = join(__dirname, '..', 'examples', 'demo.ts');

let dir: string;
let running: ChildProcess | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'esm-demo-persist-'));
});

afterEach(() => {
  running?.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A free loopback port. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Starts the demo and waits until it listens; resolves its base URL. */
async function startDemo(port: number, snapshot: string): Promise<string> {
  const child = spawn(process.execPath, ['--import', 'tsx', DEMO], {
    env: { ...process.env, PORT: String(port), DEMO_SNAPSHOT: snapshot },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running = child;
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start:\n${output}`)), 30_000);
    const read = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.includes('demo on http')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => reject(new Error(`the demo exited (${code}):\n${output}`)));
  });
  return `http://127.0.0.1:${port}`;
}

/** Stops the demo as Ctrl-C would and waits for it to exit; resolves its exit code. */
async function stopDemo(): Promise<number | null> {
  const child = running!;
  running = undefined;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGTERM');
  return exited;
}

describe('npm start (examples/demo.ts)', () => {
  it('keeps its sessions across a restart', async () => {
    const port = await freePort();
    const snapshot = join(dir, 'demo.snapshot');
    let url = await startDemo(port, snapshot);
    const added = await fetch(`${url}/shop/cart`, {
      method: 'POST',
      body: new URLSearchParams({ item: 'quince' }),
      redirect: 'manual',
    });
    expect(added.status).toBe(303);
    const cookie = added.headers.getSetCookie()[0].split(';')[0];
    expect(await stopDemo()).toBe(0);
    expect(existsSync(snapshot)).toBe(true);

    url = await startDemo(port, snapshot);
    const page = await (await fetch(`${url}/shop`, { headers: { cookie } })).text();
    expect(page).toContain('quince');
    expect(page).toContain(cookie.split('=')[1].slice(0, 8));
    expect(await stopDemo()).toBe(0);
  });
});
