import { boundCalls } from '../storage/call-bound';
import { can } from './capabilities';
import type { Coordinator } from './coordinator';
import { LocalCoordinator } from './local/local-coordinator';

/**
 * The coordinator as the manager calls it: every call bounded by
 * `storeTimeout` (docs/architecture.md, "Faults"). The in-process one answers
 * at once and needs no bound; one that bounds its own calls (as
 * `redisCoordinator` does: it also drops a command the client could not send
 * in time) is told the bound; any other is wrapped.
 */
export function boundedCoordinator(coordinator: Coordinator, timeoutMs: number): Coordinator {
  if (coordinator instanceof LocalCoordinator) return coordinator;
  if (can(coordinator, 'bounded calls')) {
    coordinator.setCallTimeout(timeoutMs);
    return coordinator;
  }
  return boundCalls(coordinator, timeoutMs);
}
