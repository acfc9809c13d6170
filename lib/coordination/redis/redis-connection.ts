import calculateSlot from 'cluster-key-slot';
import createDebug from 'debug';
import type { Script } from './redis-scripts';

const debug = createDebug('express-session-management:redis');

/** How often at most a failing cluster call makes the client read the cluster's slots again. */
const REDISCOVER_EVERY_MS = 250;

/** The part of node-redis's cluster slot map (`RedisCluster._slots`, not public) that reads the slots again. */
interface ClusterSlots {
  readonly masters: readonly { client?: { isReady?: boolean } }[];
  readonly replicas: readonly { client?: { isReady?: boolean } }[];
  rediscover(startWith: unknown): Promise<void>;
}

/** Keys and arguments of a script call. */
interface ScriptCall {
  keys: string[];
  arguments: string[];
}

/** What every kind of node-redis client (5 or 6) offers the coordinator. */
interface Commands {
  evalSha(sha1: string, options: ScriptCall): Promise<unknown>;
  eval(script: string, options: ScriptCall): Promise<unknown>;
  /**
   * The same client with default options for every command: the coordinator
   * sets a `timeout`, so a command still waiting to be sent when its bound
   * passes (the client is reconnecting) leaves the client's queue instead of
   * being sent late.
   */
  withCommandOptions?(options: { timeout?: number }): unknown;
  /** The client's options; their `commandOptions` are kept when the coordinator adds its timeout. */
  readonly options?: { commandOptions?: object };
}

/** A node-redis client of one server (`createClient`). */
export interface RedisSingleClient extends Commands {
  /** A new connection with the same options, for the kill channel (pub/sub needs its own). */
  duplicate(): RedisSubscriber;
  sendCommand(args: string[]): Promise<unknown>;
}

/** A node-redis Redis Cluster client (`createCluster`). */
export interface RedisClusterClient extends Commands {
  readonly masters: readonly unknown[];
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  unsubscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  sendCommand(firstKey: string | undefined, isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
}

/** A node-redis client of a primary watched by Sentinel (`createSentinel`). */
export interface RedisSentinelClient extends Commands {
  getMasterNode(): unknown;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  unsubscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  sendCommand(isReadonly: boolean | undefined, args: string[]): Promise<unknown>;
}

/** The node-redis clients the coordinator works with. */
export type RedisScriptClient = RedisSingleClient | RedisClusterClient | RedisSentinelClient;

/** The part of a node-redis client that listens to the kill channel on a connection of its own. */
export interface RedisSubscriber {
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string) => void): Promise<unknown>;
  close(): Promise<unknown>;
  destroy(): void;
  unref(): void;
  on(event: 'error', listener: (error: unknown) => void): unknown;
}

/** A subscription to a channel: `ready` once listening (it keeps trying while Redis is down), `close()` in any case. */
export interface ChannelSubscription {
  readonly ready: Promise<void>;
  close(): Promise<void>;
}

/**
 * One node-redis client as the coordinator uses it, whatever its kind
 * (docs/architecture.md, "Coordinators"): scripts (EVALSHA, and EVAL when
 * the node does not know the script yet — on a cluster, the node owning the
 * keys), `WAIT` on the node that just ran a script, and a channel to listen
 * on. A cluster routes every call by its first key's hash slot.
 */
export class RedisConnection {
  /** The client is a Redis Cluster client: keys of one script must share a slot, records are not colocated. */
  readonly clustered: boolean;
  private readonly kind: 'single' | 'cluster' | 'sentinel';
  /** `client`, with the per-command timeout (see `setTimeout`). */
  private commands: Commands;
  /** A cluster client is reading the slots again (see `failed`). */
  private rediscovering = false;
  /** When that last started, ms. */
  private lastRediscovery = 0;

  constructor(readonly client: RedisScriptClient) {
    this.kind = 'masters' in client ? 'cluster' : 'getMasterNode' in client ? 'sentinel' : 'single';
    this.clustered = this.kind === 'cluster';
    this.commands = client;
  }

  /** Gives every command `timeout` ms (node-redis drops it from its queue then), where the client can. */
  setTimeout(ms: number): void {
    const { client } = this;
    this.commands =
      typeof client.withCommandOptions === 'function'
        ? (client.withCommandOptions({ ...client.options?.commandOptions, timeout: ms }) as Commands)
        : client;
  }

