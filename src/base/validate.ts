import { InvalidOptionError } from './errors.js';

/** Returns `value` if it is a positive integer, else throws an error naming the option. */
export function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new InvalidOptionError(name, `${String(value)} is not a positive integer`);
  return value;
}

/** Longest delay a timer keeps (2^31 - 1 ms, about 24.8 days): setTimeout runs a longer one at once. */
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/** Returns `value` if it is a positive integer a timer can wait (ms), else throws an error naming the option. */
export function timerMs(name: string, value: number): number {
  positiveInteger(name, value);
  if (value > LONGEST_TIMER_MS) throw new InvalidOptionError(name, `${value} ms is longer than a timer can wait (${LONGEST_TIMER_MS} ms)`);
  return value;
}

/** Returns `value` if it is an integer >= 0, else throws an error naming the option. */
export function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new InvalidOptionError(name, `${String(value)} is not an integer >= 0`);
  return value;
}
