// A 2-D map of a collection, computed on the device: UMAP (umap-js, seeded, in a worker) for up to
// a few thousand rows, PCA (power iteration on the centred rows, no matrix formed) above that or
// for a handful; drawn as SVG, one point per row, one colour per file; the query is a star with
// lines to its hits.
import { escapeHtml } from './text.js';
import type { MapWorkerReply, MapWorkerRequest } from './map-worker.js';

export interface MapRow {
  id: string;
  source: string;
  title: string;
  text: string;
  vector: Float32Array;
}

export interface Projection {
  mean: Float64Array;
  axes: [Float64Array, Float64Array];
  project(v: ArrayLike<number>): [number, number];
}

const COLOURS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#ff7f0e'];

/** The first two principal axes of the rows (power iteration with deflation, a fixed seed). */
export function pca(vectors: ArrayLike<number>[]): Projection {
  const dim = vectors[0]?.length ?? 0;
  const mean = new Float64Array(dim);
  for (const v of vectors) for (let j = 0; j < dim; j++) mean[j]! += v[j]! / vectors.length;
  const axes: Float64Array[] = [];
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) - 0.5;
  for (let c = 0; c < 2; c++) {
    let axis = Float64Array.from({ length: dim }, rand);
    for (let iter = 0; iter < 60; iter++) {
      const next = new Float64Array(dim);
      for (const v of vectors) {
        let dot = 0;
        for (let j = 0; j < dim; j++) dot += (v[j]! - mean[j]!) * axis[j]!;
        for (let j = 0; j < dim; j++) next[j]! += dot * (v[j]! - mean[j]!);
      }
      for (const prev of axes) { // deflate: keep it orthogonal to the axes found
        let dot = 0;
        for (let j = 0; j < dim; j++) dot += next[j]! * prev[j]!;
        for (let j = 0; j < dim; j++) next[j]! -= dot * prev[j]!;
      }
      const norm = Math.hypot(...next) || 1;
      axis = next.map((x) => x / norm);
    }
    axes.push(axis);
  }
  const project = (v: ArrayLike<number>): [number, number] => {
    const out: [number, number] = [0, 0];
    for (let c = 0; c < 2; c++) for (let j = 0; j < dim; j++) out[c]! += (v[j]! - mean[j]!) * axes[c]![j]!;
    return out;
  };
  return { mean, axes: axes as [Float64Array, Float64Array], project };
}

/** Where the rows land, and how to place a query by the same projection. */
export interface Layout {
  projection: 'umap' | 'pca';
  points: [number, number][];
  place(query: Float32Array): Promise<[number, number]>;
  dispose(): void;
}

/** UMAP for sets of `umapMin` to `umapMax` rows, PCA otherwise. */
export async function layout(vectors: Float32Array[], { umapMin = 8, umapMax = 2000, seed = 27 } = {}): Promise<Layout> {
  if (vectors.length < umapMin || vectors.length > umapMax) {
    const projection = pca(vectors);
    return { projection: 'pca', points: vectors.map((v) => projection.project(v)), place: async (q) => projection.project(q), dispose: () => undefined };
  }
  const worker = new Worker(new URL('./map-worker.ts', import.meta.url), { type: 'module', name: 'bulk-embed-map' });
  let next = 0;
  const ask = (request: Omit<MapWorkerRequest, 'id'>) => new Promise<[number, number][]>((resolve, reject) => {
    const id = next++;
    const onMessage = (event: MessageEvent<MapWorkerReply>) => {
      if (event.data.id !== id) return;
      worker.removeEventListener('message', onMessage);
      if ('error' in event.data) reject(new Error(event.data.error));
      else resolve(event.data.points);
    };
    worker.addEventListener('message', onMessage);
    worker.addEventListener('error', (e) => reject(new Error(e.message || 'the map worker failed')), { once: true });
    worker.postMessage({ ...request, id });
  });
  try {
    const points = await ask({ fit: vectors.map((v) => Array.from(v)), seed });
    return { projection: 'umap', points, place: async (q) => (await ask({ transform: Array.from(q) }))[0]!, dispose: () => worker.terminate() };
  } catch (error) {
    worker.terminate();
    throw error;
  }
}

export interface DrawnMap {
  /** Marks the query and its hits (ids), or clears them with null. */
  mark(query: Float32Array | null, hitIds: string[]): Promise<void>;
  dispose(): void;
}

const W = 640, H = 400, PAD = 16;

