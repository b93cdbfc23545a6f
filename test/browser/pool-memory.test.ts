// A worker's calls are raced against its death (callMember). The race must not keep each call's
// result for the worker's life: with Promise.race, every batch's vectors of a bulk run stayed
// reachable from the never-settling death promise until the worker ended.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { expect, it } from 'vitest';
import { callMember, type PoolMember } from '../../src/browser/pool.js';
import { LaneFaultError } from '../../src/base/errors.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

it('the vectors of a finished call are not kept by the race against the worker\'s death', async () => {
  const member = { name: 'bulk-embed-gpu', died: new Promise<LaneFaultError>(() => {}) } as PoolMember;
  // The calls run in a function of their own, so no local of this one holds the last result.
  const call = async () => new WeakRef(await callMember(member, async () => new Float32Array(1 << 20), 60_000));
  const refs: WeakRef<Float32Array>[] = [];
  for (let i = 0; i < 5; i++) refs.push(await call());
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 0));
    gc();
  }
  expect(refs.filter((r) => r.deref() !== undefined).length).toBe(0);
});

it('a call still fails with the worker\'s fault when the worker dies first', async () => {
  let die!: (fault: LaneFaultError) => void;
  const member = { name: 'bulk-embed-gpu', died: new Promise<LaneFaultError>((r) => (die = r)) } as PoolMember;
  const pending = callMember(member, () => new Promise(() => {}), 60_000);
  die(new LaneFaultError('bulk-embed-gpu', 'crashed', 'the worker ended'));
  await expect(pending).rejects.toThrow('the worker ended');
  // Later calls on the dead worker are refused with the same fault.
  await expect(callMember(member, async () => 1, 60_000)).rejects.toThrow('the worker ended');
});
