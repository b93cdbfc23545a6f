// Line-oriented input formats (JSONL, CSV, one text per line), parsed from an async stream of
// text chunks so files of any size are read a little at a time. Errors name the line.
import { InputFormatError } from '../base/errors.js';
import { markParsed, toRecord, type EmbedRecord, type RecordOptions } from './records.js';

export type TextFormat = 'jsonl' | 'csv' | 'txt';

/** Picks the format from a file name. */
export function formatOf(name: string): TextFormat {
  const lower = name.toLowerCase();
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  if (lower.endsWith('.csv')) return 'csv';
  return 'txt';
}

/**
 * Splits chunks into lines (without their \n or \r\n), with 1-based line numbers. Linear in the
 * input: each chunk is searched once, and the pieces of a line that spans chunks are kept apart
 * and joined once (searching the growing remainder again for every chunk made a 50 MB line take
 * 23 s).
 */
export async function* lines(chunks: AsyncIterable<string>): AsyncGenerator<{ line: string; number: number }> {
  let pieces: string[] = [];
  let number = 0;
  const finish = (line: string) => ({ line: line.endsWith('\r') ? line.slice(0, -1) : line, number: ++number });
  for await (const chunk of chunks) {
    let from = 0;
    let at: number;
    while ((at = chunk.indexOf('\n', from)) >= 0) {
      const tail = chunk.slice(from, at);
      const line = pieces.length ? pieces.join('') + tail : tail;
      pieces = [];
      from = at + 1;
      yield finish(line);
    }
    if (from < chunk.length) pieces.push(from ? chunk.slice(from) : chunk);
  }
  if (pieces.length) yield finish(pieces.join(''));
}

/**
 * The chunks without a leading byte-order mark (editors on Windows write one before UTF-8 text).
 * A UTF-16 file read as UTF-8 starts with its mark as two U+FFFD and has a NUL beside every ASCII
 * character: it is refused, naming the encoding, instead of becoming records full of NULs.
 */
export async function* withoutBom(chunks: AsyncIterable<string>, name = 'input'): AsyncGenerator<string> {
  let first = true;
  for await (const chunk of chunks) {
    if (first && chunk.length) {
      first = false;
      if (chunk.startsWith('\ufffd\ufffd') && (chunk[2] === '\0' || chunk[3] === '\0')) {
        const encoding = chunk[2] === '\0' ? 'UTF-16BE (it starts with the byte-order mark FE FF)' : 'UTF-16LE (it starts with the byte-order mark FF FE)';
        throw new InputFormatError(`${name} line 1`, `the file is ${encoding}; only UTF-8 is read: convert it (e.g. iconv -f UTF-16 -t UTF-8)`);
      }
      if (chunk.charCodeAt(0) === 0xfeff) {
        if (chunk.length > 1) yield chunk.slice(1);
        continue;
      }
    }
    yield chunk;
  }
}

/** Parses text chunks in the given format into records (marked as parsed: embedStream takes them as they are). */
export function parseTextRecords(input: AsyncIterable<string>, format: TextFormat, options: RecordOptions = {}): AsyncGenerator<EmbedRecord> {
  return markParsed(parseText(input, format, options));
}