  /** Runs `script` (EVALSHA; EVAL, which also loads it, when the node answers NOSCRIPT). */
  async run(script: Script, keys: string[], args: string[]): Promise<unknown> {
    const call = { keys, arguments: args };
    try {
      return await this.commands.evalSha(script.sha, call);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.includes('NOSCRIPT')) throw this.failed(error);
      return this.commands.eval(script.source, call).catch((retried: unknown) => Promise.reject(this.failed(retried)));
    }
  }

  /**
   * A call failed: on a cluster, the node that owns its slot may be gone
   * (a primary failed over to its replica), so the client is asked to read
   * the cluster's slots again — at most one at a time, every
   * {@link REDISCOVER_EVERY_MS} at most (docs/architecture.md, "Redis
   * Cluster and Sentinel"). node-redis does that only on a MOVED answer,
   * which a dead node never gives: without it, that node's slots would stay
   * routed to it for good. Returns `error`.
   */
  private failed(error: unknown): unknown {
    if (this.kind !== 'cluster' || this.rediscovering) return error;
    const now = Date.now();
    if (now - this.lastRediscovery < REDISCOVER_EVERY_MS) return error;
    const slots = (this.client as unknown as { _slots?: ClusterSlots })._slots;
    const start = slots && [...slots.masters, ...slots.replicas].find((node) => node.client?.isReady)?.client;
    if (!slots || typeof slots.rediscover !== 'function' || !start) return error;
    this.lastRediscovery = now;
    this.rediscovering = true;
    slots
      .rediscover(start)
      .catch((rediscovery: unknown) => debug('cannot read the cluster slots again: %O', rediscovery))
      .finally(() => (this.rediscovering = false));
    return error;
  }

  /** Which connection a call on `key` goes over: on a cluster, the primary owning its slot; else the one connection. */
  routeOf(key: string): string {
    if (this.kind !== 'cluster') return '';
    const slot = calculateSlot(key);
    const master = (this.client as unknown as { getSlotMaster?(slot: number): { address?: string } | undefined }).getSlotMaster?.(slot);
    return master?.address ?? `slot ${slot}`;
  }

  /**
   * Waits until `replicas` replicas of the node holding `key` have every
   * write this connection sent it (`WAIT`), at most `timeoutMs`; resolves
   * how many did.
   */
  async waitForReplicas(key: string, replicas: number, timeoutMs: number): Promise<number> {
    const args = ['WAIT', String(replicas), String(Math.max(1, Math.floor(timeoutMs)))];
    const commands = this.commands as unknown as RedisScriptClient;
    if (this.kind === 'cluster') {
      const cluster = commands as RedisClusterClient;
      return Number(await cluster.sendCommand(key, false, args).catch((error: unknown) => Promise.reject(this.failed(error))));
    }
    if (this.kind === 'sentinel') return Number(await (commands as RedisSentinelClient).sendCommand(false, args));
    return Number(await (commands as RedisSingleClient).sendCommand(args));
  }

  /**
   * Listens on `channel`. A single-server client needs a connection of its
   * own for that (`duplicate()`, never keeping the process alive, trying
   * again while Redis is down); a cluster or sentinel client keeps one itself.
   */
  subscribe(channel: string, listener: (message: string) => void): ChannelSubscription {
    const { client } = this;
    if (this.kind !== 'single') {
      const shared = client as RedisClusterClient | RedisSentinelClient;
      const ready = shared.subscribe(channel, listener).then(() => undefined);
      ready.catch((error: unknown) => debug('channel %s: cannot subscribe: %O', channel, error));
      return { ready, close: () => shared.unsubscribe(channel, listener).then(() => undefined, () => undefined) };
    }
    const connection = (client as RedisSingleClient).duplicate();
    connection.on('error', (error) => debug('channel %s: %O', channel, error));
    connection.unref();
    const ready = (async () => {
      await connection.connect();
      await connection.subscribe(channel, listener);
    })();
    ready.catch((error: unknown) => debug('channel %s: cannot subscribe: %O', channel, error));
    return {
      ready,
      close: async () => {
        await connection.close().catch(() => connection.destroy());
      },
    };
  }
}
