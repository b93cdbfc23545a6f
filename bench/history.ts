// The results history bench:ci appends to (bench/results/history.jsonl, one JSON object a line)
// and bench:report reads.
import { existsSync, readFileSync } from 'node:fs';

/** Gated figures by id (see bench/gates.json). */
export type FigureValues = Record<string, number>;

/** One bound of bench/gates.json: a floor (`min`) or a ceiling (`max`), and why it is where it is. */
export interface Gate {
  label: string;
  /** The bench:ci part that measures it. */
  part: string;
  min?: number;
  max?: number;
  measuredMedian: number;
  margin: string;
  why: string;
}

/** One bench:ci run. */
export interface HistoryLine {
  /** Short commit hash, "+dirty" when src/, bench/ or package.json had uncommitted changes. */
  commit: string;
  date: string;
  machine: { cores: number; cpu: string; memoryGb: number; node: string; platform: string };
  wallSeconds: number;
  partSeconds: Record<string, number>;
  figures: FigureValues;
  verdicts: Record<string, string>;
  /** Per part: what the report draws (texts/s side by side, the RSS curve, search points). */
  details: Record<string, any>;
}

export const HISTORY_FILE = new URL('./results/history.jsonl', import.meta.url).pathname;

/** Reads every line of a history file (none if it does not exist yet). */
export function readHistory(path = HISTORY_FILE): HistoryLine[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as HistoryLine);
}
