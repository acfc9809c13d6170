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
