// Runs async tasks one after another in the order they were handed in, whatever each one's
// outcome: the GPU worker's batches (onnxruntime-web refuses a second run of a session while one
// is going, and a device runs one batch at a time anyway).

/** A queue of one: `inTurn(task)` starts `task` once every task handed in before it has settled, and settles as it does. */
export function createInTurn(): <T>(task: () => Promise<T>) => Promise<T> {
  let last: Promise<unknown> = Promise.resolve();
  return <T>(task: () => Promise<T>): Promise<T> => {
    const turn = last.then(task);
    // A failed task fails its own caller only; the next one still gets its turn.
    last = turn.catch(() => undefined);
    return turn;
  };
}
