// The embed CLI: clear errors and exit codes for a missing file, a bad JSON line (with its line
// number), a missing field, an existing output, bad usage; and the info and search commands.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_ARGS } from '../helpers/cli.js';

const ROOT = resolve(import.meta.dirname, '../..');
const TINY = join(ROOT, 'models', 'fixture-tiny');
const dir = mkdtempSync(join(tmpdir(), 'bulk-embed-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (...args: string[]) => {
  const r = spawnSync(process.execPath, [...CLI_ARGS, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};

describe('embed CLI', () => {
  it('--prompt-name and --dimensions reach the vectors and the file; search embeds the query the same way', () => {
    const ST = join(ROOT, 'models', 'fixture-st-cls');
    const input = file('prompted.jsonl', '{"id":"a","text":"river garden at night"}\n{"id":"b","text":"market price of water"}\n');
    const out = join(dir, 'prompted.arrow');
    const run = cli(input, '--out', out, '--model', ST, '--prompt-name', 'passage', '--dimensions', '32');
    expect(run.code, run.stderr).toBe(0);
    const info = JSON.parse(cli('info', out).stdout);
    expect(info.description).toMatchObject({ prompt: 'passage: ', dim: 32, modelDim: 64, pooling: 'cls' });
    const search = cli('search', out, 'market price of water', '-k', '1', '--prompt-name', 'passage');
    expect(search.code, search.stderr).toBe(0);
    expect(JSON.parse(search.stdout.trim())).toMatchObject({ id: 'b' });
    expect(JSON.parse(search.stdout.trim()).score).toBeCloseTo(1, 5); // same text, same prompt, same truncation
    const bad = cli(input, '--out', join(dir, 'bad.arrow'), '--model', ST, '--prompt-name', 'nope');
    expect(bad.code).toBe(2); // a flag's bad value is a usage error (issue 23), not a model problem
    expect(bad.stderr).toMatch(/option promptName: "nope" is not one of the model's prompts \(query, passage\)/);
  });

  it('--max-tokens, --truncation, --no-normalize and --include-prompt reach the file and the vectors; search embeds the query the same way', async () => {
    const { createEmbedder, readEmbeddings } = await import('../../src/node.js');
    const long = 'river garden at night with lanterns and a long path between the old trees and the water '.repeat(4).trim();
    const input = file('model-options.jsonl', `{"id":"a","text":"${long}"}\n{"id":"b","text":"market price of water"}\n`);
    const out = join(dir, 'model-options.arrow');
    const run = cli(input, '--out', out, '--model', TINY, '--max-tokens', '12', '--truncation', 'keep-special-tokens', '--no-normalize', '--include-prompt');
    expect(run.code, run.stderr).toBe(0);
    const info = JSON.parse(cli('info', out).stdout);
    expect(info.description).toMatchObject({ maxTokens: 12, truncation: 'keep-special-tokens', normalize: false });
    // The stored vectors are what the library gives with the same options.
    const e = await createEmbedder({ model: TINY, maxTokens: 12, truncation: 'keep-special-tokens', normalize: false, includePrompt: true });
    const expected = await e.embed([long, 'market price of water']);
    await e.dispose();
    const rows: Float32Array[] = [];
    for await (const batch of readEmbeddings(out)) for (let i = 0; i < batch.numRows; i++) rows.push(Float32Array.from(batch.getChild('embedding')!.get(i) as ArrayLike<number>));
    expect(rows).toHaveLength(2);
    for (let r = 0; r < 2; r++) for (let d = 0; d < expected.dim; d++) expect(rows[r]![d]).toBeCloseTo(expected.data[r * expected.dim + d]!, 5);
    expect(Math.hypot(...rows[0]!)).not.toBeCloseTo(1, 3); // not normalised
    const search = cli('search', out, long, '-k', '1');
    expect(JSON.parse(search.stdout.trim())).toMatchObject({ id: 'a' });
    expect(cli(input, '--out', join(dir, 'x.arrow'), '--model', TINY, '--truncation', 'middle').code).toBe(2);
    expect(cli(input, '--out', join(dir, 'y.arrow'), '--model', TINY, '--normalize', '--no-normalize').code).toBe(2);
  });

  it('embeds a CSV file, then describes and searches the Arrow file', () => {
    const input = file('docs.csv', 'id,text,lang\na,"the river garden, at night",en\nb,market price of water,en\nc,"une ""maison"" bleue",fr\n');
    const out = join(dir, 'docs.arrow');
    const run = cli(input, '--out', out, '--model', TINY);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ written: 3, skipped: 0 });
    // Not a terminal: progress goes to stderr as JSON lines.
    const progress = run.stderr.trim().split('\n').map((l) => JSON.parse(l));
    expect(progress.at(-1)).toMatchObject({ event: 'progress', done: 3, total: 3 });
    const info = cli('info', out);
    expect(info.code).toBe(0);
    expect(JSON.parse(info.stdout)).toMatchObject({ rows: 3, columns: ['id: Utf8', 'embedding: FixedSizeList[64]<Float32>', 'text_hash: Utf8', 'checksum: Uint32', 'lang: Utf8'], description: { model: expect.stringMatching(/(^|\/)models\/fixture-tiny$/), modelFingerprint: expect.stringMatching(/^[0-9a-f]{16}$/), dim: 64 } });
    const search = cli('search', out, 'market price of water', '-k', '2');
    expect(search.code, search.stderr).toBe(0);
    const hits = search.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(hits).toHaveLength(2);
    expect(hits[0]).toMatchObject({ id: 'b', lang: 'en' });
    expect(hits[0].score).toBeCloseTo(1, 4);
  });

  it('--keep-text N stores a snippet of each text, and search prints it with the hit', () => {
    const input = file('snippets.jsonl', '{"id":"a","text":"the river garden at night, under a quiet moon"}\n{"id":"b","text":"market price of water"}\n');
    const out = join(dir, 'snippets.arrow');
    const run = cli(input, '--out', out, '--model', TINY, '--keep-text', '16');
    expect(run.code, run.stderr).toBe(0);
    const search = cli('search', out, 'the river garden at night, under a quiet moon', '-k', '1');
    expect(search.code, search.stderr).toBe(0);
    expect(JSON.parse(search.stdout.trim())).toMatchObject({ id: 'a', text: 'the river garden' });
    const without = join(dir, 'no-snippets.arrow');
    expect(cli(input, '--out', without, '--model', TINY).code).toBe(0);
    const plain = cli('search', without, 'market price of water', '-k', '1');
    expect(JSON.parse(plain.stdout.trim())).not.toHaveProperty('text');
  });

  it('exits 3 for a missing input file', () => {
    const r = cli(join(dir, 'absent.jsonl'), '--out', join(dir, 'x.arrow'), '--model', TINY);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`embed: input file not found: ${join(dir, 'absent.jsonl')}`);
  });

  it('exits 4 for a bad JSON line, naming the line, and keeps the rows before it', () => {
    const lines = Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: i, text: `row ${i}` }));
    lines.splice(25, 0, '{"id": 99, "text": "unterminated');
    const out = join(dir, 'bad.arrow');
    const r = cli(file('bad.jsonl', lines.join('\n') + '\n'), '--out', out, '--model', TINY, '--window', '10');
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`embed: ${join(dir, 'bad.jsonl')} line 26: bad JSON`);
    const info = JSON.parse(cli('info', out).stdout);
    expect(info.rows).toBe(20); // the two whole windows before the bad line were committed
  });

  it('exits 4 for a missing text field, naming the line and the field', () => {
    const r = cli(file('missing.jsonl', '{"id":1,"text":"ok"}\n{"id":2,"body":"no text"}\n'), '--out', join(dir, 'm.arrow'), '--model', TINY);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`embed: ${join(dir, 'missing.jsonl')} line 2: missing field "text"`);
    const other = cli(file('fields.jsonl', '{"key":"k1","body":"fine"}\n'), '--out', join(dir, 'f.arrow'), '--model', TINY, '--text-field', 'body', '--id-field', 'key');
    expect(other.code, other.stderr).toBe(0);
  });

  it('exits 6 when the output exists and neither --resume nor --overwrite is given', () => {
    const input = file('again.txt', 'one\ntwo\n');
    const out = join(dir, 'again.arrow');
    expect(cli(input, '--out', out, '--model', TINY).code).toBe(0);
    const r = cli(input, '--out', out, '--model', TINY);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('already exists: resume it, overwrite it, or choose another file');
    const resumed = cli(input, '--out', out, '--model', TINY, '--resume');
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ written: 0, skipped: 2 });
  });

  it('exits 2 on bad usage and 5 on a model that cannot load', () => {
    expect(cli('input.jsonl').code).toBe(2);
    expect(cli('input.jsonl').stderr).toContain('--out <file.arrow> is required');
    expect(cli(file('u.txt', 'x\n'), '--out', join(dir, 'u.arrow'), '--bogus').code).toBe(2);
    const r = cli(file('v.txt', 'x\n'), '--out', join(dir, 'v.arrow'), '--model', join(dir));
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`embed: model file config.json at ${dir}: file not found`);
  });
});
