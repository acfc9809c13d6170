/**
 * Jest global teardown: stops the redis-server global setup started and
 * drops the run's PostgreSQL database. A Redis given through `REDIS_URL` is
 * left alone: nothing here flushes or deletes anything in it.
 */
import { stopServices } from './global-setup';

/** Stops what global setup started. */
export default async function globalTeardown(): Promise<void> {
  await stopServices();
}
