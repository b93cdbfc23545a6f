// Exactly once across page reloads: a run into an OPFS Arrow file, and one into IndexedDB, are
// cut by reloading the page at seeded-random moments and resumed each time.
import { expect, test, type Page } from '@playwright/test';
import { createEmbedder as createNodeEmbedder } from '../../src/node.js';
import { textGenerator } from '../../tools/fixtures/corpus.js';
import { createRng } from '../../tools/fixtures/rng.js';

const COUNT = 3000;
const gen = textGenerator(4711);
const records = Array.from({ length: COUNT }, (_, i) => ({ id: `rec-${i}`, text: gen.text(gen.logNormalCount(10, 0.7, 1, 40)), part: i % 4 }));

async function ready(page: Page) {
  await page.goto('/');
  await expect(page.locator('#status')).toHaveText('ready');
}

/** Starts a run in the page without waiting for it; progress lands in globalThis.run. */
async function startRun(page: Page, kind: 'opfs' | 'idb', resume: boolean) {
  await page.evaluate(({ kind, resume, records }) => {
    const g = globalThis as any;
    g.run = { done: 0, finished: false, error: null };
    (async () => {
      const lib = g.bulkEmbed;
      const embedder = await lib.createEmbedder({ model: '/models/fixture-tiny', device: 'wasm' });
      const sink = kind === 'opfs'
        ? await lib.opfsArrowSink('runs/reload.arrow', { resume, overwrite: !resume })
        : lib.indexedDbSink('reload-db', { resume, overwrite: !resume });
      const result = await embedder.embedTo(records, sink, { resume, windowSize: 100, onProgress: (p: any) => { g.run.done = p.done; } });
      g.run.result = result;
      g.run.finished = true;
    })().catch((e) => { g.run.error = String(e); });
  }, { kind, resume, records });
}

async function readBack(page: Page, kind: 'opfs' | 'idb'): Promise<{ ids: string[]; vectors: number[][]; parts: number[] }> {
  return page.evaluate(async (kind) => {
    const lib = (globalThis as any).bulkEmbed;
    const ids: string[] = [];
    const vectors: number[][] = [];
    const parts: number[] = [];
    if (kind === 'opfs') {
      for await (const batch of lib.readEmbeddings('runs/reload.arrow')) {
        const emb = batch.getChild('embedding');
        const part = batch.getChild('part');
        batch.getChild('id').toArray().forEach((id: string, r: number) => {
          ids.push(id);
          vectors.push(Array.from(emb.get(r).toArray()));
          parts.push(part.get(r));
        });
      }
    } else {
      for (const row of await lib.readIndexedDb('reload-db')) {
        ids.push(row.id);
        vectors.push(Array.from(row.embedding));
        parts.push(row.metadata.part);
      }
    }
    return { ids, vectors, parts };
  }, kind);
}

for (const kind of ['opfs', 'idb'] as const) {
  test(`reloads during a run into ${kind === 'opfs' ? 'an OPFS Arrow file' : 'IndexedDB'} end with exactly one row per id`, async ({ page }) => {
    page.on('pageerror', (e) => console.log('page error:', e.message));
    const rng = createRng(kind === 'opfs' ? 31 : 32);
    await ready(page);
    for (let k = 0; k < 3; k++) {
      const target = Math.floor(COUNT * (0.15 + 0.25 * k + 0.15 * rng.next()));
      await startRun(page, kind, k > 0);
      await page.waitForFunction(
        (t) => (globalThis as any).run.done >= t || (globalThis as any).run.error || (globalThis as any).run.finished,
        target, { polling: 5 },
      );
      const state = await page.evaluate(() => (globalThis as any).run);
      expect(state.error).toBeNull();
      expect(state.finished).toBe(false); // the reload lands mid-run
      await page.reload();
      await expect(page.locator('#status')).toHaveText('ready');
      const partial = await readBack(page, kind);
      expect(new Set(partial.ids).size).toBe(partial.ids.length);
      expect(partial.ids.length).toBeLessThan(COUNT);
    }
    await startRun(page, kind, true);
    await page.waitForFunction(() => (globalThis as any).run.finished || (globalThis as any).run.error, null, { timeout: 120_000 });
    expect(await page.evaluate(() => (globalThis as any).run.error)).toBeNull();

    const got = await readBack(page, kind);
    expect(got.ids.length).toBe(COUNT);
    expect(new Set(got.ids)).toEqual(new Set(records.map((r) => r.id)));
    const node = await createNodeEmbedder({ model: 'models/fixture-tiny' });
    const want = await node.embed(records.map((r) => r.text));
    await node.dispose();
    // Every row checked, with one expect each for the worst cosine and the wrong parts: 6,000
    // calls of Playwright's expect took 31 s here.
    let worst = 1;
    const wrongParts: string[] = [];
    got.ids.forEach((id, i) => {
      const index = Number(id.slice(4));
      let dot = 0;
      for (let j = 0; j < want.dim; j++) dot += got.vectors[i]![j]! * want.data[index * want.dim + j]!;
      worst = Math.min(worst, dot);
      if (got.parts[i] !== index % 4) wrongParts.push(`${id}: part ${got.parts[i]}`);
    });
    expect(worst).toBeGreaterThanOrEqual(0.9999);
    expect(wrongParts).toEqual([]);
  });
}

