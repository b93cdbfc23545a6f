// Text helpers of the demo: documents split into paragraphs with their headings kept, readable
// titles, snippets cut at word boundaries around the query's words, and those words highlighted.

/** One paragraph of a document, with the heading of its section. */
export interface Paragraph {
  text: string;
  heading: string;
}

const isHeading = (line: string) => /^#{1,6}\s+\S/.test(line.trim());

/**
 * Splits a text (plain or Markdown) into paragraphs at blank lines. A block of headings alone is
 * joined to the block after it, so a heading stays with its section instead of being a document.
 */
export function splitParagraphs(text: string): Paragraph[] {
  const blocks = text.replace(/\r\n?/g, '\n').split(/\n\s*\n/).map((b) => b.trim()).filter(Boolean);
  const out: Paragraph[] = [];
  let heading = '';
  let pending: string[] = [];
  for (const block of blocks) {
    const lines = block.split('\n');
    if (lines.every(isHeading)) {
      pending.push(block);
      heading = lines.at(-1)!.replace(/^#+\s*/, '').trim();
      continue;
    }
    // A block that starts with its heading ("## Title\ntext") names its own section.
    if (isHeading(lines[0]!)) heading = lines[0]!.replace(/^#+\s*/, '').trim();
    out.push({ text: [...pending, block].join('\n\n'), heading });
    pending = [];
  }
  if (pending.length) out.push({ text: pending.join('\n\n'), heading });
  return out;
}

/** A paragraph's text without its heading lines (shown apart, as the section's name). */
export function body(text: string): string {
  const kept = text.split('\n').filter((line) => !isHeading(line)).join('\n').trim();
  return kept || text.replace(/^#{1,6}\s+/gm, '');
}

const STOPWORDS = new Set('a an and are as at be by can do does for from how i in is it of on or the to was what when where which who why with you your'.split(' '));

/** The words of a query worth highlighting (two letters or more, not a stop word), lower-cased, unique. */
export function queryWords(query: string): string[] {
  return [...new Set(query.toLowerCase().match(/[\p{L}\p{N}]{2,}/gu) ?? [])].filter((w) => !STOPWORDS.has(w));
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * About `max` characters of `text` around the first query word found (else its start), cut at word
 * boundaries, with an ellipsis where it was cut. Markdown heading marks are dropped.
 */
export function snippet(text: string, words: string[], max = 220): string {
  const clean = text.replace(/^#{1,6}\s+/gm, '').replace(/\s+/g, ' ').trim();
  if (clean.length <= max) return clean;
  const lower = clean.toLowerCase();
  const hit = Math.min(...words.map((w) => lower.indexOf(w)).filter((i) => i >= 0), Infinity);
  let start = Number.isFinite(hit) ? Math.max(0, hit - Math.floor(max / 3)) : 0;
  let end = Math.min(clean.length, start + max);
  if (end === clean.length) start = Math.max(0, end - max);
  // Move the cuts to word boundaries: forward at the start, backward at the end.
  if (start > 0) {
    const space = clean.indexOf(' ', start);
    start = space >= 0 && space < end ? space + 1 : start;
  }
  if (end < clean.length) {
    const space = clean.lastIndexOf(' ', end);
    end = space > start ? space : end;
  }
  return `${start > 0 ? '… ' : ''}${clean.slice(start, end).replace(/[\s,;:]+$/, '')}${end < clean.length ? ' …' : ''}`;
}

/** Escapes `text` and wraps the query's words in <mark>. */
export function highlight(text: string, words: string[]): string {
  if (!words.length) return escapeHtml(text);
  // Whole words, and their plain inflections (bake: bakes, baked, baking is not; bread: breads).
  const alternatives = words.map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  const pattern = new RegExp(`(?<![\\p{L}\\p{N}])((?:${alternatives})(?:s|es|d|ed|ing)?)(?![\\p{L}\\p{N}])`, 'giu');
  return text.split(pattern).map((part, i) => (i % 2 ? `<mark>${escapeHtml(part)}</mark>` : escapeHtml(part))).join('');
}

/** CSV field, quoted when it must be. */
export function csvField(value: unknown): string {
  const s = value === null || value === undefined ? '' : typeof value === 'string' ? value : String(value);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
