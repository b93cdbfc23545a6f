// `npm run bench:report`: renders bench/results/history.jsonl (bench:ci's runs) as one
// self-contained HTML page, bench/results/report.html: charts as inline SVG, styles inline, no
// script and nothing fetched, so the file opens anywhere (a CI artifact, a checkout, file://).
//   - the verdicts of the latest run (figure, value, bound);
//   - the trend of every gated figure over the runs, its bound drawn as a dashed line;
//   - the latest side-by-side bars against transformers.js (Node CPU with the raw ceiling; browser WASM);
//   - the RSS curve of the latest stream run (20K to 200K records);
//   - the search layouts as points of time per query against recall@10.
// Every mark carries data-value (and the axes data-min / data-max) so a test can check the
// picture against the data (test/browser/bench-report.spec.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readHistory, type Gate, type HistoryLine } from './history.js';

const esc = (s: string | number): string => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
/** A number shown with 3 significant digits (and no exponent below 1e6). */
export const fmt = (v: number): string => (Math.abs(v) >= 1000 ? v.toFixed(0) : Number(v.toPrecision(3)).toString());

/** Axis bounds that include every value and the bound line, with a little room (never a zero span). */
function extent(values: number[]): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi === lo) {
    lo -= Math.abs(lo) * 0.1 || 1;
    hi += Math.abs(hi) * 0.1 || 1;
  }
  const pad = (hi - lo) * 0.08;
  return [lo - pad, hi + pad];
}

const W = 360;
const H = 170;
const M = { left: 52, right: 12, top: 12, bottom: 34 };

/**
 * A line chart of points (x by index or value), y axis labelled with its min and max, an optional
 * dashed horizontal line (the gate's bound). `points[i].label` names an x tick.
 */
