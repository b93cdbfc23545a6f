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

function pairRatios(engine: readonly number[], alone: readonly number[]): number[] {
  if (engine.length !== alone.length) throw new Error(`${engine.length} engine runs against ${alone.length} runs of the tokenizer alone: the shares are of pairs`);
  return engine.map((t, i) => t / alone[i]!);
}

/**
 * The distribution-free interval of a median: the k-th smallest and k-th largest of `xs`, with k the
 * largest order whose interval holds the true median with at least `level` probability (each value
 * falls below the median with probability 1/2, so how many do is binomial): the 2nd to the 8th of 9
 * runs (96.1 %), the 4th to the 12th of 15 (96.5 %). Below 6 runs no order reaches 95 %, and it is the
 * whole range. It reads the spread of one run's pairs, not a drift of the machine between runs: a
 * median of 9 whose single values spread by +-15 % (a 2-core machine's tokenizer, pass to pass) still
 * moves by several points from one run of a bench to the next, and a figure near a bound needs it.
 */
export function medianInterval(xs: readonly number[], level = 0.95): [number, number] {
  const n = xs.length;
  if (!n) return [NaN, NaN];
  const sorted = [...xs].sort((a, b) => a - b);
  const { k } = medianOrder(n, level);
  return [sorted[k - 1]!, sorted[n - k]!];
}

/**
 * The order k of medianInterval for `n` values, and how often [k-th smallest, k-th largest] holds
 * the median: it misses when k or more values fall on one side of it, with probability
 * 2 P(Bin(n, 1/2) <= k - 1). Below `level` only where no order reaches it (k = 1, the whole range).
 */
export function medianOrder(n: number, level = 0.95): { k: number; coverage: number } {
  // `term` is C(n, j) / 2^n, `atMost` P(Bin <= j), `missed` the chance order k misses.
  let k = 1;
  let term = 2 ** -n;
  let atMost = term;
  let missed = 2 * atMost;
  for (let j = 1; 2 * j < n; j++) {
    term = (term * (n - j + 1)) / j;
    atMost += term;
    if (2 * atMost > 1 - level) break;
    k = j + 1;
    missed = 2 * atMost;
  }
  return { k, coverage: 1 - missed };
}

/**
 * The non-tokenizer share, 1 - engine / tokenizer alone, from the runs' pairs (`engine[i]` and
 * `alone[i]` measured seconds apart in run i: a drift of the shared machine's speed between runs,
 * 15 % here, cancels out), with the 95 % interval of its median, low to high, for a bench's JSON
 * (below 6 runs, `low95` to `high95` is only the pairs' range).
 */
export function shareFigures(engine: readonly number[], alone: readonly number[]): { share: number; low95: number; high95: number } {
  const ratios = pairRatios(engine, alone);
  const [low, high] = medianInterval(ratios);
  return { share: 1 - median(ratios), low95: 1 - high, high95: 1 - low };
}

/** A share and its interval as a table cell: "9.1% (5.2 to 12.0)", or "(range 5.2 to 12.0)" below 6 runs, where no interval reaches 95 %. */
export function shareCell(engine: readonly number[], alone: readonly number[]): string {
  const { share, low95, high95 } = shareFigures(engine, alone);
  return `${(100 * share).toFixed(1)}% (${medianOrder(engine.length).coverage < 0.95 ? 'range ' : ''}${(100 * low95).toFixed(1)} to ${(100 * high95).toFixed(1)})`;
}
