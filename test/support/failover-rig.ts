/**
 * A failover under traffic, for the failover suite and its benchmark: a
 * private Redis Cluster or Sentinel setup of its own (failing over within
 * about a second), three worker processes (reaper-cluster-worker.ts) on
 * it with `replicas`, `storeTimeout` 1 s and a reaper each, requests to all
 * three — reads of sessions kept alive and new sessions, which expire
 * under the reapers all along — and, after a while, a SIGKILL of a primary.
 * It records every response with its time, every `sessionDestroyed`, and
 * when the servers were healthy again; the caller judges.
 */
import calculateSlot from 'cluster-key-slot';
import type { createCluster } from 'redis';
import { Cluster, waitFor, type DestroyedReport, type Worker } from './reaper-cluster';
import { startRedisCluster } from './redis-cluster-servers';
import { SENTINEL_PRIMARY_NAME, startRedisSentinels } from './redis-sentinel-servers';
import { redisLayout } from './redis-layout';
import { findOnPath } from './redis-server';
import { closeTopologyClient, connectTopology } from './redis-topology';
import { uniquePrefix } from './services';

/** One request of the traffic. */
export interface TrafficResponse {
  /** When it was sent, ms (Date.now()). */
  sent: number;
  /** When its answer came. */
  answered: number;
  kind: 'read' | 'create';
  /** The HTTP status, or 0 when no answer came at all. */
  status: number;
  /** For a read answered 200: what was wrong with the session it found, if anything. */
  wrong?: string;
}

/** What {@link runFailover} saw. */
export interface FailoverRun {
  /** When the primary was killed, ms. */
  killedAt: number;
  /** When the servers said they were healthy again (every slot served / the sentinels named the new primary). */
  healthyAt: number;
  responses: TrafficResponse[];
  /** Every session a request created (200), with when it was answered. */
  created: { id: string; at: number }[];
  destroyed: DestroyedReport[];
  /**
   * The sessions that must be destroyed in the end: those created
   * {@link REPLICATED_AFTER_MS} before the kill or earlier (replicated), and
   * those created {@link RECOVERY_GRACE_MS} after the servers were healthy
   * again or later. One created in between may be lost with the primary
   * (replication is asynchronous).
   */
  mustBeReaped: { id: string; at: number }[];
  /** `failed` reports of the workers (an unhandled rejection, a crash at startup). */
  failures: string[];
  /** Workers that stopped when asked (closed their manager) instead of having crashed. */
  stoppedCleanly: number;
  /** For each session that must be reaped and was not: what Redis still holds of it (for failure messages). */
  leftovers: Record<string, unknown>;
}

/** Options of {@link runFailover}. */
export interface FailoverOptions {
  /** The coordinator's `replicas`. @default 1 */
  replicas?: number;
  /** Traffic before the kill, ms. @default 2000 */
  beforeMs?: number;
  /** Traffic after the servers are healthy again, ms. @default 5000 */
  afterMs?: number;
}

/** After the servers are healthy again: node-redis finds the new primary (a failed call makes a cluster client read the slots again) within storeTimeout + a margin. */
export const RECOVERY_GRACE_MS = 2500;
/** Sessions created this long before the kill were replicated before it. */
export const REPLICATED_AFTER_MS = 1000;

const WORKERS = 3;
/** Sessions kept alive: each read once a round, so a slow round never lets one expire. */
const KEPT = 6;
/** invalidationTimeout and reaperInterval of the workers, seconds. */
const TIMEOUT_S = 6;
const REAPER_INTERVAL_S = 1;
/** Pause between two rounds of traffic, ms. */
const ROUND_MS = 100;

