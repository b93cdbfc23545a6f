// Issue 27, the demo people show to others: the sample documents and a first screen that says
// what it does; search that follows the collection just embedded, searches all collections and
// as you type, and reads like search (grouped by document, readable 1-based titles, highlighted
// words, a relevance bar, snippets cut at word boundaries, the paragraph in context, headings kept
// with their sections); a map with one point per row and the query's hits marked; Cancel that
// keeps work and a reload that says "interrupted"; CSV/JSONL downloads with the full text; the
// trained model by default where the hub answers (a local stand-in here), the labelled test
// models at once offline; the keyboard; a 375 px phone layout; no axe violations.
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { startModelServer } from '../helpers/model-server.js';
import { textGenerator } from '../../tools/fixtures/corpus.js';

const DEMO = process.env.DEMO_URL ?? 'http://127.0.0.1:5173/';
const SHOTS = join(import.meta.dirname, '../../test-results/screenshots');
mkdirSync(SHOTS, { recursive: true });
/** Screenshots; NOTES_DIR (the notes) gets a copy. */
async function shot(page: Page, name: string) {
  const path = join(SHOTS, `demo-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  if (process.env.NOTES_DIR) copyFileSync(path, join(process.env.NOTES_DIR, `demo-${name}.png`));
}
const SAMPLES_DIR = join(import.meta.dirname, '../../demo/public/samples');
const sampleText = Object.fromEntries(readdirSync(SAMPLES_DIR).filter((f) => f.endsWith('.md')).map((f) => [f, readFileSync(join(SAMPLES_DIR, f), 'utf8')]));
/** Sample paragraphs: blank-line blocks that are not headings alone (those join the next block). */
const SAMPLE_ROWS = Object.values(sampleText).flatMap((t) => t.split(/\n\s*\n/).filter((b) => !b.trim().split('\n').every((l) => /^#+\s/.test(l)))).length;

async function open(page: Page, query = '?model=fixture-tiny&device=wasm') {
  page.on('pageerror', (e) => console.log('page error:', e.message));
  await page.goto(DEMO + query);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
}

async function noAxeViolations(page: Page) {
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((v) => `${v.id} (${v.impact}): ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)).toEqual([]);
}

