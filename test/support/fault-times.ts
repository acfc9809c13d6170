/**
 * The times every fault suite shares (faults.test.ts in one process,
 * faults-cluster.test.ts across processes, and fault-worker.ts): the bound a
 * store call has, what a request may take under a fault, and the sessions'
 * timeouts and clock jump that make some fall due during an outage.
 */
import { within, type Answer } from './timed-call';

/** storeTimeout of every manager and worker under faults, seconds. */
export const STORE_TIMEOUT_S = 1;
/** The contract: a request that needs a session is answered within storeTimeout + 0.5 s. */
export const ANSWER_WITHIN_MS = STORE_TIMEOUT_S * 1000 + 500;
/** A request the test gives up on (status 0): well past the contract, well within the test's timeout. */
export const GIVE_UP_MS = 4_000;
/** Idle timeout of the sessions that live on, seconds. */
export const LONG_TTL_S = 600;
/** Idle timeout of the sessions made to fall due during an outage, seconds. */
export const DUE_TTL_S = 30;
/**
 * How far the clock jumps during an outage: past the short sessions'
 * timeout, far from the long ones', and far from the short ones' store TTL
 * (timeout + a grace as long), so none of them vanishes by itself.
 */
export const JUMP_MS = (DUE_TTL_S + 1) * 1000;
/** How long a process may take to reach Redis again (node-redis backs off up to 2 s between attempts). */
export const RECOVER_WITHIN_MS = 10_000;
/** How long to listen for a duplicate sessionDestroyed after the expected one. */
export const SETTLE_MS = 1_500;

/** Status and whether it came in time, for one readable failure message per answer. */
export function timely(answer: Answer): { status: number; answered: string } {
  return { status: answer.status, answered: within(answer, ANSWER_WITHIN_MS) };
}
