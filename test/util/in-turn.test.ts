import { describe, expect, it } from 'vitest';
import { createInTurn } from '../../src/util/in-turn.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('createInTurn', () => {
  it('runs tasks one at a time, in the order handed in, each settling with its own result', async () => {
    const inTurn = createInTurn();
    const log: string[] = [];
    let running = 0;
    let most = 0;
    const task = (name: string, ms: number) => async () => {
      running++;
      most = Math.max(most, running);
      log.push(`start ${name}`);
      await tick(ms);
      log.push(`end ${name}`);
      running--;
      return name;
    };
    // The first is the slowest: a queue that did not wait would start b and c before a ends.
    const results = await Promise.all([inTurn(task('a', 30)), inTurn(task('b', 5)), inTurn(task('c', 1))]);
    expect(results).toEqual(['a', 'b', 'c']);
    expect(most).toBe(1);
    expect(log).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
  });

  it('a failed task rejects its own caller only; the tasks after it still run', async () => {
    const inTurn = createInTurn();
    const first = inTurn(async () => {
      await tick(5);
      throw new Error('batch 1 failed');
    });
    const second = inTurn(async () => 'batch 2');
    await expect(first).rejects.toThrow('batch 1 failed');
    await expect(second).resolves.toBe('batch 2');
    await expect(inTurn(async () => 'batch 3')).resolves.toBe('batch 3');
  });

  it('a task handed in while the queue is idle starts at once, with no turn taken by earlier settled tasks', async () => {
    const inTurn = createInTurn();
    await inTurn(async () => 1);
    let started = false;
    const p = inTurn(async () => void (started = true));
    await Promise.resolve();
    await Promise.resolve();
    expect(started).toBe(true);
    await p;
  });
});
