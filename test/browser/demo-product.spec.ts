// The demo as a product: cancel keeps the committed rows and Resume finishes the run with every
// document once; errors are errors (role="alert"); unreadable files are skipped with a message;
// replacing and deleting ask first; the page's states read as states (ETA in h/min/s, memory,
// search busy then a result count); no request 404s (favicon).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromIPC } from '@uwdata/flechette';
import { chromium, expect, test, type Page } from '@playwright/test';
import { CHROMIUM_ARGS } from '../../playwright.config.js';
import { textGenerator } from '../../tools/fixtures/corpus.js';

const DEMO = process.env.DEMO_URL ?? 'http://127.0.0.1:5173/';
const SHOTS = join(import.meta.dirname, '../../test-results/screenshots');
const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `demo-${name}.png`), fullPage: true });

async function open(page: Page, query = '?model=fixture-tiny&device=wasm') {
  page.on('pageerror', (e) => console.log('page error:', e.message));
  await page.goto(DEMO + query);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
}

async function dropFiles(page: Page, files: { name: string; content: string | number[] }[]) {
  const transfer = await page.evaluateHandle((files) => {
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(new File([typeof f.content === 'string' ? f.content : new Uint8Array(f.content)], f.name));
    return dt;
  }, files);
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
}

test('Cancel at 20% of 144 short documents keeps the finished rows; Resume on its row finishes with every document once, searchable and downloadable', async ({ page }) => {
  const gen = textGenerator(7007);
  const docs = Array.from({ length: 144 }, (_, i) => ({ id: `d${i}`, text: gen.text(gen.between(6, 14)) }));
  await open(page, '?model=fixture-minilm&device=wasm');
  await dropFiles(page, [{ name: 'short.jsonl', content: docs.map((d) => JSON.stringify(d)).join('\n') + '\n' }]);
  await page.fill('#collection', 'cancelled');
  // Cancel the moment progress reads 20% or more (a short run passes any poll's interval).
  await page.evaluate(() => {
    const text = document.getElementById('progress-text')!;
    const observer = new MutationObserver(() => {
      const pct = Number(text.textContent!.match(/^(\d+)%/)?.[1] ?? -1);
      if (pct >= 20) { (document.getElementById('cancel') as HTMLButtonElement).click(); observer.disconnect(); }
    });
    observer.observe(text, { childList: true, characterData: true, subtree: true });
  });
  await page.click('#embed');
  await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe('cancel');
  await expect(page.locator('#progress-text')).toContainText(/^Cancelled: \d+ of 144 stored\. Resume on its row continues where it stopped\.$/, { timeout: 60_000 });
  const kept = Number((await page.locator('#progress-text').textContent())!.match(/Cancelled: (\d+)/)![1]);
  expect(kept).toBeGreaterThan(0); // the windows finished before the stop are kept
  expect(kept).toBeLessThan(144);
  await expect(page.locator('#error')).toBeHidden();
  await expect(page.locator('#collections')).toContainText(`cancelled, ${kept} of 144 stored`);
  await expect(page.locator('#memory')).toContainText(/JS heap [\d.]+ [KMG]?B.*storage/);
  await shot(page, '6-cancelled');

  // The cancelled collection is what search follows, and it can be searched and downloaded as it is.
  await expect(page.locator('#search-collection')).toHaveValue('cancelled');
  await page.fill('#query', docs[3]!.text.split(' ').slice(0, 4).join(' '));
  await page.click('#search-button');
  await expect(page.locator('#search-status')).toHaveText(/^\d+ results in \d+ ms\.$/);
  const partial = await downloadRows(page, 'cancelled');
  expect(partial.length).toBe(kept);

  // After a reload the run can still be resumed from its row, and finishes with every document exactly once.
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
  await page.getByRole('button', { name: 'Resume cancelled' }).click();
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 144 documents stored in "cancelled".', { timeout: 120_000 });
  const ids = await downloadRows(page, 'cancelled');
  expect(ids.length).toBe(144);
  expect(new Set(ids)).toEqual(new Set(docs.map((d) => `short.jsonl:${d.id}`)));
});

async function downloadRows(page: Page, name: string): Promise<string[]> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: `Download ${name}.arrow` }).click()]);
  const path = join(SHOTS, '..', `${name}-${Date.now()}.arrow`);
  await download.saveAs(path);
  return tableFromIPC(readFileSync(path)).getChild('id')!.toArray() as string[];
}