test('first screen, sample documents, search that follows, all collections, results that read like search, the map', async ({ page }) => {
  test.setTimeout(120_000);
  await page.setViewportSize({ width: 1200, height: 900 });
  await open(page);
  // What it does in one sentence, then the sample button and the drop zone; diagnostics folded away.
  await expect(page.locator('#lede')).toContainText('Search your own documents by meaning');
  for (const id of ['#sample', '#drop']) expect((await page.locator(id).boundingBox())!.y).toBeLessThan(400);
  await expect(page.locator('#diagnostics')).not.toHaveAttribute('open');
  await expect(page.locator('#caps')).toBeHidden();
  await expect(page.locator('#map-block')).toBeHidden(); // no empty map before there is a collection
  await shot(page, 'first-screen');
  await noAxeViolations(page);

  await page.click('#sample');
  await expect(page.locator('#progress-text')).toHaveText(`Done: 100%, ${SAMPLE_ROWS} documents stored in "samples".`, { timeout: 60_000 });
  await expect(page.locator('#search-collection')).toHaveValue('samples');
  await expect(page.locator('#suggestions button')).toHaveCount(5);
  // The map: one point per row, one colour per file.
  await expect(page.locator('#map circle.point')).toHaveCount(SAMPLE_ROWS);
  await expect(page.locator('#map .map-legend li')).toHaveCount(6);

  // A second collection, embedded with Enter in its name field: search follows it.
  await page.fill('#paste', 'a note about sourdough bread\n\na note about a telescope\n\na note about a garden');
  await page.fill('#collection', 'notes');
  await page.focus('#collection');
  await page.keyboard.press('Enter');
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 3 documents stored in "notes".', { timeout: 60_000 });
  await expect(page.locator('#search-collection')).toHaveValue('notes');
  await expect(page.locator('#map circle.point')).toHaveCount(3);

  // All collections, searched as the query is typed (no Enter, no button).
  await page.selectOption('#search-collection', { label: 'All collections (2)' });
  await page.fill('#k', '40');
  await page.locator('#query').pressSequentially('bread', { delay: 30 });
  await expect(page.locator('#results li.hit')).toHaveCount(SAMPLE_ROWS + 3, { timeout: 15_000 });
  const groups = await page.locator('#results h3').allTextContents();
  expect(groups).toContain('bread-baking.md in samples');
  expect(groups).toContain('pasted text in notes');
  expect(groups).toHaveLength(7); // grouped by document: six sample files and the pasted text
  await expect(page.locator('#search-status')).toHaveText(/results in \d+ ms from 2 collections\.$/);
  const titles = await page.locator('#results .title').allTextContents();
  expect(titles).toContain('bread-baking.md, paragraph 1');
  expect(titles).toContain('pasted text, paragraph 1');
  expect(titles.every((t) => /^[\w.-]+( text)?, paragraph [1-9]\d*$/.test(t))).toBe(true);
  expect(titles.some((t) => t.endsWith('paragraph 0'))).toBe(false);
  // Query words highlighted; a relevance bar per hit and no raw cosine on the page.
  await expect(page.locator('#results mark').first()).toHaveText(/^bread$/i);
  await expect(page.locator('#results .rel-bar')).toHaveCount(SAMPLE_ROWS + 3);
  expect(await page.locator('#results').innerText()).not.toMatch(/\b0\.\d{3}\b/);
  // Snippets are cut at word boundaries, with an ellipsis where cut.
  const allText = Object.values(sampleText).join('\n\n').replace(/^#+\s+/gm, '').replace(/\s+/g, ' ');
  const snippets = await page.locator('#results .snippet').allTextContents();
  expect(snippets.some((s) => s.endsWith(' …'))).toBe(true);
  for (const s of snippets.filter((s) => s.includes('…'))) {
    const core = s.replace(/^… /, '').replace(/ …$/, '');
    const at = allText.indexOf(core);
    expect(at, s).toBeGreaterThanOrEqual(0);
    if (s.startsWith('… ')) expect(allText[at - 1]).toBe(' ');
    if (s.endsWith(' …')) expect(allText[at + core.length]).toMatch(/[ ,;:]/);
  }
  // Headings stay with their sections: a hit shows its section's heading; no row is a heading alone.
  await expect(page.locator('#results .hit-head').filter({ hasText: 'bread-baking.md, paragraph 2' })).toContainText('Kneading and the first rise');

  // Only the samples: a suggested query, the paragraph in context, the query and its hits on the map.
  await page.locator('#suggestions button', { hasText: 'how do I bake bread' }).click();
  await expect(page.locator('#search-collection')).toHaveValue('samples');
  await page.fill('#k', '5');
  await page.click('#search-button');
  await expect(page.locator('#results li.hit')).toHaveCount(5);
  await expect(page.locator('#map circle.point')).toHaveCount(SAMPLE_ROWS);
  await expect(page.locator('#map circle.hit')).toHaveCount(5);
  await expect(page.locator('#map .query-star')).toHaveCount(1);
  await expect(page.locator('#map line')).toHaveCount(5);
  await page.locator('#results details.context summary').first().click();
  await expect(page.locator('#results .context-body p.current').first()).toBeVisible();
  expect(await page.locator('#results details.context').first().locator('.context-body p').count()).toBeGreaterThanOrEqual(2);
  await page.locator('#map circle.point').nth(3).hover();
  await expect(page.locator('#map-tip')).toContainText(/\.md, paragraph \d+/);
  await shot(page, 'desktop-search');
  await noAxeViolations(page);
});

test('a phone (375 px): nothing wider than the screen, controls 24 px tall or more, results right after the search box', async ({ page }) => {
  await page.setViewportSize({ width: 375, height: 800 });
  await open(page);
  await shot(page, 'phone-first-screen');
  await page.click('#sample');
  await expect(page.locator('#progress-text')).toContainText('Done: 100%', { timeout: 60_000 });
  await page.locator('#suggestions button').first().click();
  await expect(page.locator('#results li.hit').first()).toBeVisible();
  const widths = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth }));
  expect(widths.scroll).toBeLessThanOrEqual(widths.client);
  const small = await page.evaluate(() => [...document.querySelectorAll('button, input, select, textarea, summary')]
    .filter((e) => (e as HTMLElement).offsetParent !== null)
    .map((e) => ({ what: `${e.tagName} ${e.id || e.textContent!.slice(0, 30)}`, h: e.getBoundingClientRect().height, right: e.getBoundingClientRect().right }))
    .filter((c) => c.h < 24 || c.right > 375));
  expect(small).toEqual([]);
  const query = (await page.locator('#query').boundingBox())!;
  const results = (await page.locator('#results').boundingBox())!;
  expect(results.y - (query.y + query.height)).toBeLessThan(150); // Top k and Search, then the count
  await shot(page, 'phone-search');
  await page.locator('#search-title').evaluate((e) => e.scrollIntoView());
  await page.screenshot({ path: join(SHOTS, 'demo-phone-search-viewport.png') });
  if (process.env.NOTES_DIR) copyFileSync(join(SHOTS, 'demo-phone-search-viewport.png'), join(process.env.NOTES_DIR, 'demo-phone-search-viewport.png'));
  await noAxeViolations(page);
});

