// The topology map: the shop's boxes and the calls between them, drawn as
// SVG from the live stats (edge_up, edge_rps, edge_lat, svc_*). Only the
// edges the shop reports as in force (edge_up = 1) are drawn, so switching
// to the monolith or to async checkout redraws the map. Node positions are
// fixed per box, left to right in the direction calls flow.

import type { Stats } from '@/model';
import { formatMs, formatPercent } from '@/format';

const W = 1000;
const H = 470;

/** Boxes are BW × BH. */
const BW = 150;
const BH = 56;

/** POSITIONS places each box (centre, in viewBox units). */
const POSITIONS: Readonly<Record<string, [number, number]>> = {
  client: [80, 235],
  cdn: [130, 60],
  gateway: [260, 235],
  product: [480, 45],
  search: [480, 140],
  cart: [480, 235],
  monolith: [480, 235],
  order: [480, 330],
  static: [480, 425],
  cache: [715, 45],
  auth: [715, 185],
  inventory: [715, 285],
  queue: [690, 425],
  worker: [860, 425],
  db: [915, 140],
  payment: [915, 305],
  notification: [915, 425],
};

/** Health of a box: by its error ratio, then its utilisation or breaker. */
export type Health = 'ok' | 'warn' | 'bad' | 'idle';

/** Edge is one call path with its live numbers. */
export interface Edge {
  from: string;
  to: string;
  rps: number;
  latency: number | null;
  errors: number;
}

/** NodeInfo is one box with its live numbers. */
export interface NodeInfo {
  name: string;
  rps: number | null;
  errorRatio: number | null;
  p99: number | null;
  util: number | null;
  replicas: number | null;
  health: Health;
}

/** edgesOf lists the edges in force, with their rates and latencies. */
export function edgesOf(stats: Stats): Edge[] {
  const out: Edge[] = [];
  for (const [id, up] of Object.entries(stats)) {
    if (!id.startsWith('edge_up:') || up !== 1) continue;
    const pair = id.slice('edge_up:'.length);
    const [from, to] = pair.split('>') as [string, string];
    out.push({
      from,
      to,
      rps: stats[`edge_rps:${pair}`] ?? 0,
      latency: stats[`edge_lat:${pair}`] ?? null,
      errors: stats[`edge_err:${pair}`] ?? 0,
    });
  }
  return out.sort((a, b) => (a.from + a.to).localeCompare(b.from + b.to));
}

/** healthOf classifies a box: errors above 5 % are bad; above 1 % or busy above 85 % warn. */
export function healthOf(rps: number | null, errorRatio: number | null, util: number | null, breakerOpen: boolean): Health {
  if ((errorRatio ?? 0) > 0.05) return 'bad';
  if ((errorRatio ?? 0) > 0.01 || (util ?? 0) > 0.85 || breakerOpen) return 'warn';
  if (!rps) return 'idle';
  return 'ok';
}

/** nodesOf lists the boxes the edges touch, with their numbers. */
export function nodesOf(stats: Stats, edges: readonly Edge[]): NodeInfo[] {
  const names = new Set<string>();
  for (const e of edges) names.add(e.from).add(e.to);
  const breakerOpen = (stats.breaker ?? 0) === 1;
  return [...names].sort().map((name) => {
    // A box without its own request counter (the client, the monolith, whose
    // requests are counted by the part that served them) shows what flows in
    // (or, for the client, out).
    const inflow = edges.filter((e) => e.to === name).reduce((sum, e) => sum + e.rps, 0);
    const outflow = edges.filter((e) => e.from === name).reduce((sum, e) => sum + e.rps, 0);
    const rps = stats[`svc_rps:${name}`] ?? (name === 'client' ? outflow : inflow > 0 ? inflow : null);
    const errorRatio = stats[`svc_err:${name}`] ?? null;
    const util = stats[`svc_util:${name}`] ?? null;
    return {
      name,
      rps,
      errorRatio,
      p99: stats[`svc_p99:${name}`] ?? null,
      util,
      replicas: stats[`svc_replicas:${name}`] ?? null,
      health: healthOf(rps, errorRatio, util, breakerOpen && name === 'gateway'),
    };
  });
}

const SVG = 'http://www.w3.org/2000/svg';