test('a write that would exceed the storage quota stops with a typed error, leaving committed rows readable', async ({ page }) => {
  await ready(page);
  const out = await page.evaluate(async (records) => {
    const lib = (globalThis as any).bulkEmbed;
    const embedder = await lib.createEmbedder({ model: '/models/fixture-tiny', device: 'wasm' });
    let calls = 0;
    // Room for three windows, then the quota is reached.
    const estimate = async () => ({ usage: ++calls > 3 ? 1e9 : 0, quota: 1e9 });
    const sink = await lib.opfsArrowSink('runs/quota.arrow', { overwrite: true, estimate });
    let error = '';
    try {
      await embedder.embedTo(records, sink, { windowSize: 100 });
    } catch (e) {
      error = `${(e as Error).name}: ${(e as Error).message}`;
    }
    let rows = 0;
    for await (const batch of lib.readEmbeddings('runs/quota.arrow')) rows += batch.numRows;
    const resumed = await embedder.embedTo(records, await lib.opfsArrowSink('runs/quota.arrow', { resume: true }), { resume: true, windowSize: 100 });
    await embedder.dispose();
    return { error, rows, resumed };
  }, records.slice(0, 1000));
  expect(out.error).toMatch(/^StorageQuotaError: storage quota exceeded/);
  expect(out.rows).toBe(300);
  expect(out.resumed).toMatchObject({ skipped: 300, written: 700 });
});

test('one writer per OPFS file and per IndexedDB store, across tabs: the second fails at once naming the holder', async ({ page, context }) => {
  await ready(page);
  const other = await context.newPage();
  await ready(other);
  // Tab 1 holds an OPFS sink and an IndexedDB sink open (a run in progress).
  await page.evaluate(async () => {
    const lib = (globalThis as any).bulkEmbed;
    const g = globalThis as any;
    g.opfsSink = await lib.opfsArrowSink('runs/locked.arrow', { overwrite: true });
    g.idbSink = lib.indexedDbSink('locked-db', { overwrite: true });
    await g.idbSink.resumeState();
  });
  const attempt = () => other.evaluate(async () => {
    const lib = (globalThis as any).bulkEmbed;
    const embedder = await lib.createEmbedder({ model: '/models/fixture-tiny', device: 'wasm', workers: 1 });
    const outcome = async (work: () => Promise<unknown>) => work().then(() => 'ok', (e: Error) => `${e.name}: ${e.message}`);
    const opfs = await outcome(async () => embedder.embedTo(['a', 'b'], await lib.opfsArrowSink('runs/locked.arrow', { overwrite: true })));
    const idb = await outcome(() => embedder.embedTo(['a', 'b'], lib.indexedDbSink('locked-db', { overwrite: true })));
    await embedder.dispose();
    return { opfs, idb };
  });
  const blocked = await attempt();
  expect(blocked.opfs).toMatch(/^FileLockedError: opfs:runs\/locked\.arrow: is being written by another tab or worker of this page/);
  expect(blocked.idb).toMatch(/^FileLockedError: indexeddb:locked-db: is being written by another tab/);
  // Tab 1's run ends: tab 2 may write.
  await page.evaluate(async () => {
    const g = globalThis as any;
    await g.opfsSink.close();
    await g.idbSink.close();
  });
  expect(await attempt()).toEqual({ opfs: 'ok', idb: 'ok' });
  await other.close();
});