/** Runs one failover of `topology` under traffic and reports what happened. */
export async function runFailover(topology: 'cluster' | 'sentinel', options: FailoverOptions = {}): Promise<FailoverRun> {
  const binary = findOnPath('redis-server');
  const cli = findOnPath('redis-cli');
  if (!binary || !cli) throw new Error('the failover needs redis-server and redis-cli on PATH');
  const servers =
    topology === 'cluster'
      ? await startRedisCluster(binary, cli, { nodeTimeoutMs: 1000 })
      : await startRedisSentinels(binary, { downAfterMs: 1000 });
  const env: Record<string, string> =
    'nodes' in servers
      ? { REDIS_CLUSTER_NODES: servers.addresses.join(',') }
      : { REDIS_SENTINEL_NODES: servers.addresses.join(','), REDIS_SENTINEL_NAME: SENTINEL_PRIMARY_NAME };
  const workers = new Cluster();
  const prefix = uniquePrefix(`failover-${topology}`);
  try {
    await workers.start(WORKERS, {
      redisUrl: process.env.REDIS_URL ?? '',
      topology,
      prefix,
      timeout: TIMEOUT_S,
      reaperInterval: REAPER_INTERVAL_S,
      env: { ...env, ESM_CLUSTER_REPLICAS: String(options.replicas ?? 1), ESM_CLUSTER_STORE_TIMEOUT: '1' },
    });
    const created: { id: string; at: number }[] = [];
    const kept: { id: string; n: number }[] = [];
    /** When each kept session was last read successfully (the request's start). */
    const lastServed = new Map<string, number>();
    for (let n = 0; n < KEPT; n++) {
      const view = await workers.create(workers.workers[n % WORKERS], n);
      kept.push({ id: view.id!, n });
      lastServed.set(view.id!, Date.now());
      created.push({ id: view.id!, at: Date.now() });
    }

    // 1. Traffic on every worker: a read of a kept session and a new session, round after round.
    const responses: TrafficResponse[] = [];
    let running = true;
    let next = KEPT;
    const send = async (worker: Worker, kind: 'read' | 'create', round: number, slot = 0): Promise<void> => {
      const sent = Date.now();
      const session = kept[(round + Number(worker.name.slice(1)) * 2 + slot) % KEPT];
      const n = kind === 'create' ? next++ : session.n;
      const answer = await workers
        .attempt(worker, kind === 'read' ? 'GET' : 'POST', kind === 'read' ? '/session' : `/session?n=${n}`, kind === 'read' ? session.id : undefined)
        .catch(() => ({ status: 0, view: undefined }));
      const response: TrafficResponse = { sent, answered: Date.now(), kind, status: answer.status };
      if (answer.view && kind === 'create') created.push({ id: answer.view.id!, at: response.answered });
      // Wrong only if the session cannot have expired: served within its timeout before this read was sent
      // (a session the outage kept from being read for longer expires as it should).
      const servedBefore = lastServed.get(session.id) ?? 0;
      if (answer.view && kind === 'read' && (!answer.view.live || answer.view.id !== session.id || answer.view.n !== n)) {
        if (sent - servedBefore < TIMEOUT_S * 1000 - 1000) response.wrong = `${JSON.stringify(answer.view)}, ${sent - servedBefore} ms after it was last served`;
      } else if (answer.view && kind === 'read') {
        lastServed.set(session.id, Math.max(servedBefore, sent));
      }
      responses.push(response);
    };
    const traffic = (async () => {
      for (let round = 0; running; round++) {
        await Promise.all(workers.workers.flatMap((worker) => [send(worker, 'read', round), send(worker, 'read', round, 1), send(worker, 'create', round)]));
        await new Promise((resolve) => setTimeout(resolve, ROUND_MS));
      }
    })();

    // 2. A primary dies (SIGKILL) under that traffic; its replica takes over.
    await new Promise((resolve) => setTimeout(resolve, options.beforeMs ?? 2000));
    let killedAt: number;
    if ('nodes' in servers) {
      // The primary of a kept session's keys, so that the kill certainly hits requests.
      const inspector = await connectTopology(topology, { ...process.env, ...env });
      const slot = calculateSlot(redisLayout(`${prefix}esm:`).entry(kept[0].id));
      const owner = (inspector as unknown as ReturnType<typeof createCluster>).getSlotMaster(slot);
      await closeTopologyClient(inspector);
      const primaries = (await servers.roles()).filter((node) => node.role === 'master').map((node) => node.node);
      const victim = primaries.find((node) => node.port === owner.port) ?? primaries[0];
      await victim.crash();
      killedAt = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 1000)); // until the cluster has noticed
      await servers.waitUntilHealthy(30_000);
    } else {
      const before = await servers.primaryPort();
      await servers.primary.crash();
      killedAt = Date.now();
      let promotedPort: number | undefined;
      for (const deadline = Date.now() + 30_000; Date.now() < deadline; ) {
        const port = await servers.primaryPort().catch(() => before);
        if (port !== before) {
          promotedPort = port;
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (promotedPort === undefined) throw new Error('the sentinels did not fail the primary over within 30 s');
    }
    const healthyAt = Date.now();

    // 3. Traffic goes on for a while, then stops: every session expires and is reaped.
    await new Promise((resolve) => setTimeout(resolve, options.afterMs ?? 5000));
    running = false;
    await traffic;
    const mustBeReaped = created.filter((s) => s.at < killedAt - REPLICATED_AFTER_MS || s.at > healthyAt + RECOVERY_GRACE_MS);
    await waitFor(20_000, () => {
      const destroyed = new Set(workers.destroyed.map((d) => d.id));
      return mustBeReaped.every((s) => destroyed.has(s.id));
    });
    await new Promise((resolve) => setTimeout(resolve, 2 * REAPER_INTERVAL_S * 1000)); // room for a duplicate
    await workers.stop();
    const leftovers: Record<string, unknown> = {};
    const destroyed = new Set(workers.destroyed.map((d) => d.id));
    const missing = mustBeReaped.filter((s) => !destroyed.has(s.id));
    if (missing.length > 0) {
      const inspector = await connectTopology(topology, { ...process.env, ...env });
      const layout = redisLayout(`${prefix}esm:`);
      for (const s of missing) {
        leftovers[s.id] = {
          createdAfterKillMs: s.at - killedAt,
          entry: await inspector.hGetAll(layout.entry(s.id)),
          due: await inspector.zScore(layout.expiry(s.id), s.id),
          record: await inspector.get(`${prefix}sess:${s.id}`),
        };
      }
      await closeTopologyClient(inspector);
    }
    return {
      killedAt,
      healthyAt,
      responses,
      created,
      destroyed: [...workers.destroyed],
      mustBeReaped,
      failures: [...workers.failures],
      stoppedCleanly: workers.stopped.size,
      leftovers,
    };
  } finally {
    workers.kill();
    await servers.stop();
  }
}
