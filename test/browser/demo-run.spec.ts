// Issue 27: the run panel (download, warm-up, embed, save as steps with honest states, an ETA only
// once there is enough work behind it, the last run's steps cleared by the next), the map placed by
// UMAP for a small set (seeded: the same map twice) and by PCA above the limit, and the benchmark
// as a tab with controls, a chart, and the chart as a PNG.
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { textGenerator } from '../../tools/fixtures/corpus.js';

const DEMO = process.env.DEMO_URL ?? 'http://127.0.0.1:5173/';
const SHOTS = join(import.meta.dirname, '../../test-results/screenshots');
mkdirSync(SHOTS, { recursive: true });
/** Screenshots; NOTES_DIR gets a copy. */
async function shot(page: Page, name: string) {
  const path = join(SHOTS, `demo27-${name}.png`);
  await page.screenshot({ path, fullPage: true });
  if (process.env.NOTES_DIR) copyFileSync(path, join(process.env.NOTES_DIR, `demo27-${name}.png`));
}
const SAMPLES_DIR = join(import.meta.dirname, '../../demo/public/samples');
const SAMPLE_ROWS = readdirSync(SAMPLES_DIR).filter((f) => f.endsWith('.md'))
  .flatMap((f) => readFileSync(join(SAMPLES_DIR, f), 'utf8').split(/\n\s*\n/).filter((b) => !b.trim().split('\n').every((l) => /^#+\s/.test(l)))).length;

async function open(page: Page, query = '?model=fixture-tiny&device=wasm') {
  page.on('pageerror', (e) => console.log('page error:', e.message));
  await page.goto(DEMO + query);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
}

const step = (page: Page, name: string) => page.locator(`#run-steps li[data-step="${name}"]`);

/** Records every change of a step's state ("embed:active") and every text of the embed step's detail. */
async function recordSteps(page: Page) {
  await page.evaluate(() => {
    const w = window as unknown as { stepLog: string[]; embedDetails: string[] };
    w.stepLog = [];
    w.embedDetails = [];
    // A record holds the old value; the new one is the next record's old value for that step, or its state now.
    new MutationObserver((records) => records.forEach((r, i) => {
      const next = records.slice(i + 1).find((x) => x.target === r.target);
      w.stepLog.push(`${(r.target as HTMLElement).dataset.step}:${next ? next.oldValue : (r.target as HTMLElement).dataset.state}`);
    })).observe(document.getElementById('run-steps')!, { attributes: true, attributeFilter: ['data-state'], attributeOldValue: true, subtree: true });
    const detail = document.querySelector('#run-steps li[data-step="embed"] .step-detail')!;
    new MutationObserver(() => w.embedDetails.push(detail.textContent!)).observe(detail, { childList: true, characterData: true, subtree: true });
  });
}
const stepLog = (page: Page) => page.evaluate(() => (window as unknown as { stepLog: string[] }).stepLog.splice(0));
const embedDetails = (page: Page) => page.evaluate(() => (window as unknown as { embedDetails: string[] }).embedDetails.splice(0));

test('the run panel: download, warm-up, embed, save as steps with honest states; an ETA only after enough work; the next run starts from a clean panel', async ({ page, context }) => {
  test.setTimeout(180_000);
  const gen = textGenerator(2728);
  const docs = Array.from({ length: 600 }, (_, i) => `${gen.text(gen.between(10, 30))} (${i})`);
  await open(page, '?model=fixture-minilm&device=wasm');
  await expect(page.locator('#run-steps')).toBeHidden(); // no empty panel before the first run
  await recordSteps(page);
  await page.fill('#paste', docs.join('\n\n'));
  await page.fill('#collection', 'steps');
  await page.click('#embed');
  // Mid-run: the model is loaded and warm, the embedding is under way, nothing is claimed saved yet.
  await expect(step(page, 'embed')).toHaveAttribute('data-state', 'active', { timeout: 60_000 });
  await expect(step(page, 'download')).toHaveAttribute('data-state', 'done');
  // WASM compiles no kernels ahead: the warm-up says it was not needed, rather than claiming work done.
  await expect(step(page, 'warmup')).toHaveAttribute('data-state', 'skipped');
  await expect(step(page, 'warmup')).toContainText('not needed');
  await expect(step(page, 'save')).toHaveAttribute('data-state', 'pending');
  await expect(step(page, 'save')).toContainText('waiting');
  await expect(step(page, 'embed').locator('.step-detail')).toContainText(/\d+ of 600 documents/);
  await shot(page, 'run-panel-mid-run');
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 600 documents stored in "steps".', { timeout: 120_000 });
  for (const s of ['download', 'embed', 'save']) await expect(step(page, s)).toHaveAttribute('data-state', 'done');
  await expect(step(page, 'download').locator('.step-detail')).toHaveText(/^[\d.]+ MB in [\d.]+ s$/);
  await expect(step(page, 'save').locator('.step-detail')).toHaveText(/^600 rows, [\d.]+ [KM]B in this browser's storage \(OPFS\)$/);
  expect(await stepLog(page)).toEqual([
    'download:active', 'download:done', 'warmup:skipped', 'embed:active', 'embed:done', 'save:active', 'save:done',
  ]);
  // The ETA: never before a tenth of the work (or 32 documents) is done; the first count has none.
  const counted = (await embedDetails(page)).map((d) => ({ d, done: Number(d.match(/^(\d+) of 600 documents/)?.[1] ?? NaN) })).filter((x) => !Number.isNaN(x.done));
  expect(counted.length).toBeGreaterThan(0);
  expect(counted[0]!.d).not.toContain('ETA');
  for (const { d, done } of counted) if (d.includes('ETA')) expect(done, d).toBeGreaterThanOrEqual(32);
  expect(counted.some(({ d }) => /, ETA \d+ (s|min \d+ s)$/.test(d))).toBe(true); // and then it is shown (the run takes tens of seconds here)
  await shot(page, 'run-panel-done');

  // A second run: every step back to waiting first (the last run's "done" gone), then the model this page already holds.
  await page.fill('#paste', 'one more\n\nand another');
  await page.fill('#collection', 'steps-2');
  await page.click('#embed');
  await expect(page.locator('#progress-text')).toHaveText('Done: 100%, 2 documents stored in "steps-2".', { timeout: 60_000 });
  const second = await stepLog(page);
  expect(second.slice(0, 4)).toEqual(['download:pending', 'warmup:pending', 'embed:pending', 'save:pending']);
  expect(second.slice(4)).toEqual(['download:active', 'download:done', 'warmup:skipped', 'embed:active', 'embed:done', 'save:active', 'save:done']);
  await expect(step(page, 'download').locator('.step-detail')).toHaveText('already loaded in this page');

  // A run that cannot get its model: the download step fails, saying why; the others stay waiting.
  await context.setOffline(true);
  await page.selectOption('#model', 'Xenova/all-MiniLM-L6-v2');
  await page.fill('#collection', 'no-model');
  await page.click('#embed');
  await expect(step(page, 'download')).toHaveAttribute('data-state', 'failed');
  await expect(step(page, 'download')).toContainText('failed');
  await expect(step(page, 'download').locator('.step-detail')).toContainText('while offline');
  for (const s of ['warmup', 'embed', 'save']) await expect(step(page, s)).toHaveAttribute('data-state', 'pending');
  await context.setOffline(false);
});

test('the map: UMAP (seeded: the same map twice) for the sample set, PCA above the limit; one point per row, the query a star with lines to its hits', async ({ page }) => {
  test.setTimeout(120_000);
  await page.setViewportSize({ width: 1200, height: 900 });
  await open(page);
  await page.click('#sample');
  await expect(page.locator('#progress-text')).toHaveText(`Done: 100%, ${SAMPLE_ROWS} documents stored in "samples".`, { timeout: 60_000 });
  const svg = page.locator('#map-svg');
  await expect(svg).toHaveAttribute('data-projection', 'umap');
  await expect(page.locator('#map circle.point')).toHaveCount(SAMPLE_ROWS);
  await expect(svg).toHaveAttribute('aria-label', /placed by UMAP$/);
  await expect(page.locator('#map-projection')).toContainText('UMAP');
  const positions = () => page.locator('#map circle.point').evaluateAll((cs) => cs.map((c) => `${c.getAttribute('cx')},${c.getAttribute('cy')}`));
  const first = await positions();
  expect(new Set(first).size).toBeGreaterThan(SAMPLE_ROWS / 2); // spread out, not piled up
  await page.locator('#suggestions button', { hasText: 'how do I bake bread' }).click();
  await expect(page.locator('#results li.hit')).toHaveCount(5);
  await expect(page.locator('#map circle.hit')).toHaveCount(5);
  await expect(page.locator('#map .query-star')).toHaveCount(1);
  await expect(page.locator('#map g.links line')).toHaveCount(5);
  await page.locator('#map circle.point').nth(2).hover();
  await expect(page.locator('#map-tip')).toContainText(/\.md, paragraph \d+/);
  await shot(page, 'map-umap');

  // The same rows, drawn again in a fresh page: the same places (the layout is seeded).
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
  await expect(page.locator('#map circle.point')).toHaveCount(SAMPLE_ROWS);
  await expect(page.locator('#map-svg')).toHaveAttribute('data-projection', 'umap');
  expect(await positions()).toEqual(first);

  // Above the UMAP limit (lowered here by ?umapMax), PCA; the star and its lines stay.
  await open(page, '?model=fixture-tiny&device=wasm&umapMax=10');
  await expect(page.locator('#map-svg')).toHaveAttribute('data-projection', 'pca');
  await expect(page.locator('#map circle.point')).toHaveCount(SAMPLE_ROWS);
  await page.fill('#query', 'bread');
  await page.click('#search-button');
  await expect(page.locator('#map .query-star')).toHaveCount(1);
  await expect(page.locator('#map circle.hit')).toHaveCount(5);
});

test('the benchmark tab: the picker\'s model and label, a tiny run with the fixture, the chart, and the chart as a valid PNG', async ({ page }) => {
  test.setTimeout(180_000);
  await page.setViewportSize({ width: 1200, height: 900 });
  await open(page);
  await expect(page.locator('#bench-section')).toBeHidden();
  await page.getByRole('tab', { name: 'Benchmark' }).click();
  await expect(page.locator('#bench-section')).toBeVisible();
  await expect(page.locator('#panel-app')).toBeHidden();
  await expect(page.getByRole('tab', { name: 'Benchmark' })).toHaveAttribute('aria-selected', 'true');
  // The model is the picker's, under the picker's label; a change here is the picker's too.
  await expect(page.locator('#bench-model')).toHaveValue('fixture-tiny');
  const pickerLabel = await page.locator('#model option:checked').textContent();
  expect(await page.locator('#bench-model option:checked').textContent()).toBe(pickerLabel);
  await page.selectOption('#bench-model', 'fixture-minilm');
  await expect(page.locator('#model')).toHaveValue('fixture-minilm');
  await page.selectOption('#bench-model', 'fixture-tiny');
  await page.selectOption('#bench-device', 'wasm');
  await page.fill('#bench-texts', '16');
  await page.fill('#bench-runs', '1');
  await page.click('#bench-run');
  await expect(page.locator('#bench-status')).toHaveText(/^Done: bulk-embed [\d.]+x the texts\/s of transformers\.js on wasm, median of 1 runs\.$/, { timeout: 120_000 });
  await expect(page.locator('#bench-log li')).toHaveCount(2);
  await expect(page.locator('#bench-chart .bar-row')).toHaveCount(2);
  const label = pickerLabel!.replace(/ · offline$/, '');
  await expect(page.locator('#bench-chart')).toContainText(`texts per second, ${label}, 16 texts, median of 1 runs`);
  await expect(page.locator('#bench-table caption')).toContainText(label);
  await shot(page, 'bench-tab');
  const axe = await new AxeBuilder({ page }).analyze();
  expect(axe.violations.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`)).toEqual([]);

  const [png] = await Promise.all([page.waitForEvent('download'), page.click('#bench-png')]);
  expect(png.suggestedFilename()).toBe('bench-wasm-fixture-tiny.png');
  const bytes = readFileSync((await png.path())!);
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  expect(bytes.subarray(12, 16).toString()).toBe('IHDR');
  expect([bytes.readUInt32BE(16), bytes.readUInt32BE(20)]).toEqual([960, 360]);
  expect(bytes.length).toBeGreaterThan(5000); // drawn, not blank
  copyFileSync((await png.path())!, join(SHOTS, 'demo27-bench-chart.png'));
  if (process.env.NOTES_DIR) copyFileSync((await png.path())!, join(process.env.NOTES_DIR, 'demo27-bench-chart.png'));

  // On a phone, the tab fits: nothing wider than the screen.
  await page.setViewportSize({ width: 375, height: 800 });
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth)).toBe(true);

  // Back to the app with the keyboard: the tabs answer the arrow keys.
  await page.getByRole('tab', { name: 'Benchmark' }).focus();
  await page.keyboard.press('ArrowLeft');
  await expect(page.locator('#panel-app')).toBeVisible();
  await expect(page.getByRole('tab', { name: 'Embed and search' })).toBeFocused();
});