test('binary and empty files are skipped with a message; the others are listed and embedded', async ({ page }) => {
  await open(page);
  const png = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0xff, 0xfe];
  await dropFiles(page, [{ name: 'photo.txt', content: png }, { name: 'empty.txt', content: '' }, { name: 'notes.txt', content: 'first note about rivers\n\nsecond note' }]);
  await expect(page.locator('#file-count')).toHaveText('3 files ready');
  await expect(page.locator('#file-list li')).toHaveText([/^photo\.txt 18 B\s*Remove$/, /^empty\.txt 0 B\s*Remove$/, /^notes\.txt \d+ B\s*Remove$/]);
  await page.fill('#collection', 'mixed-files');
  await page.click('#embed');
  await expect(page.locator('#error')).toHaveText('Skipped photo.txt (binary, not text), empty.txt (empty).');
  await expect(page.locator('#error')).toHaveAttribute('role', 'alert');
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 2 documents stored in "mixed-files".', { timeout: 60_000 });

  // Only unreadable files: nothing to embed, and the error says which and why.
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
  await dropFiles(page, [{ name: 'empty.md', content: '' }]);
  await page.click('#embed');
  await expect(page.locator('#error')).toHaveText('Nothing to embed: Skipped empty.md (empty).');
});

test('replacing a collection and deleting one ask first; a refusal changes nothing', async ({ page }) => {
  await open(page);
  await page.fill('#paste', 'one\n\ntwo\n\nthree');
  await page.fill('#collection', 'kept');
  await page.click('#embed');
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 3 documents stored in "kept".', { timeout: 60_000 });
  const dialogs: string[] = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); void d.dismiss(); });
  await page.fill('#paste', 'other');
  await page.click('#embed');
  await expect.poll(() => dialogs.length).toBe(1);
  expect(dialogs[0]).toBe('A collection "kept" exists (3 of 3 rows). Replace it?');
  await page.getByRole('button', { name: 'Delete kept' }).click();
  await expect.poll(() => dialogs.length).toBe(2);
  expect(dialogs[1]).toBe('Delete "kept" and its 3 stored rows?');
  await expect(page.locator('#collections')).toContainText('3 of 3 stored');
});

test('a hub model while offline: an error that says so and names the models available offline', async ({ page, context }) => {
  const missing: string[] = [];
  page.on('response', (r) => { if (r.status() === 404) missing.push(r.url()); });
  await open(page, '?device=wasm');
  expect(missing).toEqual([]); // the favicon included
  await page.evaluate(() => navigator.serviceWorker.ready); // the default model is precached by now
  await context.setOffline(true);
  await page.selectOption('#model', 'Xenova/all-MiniLM-L6-v2');
  await page.fill('#paste', 'a\n\nb');
  await page.fill('#collection', 'hub-offline');
  await page.click('#embed');
  // At once, not after the download's retries.
  await expect(page.locator('#error')).toContainText('this device is offline and Xenova/all-MiniLM-L6-v2 is not stored on it', { timeout: 2_000 });
  await expect(page.locator('#error')).toContainText('Available offline: fixture-tiny.');
  expect((await page.locator('#error').textContent())!.split('https://').length - 1).toBe(1); // the file's URL once
  await expect(page.locator('#progress-text')).toHaveText('Failed: nothing was stored.');
  await expect(page.locator('#collections')).not.toContainText('hub-offline'); // no empty collection left behind
  await shot(page, '7-offline-hub-error');
  await context.setOffline(false);
});

test('at 375 px nothing overflows sideways, controls use 16 px text, and the chart has its legend in text', async ({ page }) => {
  await page.setViewportSize({ width: 375, height: 800 });
  await open(page);
  await page.fill('#paste', Array.from({ length: 40 }, (_, i) => `document ${i} about rivers and gardens`).join('\n\n'));
  await page.fill('#collection', 'narrow');
  await page.click('#embed');
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 40 documents stored in "narrow".', { timeout: 60_000 });
  const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  expect(widths.scroll).toBeLessThanOrEqual(widths.client);
  for (const id of ['#model', '#device', '#dtype', '#search-collection']) expect(await page.locator(id).evaluate((e) => getComputedStyle(e).fontSize)).toBe('16px');
  await expect(page.locator('#chart-legend')).toContainText(/^Blue, left axis: \d+ texts\/s\. Orange, right axis: \d+ tokens\/s\.$/);
  await page.click('#search-button'); // no query: a hint, not a numbered result
  await expect(page.locator('#search-status')).toHaveText('Choose a collection and type a query.');
  await expect(page.locator('#results li')).toHaveCount(0);
  await expect(page.locator('#results')).toHaveAttribute('aria-live', 'polite');
  await shot(page, '8-narrow-375');
});