test('keyboard: Enter and Space on the drop zone open the picker; files removable; the list clears', async ({ page }) => {
  await open(page);
  // The file chooser is intercepted once a listener exists: listen first, then press.
  const opened = page.waitForEvent('filechooser', { timeout: 10_000 });
  await page.focus('#drop');
  await expect(page.locator('#drop')).toBeFocused();
  await page.keyboard.press('Enter');
  const chooser = await opened;
  await chooser.setFiles([
    { name: 'a.md', mimeType: 'text/markdown', buffer: Buffer.from('# A\n\nalpha text') },
    { name: 'b.txt', mimeType: 'text/plain', buffer: Buffer.from('beta text') },
    { name: 'c.png', mimeType: 'image/png', buffer: Buffer.from([0x89, 0x50, 0x4e, 0x47]) },
  ]);
  await expect(page.locator('#file-count')).toHaveText('3 files ready, 1 of them not supported yet (old .doc, other Office files and images are skipped)');
  await expect(page.locator('#file-list li').nth(2)).toContainText('not supported yet');
  // Removable with the keyboard alone: Tab reaches each file's Remove button, Enter removes it, focus goes back to the drop zone.
  await page.focus('#drop');
  for (let i = 0; i < 10 && !(await page.evaluate(() => document.activeElement?.getAttribute('aria-label') === 'Remove b.txt')); i++) await page.keyboard.press('Tab');
  await expect(page.getByRole('button', { name: 'Remove b.txt' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.locator('#file-list li')).toHaveCount(2);
  await expect(page.locator('#file-list')).not.toContainText('b.txt');
  await expect(page.locator('#drop')).toBeFocused();
  const again = page.waitForEvent('filechooser', { timeout: 10_000 });
  await page.focus('#drop');
  await page.keyboard.press(' ');
  await again;
  await page.click('#clear-files');
  await expect(page.locator('#file-list li')).toHaveCount(0);
  await expect(page.locator('#file-count')).toHaveText('');
});

test('a reload mid-run says "interrupted, N of M stored" with Resume on that row; the CSV and JSONL hold every row with its full text', async ({ page }) => {
  test.setTimeout(120_000);
  const gen = textGenerator(2727);
  const docs = Array.from({ length: 144 }, (_, i) => `${gen.text(gen.between(6, 12))}, "quoted", line ${i}`);
  await open(page, '?model=fixture-minilm&device=wasm');
  await page.fill('#paste', docs.join('\n\n'));
  await page.fill('#collection', 'cut');
  // Reload the moment progress reads 30% or more, as a user closing the tab mid-run.
  await page.evaluate(() => {
    const text = document.getElementById('progress-text')!;
    new MutationObserver(() => { if (Number(text.textContent!.match(/^(\d+)%/)?.[1] ?? -1) >= 30) location.reload(); })
      .observe(text, { childList: true, characterData: true, subtree: true });
  });
  await Promise.all([page.waitForEvent('framenavigated', { timeout: 60_000 }), page.click('#embed')]);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
  await expect(page.locator('#collections li').filter({ hasText: 'cut' })).toContainText(/interrupted, [1-9]\d* of 144 stored/);
  await shot(page, 'interrupted');
  await page.locator('#collections li').filter({ hasText: 'cut' }).getByRole('button', { name: 'Resume cut' }).click();
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 144 documents stored in "cut".', { timeout: 90_000 });

  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download cut.csv' }).click()]);
  const text = readFileSync((await csv.path())!, 'utf8');
  const header = text.split('\r\n')[0]!.split(',');
  expect(header.slice(0, 6)).toEqual(['id', 'title', 'source', 'paragraph', 'heading', 'text']);
  for (const doc of docs) expect(text).toContain(`"${doc.replace(/"/g, '""')}"`); // quoted, since each has a comma and quotes
  const [jsonl] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download cut.jsonl' }).click()]);
  const rows = readFileSync((await jsonl.path())!, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  expect(rows.map((r) => r.text).sort()).toEqual([...docs].sort());
  expect(new Set(rows.map((r) => r.id)).size).toBe(144);
  expect(rows[0].embedding).toHaveLength(384);
  await expect(page.locator('#load-help')).toContainText('pd.read_json');
});

test('models: the trained model by default where the hub answers, cached by the service worker and used without the hub; offline with nothing stored, the labelled test models at once', async ({ page, context }) => {
  test.setTimeout(120_000);
  // A stand-in for the hub: the quantized MiniLM-sized fixture served as Xenova/all-MiniLM-L6-v2.
  let url = '';
  const hub = await startModelServer((path, _req, res) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    const m = path.match(/^Xenova\/all-MiniLM-L6-v2\/resolve\/main\/(.+)$/);
    if (!m) return false;
    try {
      res.end(readFileSync(join(import.meta.dirname, '../../models/fixture-minilm-quantized', m[1]!)));
    } catch {
      res.statusCode = 404;
      res.end();
    }
    return true;
  });
  try {
    url = `?device=wasm&hub=${encodeURIComponent(hub.base + '/')}`;
    await open(page, url);
    await page.evaluate(() => navigator.serviceWorker.ready);
    await open(page, url); // now under the service worker, which caches the model as it is downloaded
    await expect(page.locator('#model')).toHaveValue('Xenova/all-MiniLM-L6-v2');
    await expect(page.locator('#model-note')).toContainText('trained model');
    expect(await page.locator('#model optgroup').evaluateAll((g) => g.map((e) => (e as HTMLOptGroupElement).label))).toEqual(
      ['Trained model (downloaded once, then offline)', 'Test models (random weights: results are not meaningful)']);
    await page.fill('#paste', 'a note about rivers\n\na note about gardens');
    await page.fill('#collection', 'trained');
    await page.click('#embed');
    await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 2 documents stored in "trained".', { timeout: 60_000 });
    await expect(page.locator('#reasons')).toContainText('Running on wasm (q8)');
    await expect(page.locator('#collections')).toContainText('Xenova/all-MiniLM-L6-v2');
    await expect(page.locator('#offline-models')).toContainText('Xenova/all-MiniLM-L6-v2');
  } finally {
    await hub.close();
  }
  // The hub is gone: the stored trained model is still the default, and embeds from the cache.
  await open(page, url);
  await expect(page.locator('#model')).toHaveValue('Xenova/all-MiniLM-L6-v2');
  await expect(page.locator('#model-note')).toHaveText('all-MiniLM-L6-v2 (trained) is stored on this device: available offline.');
  await page.fill('#paste', 'stored model, first\n\nstored model, second\n\nthird');
  await page.fill('#collection', 'stored');
  await page.click('#embed');
  await expect(page.locator('#progress-text')).toHaveText(/^(Done|Failed)/, { timeout: 60_000 });
  await expect(page.locator('#error')).toBeHidden();
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 3 documents stored in "stored".');

  // A fresh page offline, nothing of the trained model stored: said at once, test models offered.
  const fresh = await context.browser()!.newContext();
  const offline = await fresh.newPage();
  await offline.goto(DEMO);
  await offline.evaluate(() => navigator.serviceWorker.ready);
  await offline.reload();
  await expect(offline.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
  await fresh.setOffline(true);
  await offline.reload();
  await expect(offline.locator('#model-note')).toContainText('This device is offline and the trained model is not stored on it', { timeout: 1000 });
  await expect(offline.locator('#model-note')).toContainText('random weights');
  await expect(offline.locator('#model')).toHaveValue('fixture-tiny');
  await shot(offline, 'offline-models');
  await fresh.close();
});
