import { InvalidOptionError } from './errors.js';

/** Returns `value` if it is a positive integer, else throws an error naming the option. */
export function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) throw new InvalidOptionError(name, `${String(value)} is not a positive integer`);
  return value;
}

/** Returns `value` if it is an integer >= 0, else throws an error naming the option. */
export function nonNegativeInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw new InvalidOptionError(name, `${String(value)} is not an integer >= 0`);
  return value;
}
