/**
 * Long work in slices (docs/architecture.md, "Faults"): `yieldIfDue()` lets
 * the event loop turn once a slice has run its budget, and not before. The
 * clock of the slices (`performance.now`) is replaced, so nothing here
 * depends on how fast the machine is.
 */
import { performance } from 'node:perf_hooks';
import { TimeSlices } from '../lib/expiry/time-slices';

let now = 0;

beforeEach(() => {
  now = 1000;
  jest.spyOn(performance, 'now').mockImplementation(() => now);
});

afterEach(() => jest.restoreAllMocks());

/** Whether `yieldIfDue()` let an immediate queued before it run, i.e. gave the loop a turn. */
async function turned(slices: TimeSlices): Promise<boolean> {
  let ran = false;
  setImmediate(() => (ran = true));
  await slices.yieldIfDue();
  const result = ran;
  await new Promise((resolve) => setImmediate(resolve));
  return result;
}

describe('TimeSlices', () => {
  it('gives the loop a turn only once a slice of the default 5 ms has run', async () => {
    const slices = new TimeSlices();
    now += 4.9;
    expect(await turned(slices)).toBe(false);
    now += 0.2;
    expect(await turned(slices)).toBe(true);
    now += 4.9; // a new slice starts after the turn
    expect(await turned(slices)).toBe(false);
  });

  it('takes a shorter slice when told (the snapshot writer and reader: 2 ms)', async () => {
    const slices = new TimeSlices(2);
    now += 1.9;
    expect(await turned(slices)).toBe(false);
    now += 0.2;
    expect(await turned(slices)).toBe(true);
  });
});
