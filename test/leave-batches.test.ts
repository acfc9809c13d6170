/**
 * The leaves of requests that end together, sent as one script
 * (lib/coordination/redis/leave-batches.ts): what is sent, who gets which
 * answer, and what a failed call does. Against Redis:
 * redis-coordinator.test.ts ("end together").
 */
import { LeaveBatches } from '../lib/coordination/redis/leave-batches';

/** The KEYS (4) and ARGV (10) of one leave, recognisable by `name`. */
function leaveOf(name: string): [string[], string[]] {
  return [[`e:${name}`, 'x', 's', 'p'], [name, ...Array.from({ length: 9 }, (_, i) => `${name}.${i}`)]];
}

describe('LeaveBatches', () => {
  it('sends the leaves of one turn together, by group, and answers each its own', async () => {
    const sent: { keys: string[]; args: string[] }[] = [];
    const batches = new LeaveBatches(async (keys, args) => {
      sent.push({ keys, args });
      return keys.length === 4 ? 7 : Array.from({ length: keys.length / 4 }, (_, i) => args[10 * i].length * 10 + i);
    });
    const answers = Promise.all([
      batches.leave(0, ...leaveOf('a')),
      batches.leave(1, ...leaveOf('bb')),
      batches.leave(0, ...leaveOf('ccc')),
      batches.leave(0, ...leaveOf('dddd')),
    ]);
    expect(sent).toEqual([]); // nothing before the microtasks of this turn have run
    await expect(answers).resolves.toEqual([10, 7, 31, 42]);
    expect(sent.map((call) => call.keys.filter((key) => key.startsWith('e:')))).toEqual([['e:a', 'e:ccc', 'e:dddd'], ['e:bb']]);
    expect(sent[0].args).toEqual([...leaveOf('a')[1], ...leaveOf('ccc')[1], ...leaveOf('dddd')[1]]);
    // A later turn is a batch of its own.
    await expect(batches.leave(0, ...leaveOf('e'))).resolves.toBe(7);
    expect(sent).toHaveLength(3);
  });

  it('sends at most 32 leaves in one script', async () => {
    const sizes: number[] = [];
    const batches = new LeaveBatches(async (keys) => {
      sizes.push(keys.length / 4);
      return keys.length === 4 ? 1 : new Array(keys.length / 4).fill(1);
    });
    await Promise.all(Array.from({ length: 70 }, (_, i) => batches.leave(0, ...leaveOf(`k${i}`))));
    expect(sizes).toEqual([32, 32, 6]);
  });

  it('fails every leave of a call that fails, and only those', async () => {
    const batches = new LeaveBatches(async (keys) => {
      if (keys.includes('e:bad')) throw new Error('connection lost');
      return 0;
    });
    const results = await Promise.allSettled([batches.leave(0, ...leaveOf('bad')), batches.leave(0, ...leaveOf('with-bad')), batches.leave(3, ...leaveOf('alone'))]);
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'fulfilled']);
    expect((results[1] as PromiseRejectedResult).reason).toEqual(new Error('connection lost'));
  });
});
