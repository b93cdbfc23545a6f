// Errors keep their class and fields across the worker boundary (issue 23): the coordinator and
// its workers talk through Comlink, whose default handler rebuilt every error as a plain Error.
// Here the two sides of a Node MessageChannel stand in for the page and a worker: every message is
// structured-cloned exactly as postMessage does between realms.
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import * as Comlink from 'comlink';
import { afterAll, describe, expect, it } from 'vitest';
import { installErrorTransfer } from '../../src/browser/error-transfer.js';
import { StorageQuotaError } from '../../src/browser/storage.js';
import {
  EmbedError, EmbeddingsFileError, FileLockedError, InvalidOptionError, InvalidTextError, LaneFaultError, LanesFailedError, ModelFileError,
} from '../../src/base/errors.js';

/** A Node MessagePort as a Comlink endpoint (what comlink's node adapter does). */
function nodeEndpoint(port: MessagePort): Comlink.Endpoint {
  const listeners = new Map<unknown, (data: unknown) => void>();
  return {
    postMessage: (message: unknown, transfer?: Transferable[]) => port.postMessage(message, transfer as never),
    addEventListener: (_type: string, listener: EventListenerOrEventListenerObject) => {
      const handler = (data: unknown) => ('handleEvent' in listener ? listener.handleEvent({ data } as MessageEvent) : listener({ data } as MessageEvent));
      listeners.set(listener, handler);
      port.on('message', handler);
    },
    removeEventListener: (_type: string, listener: EventListenerOrEventListenerObject) => {
      const handler = listeners.get(listener);
      if (handler) port.off('message', handler);
      listeners.delete(listener);
    },
    start: () => port.start(),
  };
}

installErrorTransfer();
const { port1, port2 } = new MessageChannel();
const errors: Record<string, () => Error> = {
  modelFile: () => new ModelFileError('config.json', 'https://hub.example/m', 'HTTP 404', { notFound: true }),
  option: () => new InvalidOptionError('dtype', '"q3" is not a dtype'),
  text: () => new InvalidTextError(7, 42),
  locked: () => new FileLockedError('/opfs/docs.arrow', 'tab 3'),
  lanes: () => new LanesFailedError('every lane failed', [new LaneFaultError('gpu-0', 'device-lost', 'lost'), new TypeError('plain')]),
  quota: () => new StorageQuotaError(1000, 10),
  plain: () => new RangeError('not ours'),
};
Comlink.expose({ fail: (kind: string) => { throw errors[kind]!(); } }, nodeEndpoint(port1));
const remote = Comlink.wrap<{ fail(kind: string): Promise<void> }>(nodeEndpoint(port2));
afterAll(() => {
  port1.close();
  port2.close();
});

const thrown = (kind: string) => remote.fail(kind).then(() => null, (e: unknown) => e as Error);

describe('errors across the worker boundary', () => {
  it('a ModelFileError arrives as a ModelFileError (an EmbedError) with its file, location, notFound and message', async () => {
    const error = await thrown('modelFile');
    expect(error).toBeInstanceOf(ModelFileError);
    expect(error).toBeInstanceOf(EmbedError);
    const local = errors.modelFile!() as ModelFileError;
    expect(error).toMatchObject({ name: 'ModelFileError', file: local.file, location: local.location, notFound: true, unreachable: false, message: local.message });
    expect(error!.stack).toContain('ModelFileError');
  });

  it('InvalidOptionError keeps option; InvalidTextError is an EmbedError with its index; FileLockedError is an EmbeddingsFileError with its holder', async () => {
    expect(await thrown('option')).toMatchObject({ option: 'dtype', constructor: InvalidOptionError });
    const text = await thrown('text');
    expect(text).toBeInstanceOf(InvalidTextError);
    expect(text).toBeInstanceOf(EmbedError);
    expect((text as InvalidTextError).index).toBe(7);
    const locked = await thrown('locked');
    expect(locked).toBeInstanceOf(FileLockedError);
    expect(locked).toBeInstanceOf(EmbeddingsFileError);
    expect(locked).toMatchObject({ file: '/opfs/docs.arrow', holder: 'tab 3' });
  });

  it('LanesFailedError keeps its causes as errors of their classes; a registered StorageQuotaError keeps its class', async () => {
    const lanes = (await thrown('lanes')) as LanesFailedError;
    expect(lanes).toBeInstanceOf(LanesFailedError);
    expect(lanes.causes[0]).toBeInstanceOf(LaneFaultError);
    expect(lanes.causes[0]).toMatchObject({ lane: 'gpu-0', kind: 'device-lost' });
    expect(lanes.causes[1]).toMatchObject({ name: 'TypeError', message: 'plain' });
    expect(lanes.cause).toBeInstanceOf(Error);
    const quota = await thrown('quota');
    expect(quota).toBeInstanceOf(StorageQuotaError);
    expect(quota).toMatchObject({ needed: 1000, available: 10 });
  });

  it('an error the library does not define still arrives with its name and message', async () => {
    expect(await thrown('plain')).toMatchObject({ name: 'RangeError', message: 'not ours' });
  });
});
