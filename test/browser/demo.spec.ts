// The demo as a user meets it: drop a file of 500 documents, embed, watch progress reach 100%,
// search a word only one document has, download the Arrow file; then offline after one visit;
// screenshots of the main states; and an accessibility check.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { tableFromIPC } from '@uwdata/flechette';
import { expect, test, type Page } from '@playwright/test';
import { textGenerator } from '../../tools/fixtures/corpus.js';

const DEMO = process.env.DEMO_URL ?? 'http://127.0.0.1:5173/';
const SHOTS = join(import.meta.dirname, '../../test-results/screenshots');
mkdirSync(SHOTS, { recursive: true });
const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `demo-${name}.png`), fullPage: true });

const gen = textGenerator(6006);
const UNIQUE = 'zebraquartzite';
const docs = Array.from({ length: 500 }, (_, i) => ({ id: `doc-${i}`, text: i === 137 ? `${gen.text(12)} ${UNIQUE} ${gen.text(10)}` : gen.text(gen.between(8, 40)), topic: `t${i % 5}` }));
const jsonl = docs.map((d) => JSON.stringify(d)).join('\n') + '\n';

async function open(page: Page, query = '?model=fixture-tiny&device=wasm') {
  page.on('pageerror', (e) => console.log('page error:', e.message));
  await page.goto(DEMO + query);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
}

test('a user drops 500 documents, embeds them, finds the one with a rare word first, downloads the Arrow file', async ({ page }) => {
  // The MiniLM-sized fixture: its 30,522-token vocabulary gives a rare word distinctive pieces.
  // (The fixtures are untrained bags of word pieces: on 12 seeded corpora like this one the rare
  // word's document ranks first 10 times and second twice; this corpus's seed is fixed.)
  await open(page, '?model=fixture-minilm&device=wasm');
  await shot(page, '1-start');
  const transfer = await page.evaluateHandle((content) => {
    const dt = new DataTransfer();
    dt.items.add(new File([content], 'docs.jsonl', { type: 'application/x-ndjson' }));
    return dt;
  }, jsonl);
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
  await expect(page.locator('#file-count')).toHaveText('1 file ready');
  await expect(page.locator('#file-list')).toContainText('docs.jsonl');
  await page.fill('#collection', 'docs');
  await page.click('#embed');
  await expect(page.locator('#progress-text')).toContainText('%', { timeout: 60_000 });
  await shot(page, '2-progress');
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 500 documents stored in "docs".', { timeout: 120_000 });
  expect(await page.locator('#progress').evaluate((p: HTMLProgressElement) => p.value)).toBe(1);
  await expect(page.locator('#collections')).toContainText('500 of 500 stored');

  await page.selectOption('#search-collection', 'docs');
  await page.fill('#query', UNIQUE);
  await page.click('#search-form button[type=submit]');
  await expect(page.locator('#results li').first()).toContainText('docs.jsonl, doc-137');
  await expect(page.locator('#results li').first()).toContainText(UNIQUE);
  await shot(page, '3-search');

  const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download docs.arrow' }).click()]);
  const path = join(SHOTS, '..', 'docs.arrow');
  await download.saveAs(path);
  const table = tableFromIPC(readFileSync(path));
  expect(table.numRows).toBe(500);
  expect(new Set(table.getChild('id')!.toArray() as string[])).toEqual(new Set(docs.map((d) => `docs.jsonl:${d.id}`)));
  expect(table.getChild('topic')!.at(0)).toMatch(/^t\d$/);

  const axe = await new AxeBuilder({ page }).analyze();
  const serious = axe.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)).toEqual([]);
});

test('after one visit the demo loads and embeds 50 documents offline', async ({ page, context }) => {
  await open(page);
  // First visit: the service worker installs (precaching the app, the wasm and the models) and takes control.
  await page.evaluate(() => navigator.serviceWorker.ready);
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
  expect(await page.evaluate(() => navigator.serviceWorker.controller !== null)).toBe(true);

  await context.setOffline(true);
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
  await expect(page.locator('#caps')).toContainText('offline');
  await page.fill('#paste', docs.slice(0, 50).map((d) => d.text).join('\n\n'));
  await page.fill('#collection', 'offline');
  await page.click('#embed');
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 50 documents stored in "offline".', { timeout: 120_000 });
  await shot(page, '4-offline-done');
  await context.setOffline(false);
});

test('the page is usable by keyboard', async ({ page }) => {
  await open(page);
  await page.fill('#paste', 'first document about rivers\n\nsecond document about gardens');
  await page.fill('#collection', 'keyboard');
  await page.focus('#embed');
  await page.keyboard.press('Enter');
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 2 documents stored in "keyboard".', { timeout: 60_000 });
  await page.focus('#query');
  await page.keyboard.type('gardens');
  await page.keyboard.press('Enter');
  await expect(page.locator('#results li').first()).toContainText('pasted text, paragraph 2');
});

test('a run cut by a reload resumes where it stopped, with every document once', async ({ page }) => {
  await open(page, '?model=fixture-minilm&device=wasm');
  await page.fill('#paste', docs.slice(0, 300).map((d) => d.text).join('\n\n'));
  await page.fill('#collection', 'resumable');
  await page.click('#embed');
  await expect(page.locator('#progress-text')).toContainText(/^[1-9]\d?%/, { timeout: 60_000 });
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
  await expect(page.locator('#collections')).toContainText(/resumable interrupted, \d+ of 300 stored/);
  await page.getByRole('button', { name: 'Resume resumable' }).click();
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 300 documents stored in "resumable".', { timeout: 120_000 });
  await expect(page.locator('#collections')).toContainText('300 of 300 stored');
  await shot(page, '5-resumed');
});
