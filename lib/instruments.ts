/**
 * What the library measures for `express-session-management/prometheus`
 * (docs/architecture.md, "Metrics"): the hooks the request path, the store
 * adapter, the coordinator and the reaper call. Off (`active` false) until
 * `collectMetrics` turns them on, so a manager without metrics pays one
 * boolean test per hook.
 */
export class Instruments {
  /** Whether anyone collects: the hooks measure only then. */
  active = false;
  /** Receives what is measured (set by `collectMetrics`). */
  sink: InstrumentSink | undefined;

  /** A store or coordinator call took `seconds`; `failed` when it threw or timed out. */
  call(op: string, seconds: number, failed: boolean): void {
    this.sink?.call(op, seconds, failed);
  }

  /** A reaper sweep took `seconds`. */
  sweep(seconds: number): void {
    this.sink?.sweep(seconds);
  }

  /** A request was refused with `status` (a cap, a store failure, another user's session, a serial-access timeout). */
  rejected(status: number): void {
    this.sink?.rejected(status);
  }

  /** A request waited `seconds` for its serial-access turn. */
  serialWait(seconds: number): void {
    this.sink?.serialWait(seconds);
  }
}

/** Where the measurements go (the prometheus entry's metrics). */
export interface InstrumentSink {
  call(op: string, seconds: number, failed: boolean): void;
  sweep(seconds: number): void;
  rejected(status: number): void;
  serialWait(seconds: number): void;
}

/** What `collectMetrics` reaches of a manager, behind a symbol (not a public method). */
export interface MetricsSource {
  readonly instruments: Instruments;
  /** Live sessions per app, counted by the coordinator (cluster-wide with `redisCoordinator`). */
  liveSessions(): Promise<Record<string, number>>;
}

/** The key of a manager's {@link MetricsSource}. */
export const kMetricsSource: unique symbol = Symbol.for('express-session-management.metrics');

/** A call timed when `instruments` are active. */
export function timed<T>(instruments: Instruments, op: string, work: () => Promise<T>): Promise<T> {
  if (!instruments.active) return work();
  const started = performance.now();
  const done = (failed: boolean) => instruments.call(op, (performance.now() - started) / 1000, failed);
  const running = work();
  running.then(
    () => done(false),
    () => done(true),
  );
  return running;
}
