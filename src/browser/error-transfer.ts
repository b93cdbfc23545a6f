// Errors across the worker boundary. Comlink sends a thrown error as its name, message and stack
// and rebuilds a plain Error, so `instanceof ModelFileError` failed on the main thread and fields
// such as `file`, `notFound` and `option` were gone. Here one transfer handler carries every
// EmbedError subclass (and InvalidTextError) by its literal name with its own fields and cause,
// and rebuilds the same class on the other side; other errors travel as before.
import * as Comlink from 'comlink';
import {
  AbortError, DisposedError, EmbedError, EmbeddingsFileError, FileLockedError, InputFormatError, InvalidOptionError, InvalidOutputError, InvalidTextError,
  LaneFaultError, LanesFailedError, MissingDependencyError, ModelFileError, ModelFormatError, RuntimeAssetsError, UnsupportedModelError, WorkerStartError,
} from '../base/errors.js';

type ErrorClass = abstract new (...args: never[]) => Error;

// Keyed by the literal names the classes give their instances (minifiers rename the classes themselves).
const CLASSES = new Map<string, ErrorClass>([
  ['EmbedError', EmbedError], ['InvalidTextError', InvalidTextError], ['InvalidOptionError', InvalidOptionError], ['ModelFileError', ModelFileError],
  ['ModelFormatError', ModelFormatError], ['UnsupportedModelError', UnsupportedModelError], ['DisposedError', DisposedError], ['AbortError', AbortError],
  ['InputFormatError', InputFormatError], ['EmbeddingsFileError', EmbeddingsFileError], ['MissingDependencyError', MissingDependencyError],
  ['WorkerStartError', WorkerStartError], ['RuntimeAssetsError', RuntimeAssetsError], ['FileLockedError', FileLockedError], ['LaneFaultError', LaneFaultError],
  ['LanesFailedError', LanesFailedError], ['InvalidOutputError', InvalidOutputError],
]);

/** Makes an error class defined elsewhere (StorageQuotaError) travel with its class too. */
export function registerErrorClass(name: string, errorClass: ErrorClass): void {
  CLASSES.set(name, errorClass);
}

/** An error as it crosses: plain data the structured clone algorithm carries. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
  /** The instance's own fields (file, notFound, option, causes...), errors among them as WireErrors. */
  fields: Record<string, unknown>;
  cause?: unknown;
  /** True for a class this side knows by name: rebuilt as that class. */
  known: boolean;
}

const isWire = (value: unknown): value is WireError & { __wireError: true } =>
  typeof value === 'object' && value !== null && (value as { __wireError?: boolean }).__wireError === true;

/** A value made safe to post: errors become WireErrors, arrays and plain objects are walked, functions dropped. */
function toWireValue(value: unknown, depth: number): unknown {
  if (value instanceof Error) {
    if (depth > 8) return { __wireError: true, name: value.name, message: value.message, fields: {}, known: false };
    return errorToWire(value, depth + 1);
  }
  if (Array.isArray(value)) return value.map((v) => toWireValue(v, depth + 1));
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toWireValue(v, depth + 1)]));
  }
  return value;
}

function fromWireValue(value: unknown): unknown {
  if (isWire(value)) return errorFromWire(value);
  if (Array.isArray(value)) return value.map(fromWireValue);
  if (value && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWireValue(v)]));
  }
  return value;
}

/** Turns an error into plain data that keeps its class name, own fields and cause. */
export function errorToWire(error: Error, depth = 0): WireError & { __wireError: true } {
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(error)) {
    if (key === 'name' || key === 'message' || key === 'stack' || key === 'cause') continue;
    fields[key] = toWireValue((error as unknown as Record<string, unknown>)[key], depth);
  }
  const cause = (error as { cause?: unknown }).cause;
  return {
    __wireError: true, name: error.name, message: error.message, stack: error.stack, fields, known: CLASSES.has(error.name),
    ...(cause === undefined ? {} : { cause: toWireValue(cause, depth) }),
  };
}

/** Rebuilds an error from its wire form: the same class when this side knows it, else an Error with the name and fields. */
export function errorFromWire(wire: WireError): Error {
  const errorClass = CLASSES.get(wire.name);
  // The constructors format their messages from arguments: the instance is made without running
  // them, and takes the message, fields and stack it had.
  const error = (errorClass ? Object.create(errorClass.prototype) : new Error(wire.message)) as Error;
  Object.defineProperty(error, 'message', { value: wire.message, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(error, 'name', { value: wire.name, writable: true, configurable: true, enumerable: true });
  if (wire.stack !== undefined) Object.defineProperty(error, 'stack', { value: wire.stack, writable: true, configurable: true, enumerable: false });
  for (const [key, value] of Object.entries(wire.fields)) (error as unknown as Record<string, unknown>)[key] = fromWireValue(value);
  if (wire.cause !== undefined) Object.defineProperty(error, 'cause', { value: fromWireValue(wire.cause), writable: true, configurable: true, enumerable: false });
  return error;
}

let installed = false;

/** Replaces Comlink's handler of thrown values in this realm (worker or page); both sides call it. */
export function installErrorTransfer(): void {
  if (installed) return;
  installed = true;
  const original = Comlink.transferHandlers.get('throw')!;
  Comlink.transferHandlers.set('throw', {
    canHandle: original.canHandle,
    serialize(thrown: unknown) {
      const value = (thrown as { value: unknown }).value;
      if (value instanceof Error) return [{ isError: true, wire: errorToWire(value) }, []];
      return original.serialize(thrown);
    },
    deserialize(serialized: unknown) {
      const wire = (serialized as { wire?: WireError }).wire;
      if (wire) throw errorFromWire(wire);
      return original.deserialize(serialized);
    },
  } as Comlink.TransferHandler<unknown, unknown>);
}
