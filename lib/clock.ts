/**
 * Where time comes from. Everything that compares times (expiry, the reaper,
 * the memory store) takes a clock so tests can run on a fake one in
 * milliseconds instead of waiting real minutes.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The real clock. */
export const systemClock: Clock = { now: () => Date.now() };
