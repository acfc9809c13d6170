import type { Clock } from '../../lib/clock';

/**
 * A clock tests move by hand. Starts at the real time so stores that compare
 * `cookie.expires` with `Date.now()` (express-session's MemoryStore,
 * connect-redis) still see records as live.
 */
export class FakeClock implements Clock {
  private time: number;

  constructor(start = Date.now()) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.time += ms;
  }

  /** Moves time forward by `s` seconds. */
  advanceSeconds(s: number): void {
    this.time += s * 1000;
  }
}

/**
 * Real time plus an offset moved by hand: for tests that need real time to
 * pass (network timeouts, reconnects, a reaper's timer) and also need
 * sessions to fall due at a moment they choose, without waiting for it.
 * Stores that compare `cookie.expires` with `Date.now()` see records live
 * for longer than the manager does, never shorter.
 */
export class ShiftedClock implements Clock {
  private offset = 0;

  now(): number {
    return Date.now() + this.offset;
  }

  /** Moves time forward by `ms` from now on. */
  advance(ms: number): void {
    this.offset += ms;
  }
}