export function lineChart(
  id: string,
  title: string,
  points: { x: number; y: number; label: string }[],
  options: { bound?: number; xTitle: string; yTitle: string; xIsIndex?: boolean; pointsOnly?: boolean },
): string {
  if (!points.length) return `<figure id="${esc(id)}"><figcaption>${esc(title)}</figcaption><p>no data yet</p></figure>`;
  const [y0, y1] = extent([...points.map((p) => p.y), ...(options.bound !== undefined ? [options.bound] : [])]);
  const xs = points.map((p) => p.x);
  const [xLo, x1] = options.xIsIndex ? [Math.min(...xs) - 0.5, Math.max(...xs) + 0.5] : extent(xs);
  // Times and counts are never negative: the axis's padding must not show a negative end.
  const x0 = Math.min(...xs) >= 0 ? Math.max(0, xLo) : xLo;
  const px = (x: number) => M.left + ((x - x0) / (x1 - x0)) * (W - M.left - M.right);
  const py = (y: number) => H - M.bottom - ((y - y0) / (y1 - y0)) * (H - M.top - M.bottom);
  const path = points.map((p, i) => `${i ? 'L' : 'M'}${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ');
  // Runs: a tick a commit (at most about 8); a curve: its first and last points; scattered
  // points: the axis's numeric ends, each point named beside it instead.
  const ticks = options.xIsIndex
    ? points.filter((_, i) => points.length <= 8 || i % Math.ceil(points.length / 8) === 0 || i === points.length - 1)
    : options.pointsOnly ? [] : [points[0]!, points.at(-1)!];
  const xEnds = options.pointsOnly
    ? `<text class="x-min" data-min="${x0}" x="${M.left}" y="${H - M.bottom + 12}" text-anchor="start">${esc(fmt(x0))}</text><text class="x-max" data-max="${x1}" x="${W - M.right}" y="${H - M.bottom + 12}" text-anchor="end">${esc(fmt(x1))}</text>`
    : '';
  const pointLabels = options.pointsOnly
    ? points.map((p) => `<text class="point-label" x="${(px(p.x) + (px(p.x) > W / 2 ? -6 : 6)).toFixed(1)}" y="${(py(p.y) + (py(p.y) < M.top + 10 ? 12 : -6)).toFixed(1)}" text-anchor="${px(p.x) > W / 2 ? 'end' : 'start'}">${esc(p.label)}</text>`).join('')
    : '';
  return `<figure class="line-chart" id="${esc(id)}"><figcaption>${esc(title)}</figcaption>
<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${esc(title)}">
<line class="axis" x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}"/><line class="axis" x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}"/>
<text class="y-min" data-min="${y0}" x="${M.left - 4}" y="${H - M.bottom}" text-anchor="end">${esc(fmt(y0))}</text>
<text class="y-max" data-max="${y1}" x="${M.left - 4}" y="${M.top + 8}" text-anchor="end">${esc(fmt(y1))}</text>
<text class="y-title" x="10" y="${(H - M.bottom + M.top) / 2}" transform="rotate(-90 10 ${(H - M.bottom + M.top) / 2})" text-anchor="middle">${esc(options.yTitle)}</text>
<text class="x-title" x="${(W + M.left) / 2}" y="${H - 2}" text-anchor="middle">${esc(options.xTitle)}</text>
${xEnds}${pointLabels}
${ticks.map((p) => `<text class="x-tick" x="${px(p.x).toFixed(1)}" y="${H - M.bottom + 12}" text-anchor="middle">${esc(p.label)}</text>`).join('')}
${options.bound !== undefined ? `<line class="bound" data-value="${options.bound}" x1="${M.left}" x2="${W - M.right}" y1="${py(options.bound).toFixed(1)}" y2="${py(options.bound).toFixed(1)}"/><text class="bound-label" x="${W - M.right}" y="${(py(options.bound) - 3).toFixed(1)}" text-anchor="end">bound ${esc(fmt(options.bound))}</text>` : ''}
${options.pointsOnly ? '' : `<path class="line" d="${path}"/>`}
${points.map((p) => `<circle class="point" data-value="${p.y}" data-x="${p.x}" cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="3.5"><title>${esc(p.label)}: ${esc(fmt(p.y))}</title></circle>`).join('')}
</svg></figure>`;
}

/** Horizontal bars from zero, widths proportional to the values; each bar labelled with its value. */
export function barChart(id: string, title: string, bars: { label: string; value: number; peer?: boolean }[], unit: string): string {
  if (!bars.length) return `<figure id="${esc(id)}"><figcaption>${esc(title)}</figcaption><p>no data yet</p></figure>`;
  const max = Math.max(...bars.map((b) => b.value));
  const left = 150;
  const width = 440;
  const row = 26;
  const h = bars.length * row + 26;
  return `<figure id="${esc(id)}"><figcaption>${esc(title)}</figcaption>
<svg viewBox="0 0 ${left + width + 90} ${h}" width="${left + width + 90}" height="${h}" role="img" aria-label="${esc(title)}">
${bars.map((b, i) => {
    const w = (b.value / max) * width;
    return `<text class="bar-label" x="${left - 6}" y="${i * row + 17}" text-anchor="end">${esc(b.label)}</text><rect class="bar${b.peer ? ' peer' : ''}" data-value="${b.value}" x="${left}" y="${i * row + 4}" width="${w.toFixed(2)}" height="${row - 8}"/><text class="bar-value" x="${(left + w + 5).toFixed(1)}" y="${i * row + 17}">${esc(fmt(b.value))} ${esc(unit)}</text>`;
  }).join('\n')}
<line class="axis" x1="${left}" y1="0" x2="${left}" y2="${bars.length * row + 4}"/>
<text class="x-min" x="${left}" y="${h - 4}" text-anchor="middle">0</text><text class="x-max" data-max="${max}" x="${left + width}" y="${h - 4}" text-anchor="middle">${esc(fmt(max))}</text>
</svg></figure>`;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1180px;color:#1b1f24;padding:0 16px}
h1{font-size:22px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.grid{display:flex;flex-wrap:wrap;gap:14px 22px;align-items:flex-start}figure{margin:0}figure.line-chart{width:${W}px}figcaption{font-weight:600;font-size:13px;margin-bottom:2px}
svg text{font-size:10.5px;fill:#444}.axis{stroke:#888}.line{fill:none;stroke:#0969da;stroke-width:1.6}.point{fill:#0969da}
.bound{stroke:#cf222e;stroke-dasharray:5 4}.bound-label{fill:#cf222e}.bar{fill:#0969da}.bar.peer{fill:#8c959f}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #d0d7de;padding:3px 8px;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#1a7f37;font-weight:600}.FAIL,.MISSING{color:#cf222e;font-weight:700}.meta{color:#57606a}`;

/** The whole page for a history (oldest run first) and the gates it was checked against. */
export function renderReport(history: HistoryLine[], gates: Record<string, Gate>): string {
  const latest = history.at(-1);
  const run = (h: HistoryLine, i: number) => ({ x: i + 1, label: h.commit.slice(0, 7) });
  const trends = Object.entries(gates).map(([id, g]) => lineChart(`trend-${id}`, `${g.label} (${id})`,
    history.flatMap((h, i) => (h.figures[id] !== undefined ? [{ ...run(h, i), y: h.figures[id]! }] : [])),
    { bound: g.min ?? g.max, xTitle: 'run (commit)', yTitle: id.length > 22 ? 'ratio' : id, xIsIndex: true }));
  const verdicts = latest ? `<table id="verdicts"><thead><tr><th>figure</th><th>what</th><th>value</th><th>bound</th><th>verdict</th></tr></thead><tbody>
${Object.entries(gates).map(([id, g]) => {
    const v = latest.figures[id];
    const verdict = latest.verdicts[id] ?? 'MISSING';
    return `<tr><td>${esc(id)}</td><td>${esc(g.label)}</td><td class="num">${v === undefined ? '-' : esc(fmt(v))}</td><td>${g.min !== undefined ? `&ge; ${g.min}` : `&le; ${g.max}`}</td><td class="${esc(verdict)}">${esc(verdict)}</td></tr>`;
  }).join('\n')}</tbody></table>` : '<p>No runs yet: run <code>npm run bench:ci</code>.</p>';

  const node = latest?.details.node as { textsPerSec: Record<string, number>; texts: number } | undefined;
  const browser = latest?.details.browser as { textsPerSec: Record<string, number>; texts: number } | undefined;
  const bars = [
    ...(node ? [{ label: 'Node CPU: bulk-embed', value: node.textsPerSec.engine! }, { label: 'Node CPU: transformers.js', value: node.textsPerSec.transformersJs!, peer: true }, { label: 'Node CPU: raw session.run', value: node.textsPerSec.ceiling!, peer: true }] : []),
  ];
  const browserBars = browser ? [{ label: 'WASM: bulk-embed', value: browser.textsPerSec.engine! }, { label: 'WASM: transformers.js', value: browser.textsPerSec.transformersJs!, peer: true }] : [];
  const stream = latest?.details.stream as { rssMbAt: Record<string, number> } | undefined;
  const rss = stream ? Object.entries(stream.rssMbAt).map(([k, v]) => ({ x: Number(k) / 1000, y: v, label: `${Number(k) / 1000}K` })) : [];
  const search = latest?.details.search as { vectors: number; layouts: { layout: string; medianQuerySeconds: number; recallAt10: number }[] } | undefined;
  const searchPoints = search ? search.layouts.map((l) => ({ x: l.medianQuerySeconds * 1000, y: l.recallAt10, label: l.layout })) : [];
  const searchTable = search ? `<table id="search-table"><thead><tr><th>layout</th><th>ms a query</th><th>recall@10</th></tr></thead><tbody>${search.layouts.map((l) => `<tr><td>${esc(l.layout)}</td><td class="num">${esc(fmt(l.medianQuerySeconds * 1000))}</td><td class="num">${esc(fmt(l.recallAt10))}</td></tr>`).join('')}</tbody></table>` : '';

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>bulk-embed benchmarks</title><style>${STYLE}</style></head><body>
<h1>bulk-embed benchmarks (bench:ci)</h1>
<p class="meta">${latest ? `Latest run: commit <code>${esc(latest.commit)}</code>, ${esc(latest.date)}, ${esc(latest.machine.cores)} cores (${esc(latest.machine.cpu)}), Node ${esc(latest.machine.node)}; the suite took ${esc(latest.wallSeconds.toFixed(0))} s.` : ''} ${history.length} run${history.length === 1 ? '' : 's'} in the history. Every gated figure is a ratio of two things measured side by side in the same run; the bounds are in <code>bench/gates.json</code>, each with its reason.</p>
<h2>Gate, latest run</h2>
${verdicts}
<h2>Trend of every gated figure</h2>
<div class="grid" id="trends">${trends.join('\n')}</div>
<h2>Against transformers.js, latest run (texts/s, higher is better)</h2>
<div class="grid">${barChart('bars-node', `Node CPU, fixture-minilm, ${node?.texts ?? ''} mixed texts`, bars, 'texts/s')}
${barChart('bars-browser', `Chromium, same page, WASM, fixture-minilm, ${browser?.texts ?? ''} texts`, browserBars, 'texts/s')}</div>
<h2>Streaming memory (embedTo, fixture-tiny), latest run</h2>
<div class="grid">${lineChart('rss-curve', 'peak RSS while streaming', rss, { xTitle: 'records embedded (thousands)', yTitle: 'peak RSS (MB)' })}</div>
<h2>Vector search, latest run${search ? ` (${search.vectors / 1000}K vectors, 384 dims)` : ''}</h2>
<div class="grid">${lineChart('search-points', 'time a query vs recall@10', searchPoints, { xTitle: 'median ms a query', yTitle: 'recall@10', pointsOnly: true })}${searchTable}</div>
</body></html>
`;
}

// As a script: render the repository's history next to it.
if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const { gates } = JSON.parse(readFileSync(join(import.meta.dirname, 'gates.json'), 'utf8')) as { gates: Record<string, Gate> };
  const out = process.argv[2] ?? join(import.meta.dirname, 'results', 'report.html');
  const history = readHistory(process.argv[3]);
  writeFileSync(out, renderReport(history, gates));
  console.log(`wrote ${out} (${history.length} runs)`);
}
