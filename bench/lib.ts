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

const pairRatios = (engine: readonly number[], alone: readonly number[]): number[] => engine.map((t, i) => t / alone[i]!);

/**
 * The non-tokenizer share, 1 - engine / tokenizer alone, from the runs' pairs (`engine[i]` and
 * `alone[i]` measured seconds apart in run i): a drift of the shared machine's speed between runs
 * (15 % here) cancels out.
 */
export const pairedShare = (engine: readonly number[], alone: readonly number[]): number => 1 - median(pairRatios(engine, alone));

/** A seeded generator (mulberry32): a bench's intervals come out the same for the same runs. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/**
 * A percentile-bootstrap interval of the median of `xs`: where the median of as many runs like these
 * falls in `level` of resamples. A median of 9 runs whose single values spread by +-15 % (a 2-core
 * machine's tokenizer, pass to pass) moves by several points from one run of a bench to the next; the
 * interval says how far, so a figure near a bound is read with its spread.
 */
export function medianInterval(xs: readonly number[], level = 0.95, resamples = 10_000, random: () => number = seededRandom(2026)): [number, number] {
  if (!xs.length) return [NaN, NaN];
  const medians = new Float64Array(resamples);
  const sample = new Array<number>(xs.length);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < xs.length; i++) sample[i] = xs[Math.floor(random() * xs.length)]!;
    medians[r] = median(sample);
  }
  medians.sort();
  const tail = (1 - level) / 2;
  return [medians[Math.floor(tail * (resamples - 1))]!, medians[Math.ceil((1 - tail) * (resamples - 1))]!];
}

/** pairedShare's 95 % interval (medianInterval of the pairs' ratios), low to high. */
export function pairedShareInterval(engine: readonly number[], alone: readonly number[]): [number, number] {
  const [low, high] = medianInterval(pairRatios(engine, alone));
  return [1 - high, 1 - low];
}

/** A share with its interval, for a bench's JSON. */
export function shareFigures(engine: readonly number[], alone: readonly number[]): { share: number; low95: number; high95: number } {
  const [low95, high95] = pairedShareInterval(engine, alone);
  return { share: pairedShare(engine, alone), low95, high95 };
}

/** A share and its interval as a table cell: "9.1% (5.2 to 12.0)". */
export function shareCell(engine: readonly number[], alone: readonly number[]): string {
  const { share, low95, high95 } = shareFigures(engine, alone);
  return `${(100 * share).toFixed(1)}% (${(100 * low95).toFixed(1)} to ${(100 * high95).toFixed(1)})`;
}