function el<K extends keyof SVGElementTagNameMap>(doc: Document, tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const e = doc.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function rate(v: number | null): string {
  if (v === null) return '—';
  return v >= 100 ? `${v.toFixed(0)}/s` : v >= 10 ? `${v.toFixed(1)}/s` : `${v.toFixed(2)}/s`;
}

/** TopologyMap draws the map into an <svg> and redraws it on every update. */
export class TopologyMap {
  private shownKey = '';

  constructor(private readonly svg: SVGSVGElement) {
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('role', 'img');
  }

  /** render draws the boxes and edges of stats; a no-op when nothing changed. */
  render(stats: Stats): void {
    const edges = edgesOf(stats);
    const nodes = nodesOf(stats, edges);
    const key = JSON.stringify([edges, nodes]);
    if (key === this.shownKey) return;
    this.shownKey = key;
    const doc = this.svg.ownerDocument;
    const kids: SVGElement[] = [];
    const defs = el(doc, 'defs', {});
    const marker = el(doc, 'marker', {
      id: 'arrow',
      viewBox: '0 0 10 10',
      refX: 10,
      refY: 5,
      markerUnits: 'userSpaceOnUse',
      markerWidth: 12,
      markerHeight: 12,
      orient: 'auto-start-reverse',
    });
    marker.append(el(doc, 'path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow' }));
    defs.append(marker);
    kids.push(defs);
    for (const e of edges) {
      const a = POSITIONS[e.from];
      const b = POSITIONS[e.to];
      if (!a || !b) continue;
      const g = el(doc, 'g', { class: `edge${e.errors > 0 ? ' failing' : ''}` });
      g.dataset.from = e.from;
      g.dataset.to = e.to;
      g.dataset.rps = String(e.rps);
      // From the border of one box to the border of the other.
      const [x1, y1, x2, y2] = clip(a, b);
      const width = Math.min(8, 1 + Math.log10(1 + e.rps) * 2.2);
      g.append(el(doc, 'line', { x1, y1, x2, y2, 'stroke-width': width, 'marker-end': 'url(#arrow)' }));
      // Labels sit 45 % of the way along, so those of edges into one box do not meet.
      if (Math.hypot(x2 - x1, y2 - y1) > 80) {
        // Too short an edge keeps its numbers in its tooltip only.
        const label = el(doc, 'text', { x: x1 + (x2 - x1) * 0.45, y: y1 + (y2 - y1) * 0.45 - 5, class: 'edge-label' });
        label.textContent = e.latency === null ? rate(e.rps) : `${rate(e.rps)} · ${formatMs(e.latency)}`;
        g.append(label);
      }
      const title = el(doc, 'title', {});
      title.textContent = `${e.from} → ${e.to}: ${rate(e.rps)}, mean ${formatMs(e.latency)}, ${rate(e.errors)} failing`;
      g.append(title);
      kids.push(g);
    }
    for (const n of nodes) {
      const p = POSITIONS[n.name];
      if (!p) continue;
      const g = el(doc, 'g', { class: `node ${n.health}`, transform: `translate(${p[0] - BW / 2} ${p[1] - BH / 2})` });
      g.dataset.node = n.name;
      g.dataset.health = n.health;
      g.dataset.rps = n.rps === null ? '' : String(n.rps);
      g.dataset.util = n.util === null ? '' : String(n.util);
      g.append(el(doc, 'rect', { width: BW, height: BH, rx: 8 }));
      const name = el(doc, 'text', { x: BW / 2, y: 20, class: 'node-name' });
      name.textContent = n.replicas && n.replicas > 1 ? `${n.name} ×${n.replicas}` : n.name;
      const line = el(doc, 'text', { x: BW / 2, y: 38, class: 'node-line' });
      line.textContent = n.p99 !== null ? `${rate(n.rps)} · p99 ${formatMs(n.p99)}` : rate(n.rps);
      g.append(name, line);
      if (n.util !== null) {
        g.append(el(doc, 'rect', { x: 10, y: 45, width: BW - 20, height: 5, class: 'util-bg' }));
        g.append(el(doc, 'rect', { x: 10, y: 45, width: Math.max(0, Math.min(1, n.util)) * (BW - 20), height: 5, class: 'util' }));
      }
      const title = el(doc, 'title', {});
      title.textContent = `${n.name}: ${rate(n.rps)}, errors ${formatPercent(n.errorRatio)}, p99 ${formatMs(n.p99)}, busy ${formatPercent(n.util)}`;
      g.append(title);
      kids.push(g);
    }
    this.svg.replaceChildren(...kids);
    this.svg.dataset.edges = String(edges.length);
    this.svg.dataset.nodes = String(nodes.length);
    this.svg.setAttribute('aria-label', `Topology: ${nodes.map((n) => n.name).join(', ')}`);
  }
}

/** clip shortens the segment between two box centres to run between their borders. */
function clip(a: readonly [number, number], b: readonly [number, number]): [number, number, number, number] {
  const dx = b[0] - a[0];
  const dy = b[1] - a[1];
  const t = (hw: number, hh: number): number => {
    const tx = dx === 0 ? Infinity : hw / Math.abs(dx);
    const ty = dy === 0 ? Infinity : hh / Math.abs(dy);
    return Math.min(tx, ty);
  };
  const s = t(BW / 2 + 2, BH / 2 + 2);
  return [a[0] + dx * s, a[1] + dy * s, b[0] - dx * s, b[1] - dy * s];
}
