/**
 * A process killed (SIGKILL) while it writes a snapshot leaves the previous
 * snapshot whole (docs/architecture.md, "Persistence"): a real child
 * process (test/support/persist-worker.ts) writes one snapshot, then is
 * killed while writing the next; a manager started on the path then reads
 * the first one back.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { createSessionManager, type SessionManager } from '../lib';

const WORKER = join(__dirname, 'support', 'persist-worker.ts');

let dir: string;
let child: ChildProcess | undefined;
let manager: SessionManager | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'esm-persist-kill-'));
});

afterEach(async () => {
  child?.kill('SIGKILL');
  await manager?.close();
  rmSync(dir, { recursive: true, force: true });
});

type WorkerMessage = { type: 'saved'; cookies: string[] } | { type: 'writing' } | { type: 'written' } | { type: 'failed'; error: string };

describe('persist: a process killed while writing a snapshot', () => {
  it('leaves the previous snapshot whole, and the next start reads it', async () => {
    const path = join(dir, 'sessions.snapshot');
    const temporary = `${path}.tmp`;
    child = fork(WORKER, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ESM_PERSIST_PATH: path, ESM_PERSIST_SESSIONS: '5' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child!.once('exit', (_code, signal) => resolve(signal)));
    let cookies: string[] = [];
    let firstSnapshot = Buffer.alloc(0);
    const killed = new Promise<number>((resolve, reject) => {
      child!.on('message', (message: WorkerMessage) => {
        if (message.type === 'failed') reject(new Error(message.error));
        if (message.type === 'written') reject(new Error('the second snapshot was written before the kill'));
        if (message.type === 'saved') {
          cookies = message.cookies;
          firstSnapshot = readFileSync(path);
        }
        if (message.type !== 'writing') return;
        // Kill it as soon as the second snapshot is well under way (a megabyte of it written).
        const poll = setInterval(() => {
          const size = existsSync(temporary) ? statSync(temporary).size : 0;
          if (size < 1 << 20) return;
          clearInterval(poll);
          child!.kill('SIGKILL');
          resolve(size);
        }, 1);
      });
    });
    const writtenWhenKilled = await killed;
    expect(await exited).toBe('SIGKILL');

    // The temporary file is cut off where the kill found it; the snapshot itself is the first one, byte for byte.
    expect(statSync(temporary).size).toBeGreaterThanOrEqual(writtenWhenKilled);
    expect(readFileSync(temporary).subarray(-100).toString()).not.toContain('["end"');
    expect(readFileSync(path).equals(firstSnapshot)).toBe(true);

    manager = createSessionManager({ persist: { path } });
    const app = express();
    app.use(manager.middleware());
    app.get('/read', (req, res) => res.json({ cart: req.getSession(false)?.getAttribute('cart') ?? null }));
    await manager.ready;
    expect(await manager.sessions.count()).toBe(5);
    for (const [i, cookie] of cookies.entries()) {
      expect((await request(app).get('/read').set('cookie', cookie).expect(200)).body.cart).toEqual([`item${i}`]);
    }
    expect(existsSync(temporary)).toBe(false); // cleared by the startup check of the path
  });
});
