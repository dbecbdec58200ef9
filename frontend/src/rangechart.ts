// Charts of PromQL range queries (the service detail, the query box), and a
// latency heatmap drawn from histogram buckets. Unlike the overview charts
// these are not fed by the websocket: they ask /api/v1/query_range, the same
// API Grafana would use.

import uPlot from 'uplot';
import type { RangeSeries } from '@/api';
import { axisTick, formatClock, NO_VALUE } from '@/format';

/** SERIES_COLOURS is the Okabe–Ito palette, in an order that keeps neighbours distinct. */
const SERIES_COLOURS = ['#56B4E9', '#E69F00', '#009E73', '#D55E00', '#CC79A7', '#0072B2', '#F0E442', '#999999'];

/** seriesLabel names a series by its labels, as Prometheus prints them. */
export function seriesLabel(metric: Record<string, string>): string {
  const name = metric.__name__ ?? '';
  const rest = Object.entries(metric)
    .filter(([k]) => k !== '__name__')
    .map(([k, v]) => `${k}="${v}"`)
    .join(', ');
  return rest ? `${name}{${rest}}` : name || '{}';
}

/**
 * align turns a query_range answer into uPlot's columns: the union of the
 * series' times, and per series its values there (null where it has none).
 */
export function align(result: readonly RangeSeries[], scale = 1): uPlot.AlignedData {
  const times = [...new Set(result.flatMap((s) => s.values.map((v) => v[0])))].sort((a, b) => a - b);
  const index = new Map(times.map((t, i) => [t, i]));
  const cols = result.map((s) => {
    const col: Array<number | null> = new Array<number | null>(times.length).fill(null);
    for (const [t, v] of s.values) {
      const x = Number(v);
      col[index.get(t) as number] = Number.isFinite(x) ? x * scale : null;
    }
    return col;
  });
  return [times, ...cols] as uPlot.AlignedData;
}

/** RangeChart shows one query_range answer; its series may change between updates. */
export class RangeChart {
  private plot: uPlot | null = null;
  private labels = '';

  constructor(
    private readonly container: HTMLElement,
    private readonly unit: string,
    private readonly scale = 1,
    private readonly height = 200,
  ) {}

  /** update draws result, rebuilding the chart when its series changed. */
  update(result: readonly RangeSeries[], label: (m: Record<string, string>) => string = seriesLabel): void {
    const names = result.map((s) => label(s.metric));
    const data = align(result, this.scale);
    const key = names.join('\n');
    if (!this.plot || key !== this.labels) {
      this.plot?.destroy();
      this.labels = key;
      const text = getComputedStyle(this.container).getPropertyValue('--fg-muted').trim() || '#b4bac4';
      const grid = getComputedStyle(this.container).getPropertyValue('--grid').trim() || 'rgba(128,128,128,0.15)';
      const font = '13px system-ui, -apple-system, "Segoe UI", sans-serif';
      this.plot = new uPlot(
        {
          width: Math.max(240, this.container.clientWidth),
          height: this.height,
          scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Number.isFinite(max) && max > 0 ? max * 1.1 : 1] } },
          axes: [
            { stroke: text, font, space: 90, grid: { stroke: grid }, values: (_u, splits, _a, _s, incr) => splits.map((t) => (incr < 60 ? formatClock(t) : formatClock(t).slice(0, 5))) },
            {
              stroke: text,
              font,
              size: 84,
              grid: { stroke: grid },
              values: (_u, splits, _a, _s, incr) => splits.map((v) => axisTick(v, incr, this.unit)),
            },
          ],
          series: [
            { label: 'time', value: (_u, t) => (t === null || t === undefined ? NO_VALUE : formatClock(t)) },
            ...names.map(
              (n, i): uPlot.Series => ({
                label: n,
                stroke: SERIES_COLOURS[i % SERIES_COLOURS.length],
                width: 2,
                points: { show: false },
                value: (_u, v) => (v === null || v === undefined ? NO_VALUE : `${+v.toPrecision(3)} ${this.unit}`),
              }),
            ),
          ],
          legend: { show: true, live: true },
        },
        data,
        this.container,
      );
    } else {
      this.plot.setData(data);
    }
    this.container.dataset.series = String(result.length);
    this.container.dataset.points = String(data[0].length);
  }

  /** canvas is the chart's drawing, for export. */
  canvas(): HTMLCanvasElement | null {
    return this.plot?.ctx.canvas ?? null;
  }
}

/** Heatmap cells: per time column, the request rate in each latency bucket. */
export interface HeatmapData {
  times: number[];
  /** Upper bounds of the buckets, ascending, +Inf last. */
  bounds: number[];
  /** rates[t][b]: requests/s in bucket b (between bounds[b-1] and bounds[b]) at times[t]. */
  rates: number[][];
}

/**
 * heatmapOf turns cumulative bucket rates by le (sum by (le) of rate of a
 * _bucket series) into per-bucket rates: each bucket minus the one below.
 */
export function heatmapOf(result: readonly RangeSeries[]): HeatmapData {
  const series = result
    .map((s) => ({ le: s.metric.le === '+Inf' ? Infinity : Number(s.metric.le), values: s.values }))
    .filter((s) => !Number.isNaN(s.le))
    .sort((a, b) => a.le - b.le);
  const times = [...new Set(series.flatMap((s) => s.values.map((v) => v[0])))].sort((a, b) => a - b);
  const at = series.map((s) => new Map(s.values.map(([t, v]) => [t, Number(v)])));
  const rates = times.map((t) => {
    let below = 0;
    return at.map((m) => {
      const cum = m.get(t) ?? below;
      const r = Math.max(0, cum - below);
      below = Math.max(below, cum);
      return r;
    });
  });
  return { times, bounds: series.map((s) => s.le), rates };
}

/** drawHeatmap paints h on a canvas: time across, buckets up, darker = more requests. */
export function drawHeatmap(canvas: HTMLCanvasElement, h: HeatmapData, colour: string): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const w = canvas.width;
  const ht = canvas.height;
  ctx.clearRect(0, 0, w, ht);
  const cols = h.times.length;
  const rows = h.bounds.length;
  if (cols === 0 || rows === 0) return;
  const max = Math.max(1e-9, ...h.rates.flat());
  const left = 70;
  const cw = (w - left) / cols;
  const rh = (ht - 20) / rows;
  ctx.fillStyle = colour;
  h.rates.forEach((col, i) => {
    col.forEach((r, b) => {
      if (r <= 0) return;
      ctx.globalAlpha = 0.15 + 0.85 * Math.sqrt(r / max);
      ctx.fillRect(left + i * cw, ht - 20 - (b + 1) * rh, Math.ceil(cw), Math.ceil(rh) - 1);
    });
  });
  ctx.globalAlpha = 1;
  ctx.fillStyle = getComputedStyle(canvas).getPropertyValue('--fg-muted').trim() || '#999';
  ctx.font = '12px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  h.bounds.forEach((le, b) => {
    if (b % 2 === 1 && rows > 8) return;
    const label = le === Infinity ? '+Inf' : le >= 1 ? `≤${le} s` : `≤${+(le * 1000).toPrecision(3)} ms`;
    ctx.fillText(label, 2, ht - 20 - (b + 0.5) * rh);
  });
  ctx.fillText(formatClock(h.times[0] as number).slice(0, 5), left, ht - 8);
  const lastLabel = formatClock(h.times[cols - 1] as number).slice(0, 5);
  ctx.fillText(lastLabel, w - ctx.measureText(lastLabel).width - 2, ht - 8);
}
