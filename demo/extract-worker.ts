// Text out of PDF (pdf.js) and DOCX (mammoth) files, in a dedicated worker so a long document
// never blocks the page. Both libraries are bundled by Vite (no CDN), so it works offline. pdf.js
// runs here in this worker's own thread: its worker module is imported and registered as
// `globalThis.pdfjsWorker`, which pdf.js uses instead of starting a worker of its own.
import * as pdfjsWorker from 'pdfjs-dist/build/pdf.worker.mjs';
import { getDocument } from 'pdfjs-dist';
import type { TextItem } from 'pdfjs-dist/types/src/display/api.js';
import mammoth from 'mammoth';

(globalThis as { pdfjsWorker?: unknown }).pdfjsWorker = pdfjsWorker;

export interface ExtractRequest { id: number; name: string; bytes: ArrayBuffer }
export type ExtractReply = { id: number; text: string; pages?: number; warnings: string[] } | { id: number; error: string };

/**
 * A PDF's text with paragraphs as blank-line blocks: lines are rebuilt from pdf.js's text items
 * (hasEOL, or a drop in the baseline), and a gap between lines wider than the usual line spacing,
 * or a new page, starts a paragraph. Lines of a paragraph are joined with spaces; a word hyphenated
 * across lines is joined back.
 */
export async function pdfText(bytes: ArrayBuffer): Promise<{ text: string; pages: number }> {
  const doc = await getDocument({ data: new Uint8Array(bytes), isEvalSupported: false, useSystemFonts: false }).promise;
  const paragraphs: string[] = [];
  for (let p = 1; p <= doc.numPages; p++) {
    const page = await doc.getPage(p);
    const items = (await page.getTextContent()).items.filter((i): i is TextItem => 'str' in i);
    const lines: { text: string; y: number; height: number }[] = [];
    let current: { text: string; y: number; height: number } | null = null;
    for (const item of items) {
      const y = item.transform[5]!, height = item.height || Math.abs(item.transform[3]!) || 10;
      if (!current || Math.abs(current.y - y) > height * 0.5) {
        if (current) lines.push(current);
        current = { text: '', y, height };
      }
      current.text += item.str;
      if (item.hasEOL) {
        lines.push(current);
        current = null;
      }
    }
    if (current) lines.push(current);
    const kept = lines.map((l) => ({ ...l, text: l.text.replace(/\s+/g, ' ').trim() })).filter((l) => l.text);
    const gaps = kept.slice(1).map((l, i) => kept[i]!.y - l.y).filter((g) => g > 0).sort((a, b) => a - b);
    const usual = gaps[Math.floor(gaps.length / 4)] ?? 0; // the line spacing: most gaps are between lines of a paragraph
    let para: string[] = [];
    const flush = () => {
      if (para.length) paragraphs.push(para.reduce((a, b) => (/\p{L}-$/u.test(a) ? a.slice(0, -1) + b : `${a} ${b}`)));
      para = [];
    };
    kept.forEach((line, i) => {
      const gap = i ? kept[i - 1]!.y - line.y : 0;
      if (i && (gap > Math.max(usual * 1.4, line.height * 1.6) || gap < 0)) flush();
      para.push(line.text);
    });
    flush();
    page.cleanup();
  }
  const pages = doc.numPages;
  await doc.destroy();
  return { text: paragraphs.join('\n\n'), pages };
}

/** A DOCX's text: mammoth's raw text, one paragraph per Word paragraph, empty ones dropped. */
export async function docxText(bytes: ArrayBuffer): Promise<{ text: string; warnings: string[] }> {
  const result = await mammoth.extractRawText({ arrayBuffer: bytes });
  const text = result.value.split(/\n+/).map((p) => p.replace(/\s+/g, ' ').trim()).filter(Boolean).join('\n\n');
  return { text, warnings: result.messages.map((m) => m.message) };
}

addEventListener('message', async (event: MessageEvent<ExtractRequest>) => {
  const { id, name, bytes } = event.data;
  try {
    if (/\.pdf$/i.test(name)) {
      const { text, pages } = await pdfText(bytes);
      postMessage({ id, text, pages, warnings: [] } satisfies ExtractReply);
    } else {
      postMessage({ id, ...(await docxText(bytes)) } satisfies ExtractReply);
    }
  } catch (error) {
    postMessage({ id, error: (error as Error).message || String(error) } satisfies ExtractReply);
  }
});
