/**
 * The parent side of the reaper cluster test: starts worker processes
 * (reaper-cluster-worker.ts under `node --import tsx`, or another script
 * speaking its IPC protocol, e.g. append-worker.ts), collects what they
 * report, talks HTTP to them, and kills them whatever happens.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { resolve } from 'node:path';
import type { WorkerMessage, WorkerView } from './reaper-cluster-worker';
import { topologyEnv, type Topology } from './redis-topology';

const ROOT = resolve(__dirname, '..', '..');
const WORKER = resolve(__dirname, 'reaper-cluster-worker.ts');

/** A `sessionDestroyed` as a worker reported it, with when the parent received it. */
export type DestroyedReport = Extract<WorkerMessage, { type: 'destroyed' }> & { received: number };

/** Settings every worker gets. */
export interface ClusterOptions {
  redisUrl: string;
  prefix: string;
  /** invalidationTimeout, seconds. @default the worker's (2 for reaper-cluster-worker.ts) */
  timeout?: number;
  /** reaperInterval, seconds. @default the worker's (1 for reaper-cluster-worker.ts) */
  reaperInterval?: number;
  /** The worker script, which must speak reaper-cluster-worker.ts's IPC protocol (at least `ready`). @default reaper-cluster-worker.ts */
  script?: string;
  /** More environment for every worker (e.g. a mode of the script). */
  env?: Record<string, string>;
  /** The Redis topology the workers connect to (redis-topology.ts). @default 'single' */
  topology?: Topology;
}

/** A running worker. */
export interface Worker {
  name: string;
  port: number;
  child: ChildProcess;
}

