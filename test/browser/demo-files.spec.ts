// Issue 27, real files in and out: a PDF (made here with pdf-lib) and a DOCX (made with docx) are
// read in the demo's extraction worker (pdf.js, mammoth), offline, embedded with their text and
// found by search; the CSV holds their full text, and the Parquet download (hyparquet-writer in
// the page) reads back here (hyparquet) with every row, id and full text.
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { Document, HeadingLevel, Packer, Paragraph, TextRun } from 'docx';
import { parquetReadObjects } from 'hyparquet';
import { PDFDocument, StandardFonts } from 'pdf-lib';

const DEMO = process.env.DEMO_URL ?? 'http://127.0.0.1:5173/';
const SHOTS = join(import.meta.dirname, '../../test-results/screenshots');
mkdirSync(SHOTS, { recursive: true });
const SHOT = join(SHOTS, 'demo27-pdf-result.png');

const PDF_PARAGRAPHS = [
  'Lighthouse log',
  'The lighthouse keeper wrote down every ship that passed the northern reef in blue ink.',
  'Storms in March broke three of the lower windows of the tower.',
  'Fresh paint arrived by boat in the first week of May.',
];
const DOCX_PARAGRAPHS = [
  'Garden diary',
  'Tomatoes went in along the south wall after the last frost.',
  'The slugs ate half of the lettuce before the copper tape was laid.',
];

/** Two pages: a title, a paragraph set on two lines, a one-line paragraph; the last paragraph on page 2. */
async function makePdf(): Promise<Buffer> {
  const pdf = await PDFDocument.create();
  const font = await pdf.embedFont(StandardFonts.Helvetica);
  const one = pdf.addPage([595, 842]);
  one.drawText(PDF_PARAGRAPHS[0]!, { x: 50, y: 780, size: 18, font });
  one.drawText('The lighthouse keeper wrote down every ship that', { x: 50, y: 740, size: 12, font });
  one.drawText('passed the northern reef in blue ink.', { x: 50, y: 725, size: 12, font });
  one.drawText(PDF_PARAGRAPHS[2]!, { x: 50, y: 690, size: 12, font });
  pdf.addPage([595, 842]).drawText(PDF_PARAGRAPHS[3]!, { x: 50, y: 780, size: 12, font });
  return Buffer.from(await pdf.save());
}

async function makeDocx(): Promise<Buffer> {
  const doc = new Document({
    sections: [{
      children: [
        new Paragraph({ text: DOCX_PARAGRAPHS[0]!, heading: HeadingLevel.HEADING_1 }),
        new Paragraph(DOCX_PARAGRAPHS[1]!),
        // Runs with formatting are one paragraph of text.
        new Paragraph({ children: [new TextRun('The slugs ate half of the '), new TextRun({ text: 'lettuce', bold: true }), new TextRun(' before the copper tape was laid.')] }),
      ],
    }],
  });
  return Packer.toBuffer(doc);
}

async function open(page: Page, query = '?model=fixture-tiny&device=wasm') {
  page.on('pageerror', (e) => console.log('page error:', e.message));
  await page.goto(DEMO + query);
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });
}

async function dropFiles(page: Page, files: { name: string; content: number[] }[]) {
  const transfer = await page.evaluateHandle((files) => {
    const dt = new DataTransfer();
    for (const f of files) dt.items.add(new File([new Uint8Array(f.content)], f.name));
    return dt;
  }, files);
  await page.dispatchEvent('#drop', 'drop', { dataTransfer: transfer });
}

