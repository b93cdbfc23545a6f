// Small helpers shared by the benchmarks: medians, RSS sampling, tables, JSON output.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** Runs `fn` while sampling RSS every 20 ms; returns its result, seconds and the peak RSS seen. */
export async function measured<T>(fn: () => Promise<T>): Promise<{ value: T; seconds: number; peakRssMb: number }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 20);
  const started = performance.now();
  try {
    const value = await fn();
    const seconds = (performance.now() - started) / 1000;
    peak = Math.max(peak, process.memoryUsage.rss());
    return { value, seconds, peakRssMb: peak / 2 ** 20 };
  } finally {
    clearInterval(timer);
  }
}

/** Prints rows as an aligned Markdown table. */
export function printTable(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((x, c) => x.padEnd(widths[c]!)).join(' | ')} |`;
  const text = [line(cells[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n');
  console.log(text);
  return text;
}

export function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, JSON.stringify(value, null, 2) + '\n');
}

/**
 * The non-tokenizer share, 1 - engine / tokenizer alone, from the runs' pairs (`engine[i]` and
 * `alone[i]` measured seconds apart in run i): a drift of the shared machine's speed between runs
 * (15 % here) cancels out.
 */
export const pairedShare = (engine: readonly number[], alone: readonly number[]): number => 1 - median(engine.map((t, i) => t / alone[i]!));