/** Draws the rows into `host` (an SVG map and an HTML legend); hover or focus shows a paragraph in `tip`. */
export function drawMap(host: HTMLElement, tip: HTMLElement, rows: MapRow[], caption: string, laid: Layout): DrawnMap {
  const { points } = laid;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  let [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const pad = (a: number, b: number) => (b - a || 1) * 0.08;
  [x0, x1, y0, y1] = [x0 - pad(x0, x1), x1 + pad(x0, x1), y0 - pad(y0, y1), y1 + pad(y0, y1)];
  const sx = (x: number) => PAD + ((x - x0) / (x1 - x0 || 1)) * (W - 2 * PAD);
  const sy = (y: number) => H - PAD - ((y - y0) / (y1 - y0 || 1)) * (H - 2 * PAD);
  const sources = [...new Set(rows.map((r) => r.source))];
  const colour = (s: string) => COLOURS[sources.indexOf(s) % COLOURS.length]!;
  const circles = rows.map((r, i) => `<circle class="point" data-i="${i}" cx="${sx(points[i]![0]).toFixed(1)}" cy="${sy(points[i]![1]).toFixed(1)}" r="5" fill="${colour(r.source)}"><title>${escapeHtml(r.title)}</title></circle>`).join('');
  host.innerHTML = `<svg id="map-svg" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeHtml(caption)}" data-points="${rows.length}" data-projection="${laid.projection}">
    <rect x="0" y="0" width="${W}" height="${H}" fill="#fff"/><g class="links"></g><g class="points">${circles}</g><g class="query"></g></svg>
    <ul class="map-legend">${sources.map((s) => `<li><span class="swatch" style="background:${colour(s)}"></span>${escapeHtml(s)}</li>`).join('')}</ul>`;
  const svg = host.querySelector('svg')!;
  const show = (i: number) => {
    const r = rows[i]!;
    tip.innerHTML = `<strong>${escapeHtml(r.title)}</strong><br>${escapeHtml(r.text.length > 400 ? `${r.text.slice(0, r.text.lastIndexOf(' ', 400))} …` : r.text)}`;
  };
  svg.addEventListener('pointermove', (e) => {
    const target = (e.target as Element).closest('circle.point') as SVGCircleElement | null;
    if (target) show(Number(target.dataset.i));
  });
  let marks = 0;
  return {
    dispose: () => laid.dispose(),
    async mark(query, hitIds) {
      const seq = ++marks;
      const placed = query ? await laid.place(query).catch(() => null) : null;
      if (seq !== marks) return; // a newer query was marked meanwhile
      const links = svg.querySelector('g.links')!;
      const star = svg.querySelector('g.query')!;
      for (const c of svg.querySelectorAll('circle.hit')) { c.classList.remove('hit'); c.setAttribute('r', '5'); }
      links.innerHTML = '';
      star.innerHTML = '';
      if (!query) return;
      const byId = new Map(rows.map((r, i) => [r.id, i]));
      const hits = hitIds.map((id) => byId.get(id)).filter((i) => i !== undefined);
      // Where the projection cannot place the query, or places it off the map (UMAP may put a short query far from
      // every paragraph), the star sits at the middle of its hits.
      const inside = placed && placed[0] >= x0 && placed[0] <= x1 && placed[1] >= y0 && placed[1] <= y1;
      const at = inside ? placed : ([0, 1].map((c) => hits.reduce((sum, i) => sum + points[i]![c]!, 0) / (hits.length || 1)) as [number, number]);
      const [qx, qy] = [sx(at[0]), sy(at[1])];
      for (const i of hits) {
        const c = svg.querySelector(`circle[data-i="${i}"]`)!;
        c.classList.add('hit');
        c.setAttribute('r', '7');
        links.insertAdjacentHTML('beforeend', `<line x1="${qx.toFixed(1)}" y1="${qy.toFixed(1)}" x2="${c.getAttribute('cx')}" y2="${c.getAttribute('cy')}" stroke="#1a1a1a" stroke-width="1.2" stroke-dasharray="4 3"/>`);
      }
      const starPath = Array.from({ length: 10 }, (_, k) => {
        const a = -Math.PI / 2 + (k * Math.PI) / 5;
        const rad = k % 2 ? 5 : 12;
        return `${(qx + rad * Math.cos(a)).toFixed(1)},${(qy + rad * Math.sin(a)).toFixed(1)}`;
      }).join(' ');
      star.innerHTML = `<polygon class="query-star" points="${starPath}" fill="#f59e0b" stroke="#1a1a1a" stroke-width="1.5"><title>your query</title></polygon>`;
      if (hitIds.length) show(byId.get(hitIds[0]!) ?? 0);
    },
  };
}
