import { EventEmitter } from 'node:events';
import createDebug from 'debug';
import type { EventSink, SessionEventBase, SessionManagerEvents } from './events';

const debug = createDebug('express-session-management');

/**
 * A listener may return anything (`(e) => release(e.id)`): a returned promise is
 * awaited (by the reaper, within a bound) and its rejection reported; any other
 * value is ignored. `void | Promise<void>` would reject such arrow functions.
 */
export type Listener<E extends keyof SessionManagerEvents> = (payload: SessionManagerEvents[E]) => unknown;

export interface ManagerEvents {
  on<E extends keyof SessionManagerEvents>(event: E, listener: Listener<E>): this;
  once<E extends keyof SessionManagerEvents>(event: E, listener: Listener<E>): this;
  off<E extends keyof SessionManagerEvents>(event: E, listener: Listener<E>): this;
}

/**
 * The manager's events (docs/architecture.md, "Events"): an EventEmitter
 * whose listeners never break the caller — a throw or a rejection becomes a
 * `listenerError` event (or a process warning when nobody listens to those).
 */
export class ManagerEvents extends EventEmitter implements EventSink {
  fire<E extends keyof SessionManagerEvents>(event: E, payload: SessionManagerEvents[E]): Promise<void> | undefined {
    if (this.listenerCount(event) === 0) return undefined;
    let pending: Promise<void>[] | undefined;
    for (const listener of this.rawListeners(event)) {
      try {
        const result: unknown = (listener as (p: unknown) => unknown).call(this, payload);
        if (result instanceof Promise) {
          (pending ??= []).push(result.then(
            () => undefined,
            (error: unknown) => this.failed(event, payload, error),
          ));
        }
      } catch (error) {
        this.failed(event, payload, error);
      }
    }
    return pending && Promise.all(pending).then(() => undefined);
  }

  failed(event: string, base: SessionEventBase, error: unknown): void {
    debug('listener of %s failed: %O', event, error);
    if (event === 'listenerError') return; // never loop
    if (this.listenerCount('listenerError') === 0) {
      process.emitWarning(`a "${event}" listener failed: ${error instanceof Error ? error.message : String(error)}`, {
        code: 'ESM_LISTENER_ERROR',
      });
      return;
    }
    const payload: SessionManagerEvents['listenerError'] = { id: base.id, app: base.app, event, error };
    if (base.subsession !== undefined) payload.subsession = base.subsession;
    this.fire('listenerError', payload);
  }
}
