// Sources: arrays, iterables, async iterables and ReadableStreams of strings or records; text
// formats with errors that name the line; streaming that reads only as fast as it is consumed.
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEmbedder, InputFormatError, type NodeEmbedder } from '../../src/node.js';
import { readRecords } from '../../src/source/records.js';
import { csvRows, parseTextRecords } from '../../src/source/text-formats.js';

const collect = async <T>(it: AsyncIterable<T>): Promise<T[]> => {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
};
async function* chunked(text: string, size: number) {
  for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
}

describe('readRecords', () => {
  it('reads strings and records from arrays, iterables, async iterables and ReadableStreams', async () => {
    const items = ['plain', { id: 'x', text: 'with id', lang: 'en', n: 3, nested: { a: 1 } }, { text: 'no id' }];
    function* sync() { yield* items; }
    async function* asyncGen() { yield* items; }
    const stream = new ReadableStream({ start(c) { items.forEach((i) => c.enqueue(i)); c.close(); } });
    for (const source of [items, sync(), asyncGen(), stream]) {
      expect(await collect(readRecords(source))).toEqual([
        { id: '0', text: 'plain', metadata: {} },
        { id: 'x', text: 'with id', metadata: { lang: 'en', n: 3, nested: '{"a":1}' } },
        { id: '2', text: 'no id', metadata: {} }, // a record without an id gets its position
      ]);
    }
  });

  it('uses the configured fields and names the bad record', async () => {
    expect(await collect(readRecords([{ key: 7, body: 'b' }], { textField: 'body', idField: 'key' }))).toEqual([{ id: '7', text: 'b', metadata: {} }]);
    await expect(collect(readRecords(['ok', { title: 'no text' }], { sourceName: 'docs' }))).rejects.toThrow('docs record 2: missing field "text"');
    await expect(collect(readRecords([{ text: 5 }]))).rejects.toThrow('source record 1: field "text" is number, not a string');
    await expect(collect(readRecords([42 as unknown as string]))).rejects.toBeInstanceOf(InputFormatError);
  });
});

describe('text formats', () => {
  it('parses JSONL across chunk boundaries, skipping blank lines, naming a bad line', async () => {
    const text = '{"id":"a","text":"one"}\r\n\n{"text":"two","k":1}\n{"text": oops}\n';
    const parsed = parseTextRecords(chunked(text, 7), 'jsonl', { sourceName: 'in.jsonl' });
    const first = await parsed.next();
    const second = await parsed.next();
    expect([first.value, second.value]).toEqual([{ id: 'a', text: 'one', metadata: {} }, { id: '1', text: 'two', metadata: { k: 1 } }]);
    await expect(parsed.next()).rejects.toThrow(/^in\.jsonl line 4: bad JSON/);
    await expect(collect(parseTextRecords(chunked('{"id":1}\n', 3), 'jsonl', { sourceName: 'f' }))).rejects.toThrow('f line 1: missing field "text"');
  });

  it('parses CSV with quotes, commas, doubled quotes and newlines inside fields, in any chunking', async () => {
    const text = 'id,text,lang\n1,"Hello, ""world""",en\n2,"two\nlines",fr\n3,plain,\n';
    for (const size of [1, 2, 5, 100]) {
      expect(await collect(parseTextRecords(chunked(text, size), 'csv'))).toEqual([
        { id: '1', text: 'Hello, "world"', metadata: { lang: 'en' } },
        { id: '2', text: 'two\nlines', metadata: { lang: 'fr' } },
        { id: '3', text: 'plain', metadata: { lang: '' } },
      ]);
    }
    await expect(collect(parseTextRecords(chunked('id,body\n1,x\n', 4), 'csv', { sourceName: 'c.csv' }))).rejects.toThrow('c.csv line 1: the CSV header has no "text" column (columns: id, body)');
    await expect(collect(parseTextRecords(chunked('text\n"never closed\n', 4), 'csv', { sourceName: 'c.csv' }))).rejects.toThrow('c.csv line 2: a quoted field is never closed');
    await expect(collect(parseTextRecords(chunked('text,a\nx,1,2\n', 4), 'csv', { sourceName: 'c.csv' }))).rejects.toThrow('c.csv line 2: 3 fields where the header has 2');
    expect((await collect(csvRows(chunked('a,b\r\n1,2\r\n', 3)))).map((r) => r.fields)).toEqual([['a', 'b'], ['1', '2']]);
  });

  it('reads one text per line, ids by position', async () => {
    expect(await collect(parseTextRecords(chunked('first\n\nsecond\r\nthird', 4), 'txt'))).toEqual([
      { id: '0', text: 'first', metadata: {} }, { id: '1', text: 'second', metadata: {} }, { id: '2', text: 'third', metadata: {} },
    ]);
  });
});

