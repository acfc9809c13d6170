import { can } from '../coordination/capabilities';
import type { Coordinator } from '../coordination/coordinator';
import { ClusterLocks } from './cluster-locks';
import type { SerialLocks } from './serial-slot';
import { SessionLocks } from './session-locks';

/**
 * The locks of serial access (docs/architecture.md, "Serial access"): the
 * in-process queue, plus the coordinator's lock when it can lock sessions
 * across processes.
 */
export function createSerialLocks(coordinator: Coordinator): SerialLocks {
  const local = new SessionLocks();
  return can(coordinator, 'session locks') ? new ClusterLocks(local, coordinator) : local;
}