test('offline, a PDF and a DOCX are read in a worker, embedded with their text, found by search; CSV and Parquet hold their full text', async ({ page, context }) => {
  test.setTimeout(120_000);
  const [pdf, docx] = await Promise.all([makePdf(), makeDocx()]);
  await open(page);
  await page.evaluate(() => navigator.serviceWorker.ready);
  // pdf.js and mammoth are in the extraction worker's chunk, precached with the app (no CDN), and so is the Parquet writer.
  const precached = await page.evaluate(async () => {
    const urls: string[] = [];
    for (const name of await caches.keys()) if (name.includes('precache')) urls.push(...(await (await caches.open(name)).keys()).map((r) => r.url));
    return urls;
  });
  expect(precached.some((u) => /\/assets\/extract-worker-[\w-]+\.js/.test(u))).toBe(true);
  expect(precached.some((u) => /\/assets\/map-worker-[\w-]+\.js/.test(u))).toBe(true); // UMAP, offline too
  await context.setOffline(true);
  await page.reload();
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true', { timeout: 60_000 });

  await dropFiles(page, [{ name: 'report.pdf', content: [...pdf] }, { name: 'diary.docx', content: [...docx] }]);
  await expect(page.locator('#file-count')).toHaveText('2 files ready');
  await expect(page.locator('#file-list')).not.toContainText('not supported');
  await page.fill('#collection', 'office');
  await page.click('#embed');
  const total = PDF_PARAGRAPHS.length + DOCX_PARAGRAPHS.length;
  await expect(page.locator('#progress-text')).toHaveText(`Done: 100%, ${total} documents stored in "office".`, { timeout: 60_000 });
  await expect(page.locator('#error')).toBeHidden();

  // A paragraph of each, searched for, is the first hit (the test model's weights are random, so the query is the paragraph itself).
  for (const [query, title] of [[PDF_PARAGRAPHS[1]!, 'report.pdf, paragraph 2'], [DOCX_PARAGRAPHS[2]!, 'diary.docx, paragraph 3']] as const) {
    await page.fill('#query', query);
    await page.click('#search-button');
    await expect(page.locator('#results .title').first()).toHaveText(title);
    await expect(page.locator('#results .snippet').first()).toHaveText(query);
  }
  await page.screenshot({ path: SHOT, fullPage: true });
  if (process.env.NOTES_DIR) copyFileSync(SHOT, join(process.env.NOTES_DIR, 'demo27-pdf-result.png'));

  // The CSV: every paragraph's full text in the text column (the two-line PDF paragraph joined).
  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download office.csv' }).click()]);
  const text = readFileSync((await csv.path())!, 'utf8');
  const lines = text.trim().split('\r\n');
  expect(lines[0]!.split(',').slice(0, 6)).toEqual(['id', 'title', 'source', 'paragraph', 'heading', 'text']);
  expect(lines).toHaveLength(total + 1);
  for (const [file, paragraphs] of [['report.pdf', PDF_PARAGRAPHS], ['diary.docx', DOCX_PARAGRAPHS]] as const) {
    paragraphs.forEach((p, i) => expect(lines.find((l) => l.startsWith(`${file}:${i + 1},`))).toContain(`,${p},`));
  }

  // The Parquet file, read back in Node: every row, its id and full text, its vector.
  await page.locator('#load-help summary').click();
  await expect(page.locator('#load-help')).toContainText('pd.read_parquet("my-documents.parquet")');
  await expect(page.locator('#load-help')).toContainText("SELECT * FROM 'my-documents.parquet';");
  const [parquet] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download office.parquet' }).click()]);
  expect(parquet.suggestedFilename()).toBe('office.parquet');
  const bytes = readFileSync((await parquet.path())!);
  expect(bytes.subarray(0, 4).toString()).toBe('PAR1');
  const rows = await parquetReadObjects({ file: bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer });
  expect(rows).toHaveLength(total);
  const expected = [...PDF_PARAGRAPHS.map((p, i) => [`report.pdf:${i + 1}`, p]), ...DOCX_PARAGRAPHS.map((p, i) => [`diary.docx:${i + 1}`, p])];
  expect(rows.map((r) => [r.id, r.text]).sort()).toEqual(expected.sort());
  expect(rows.find((r) => r.id === 'report.pdf:2')).toMatchObject({ title: 'report.pdf, paragraph 2', source: 'report.pdf', paragraph: 2 });
  const dims = (rows[0]!.embedding as number[]).length;
  expect(dims).toBeGreaterThan(0);
  for (const r of rows) {
    expect(r.embedding).toHaveLength(dims);
    expect(Math.hypot(...(r.embedding as number[]))).toBeCloseTo(1, 3); // normalised vectors, whole
  }
  await context.setOffline(false);
});
