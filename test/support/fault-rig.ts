/**
 * What a fault suite breaks: a private redis-server of its own (persistent,
 * so that it can be stopped and started again on its data) and a fault proxy
 * in front of it; and the outages it can cause, each with its end. The run's
 * shared redis-server and the machine's own Redis are never touched.
 */
import { startFaultProxy, type FaultProxy } from './fault-proxy';
import { findOnPath, startRedisServer, type RedisServer } from './redis-server';

/** A private server and the proxy in front of it. */
export interface FaultRig {
  redis: RedisServer;
  proxy: FaultProxy;
  /** Where an app's client connects for a kind of fault: through the proxy, or straight to the server. */
  urlFor(via: Outage['via']): string;
  /** Closes the proxy and stops the server. */
  stop(): Promise<void>;
}

/** One kind of outage: how it begins and how it ends. */
export interface Outage {
  /** What it is, for test names and reports. */
  name: string;
  /**
   * How the app reaches Redis for this outage: `proxy` for network faults;
   * `direct` for process faults, so that the client sees what it would see
   * without a proxy (a refused connection once the server is gone, not an
   * accepted one that the proxy then resets).
   */
  via: 'proxy' | 'direct';
  begin(rig: FaultRig): Promise<void> | void;
  end(rig: FaultRig): Promise<void> | void;
}

/** The outages of issue 10, each of which must turn requests that need a session into 503s. */
export const OUTAGES: Outage[] = [
  {
    name: 'redis-server paused (SIGSTOP, then SIGCONT)',
    via: 'direct',
    begin: (rig) => rig.redis.pause(),
    end: (rig) => rig.redis.resume(),
  },
  {
    name: 'a black hole in the network (every byte held, then delivered)',
    via: 'proxy',
    begin: (rig) => rig.proxy.blackhole(),
    end: (rig) => rig.proxy.restore(),
  },
  {
    name: 'connections cut (reset, new ones reset too, until restored)',
    via: 'proxy',
    begin: (rig) => rig.proxy.cut(),
    end: (rig) => rig.proxy.restore(),
  },
  {
    name: 'redis-server stopped (SIGTERM) and restarted on its data',
    via: 'direct',
    begin: (rig) => rig.redis.terminate(),
    end: (rig) => rig.redis.restart(),
  },
];

/**
 * `describe` when redis-server is on PATH (the fault suites start their own,
 * to break it); otherwise a skipped `describe` and a loud line, or, under
 * `CI=true`, a failure.
 */
export function describeFaults(name: string, fn: () => void): void {
  if (findOnPath('redis-server')) {
    describe(name, fn);
    return;
  }
  if (process.env.CI === 'true') throw new Error(`CI=true and no redis-server on PATH: the fault suite "${name}" cannot run`);
  process.stderr.write(`\n!!! SKIPPING fault suite "${name}": no redis-server on PATH\n`);
  describe.skip(name, fn);
}

/** Starts a persistent private redis-server and a fault proxy in front of it. */
export async function startFaultRig(): Promise<FaultRig> {
  const binary = findOnPath('redis-server');
  if (!binary) throw new Error('the fault suites need redis-server on PATH');
  const redis = await startRedisServer(binary, { persistent: true });
  const proxy = await startFaultProxy(redis.url);
  return {
    redis,
    proxy,
    urlFor: (via) => (via === 'proxy' ? proxy.url : redis.url),
    stop: async () => {
      await proxy.close();
      await redis.stop();
    },
  };
}
