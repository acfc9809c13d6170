/**
 * `express-session-management/prometheus`: the manager's metrics for
 * prom-client (an optional peer dependency), as DESIGN's operations section
 * names them (docs/architecture.md, "Metrics"). This file only wires: the
 * measurements come from the manager's hooks and events.
 *
 * Gauges are cluster-wide: `esm_sessions_live` is what the coordinator counts
 * (every process sharing a `redisCoordinator` reports the same value: take
 * `max` across instances, not `sum`). Counters and histograms are this
 * process's since it started (sum them across instances), as Prometheus
 * expects of counters. `sessionDestroyed` fires once across processes, so
 * summed destructions count each session once.
 */
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import * as promClient from 'prom-client';
import { kMetricsSource, type MetricsSource } from './instruments';
import type { SessionManager } from './manager/session-manager';

/** Options of {@link collectMetrics}. */
export interface CollectMetricsOptions {
  /** Where the metrics are registered. @default prom-client's global `register` */
  registry?: Registry;
  /** Buckets of the three histograms, seconds. @default 0.0005 s to 10 s */
  buckets?: number[];
}

/** The metrics registered, for tests and dashboards that read them directly. */
export interface SessionMetrics {
  live: Gauge<'app'>;
  created: Counter<'app'>;
  destroyed: Counter<'app' | 'reason'>;
  sweep: Histogram;
  storeCall: Histogram<'op'>;
  storeErrors: Counter<'op'>;
  rejected: Counter<'code'>;
  serialWait: Histogram;
}

const DEFAULT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/**
 * Registers the session metrics of `manager` in `registry` and starts
 * measuring. Call it at startup, before serving: the live gauge counts the
 * sessions created from then on (with `maxActiveSessions` they are counted
 * anyway). Serve them with `adminRouter({ authorize, registry })` (`GET
 * /metrics`) or your own route.
 */
export function collectMetrics(manager: SessionManager, options: CollectMetricsOptions = {}): SessionMetrics {
  const registry = options.registry ?? promClient.register;
  const buckets = options.buckets ?? DEFAULT_BUCKETS;
  const registers = [registry];
  const source: MetricsSource = manager[kMetricsSource]();
  const live = new promClient.Gauge({
    name: 'esm_sessions_live',
    help: 'Live sessions per app, as the coordinator counts them (cluster-wide with redisCoordinator)',
    labelNames: ['app'] as const,
    registers,
    async collect() {
      const counts = await source.liveSessions();
      this.reset();
      for (const [app, n] of Object.entries(counts)) this.set({ app }, n);
    },
  });
  const created = new promClient.Counter({ name: 'esm_sessions_created_total', help: 'Sessions created by this process (subsessions included)', labelNames: ['app'] as const, registers });
  const destroyed = new promClient.Counter({
    name: 'esm_sessions_destroyed_total',
    help: 'Sessions destroyed, announced by this process, by reason (invalidated, expired, killed, evicted, parent-destroyed)',
    labelNames: ['app', 'reason'] as const,
    registers,
  });
  const sweep = new promClient.Histogram({ name: 'esm_reaper_sweep_seconds', help: "Duration of this process's reaper sweeps", buckets, registers });
  const storeCall = new promClient.Histogram({
    name: 'esm_store_call_seconds',
    help: 'Duration of store calls, and of redisCoordinator calls (op: the script), by operation',
    labelNames: ['op'] as const,
    buckets,
    registers,
  });
  const storeErrors = new promClient.Counter({ name: 'esm_store_errors_total', help: 'Store and coordinator calls that failed or timed out', labelNames: ['op'] as const, registers });
  const rejected = new promClient.Counter({ name: 'esm_requests_rejected_total', help: 'Requests refused by the session layer, by HTTP status', labelNames: ['code'] as const, registers });
  const serialWait = new promClient.Histogram({ name: 'esm_serial_access_wait_seconds', help: 'Time requests waited for their serial-access turn', buckets, registers });

  manager.on('sessionCreated', (e) => created.inc({ app: e.app }));
  manager.on('sessionDestroyed', (e) => destroyed.inc({ app: e.app, reason: e.reason }));
  source.instruments.sink = {
    call(op, seconds, failed) {
      storeCall.observe({ op }, seconds);
      if (failed) storeErrors.inc({ op });
    },
    sweep: (seconds) => sweep.observe(seconds),
    rejected: (status) => rejected.inc({ code: String(status) }),
    serialWait: (seconds) => serialWait.observe(seconds),
  };
  return { live, created, destroyed, sweep, storeCall, storeErrors, rejected, serialWait };
}
