import createDebug from 'debug';
import type { Clock } from '../clock';
import type { RequestLeases } from '../coordination/coordinator';
import type { RunningRequests } from './running-requests';

const debug = createDebug('express-session-management:leases');

/**
 * Renews the coordinator's leases of this process's long requests
 * (docs/architecture.md, "Faults"): every third of a lease, each request whose
 * lease was taken or renewed that long ago has it renewed, so a request that
 * runs for minutes still counts as using its session. A renewal that fails is
 * tried again at the next turn; two thirds of a lease are left for it.
 */
export class LeaseRenewal {
  private timer: NodeJS.Timeout | undefined;
  private readonly everyMs: number;

  constructor(
    private readonly leases: RequestLeases,
    private readonly running: RunningRequests,
    private readonly clock: Clock,
    private readonly track: (work: Promise<unknown>) => void,
  ) {
    this.everyMs = leases.leaseMs / 3;
  }

  start(): void {
    this.timer ??= setInterval(() => this.track(this.renew()), this.everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One turn: renews every lease a third of a lease old or older. */
  async renew(): Promise<void> {
    const now = this.clock.now();
    const renewals: Promise<void>[] = [];
    for (const [key, request] of this.running.all()) {
      if (now - request.leaseFrom < this.everyMs) continue;
      const from = request.leaseFrom;
      request.leaseFrom = now;
      renewals.push(
        this.leases.renewLease(key, request.token, now).catch((error: unknown) => {
          request.leaseFrom = from;
          debug('lease of %s not renewed: %O', key, error);
        }),
      );
    }
    await Promise.all(renewals);
  }
}
