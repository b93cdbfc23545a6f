import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { releaseBytes } from '../../src/util/release.js';
import { createEmbedder } from '../../src/node.js';
import type { ModelFiles } from '../../src/model/files.js';
import { ModelFileError } from '../../src/base/errors.js';

const TINY = resolve(import.meta.dirname, '../../models/fixture-tiny');

/** The fixture's files held in memory, handed out as the same arrays on every read (as a cache would). */
async function memoryFiles(freshReads: boolean): Promise<{ files: ModelFiles; held: Map<string, Uint8Array>; handedOut: [string, Uint8Array][] }> {
  const held = new Map<string, Uint8Array>();
  const handedOut: [string, Uint8Array][] = [];
  for (const name of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx']) {
    held.set(name, new Uint8Array(await readFile(join(TINY, name))));
  }
  const files: ModelFiles = {
    location: 'memory/fixture-tiny',
    ...(freshReads ? { freshReads } : {}),
    async read(name) {
      const bytes = held.get(name);
      if (!bytes) throw new ModelFileError(name, 'memory/fixture-tiny', 'file not found', { notFound: true });
      const out = freshReads ? bytes.slice() : bytes;
      handedOut.push([name, out]);
      return out;
    },
    exists: async (name) => held.has(name),
  };
  return { files, held, handedOut };
}

describe('releaseBytes', () => {
  it('frees whole buffers at once: the arrays read as empty', () => {
    const a = new Uint8Array(1 << 20).fill(1);
    const b = new Uint8Array(16).fill(2);
    releaseBytes([a, b, null, undefined]);
    expect(a.byteLength).toBe(0);
    expect(b.byteLength).toBe(0);
  });

  it('leaves partial views and shared memory to the GC', () => {
    const whole = new Uint8Array(64).fill(3);
    const part = whole.subarray(8, 16);
    const shared = new Uint8Array(new SharedArrayBuffer(32)).fill(4);
    releaseBytes([part, shared]);
    expect(whole.byteLength).toBe(64);
    expect(part[0]).toBe(3);
    expect(shared[0]).toBe(4);
  });
});

describe('a load frees what it owns, never the bytes injected files keep', () => {
  it('files that hand out the arrays they hold load twice, with the same vectors', async () => {
    const { files, held } = await memoryFiles(false);
    const sizes = [...held.values()].map((b) => b.byteLength);
    const first = await createEmbedder({ files, tokenizerThreads: 0 });
    const v1 = await first.embed(['a held model']);
    await first.dispose();
    expect([...held.values()].map((b) => b.byteLength)).toEqual(sizes);
    const second = await createEmbedder({ files, tokenizerThreads: 0 });
    const v2 = await second.embed(['a held model']);
    await second.dispose();
    expect(Array.from(v2.data)).toEqual(Array.from(v1.data));
  });

  it('files that read fresh bytes have the weights freed once the session holds its copy', async () => {
    const { files, handedOut } = await memoryFiles(true);
    const embedder = await createEmbedder({ files, tokenizerThreads: 0 });
    const weights = handedOut.filter(([name]) => name === 'onnx/model.onnx');
    expect(weights.length).toBeGreaterThanOrEqual(1);
    expect(weights.map(([, b]) => b.byteLength)).toEqual(weights.map(() => 0));
    // The small files the tokenizer and settings were read from are left alone.
    expect(handedOut.find(([name]) => name === 'config.json')![1].byteLength).toBeGreaterThan(0);
    const v = await embedder.embed(['still embeds']);
    expect(v.data.some((x) => x !== 0)).toBe(true);
    await embedder.dispose();
  });
});