test('a binary OPFS file with a float16 copy is searched in the OPFS worker, ranking as float32 does at the top; searches of one file at once, during a read of it and during a run writing it all answer; a reader whose file is overwritten fails with a typed error', async ({ page }) => {
  await ready(page);
  const result = await page.evaluate(async (records) => {
    const lib = (globalThis as any).bulkEmbed;
    const embedder = await lib.createEmbedder({ model: '/models/fixture-tiny', device: 'wasm' });
    const some = records.slice(0, 300);
    await embedder.embedTo(some, await lib.opfsArrowSink('runs/float.arrow', { overwrite: true }), { windowSize: 100 });
    await embedder.embedTo(some, await lib.opfsArrowSink('runs/binary.arrow', { overwrite: true }), { windowSize: 100, precision: 'binary', keepFloat16: true });
    const { data } = await embedder.embed([some[42]!.text]);
    // A search while a run writes the file (the demo searches a collection as it fills): after its
    // first window is written, with the writer's handle open.
    const live = await lib.opfsArrowSink('runs/live.arrow', { overwrite: true });
    let duringWrite: string | undefined;
    const watched = {
      name: live.name, resumeState: () => live.resumeState(), close: () => live.close(),
      async write(description: unknown, rows: unknown) {
        await live.write(description, rows);
        duringWrite ??= await lib.searchEmbeddings('runs/live.arrow', data, 3, { allowTruncated: true })
          .then((hits: any[]) => hits[0]?.id ?? 'no hits', (e: Error) => `${e.name}: ${e.message}`);
      },
    };
    await embedder.embedTo(some, watched, { windowSize: 100 });
    await embedder.dispose();
    const stats = { bytesRead: 0 };
    const binary = await lib.searchEmbeddings('runs/binary.arrow', data, 3, { stats });
    const exact = await lib.searchEmbeddings('runs/float.arrow', data, 3);
    // Searches of one file at once (a query typed, then submitted) share its one sync access handle.
    const together = await Promise.all([1, 2, 3].map(() => lib.searchEmbeddings('runs/float.arrow', data, 3)))
      .then((all) => all.map((hits: any[]) => hits[0].id), (e: Error) => [`${e.name}: ${e.message}`]);
    // A search while the file is being read (the demo's map reads its rows as a query is submitted).
    const reading = lib.readEmbeddings('runs/float.arrow')[Symbol.asyncIterator]();
    let readRows = (await reading.next()).value.numRows;
    const duringRead = await lib.searchEmbeddings('runs/float.arrow', data, 3).then((hits: any[]) => hits[0].id, (e: Error) => `${e.name}: ${e.message}`);
    for (let r = await reading.next(); !r.done; r = await reading.next()) readRows += r.value.numRows;
    // A writer overwriting the file under a reader: the reader fails with a typed error, never reads garbage.
    const cutReader = lib.readEmbeddings('runs/binary.arrow')[Symbol.asyncIterator]();
    await cutReader.next();
    const overwriting = await lib.opfsArrowSink('runs/binary.arrow', { overwrite: true });
    await overwriting.resumeState();
    const cut = await (async () => {
      for (let r = await cutReader.next(); !r.done; r = await cutReader.next());
      return 'no error';
    })().catch((e: Error) => `${e.name}: ${e.message}`);
    await overwriting.close();
    const missing = await lib.searchEmbeddings('runs/none.arrow', data, 3).then(() => 'no error', (e: Error) => `${e.name}: ${e.message}`);
    // The live file is whole, and every shared handle was given back: the files can be removed.
    let liveRows = 0;
    for await (const batch of lib.readEmbeddings('runs/live.arrow')) liveRows += batch.numRows;
    const runs = await (await navigator.storage.getDirectory()).getDirectoryHandle('runs');
    const removed = await Promise.all(['float.arrow', 'live.arrow', 'binary.arrow'].map((f) => runs.removeEntry(f).then(() => 'removed', (e: Error) => `${f}: ${e.name}`)));
    return {
      binary: binary.map((h: any) => h.id), exact: exact.map((h: any) => h.id), bytesRead: stats.bytesRead, missing, together,
      duringRead, readRows, duringWrite, liveRows, removed, cut,
    };
  }, records);
  expect(result.binary[0]).toBe('rec-42');
  expect(result.binary[0]).toBe(result.exact[0]);
  expect(result.bytesRead).toBeGreaterThan(0);
  expect(result.missing).toMatch(/EmbeddingsFileError: .*runs\/none\.arrow/);
  expect(result.together).toEqual(['rec-42', 'rec-42', 'rec-42']);
  expect(result.duringRead).toBe('rec-42');
  expect(result.readRows).toBe(300);
  expect(result.duringWrite).toBe('rec-42');
  expect(result.liveRows).toBe(300);
  expect(result.cut).toMatch(/^EmbeddingsFileError: opfs:runs\/binary\.arrow: changed while being read/);
  expect(result.removed).toEqual(['removed', 'removed', 'removed']);
});

test('IndexedDB commits a batch and the run description in one transaction: a batch that fails leaves neither', async ({ page }) => {
  await ready(page);
  const out = await page.evaluate(async () => {
    const lib = (globalThis as any).bulkEmbed;
    const sink = lib.indexedDbSink('atomic-db', { overwrite: true });
    await sink.resumeState();
    const dim = 4;
    const description = (model: string) => ({ model, dim, pooling: 'mean', normalize: true, dtype: 'fp32', float16: false, metadataColumns: { note: 'utf8' }, checksum: 'crc32', precision: 'float32' });
    const rows = (ids: string[], note: (i: number) => unknown) => ({
      ids, vectors: new Float32Array(ids.length * dim).fill(0.5), textHashes: ids.map(() => 'h'), metadata: ids.map((_, i) => ({ note: note(i) })),
    });
    await sink.write(description('first'), rows(['a', 'b'], () => 'ok'));
    let error = '';
    // The second batch has a row IndexedDB cannot store (a function): the whole write must fail, its description too.
    try {
      await sink.write(description('second'), rows(['c', 'd', 'e'], (i) => (i === 2 ? () => 0 : 'ok')));
    } catch (e) {
      error = (e as Error).name;
    }
    await sink.close();
    const again = lib.indexedDbSink('atomic-db', { resume: true });
    const state = await again.resumeState();
    await again.close();
    const stored = (await lib.readIndexedDb('atomic-db')).map((r: { id: string }) => r.id).sort();
    return { error, stored, model: state.description?.model };
  });
  expect(out.error).toBe('DataCloneError');
  expect(out.stored).toEqual(['a', 'b']);
  expect(out.model).toBe('first');
});