describe('embedStream', () => {
  let embedder: NodeEmbedder;
  beforeAll(async () => {
    embedder = await createEmbedder({ model: resolve(import.meta.dirname, '../../models/fixture-tiny') });
  });
  afterAll(() => embedder.dispose());

  it('reads only as fast as batches are consumed (bounded work in flight)', async () => {
    let pulled = 0;
    async function* source() {
      for (let i = 0; i < 100_000; i++) {
        pulled++;
        yield `text number ${i}`;
      }
    }
    const batches = embedder.embedStream(source(), { windowSize: 100 })[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) {
      const { value } = await batches.next();
      expect(value!.ids.length).toBe(100);
      expect(value!.ids[0]).toBe(String(i * 100));
      await new Promise((r) => setTimeout(r, 20)); // a slow consumer
    }
    // Three windows consumed, one more read ahead (being embedded while the consumer works).
    expect(pulled).toBeLessThanOrEqual(400);
    await batches.return?.(undefined);
  });

  it('yields its first batch after a small window: windows ramp 256, 512, ... up to the default 4096, every record once, in order', async () => {
    const count = 9000;
    let pulled = 0;
    let pulledAtFirst = -1;
    async function* source() {
      for (let i = 0; i < count; i++) {
        pulled++;
        yield `ramp text ${i} ${'word '.repeat(i % 7)}`;
      }
    }
    const sizes: number[] = [];
    const ids: string[] = [];
    for await (const batch of embedder.embedStream(source())) {
      if (pulledAtFirst < 0) pulledAtFirst = pulled;
      sizes.push(batch.ids.length);
      ids.push(...batch.ids);
    }
    expect(sizes).toEqual([256, 512, 1024, 2048, 4096, 1064]);
    // The first batch came before the reader had gone past the second window (the one read ahead).
    expect(pulledAtFirst).toBeLessThanOrEqual(256 + 512);
    expect(ids).toEqual(Array.from({ length: count }, (_, i) => String(i)));
  });

  it('gives the same vectors as embed(), computes repeated texts once with the cache, refuses duplicate ids', async () => {
    const texts = ['alpha river', 'beta garden', 'alpha river', 'gamma'];
    const direct = await embedder.embed(texts);
    const records = texts.map((text, i) => ({ id: `k${i}`, text }));
    let before = embedder.stats.texts;
    const out = await collect(embedder.embedStream(records, { windowSize: 2, cacheSize: 10 }));
    // k2 repeats k0's text in a later window: served from the cache, so 3 texts ran, not 4.
    expect(embedder.stats.texts - before).toBe(3);
    expect(out.map((b) => b.ids)).toEqual([['k0', 'k1'], ['k2', 'k3']]);
    const streamed = new Float32Array(out.flatMap((b) => Array.from(b.embeddings.data)));
    for (let j = 0; j < streamed.length; j++) expect(streamed[j]!).toBeCloseTo(direct.data[j]!, 5);
    before = embedder.stats.texts;
    await collect(embedder.embedStream(records, { windowSize: 2 }));
    expect(embedder.stats.texts - before).toBe(4);
    await expect(collect(embedder.embedStream([{ id: 'same', text: 'a' }, { id: 'same', text: 'b' }]))).rejects.toThrow('source record 2: id "same" appears more than once');
  });
});
