import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { LeaveUpdate } from '../coordination/coordinator';
import type { SessionRuntime } from '../manager/runtime';

/**
 * A request's standing in the coordinator: the token its enter and its leave
 * name, and leaves that must still happen after the request has gone
 * (docs/architecture.md, "Faults").
 */

/** This process's prefix of request tokens: 48 random bits, so tokens of processes sharing Redis never meet. */
const TOKEN_PREFIX = randomBytes(6).toString('base64url');
let tokenCount = 0;

/** A token unique to one request (across processes sharing a coordinator). */
export function nextToken(): string {
  return `${TOKEN_PREFIX}${(tokenCount++).toString(36)}`;
}

/** How often a background leave is retried (after 1, 2, 4, 8 × storeTimeout). */
const LEAVE_RETRIES = 4;

/**
 * Leaves `key` in the background: after a call whose outcome is unknown
 * (it timed out: its enter may still run), or a leave that failed. A leave
 * changes nothing when the enter never happened, so it is safe. Should it
 * fail too, it is retried after 1, 2, 4 and 8 × `storeTimeout`: a Redis
 * failover takes seconds, and a leave lost for good leaves the session
 * marked in use — not reaped — until its lease runs out
 * (docs/architecture.md, "Redis Cluster and Sentinel").
 */
export function leaveLater(runtime: SessionRuntime, key: string, update: LeaveUpdate): void {
  const { coordinator, storeTimeoutMs } = runtime;
  const retry = (): Promise<unknown> => delay(storeTimeoutMs).then(() => coordinator.leave(key, update));
  // `close()` waits for the first two attempts; the later ones never hold the process.
  runtime.track(coordinator.leave(key, update).catch(retry).catch(() => leaveInBackground(runtime, key, update, 1)));
}

/** Retries a leave after 2^retry × storeTimeout (a timer that does not hold the process), up to {@link LEAVE_RETRIES}. */
function leaveInBackground(runtime: SessionRuntime, key: string, update: LeaveUpdate, retry: number): void {
  if (retry >= LEAVE_RETRIES) return;
  delay(runtime.storeTimeoutMs * 2 ** retry, undefined, { ref: false })
    .then(() => runtime.coordinator.leave(key, update))
    .catch(() => leaveInBackground(runtime, key, update, retry + 1));
}