async function* parseText(input: AsyncIterable<string>, format: TextFormat, options: RecordOptions): AsyncGenerator<EmbedRecord> {
  const name = options.sourceName ?? 'input';
  const chunks = withoutBom(input, name);
  const textField = options.textField ?? 'text';
  const idField = options.idField ?? 'id';
  let position = 0;
  if (format === 'txt') {
    for await (const { line, number } of lines(chunks)) {
      if (line.trim() === '') continue; // blank lines separate nothing and embed nothing
      yield toRecord(line, position++, 'text', 'id', name, `${name} line ${number}`);
    }
    return;
  }
  if (format === 'jsonl') {
    for await (const { line, number } of lines(chunks)) {
      if (line.trim() === '') continue;
      let value: unknown;
      try {
        value = JSON.parse(line);
      } catch (cause) {
        throw new InputFormatError(`${name} line ${number}`, `bad JSON (${(cause as Error).message})`, { cause });
      }
      // JSON.parse turns a numeric id into a float64: 1234567890123456789 would become
      // "1234567890123456800" and 1.50 "1.5". The id keeps its source text instead.
      const numericId = value !== null && typeof value === 'object' && typeof (value as Record<string, unknown>)[idField] === 'number';
      const rawId = numericId ? memberSource(line, idField) : undefined;
      yield toRecord(value, position++, textField, idField, name, `${name} line ${number}`, rawId);
    }
    return;
  }
  let header: string[] | null = null;
  for await (const { fields, line } of csvRows(chunks, name)) {
    if (!header) {
      header = fields;
      if (!header.includes(textField)) throw new InputFormatError(`${name} line ${line}`, `the CSV header has no "${textField}" column (columns: ${header.join(', ')})`);
      continue;
    }
    if (fields.length === 1 && fields[0] === '') continue;
    if (fields.length !== header.length) throw new InputFormatError(`${name} line ${line}`, `${fields.length} fields where the header has ${header.length}`);
    const record = Object.fromEntries(header.map((h, i) => [h, fields[i]!]));
    yield toRecord(record, position++, textField, idField, name, `${name} line ${line}`);
  }
}

/**
 * The source text of member `key` of the JSON object on `line` (already parsed, so well-formed),
 * as JSON.parse keeps it: the last of repeated keys. Walks the top-level members only, skipping
 * strings (with escapes) and nested values, so a key inside a nested object is never taken.
 */
export function memberSource(line: string, key: string): string | undefined {
  let i = line.indexOf('{') + 1;
  let found: string | undefined;
  const space = () => {
    while (i < line.length && ' \t\r\n'.includes(line[i]!)) i++;
  };
  const skipString = () => {
    for (i++; i < line.length && line[i] !== '"'; i++) if (line[i] === '\\') i++;
    i++;
  };
  const skipValue = () => {
    if (line[i] === '"') return skipString();
    let depth = 0;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (c === '"') {
        skipString();
        i--;
      } else if (c === '{' || c === '[') depth++;
      else if (c === '}' || c === ']') {
        if (depth === 0) return;
        depth--;
      } else if (c === ',' && depth === 0) return;
    }
  };
  for (;;) {
    space();
    if (line[i] !== '"') return found;
    const keyStart = i;
    skipString();
    const name = JSON.parse(line.slice(keyStart, i)) as string;
    space();
    i++; // the colon
    space();
    const valueStart = i;
    skipValue();
    if (name === key) found = line.slice(valueStart, i).trim();
    space();
    if (line[i] !== ',') return found;
    i++;
  }
}

/** RFC 4180 CSV: quoted fields may hold commas, doubled quotes and newlines. */
export async function* csvRows(chunks: AsyncIterable<string>, name = 'input'): AsyncGenerator<{ fields: string[]; line: number }> {
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let afterQuote = false;
  let line = 1;
  let startLine = 1;
  let quoteInQuoted = false; // a quote inside a quoted field: escaped ("") or closing, decided by the next char
  for await (const chunk of chunks) {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!;
      if (quoteInQuoted) {
        quoteInQuoted = false;
        if (c === '"') { field += '"'; continue; }
        quoted = false;
        afterQuote = true;
      }
      if (quoted) {
        if (c === '"') {
          quoteInQuoted = true;
        } else {
          if (c === '\n') line++;
          field += c;
        }
        continue;
      }
      if (c === '"' && field === '' && !afterQuote) { quoted = true; continue; }
      if (c === ',') { fields.push(field); field = ''; afterQuote = false; continue; }
      if (c === '\n') {
        fields.push(field.endsWith('\r') ? field.slice(0, -1) : field);
        yield { fields, line: startLine };
        fields = [];
        field = '';
        afterQuote = false;
        startLine = ++line;
        continue;
      }
      if (afterQuote && c !== '\r') throw new InputFormatError(`${name} line ${line}`, 'text after a closing quote');
      field += c;
    }
  }
  if (quoteInQuoted) quoted = false;
  if (quoted) throw new InputFormatError(`${name} line ${startLine}`, 'a quoted field is never closed');
  if (field !== '' || fields.length) {
    fields.push(field);
    yield { fields, line: startLine };
  }
}
