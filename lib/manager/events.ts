import type { HttpSession } from '../session/http-session';

/** Why a session went away. */
export type DestroyReason = 'invalidated' | 'expired' | 'killed' | 'evicted' | 'parent-destroyed';

/** Fields of every event payload. */
export interface SessionEventBase {
  /** The session id. */
  id: string;
  /** The application (web module). */
  app: string;
  /** The subsession name; absent for a top-level session. */
  subsession?: string;
}

export interface SessionCreatedEvent extends SessionEventBase {
  session: HttpSession;
}

export interface SessionDestroyedEvent extends SessionEventBase {
  reason: DestroyReason;
  /** Plain snapshot of the attributes as they were. */
  attributes: Record<string, unknown>;
  creationTime: number;
  lastAccessedTime: number;
  /** Who killed it (reason `killed` through the admin router: the administrator's `principal`), when known. */
  by?: string;
}

export interface AttributeEvent extends SessionEventBase {
  /** Absent when no request holds the session (the reaper, a kill). */
  session?: HttpSession;
  name: string;
  /** The added value, the removed value, or for a replacement the **old** value. */
  value: unknown;
}

export interface AttributeReplacedEvent extends AttributeEvent {
  newValue: unknown;
}

export interface SessionIdChangedEvent extends SessionEventBase {
  session: HttpSession;
  oldId: string;
}

export interface ListenerErrorEvent extends SessionEventBase {
  /** The event whose listener failed. */
  event: string;
  error: unknown;
}

/** Event names and their payloads. */
export interface SessionManagerEvents {
  sessionCreated: SessionCreatedEvent;
  sessionDestroyed: SessionDestroyedEvent;
  attributeAdded: AttributeEvent;
  attributeReplaced: AttributeReplacedEvent;
  attributeRemoved: AttributeEvent;
  sessionIdChanged: SessionIdChangedEvent;
  listenerError: ListenerErrorEvent;
}

/** Payload of `valueBound` / `valueUnbound` (Servlet's HttpSessionBindingEvent). */
export interface BindingEvent {
  session: HttpSession;
  name: string;
  value: unknown;
}

/** An attribute value that wants to know when it is bound to or unbound from a session. */
export interface SessionBindingListener {
  valueBound?(event: BindingEvent): void;
  valueUnbound?(event: BindingEvent): void;
}

/** Fires events so that a failing listener is reported, never thrown. */
export interface EventSink {
  /**
   * Calls every listener of `event`; a throw or rejection becomes a
   * `listenerError` event. Returns a promise of the async listeners having
   * settled, or `undefined` when none was async.
   */
  fire<E extends keyof SessionManagerEvents>(event: E, payload: SessionManagerEvents[E]): Promise<void> | undefined;
  /** Reports a failure of a listener (or of a value's `valueBound`/`valueUnbound`). */
  failed(event: string, base: SessionEventBase, error: unknown): void;
}
