/**
 * Sessions in bulk, for tests and benchmarks alike: many `POST`s over
 * keep-alive connections, a number of them in flight at once, and a full
 * garbage collection to measure the heap they leave.
 */
import { Agent, request } from 'node:http';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/** Options of {@link postMany}. */
export interface PostManyOptions {
  /** Requests in flight at once. @default 64 */
  parallel?: number;
  /** Headers of request `i`. */
  headers?: (i: number) => Record<string, string>;
}

/**
 * `POST path(i)` to `127.0.0.1:port` for every `i` below `count`; each must
 * answer 200. Resolves, for each, the value of the first cookie it set (the
 * session id; `''` when it set none).
 */
export async function postMany(port: number, count: number, path: (i: number) => string, options: PostManyOptions = {}): Promise<string[]> {
  const parallel = Math.max(1, Math.min(options.parallel ?? 64, count));
  const agent = new Agent({ keepAlive: true, maxSockets: parallel });
  const ids = new Array<string>(count);
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: path(i), agent, headers: options.headers?.(i) }, (res) => {
        const cookie = res.headers['set-cookie']?.[0];
        res.resume();
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`POST ${path(i)}: HTTP ${res.statusCode}`));
          ids[i] = cookie ? cookie.slice(cookie.indexOf('=') + 1, cookie.indexOf(';')) : '';
          resolve();
        });
      });
      req.on('error', reject);
      req.end();
    });
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) await one(next++);
  };
  try {
    await Promise.all(Array.from({ length: parallel }, lane));
  } finally {
    agent.destroy();
  }
  return ids;
}

/** A full collection (three, so weak references and finalizers settle), through V8's gc() exposed at run time if need be. */
export function collectGarbage(): void {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  for (let i = 0; i < 3; i++) gc();
}

/**
 * `heapUsed` once garbage collection no longer frees anything: collects, lets
 * timers and I/O callbacks run (closing sockets and servers of earlier tests
 * let go of what they hold only then), and repeats until the heap stops
 * shrinking by more than 1 %, at most 20 times.
 */
export async function settledHeapUsed(): Promise<number> {
  let previous = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 20; i++) {
    collectGarbage();
    const used = process.memoryUsage().heapUsed;
    if (used > previous * 0.99) return used;
    previous = used;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return previous;
}