test('lean offline install: the first visit precaches at most 60 MB, offline the default model embeds and searches, the app is installable', async ({ page, context }) => {
  await open(page, '');
  await expect(page.locator('#model')).toHaveValue('fixture-tiny');
  await page.evaluate(() => navigator.serviceWorker.ready);
  const precache = await page.evaluate(async () => {
    let bytes = 0;
    let entries = 0;
    for (const name of await caches.keys()) {
      if (!name.includes('precache')) continue;
      const cache = await caches.open(name);
      for (const request of await cache.keys()) {
        bytes += (await (await cache.match(request))!.blob()).size;
        entries++;
      }
    }
    return { bytes, entries };
  });
  console.log(`first-visit precache: ${precache.entries} entries, ${(precache.bytes / 2 ** 20).toFixed(1)} MB`);
  expect(precache.bytes).toBeLessThanOrEqual(60 * 2 ** 20);
  await expect(page.locator('#offline-models')).toHaveText('Available offline on this device: fixture-tiny.');
  expect(await installabilityErrors()).toEqual([]);
  const manifest = await (await page.request.get(DEMO + 'manifest.webmanifest')).json();
  expect(manifest.icons.map((i: { sizes: string; purpose: string; type: string }) => `${i.sizes} ${i.purpose} ${i.type}`)).toEqual(
    ['any any image/svg+xml', '192x192 any image/png', '512x512 any image/png', '512x512 maskable image/png']);

  await context.setOffline(true);
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
  await page.fill('#paste', 'a note about rivers\n\na note about gardens\n\nsomething else');
  await page.fill('#collection', 'lean-offline');
  await page.click('#embed');
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 3 documents stored in "lean-offline".', { timeout: 60_000 });
  await page.fill('#query', 'gardens');
  await page.click('#search-button');
  await expect(page.locator('#results li').first()).toContainText('pasted text, paragraph 2');
  await context.setOffline(false);
});

/**
 * Chromium's installability verdict for the demo. Playwright's own contexts are off the record,
 * where Chromium never offers install, so this asks a persistent profile, as a user's browser has.
 */
async function installabilityErrors(): Promise<unknown[]> {
  const profile = mkdtempSync(join(tmpdir(), 'bulk-embed-install-'));
  const browser = await chromium.launchPersistentContext(profile, { executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium', args: CHROMIUM_ARGS, headless: true });
  try {
    const page = await browser.newPage();
    await page.goto(DEMO);
    await page.evaluate(() => navigator.serviceWorker.ready);
    const cdp = await browser.newCDPSession(page);
    return (await cdp.send('Page.getInstallabilityErrors')).installabilityErrors;
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

test('?bench shows each run as it goes, then bars of texts/s with the ratio and the JSON to download', async ({ page }) => {
  test.setTimeout(180_000);
  page.on('pageerror', (e) => console.log('page error:', e.message));
  await page.goto(DEMO + '?bench&device=wasm&model=fixture-tiny&texts=60&runs=2');
  await expect(page.locator('#progress-text')).toHaveText('Benchmark running: see its progress below.');
  await expect(page.locator('#bench-status')).toContainText(/^(Loading|Warming|Run \d of 2)/);
  await expect(page.locator('#bench-log li')).toHaveCount(4, { timeout: 120_000 });
  await expect(page.locator('#bench-status')).toHaveText(/^Done: bulk-embed [\d.]+x the texts\/s of transformers\.js on wasm, median of 2 runs\.$/, { timeout: 60_000 });
  await expect(page.locator('#bench-chart .bar-row')).toHaveCount(2);
  await expect(page.locator('#bench-chart')).toContainText(/Ratio [\d.]+x\./);
  await shot(page, '9-bench');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#bench-download a[download$=".json"]')]);
  const json = JSON.parse(readFileSync(await download.path(), 'utf8'));
  expect(json.request).toEqual({ device: 'wasm', model: 'fixture-tiny', texts: 60, runs: 2 });
  expect(json.seconds.bulkEmbed).toHaveLength(2);
  expect(json.textsPerSec.bulkEmbed).toBeCloseTo(60 / json.medians.bulkEmbed, 6);
});