/** The workers of one test and everything they reported. */
export class Cluster {
  readonly workers: Worker[] = [];
  readonly destroyed: DestroyedReport[] = [];
  readonly stopped = new Map<string, unknown>();
  /** Every `failed` a worker reported (a startup failure, an unhandled rejection). */
  readonly failures: string[] = [];
  private readonly children: ChildProcess[] = [];
  private readonly output = new Map<string, string>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 32 });
  private readonly reapWaiters = new Map<string, ((expired: number) => void)[]>();
  /** The options of {@link start}, for {@link respawn}. */
  private options: ClusterOptions | undefined;

  /** Forks `count` workers and waits until each listens (or one fails). */
  async start(count: number, options: ClusterOptions, startupMs = 20_000): Promise<void> {
    this.options = options;
    const ready = Array.from({ length: count }, (_, i) => this.fork(`w${i}`, options, startupMs));
    this.workers.push(...(await Promise.all(ready)));
  }

  /**
   * SIGKILLs `worker` (a crash: nothing is closed, no request finished) and
   * waits until it has exited; with `restart`, forks a new process under the
   * same name and options and waits until it listens. The new worker takes
   * the old one's place in {@link workers}.
   */
  async crash(worker: Worker, restart: boolean, startupMs = 20_000): Promise<Worker | undefined> {
    if (worker.child.exitCode === null && worker.child.signalCode === null) {
      const gone = exited(worker.child);
      worker.child.kill('SIGKILL');
      await gone;
    }
    if (!restart) return undefined;
    const replacement = await this.fork(worker.name, this.options!, startupMs);
    const index = this.workers.indexOf(worker);
    if (index >= 0) this.workers[index] = replacement;
    return replacement;
  }

  /** What a worker printed, for failure messages. */
  outputOf(name: string): string {
    return this.output.get(name) ?? '';
  }

  /** `POST /session?n=` on a worker: a new session holding `n`, with `subs` subsessions ('a', 'b', ...) if given. */
  create(worker: Worker, n: number, subs = 0): Promise<WorkerView> {
    return this.http(worker, 'POST', subs > 0 ? `/session?n=${n}&subs=${subs}` : `/session?n=${n}`);
  }

  /** `GET /session` on a worker with the id's cookie. */
  read(worker: Worker, id: string): Promise<WorkerView> {
    return this.http(worker, 'GET', '/session', id);
  }

  /** Makes every worker sweep now, all at the same moment; resolves with what each destroyed. */
  reapAll(): Promise<number[]> {
    return Promise.all(
      this.workers.map(
        (worker) =>
          new Promise<number>((resolvePromise) => {
            const waiting = this.reapWaiters.get(worker.name) ?? [];
            waiting.push(resolvePromise);
            this.reapWaiters.set(worker.name, waiting);
            worker.child.send({ type: 'reap' });
          }),
      ),
    );
  }

  /** Asks every worker to close its manager and exit; waits up to `ms`, then kills what is left. */
  async stop(ms = 5_000): Promise<void> {
    const exits = this.children.map((child) => exited(child));
    for (const child of this.children) if (child.connected) child.send({ type: 'stop' });
    await Promise.race([Promise.all(exits), new Promise((r) => setTimeout(r, ms).unref())]);
    this.kill();
  }

  /** SIGKILLs every worker still running, and frees the HTTP agent. Safe to call twice. */
  kill(): void {
    for (const child of this.children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    this.agent.destroy();
  }

  private fork(name: string, options: ClusterOptions, startupMs: number): Promise<Worker> {
    const child = fork(options.script ?? WORKER, [], {
      cwd: ROOT,
      execArgv: ['--import', 'tsx'],
      env: {
        ...process.env,
        ...options.env,
        REDIS_URL: options.redisUrl,
        ...topologyEnv(options.topology ?? 'single'),
        ESM_CLUSTER_PREFIX: options.prefix,
        ESM_CLUSTER_WORKER: name,
        ...(options.timeout === undefined ? {} : { ESM_CLUSTER_TIMEOUT: String(options.timeout) }),
        ...(options.reaperInterval === undefined ? {} : { ESM_CLUSTER_REAPER_INTERVAL: String(options.reaperInterval) }),
      },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    this.children.push(child);
    if (!this.output.has(name)) this.output.set(name, '');
    const keep = (chunk: Buffer): void => {
      const text = this.output.get(name)!;
      if (text.length < 16_384) this.output.set(name, text + chunk.toString('utf8'));
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    return new Promise<Worker>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`${name} not ready within ${startupMs} ms:\n${this.outputOf(name)}`)), startupMs);
      child.on('message', (message: WorkerMessage) => {
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolvePromise({ name, port: message.port, child });
        } else if (message.type === 'destroyed') {
          this.destroyed.push({ ...message, received: Date.now() });
        } else if (message.type === 'reaped') {
          this.reapWaiters.get(name)?.shift()?.(message.expired);
        } else if (message.type === 'stopped') {
          this.stopped.set(message.worker, message.stats);
        } else if (message.type === 'failed') {
          clearTimeout(timer);
          this.failures.push(`${name}: ${message.error}`);
          reject(new Error(`${name} failed: ${message.error}`));
        }
      });
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${name} exited (${code ?? signal}) before it was ready:\n${this.outputOf(name)}`));
      });
    });
  }

  /**
   * `method path` on a worker (with the id's cookie): its status, and its
   * view when 200. Rejects only when no answer came at all (a refused or cut
   * connection).
   */
  async attempt(worker: Worker, method: string, path: string, id?: string): Promise<{ status: number; view?: WorkerView }> {
    const { status, body } = await this.exchange(worker, method, path, id);
    return status === 200 ? { status, view: JSON.parse(body) as WorkerView } : { status };
  }

  private async http(worker: Worker, method: string, path: string, id?: string): Promise<WorkerView> {
    const { status, body } = await this.exchange(worker, method, path, id);
    if (status !== 200) throw new Error(`${worker.name} ${method} ${path}: HTTP ${status} ${body}`);
    return JSON.parse(body) as WorkerView;
  }

  private exchange(worker: Worker, method: string, path: string, id?: string): Promise<{ status: number; body: string }> {
    return new Promise((resolvePromise, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: worker.port,
          method,
          path,
          agent: this.agent,
          headers: id ? { Cookie: `JSESSIONID=${id}` } : {},
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (body += chunk));
          res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }
}

/** Resolves when the child has exited (at once if it already has). */
function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolvePromise) => child.once('exit', () => resolvePromise()));
}

/** Runs `work` on every item, `parallel` at a time. */
export async function eachLimited<T>(items: T[], parallel: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) await work(items[next++]);
  };
  await Promise.all(Array.from({ length: parallel }, lane));
}

/** Waits until `done()` or `ms` pass, polling every 50 ms. */
export async function waitFor(ms: number, done: () => boolean): Promise<boolean> {
  const until = Date.now() + ms;
  while (!done()) {
    if (Date.now() > until) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}
