/**
 * The commit queue of a key (lib/locking/commit-order.ts): groups of merges
 * one at a time, or — a group whose write guards itself handing on once its
 * write is sent — the next group's write behind it, two in flight at most.
 */
import { CommitOrder, type GroupWrite } from '../lib/locking/commit-order';

/** A promise and what settles it. */
function deferred(): { promise: Promise<void>; resolve(): void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets every pending promise callback run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

interface Started {
  members: string[];
  carried: string | undefined;
}

/** A group write that records its start, hands on `handOn` (if any) at once, and ends when `gate` opens. */
function writer(started: Started[], gate: Promise<void>, handOn?: string): GroupWrite<string, string, string> {
  return async (members, carried, handOnTo) => {
    started.push({ members: [...members], carried });
    if (handOn !== undefined) handOnTo(handOn);
    await gate;
    return { results: members.map((member) => `${member} written`), carry: `after ${members.join('+')}` };
  };
}

describe('CommitOrder groups', () => {
  it('writes the merges that wait for a turn together, one group after another', async () => {
    const order = new CommitOrder(undefined, 1000);
    const started: Started[] = [];
    const first = deferred();
    const a = order.group('k', 'a', writer(started, first.promise));
    const b = order.group('k', 'b', writer(started, first.promise));
    const c = order.group('k', 'c', writer(started, first.promise));
    await settle();
    expect(started).toEqual([{ members: ['a'], carried: undefined }]);
    first.resolve();
    await expect(Promise.all([a, b, c])).resolves.toEqual(['a written', 'b written', 'c written']);
    expect(started).toEqual([
      { members: ['a'], carried: undefined },
      { members: ['b', 'c'], carried: 'after a' },
    ]);
    expect(order.idle('k')).toBe(true);
  });

  it('starts the next group once a group hands on (its write sent), two groups in flight at most', async () => {
    const order = new CommitOrder(undefined, 1000);
    const started: Started[] = [];
    const [first, second, third] = [deferred(), deferred(), deferred()];
    const a = order.group('k', 'a', writer(started, first.promise, 'sent a'));
    await settle();
    const b = order.group('k', 'b', writer(started, second.promise, 'sent b'));
    await settle();
    // b merges onto what a handed on and writes while a's write is still in flight.
    expect(started).toEqual([
      { members: ['a'], carried: undefined },
      { members: ['b'], carried: 'sent a' },
    ]);
    const c = order.group('k', 'c', writer(started, third.promise, 'sent c'));
    await settle();
    expect(started).toHaveLength(2); // a third waits for a to be over
    expect(order.idle('k')).toBe(false);
    first.resolve();
    await expect(a).resolves.toBe('a written');
    await settle();
    expect(started[2]).toEqual({ members: ['c'], carried: 'sent b' });
    second.resolve();
    third.resolve();
    await expect(Promise.all([b, c])).resolves.toEqual(['b written', 'c written']);
    await settle();
    expect(order.idle('k')).toBe(true);
  });

  it('keeps a delete queued behind a group that handed on until that group’s place is released', async () => {
    const order = new CommitOrder(undefined, 1000);
    const steps: string[] = [];
    const first = deferred();
    const a = order.group('k', 'a', async (members, _carried, handOn) => {
      steps.push('a sent');
      handOn('sent a');
      await first.promise;
      steps.push('a answered');
      return { results: members.map(() => 'ok') };
    });
    const deleted = order.run('k', async () => void steps.push('delete'));
    await settle();
    // The delete goes behind a's write (on the same connection, in order), not before it.
    expect(steps).toEqual(['a sent', 'delete']);
    first.resolve();
    await Promise.all([a, deleted]);
    expect(steps).toEqual(['a sent', 'delete', 'a answered']);
  });
});
