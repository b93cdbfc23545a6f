// The benchmark report (bench/report.ts, `npm run bench:report`) in headless Chromium: rendered
// from a small known history, opened as a file (the page must need no server and no network), its
// charts show the data's values: axis labels, bar lengths proportional to texts/s, one trend point
// a run, the bound line, the RSS curve and the search points. Seconds: no model, no build.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect, test } from '@playwright/test';
import type { Gate, HistoryLine } from '../../bench/history.js';
import { renderReport } from '../../bench/report.js';

const gates: Record<string, Gate> = {
  engineVsTransformersJs: { label: 'engine / transformers.js, Node CPU', part: 'node', min: 3, measuredMedian: 4.2, margin: 'test', why: 'test' },
  rssGrowth20Kto200K: { label: 'RSS growth 20K to 200K records', part: 'stream', max: 0.4, measuredMedian: 0.2, margin: 'test', why: 'test' },
};

/** A run with the given figures and the details each chart draws. */
const line = (commit: string, engineVsTjs: number, rssGrowth: number): HistoryLine => ({
  commit, date: '2026-11-26T05:00:00.000Z', wallSeconds: 200, partSeconds: {},
  machine: { cores: 2, cpu: 'Test CPU', memoryGb: 8, node: 'v20', platform: 'linux-x64' },
  figures: { engineVsTransformersJs: engineVsTjs, rssGrowth20Kto200K: rssGrowth },
  verdicts: { engineVsTransformersJs: engineVsTjs >= 3 ? 'pass' : 'FAIL', rssGrowth20Kto200K: 'pass' },
  details: {
    node: { texts: 200, textsPerSec: { engine: 150, transformersJs: 30, ceiling: 160 } },
    browser: { texts: 32, textsPerSec: { engine: 24, transformersJs: 3 } },
    stream: { rssMbAt: { 20000: 200, 100000: 230, 200000: 240 } },
    search: { vectors: 100000, layouts: [
      { layout: 'float16, exact', medianQuerySeconds: 0.12, recallAt10: 1 },
      { layout: 'binary + rescoring (float16 copy)', medianQuerySeconds: 0.015, recallAt10: 0.99 },
    ] },
  },
});

test('the report page draws the history\'s values', async ({ page }) => {
  const history = [line('aaaaaaa1', 4.1, 0.2), line('bbbbbbb2', 4.4, 0.21), line('ccccccc3', 2.5, 0.2)];
  const dir = resolve('test-results', 'bench-report');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'report.html');
  writeFileSync(file, renderReport(history, gates));
  const requests: string[] = [];
  page.on('request', (r) => { if (!r.url().startsWith('file:')) requests.push(r.url()); });
  await page.goto(pathToFileURL(file).href);

  // The verdict table: the latest run's values, and its failing figure marked.
  await expect(page.locator('#verdicts tbody tr')).toHaveCount(2);
  await expect(page.locator('#verdicts tbody tr').first()).toContainText('2.5');
  await expect(page.locator('#verdicts tbody tr').first()).toContainText('FAIL');

  // Trend: one point a run, in order, the bound's dashed line, y axis labels around the data.
  const trend = page.locator('#trend-engineVsTransformersJs');
  await expect(trend.locator('circle.point')).toHaveCount(3);
  expect(await trend.locator('circle.point').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))))).toEqual([4.1, 4.4, 2.5]);
  const ys = await trend.locator('circle.point').evaluateAll((els) => els.map((e) => Number(e.getAttribute('cy'))));
  expect(ys[1]).toBeLessThan(ys[0]!); // higher value, higher on the page
  expect(ys[2]).toBeGreaterThan(ys[0]!);
  await expect(trend.locator('line.bound')).toHaveAttribute('data-value', '3');
  const yMin = Number(await trend.locator('text.y-min').textContent());
  const yMax = Number(await trend.locator('text.y-max').textContent());
  expect(yMin).toBeLessThan(2.5);
  expect(yMax).toBeGreaterThan(4.4);
  expect(yMax).toBeLessThan(5);
  await expect(trend.locator('text.x-tick')).toHaveText(['aaaaaaa', 'bbbbbbb', 'ccccccc']);

  // Bars: lengths proportional to texts/s, as rendered (the rectangles' on-screen widths).
  const widths = async (id: string) => page.locator(`#${id} rect.bar`).evaluateAll((els) => els.map((e) => e.getBoundingClientRect().width));
  const node = await widths('bars-node');
  expect(node).toHaveLength(3);
  expect(node[0]! / node[1]!).toBeCloseTo(150 / 30, 2);
  expect(node[2]! / node[0]!).toBeCloseTo(160 / 150, 2);
  await expect(page.locator('#bars-node text.bar-value').first()).toHaveText('150 texts/s');
  await expect(page.locator('#bars-node text.x-max')).toHaveText('160');
  const browser = await widths('bars-browser');
  expect(browser[0]! / browser[1]!).toBeCloseTo(24 / 3, 2);

  // The RSS curve: its three milestones, first and last labelled on the x axis.
  const rss = page.locator('#rss-curve');
  expect(await rss.locator('circle.point').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))))).toEqual([200, 230, 240]);
  await expect(rss.locator('text.x-tick')).toHaveText(['20K', '200K']);

  // Search: one point a layout, no line joining them; recall on the y axis.
  const search = page.locator('#search-points');
  expect(await search.locator('circle.point').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-value'))))).toEqual([1, 0.99]);
  await expect(search.locator('path.line')).toHaveCount(0);
  await expect(page.locator('#search-table')).toContainText('120');

  expect(requests).toEqual([]); // self-contained: nothing fetched
});
