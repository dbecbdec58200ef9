// The three uPlot charts. Each is built once and fed with setData from the
// model's columnar arrays on every tick (as uPlot's stream-data demo does);
// resizing calls setSize. Data is scaled to display units here (seconds →
// ms, ratio → %) so axes, legends and the big numbers agree. Annotations are
// drawn by a small plugin in uPlot's draw hook.

import uPlot from 'uplot';
import type { Annotation, Model, SeriesName, Value } from '@/model';
import { visibleAnnotations } from '@/model';
import { axisTick, formatClock, formatMs, formatPercent, formatRate, NO_VALUE } from '@/format';

/** The charts on the page. */
export type ChartKind = 'latency' | 'throughput' | 'errors' | 'saturation';

/** ChartSpec describes one chart: which series, in which unit. */
export interface ChartSpec {
  kind: ChartKind;
  /** Axis unit, in display units. */
  unit: string;
  /** Multiplier from the server's unit to the display unit. */
  scale: number;
  /** Formats a value in the server's unit for the legend. */
  format: (v: Value) => string;
  series: ReadonlyArray<{ name: SeriesName; label: string; dash?: number[] }>;
}

/** CHARTS lists the charts in page order. */
export const CHARTS: readonly ChartSpec[] = [
  {
    kind: 'latency',
    unit: 'ms',
    scale: 1000,
    format: formatMs,
    series: [
      // Dashes as well as colours, so the lines stay distinct in greyscale.
      { name: 'p50', label: 'p50', dash: [2, 4] },
      { name: 'p95', label: 'p95', dash: [10, 5] },
      { name: 'p99', label: 'p99' },
    ],
  },
  {
    kind: 'throughput',
    unit: 'req/s',
    scale: 1,
    format: formatRate,
    series: [
      { name: 'offered', label: 'offered', dash: [4, 4] },
      { name: 'throughput', label: 'successful' },
    ],
  },
  { kind: 'errors', unit: '%', scale: 100, format: formatPercent, series: [{ name: 'errors', label: 'not 2xx' }] },
  { kind: 'saturation', unit: '%', scale: 100, format: formatPercent, series: [{ name: 'saturation', label: 'busiest service' }] },
];

/** Palette holds the theme's colours, read from CSS custom properties. */
export interface Palette {
  text: string;
  grid: string;
  annotation: string;
  annotationBg: string;
  series: Record<SeriesName, string>;
}

/** readPalette reads the current theme's colours from CSS variables on el. */
export function readPalette(el: Element): Palette {
  const css = getComputedStyle(el);
  const v = (name: string, fallback: string): string => css.getPropertyValue(name).trim() || fallback;
  return {
    text: v('--fg-muted', '#c8c8c8'),
    grid: v('--grid', 'rgba(255,255,255,0.08)'),
    annotation: v('--annotation', '#F0E442'),
    annotationBg: v('--bg-panel', '#1b1d22'),
    series: {
      p50: v('--c-p50', '#56B4E9'),
      p95: v('--c-p95', '#E69F00'),
      p99: v('--c-p99', '#D55E00'),
      throughput: v('--c-throughput', '#009E73'),
      errors: v('--c-errors', '#CC79A7'),
      offered: v('--c-offered', '#999999'),
      saturation: v('--c-saturation', '#0072B2'),
    },
  };
}

/** columns builds uPlot's aligned data for a chart: times, then each series in display units. */
export function columns(m: Model, spec: ChartSpec): uPlot.AlignedData {
  // Where no point came for a while (archscope was stopped, the target was
  // down), a null just after the last point breaks the line: a gap is
  // drawn as a gap, not as a straight line across it.
  const gap = Math.max(GAP_SECONDS, 5 * medianStep(m.times));
  const times: number[] = [];
  const cols: Array<Array<number | null>> = spec.series.map(() => []);
  m.times.forEach((t, i) => {
    const prev = m.times[i - 1];
    if (prev !== undefined && t - prev > gap) {
      times.push(prev + 1e-3);
      for (const c of cols) c.push(null);
    }
    times.push(t);
    spec.series.forEach((s, k) => {
      const v = m.values[s.name][i];
      (cols[k] as Array<number | null>).push(v === null || v === undefined ? null : v * spec.scale);
    });
  });
  return [times, ...cols] as uPlot.AlignedData;
}

/** GAP_SECONDS is the least silence drawn as a gap (1 s points). */
const GAP_SECONDS = 5;

function medianStep(times: readonly number[]): number {
  if (times.length < 3) return 0;
  const steps = times.slice(1).map((t, i) => t - (times[i] as number)).sort((a, b) => a - b);
  return steps[steps.length >> 1] as number;
}

/**
 * annotationX maps a time to a horizontal position on a linear x scale
 * spanning [min, max] drawn over [left, left+width]; null when the time is
 * outside the scale (such a marker is not drawn).
 */
/**
 * zoomRange is the x span a drag across a chart selects, or null when there
 * is nothing to zoom into: before a chart's first point its x scale is
 * uPlot's placeholder, and a drag there would zoom every chart to years.
 */
export function zoomRange(points: number, from: number, to: number): [number, number] | null {
  if (points === 0 || !Number.isFinite(from) || !Number.isFinite(to) || to <= from) return null;
  return [from, to];
}

export function annotationX(t: number, min: number, max: number, left: number, width: number): number | null {
  if (!(max > min) || t < min || t > max) return null;
  return left + ((t - min) / (max - min)) * width;
}

/**
 * groupMarkers merges markers closer than minGap (a preset and the knob
 * changes it made, all at one instant) into one: labelled by the latest
 * preset's name if one is among them, else by the first, with "+N" for the
 * rest.
 */
export function groupMarkers(markers: ReadonlyArray<{ x: number; text: string }>, minGap: number): Array<{ x: number; text: string }> {
  const out: Array<{ x: number; texts: string[] }> = [];
  for (const m of markers) {
    const last = out[out.length - 1];
    if (last && m.x - last.x < minGap) last.texts.push(m.text);
    else out.push({ x: m.x, texts: [m.text] });
  }
  return out.map(({ x, texts }) => {
    const head = texts.filter((t) => t.startsWith('preset:')).pop() ?? (texts[0] as string); // the latest preset names the group
    return { x, text: texts.length > 1 ? `${head} (+${texts.length - 1})` : head };
  });
}

/** LabelPlace is where one annotation's label goes: its left edge and its row from the top. */
export interface LabelPlace {
  x: number;
  row: number;
}

/**
 * layoutLabels places labels of the given widths at markers xs (ascending)
 * inside [left, right]: each label starts at its marker, or ends at it when
 * it would run past the right edge, and drops to the next row down when it
 * would overlap the previous label in a row.
 */
export function layoutLabels(xs: readonly number[], widths: readonly number[], left: number, right: number, gap: number): LabelPlace[] {
  const rowEnds: number[] = [];
  return xs.map((mx, i) => {
    const w = widths[i] ?? 0;
    const x = mx + w <= right ? mx : Math.max(left, mx - w);
    let row = rowEnds.findIndex((end) => end + gap <= x);
    if (row < 0) {
      row = rowEnds.length;
      rowEnds.push(0);
    }
    rowEnds[row] = x + w;
    return { x, row };
  });
}

/** AnnotationPluginOptions feeds the plugin its annotations and reports what it drew. */
export interface AnnotationPluginOptions {
  annotations: () => readonly Annotation[];
  palette: () => Palette;
  /** Called after each draw with the number of markers drawn. */
  onDrawn: (count: number) => void;
}

/**
 * annotationsPlugin draws each annotation as a vertical line across the plot
 * with its text in a box at the top, in the draw hook (after series, so the
 * markers sit on top of the lines).
 */
export function annotationsPlugin(opts: AnnotationPluginOptions): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const { min, max } = u.scales.x ?? {};
        const { left, top, width, height } = u.bbox;
        if (min === undefined || max === undefined || min === null || max === null) {
          opts.onDrawn(0);
          return;
        }
        const drawn = groupMarkers(
          opts.annotations().flatMap((a) => {
            const x = annotationX(a.time, min, max, left, width);
            return x === null ? [] : [{ x: Math.round(x) + 0.5, text: a.text }];
          }),
          3 * (uPlot.pxRatio || 1),
        );
        const pal = opts.palette();
        const px = uPlot.pxRatio || 1;
        const ctx = u.ctx;
        ctx.save();
        ctx.strokeStyle = pal.annotation;
        ctx.lineWidth = 2 * px;
        ctx.setLineDash([6 * px, 3 * px]);
        for (const d of drawn) {
          ctx.beginPath();
          ctx.moveTo(d.x, top);
          ctx.lineTo(d.x, top + height);
          ctx.stroke();
        }
        ctx.setLineDash([]);
        const fontPx = 13 * px;
        const pad = 4 * px;
        const rowH = fontPx + 2 * pad;
        ctx.font = `600 ${fontPx}px system-ui, -apple-system, "Segoe UI", sans-serif`;
        ctx.textBaseline = 'middle';
        // uPlot leaves textAlign as its last axis set it.
        ctx.textAlign = 'left';
        const widths = drawn.map((d) => ctx.measureText(d.text).width + 2 * pad);
        const places = layoutLabels(
          drawn.map((d) => d.x),
          widths,
          left,
          left + width,
          4 * px,
        );
        drawn.forEach((d, i) => {
          const p = places[i] as LabelPlace;
          const w = widths[i] as number;
          // Row 0 sits in the band reserved above the plot (LABEL_BAND), so a
          // single label never hides data; further rows stack down into the plot.
          const y = top - rowH - 2 * px + p.row * (rowH + 2 * px);
          ctx.fillStyle = pal.annotationBg;
          ctx.globalAlpha = 0.85;
          ctx.fillRect(p.x, y, w, rowH);
          ctx.globalAlpha = 1;
          ctx.strokeStyle = pal.annotation;
          ctx.lineWidth = 1 * px;
          ctx.strokeRect(p.x + 0.5, y + 0.5, w - 1, rowH - 1);
          ctx.fillStyle = pal.annotation;
          ctx.fillText(d.text, p.x + pad, y + rowH / 2);
        });
        ctx.restore();
        opts.onDrawn(drawn.length);
      },
    },
  };
}

/** Height of plot area plus axes, in CSS pixels; fixed so the page never jumps. */
export const CHART_HEIGHT = 175;

/** Space above the plot for the first row of annotation labels, in CSS pixels (fits 13 px text plus padding). */
const LABEL_BAND = 24;

/** Width reserved for every y axis, so the three plots line up. */
const Y_AXIS_SIZE = 84;

/** ZoomControl is how a chart shares its zoom with the page. */
export interface ZoomControl {
  /** The zoomed x range, or null to follow the live window. */
  get: () => [number, number] | null;
  /** Called when the user drags out a range on this chart. */
  set: (range: [number, number]) => void;
}

function buildOptions(spec: ChartSpec, width: number, windowSeconds: number, pal: Palette, plugin: uPlot.Plugin, zoom: ZoomControl): uPlot.Options {
  const axisFont = '14px system-ui, -apple-system, "Segoe UI", sans-serif';
  return {
    width,
    height: CHART_HEIGHT,
    plugins: [plugin],
    padding: [LABEL_BAND, 12, 0, 0],
    // Dragging across a chart zooms every chart to that span (and pauses).
    cursor: { sync: { key: 'archscope' }, drag: { x: true, y: false, setScale: false } },
    hooks: {
      setSelect: [
        (u: uPlot) => {
          if (u.select.width < 5) return;
          const from = u.posToVal(u.select.left, 'x');
          const to = u.posToVal(u.select.left + u.select.width, 'x');
          u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          const span = zoomRange(u.data[0].length, from, to);
          if (span) zoom.set(span);
        },
      ],
    },
    legend: { show: true, live: true },
    scales: {
      x: {
        time: true,
        // Always the last windowSeconds up to the newest point, so the chart
        // scrolls at a constant rate instead of stretching as data arrives.
        range: (_u, _min, max) => {
          const z = zoom.get();
          if (z) return z;
          const hi = Number.isFinite(max) ? max : Date.now() / 1000;
          return [hi - windowSeconds, hi];
        },
      },
      y: {
        range: (_u, _min, max) => [0, Number.isFinite(max) && max > 0 ? max * 1.1 : 1],
      },
    },
    axes: [
      {
        stroke: pal.text,
        font: axisFont,
        grid: { stroke: pal.grid, width: 1 },
        ticks: { stroke: pal.grid, width: 1 },
        // Room for HH:MM:SS, so labels never run into each other.
        space: 90,
        // One line of 24-hour local time; seconds only when ticks need them.
        values: (_u, splits, _axis, _space, incr) => splits.map((t) => (incr < 60 ? formatClock(t) : formatClock(t).slice(0, 5))),
      },
      {
        stroke: pal.text,
        font: axisFont,
        size: Y_AXIS_SIZE,
        grid: { stroke: pal.grid, width: 1 },
        ticks: { stroke: pal.grid, width: 1 },
        values: (_u, splits, _axis, _space, incr) => splits.map((v) => axisTick(v, incr, spec.unit)),
      },
    ],
    series: [
      { label: 'time', value: (_u, t) => (t === null || t === undefined ? NO_VALUE : formatClock(t)) },
      ...spec.series.map(
        (s): uPlot.Series => ({
          label: s.label,
          stroke: pal.series[s.name],
          width: 2.5,
          dash: s.dash,
          spanGaps: false,
          points: { show: false },
          value: (_u, v) => (v === null || v === undefined ? NO_VALUE : spec.format(v / spec.scale)),
        }),
      ),
    ],
  };
}

/** Chart owns one uPlot instance inside its container element. */
export class Chart {
  private plot: uPlot | null = null;
  private model: Model;
  private pal: Palette;
  private readonly observer: ResizeObserver;
  private lastWidth = 0;

  constructor(
    private readonly container: HTMLElement,
    readonly spec: ChartSpec,
    model: Model,
    pal: Palette,
    private readonly zoom: ZoomControl = { get: () => null, set: () => undefined },
  ) {
    this.model = model;
    this.pal = pal;
    this.build();
    this.observer = new ResizeObserver(() => this.resize());
    this.observer.observe(container);
  }

  private build(): void {
    this.plot?.destroy();
    this.lastWidth = this.width();
    const plugin = annotationsPlugin({
      annotations: () => visibleAnnotations(this.model),
      palette: () => this.pal,
      onDrawn: (n) => {
        this.container.dataset.annotations = String(n);
      },
    });
    const opts = buildOptions(this.spec, this.lastWidth, this.model.windowSeconds, this.pal, plugin, this.zoom);
    this.plot = new uPlot(opts, columns(this.model, this.spec), this.container);
    this.container.dataset.points = String(this.model.times.length);
  }

  private width(): number {
    return Math.max(200, Math.floor(this.container.clientWidth));
  }

  /** update feeds the chart the model's current data. */
  update(m: Model): void {
    this.model = m;
    this.plot?.setData(columns(m, this.spec));
    this.container.dataset.points = String(m.times.length);
  }

  /** rescale applies the page's zoom (or the live window) to the x axis now. */
  rescale(): void {
    if (!this.plot) return;
    const z = this.zoom.get();
    const xs = this.plot.data[0];
    const max = xs.length > 0 ? (xs[xs.length - 1] as number) : Date.now() / 1000;
    const [min, hi] = z ?? [max - this.model.windowSeconds, max];
    this.plot.setScale('x', { min, max: hi });
    this.container.dataset.zoomed = String(z !== null);
  }

  /** resize fits the chart to its container's width. */
  resize(): void {
    const w = this.width();
    if (w === this.lastWidth || !this.plot) return;
    this.lastWidth = w;
    this.plot.setSize({ width: w, height: CHART_HEIGHT });
  }

  /** setPalette rebuilds the chart in new theme colours. */
  setPalette(pal: Palette): void {
    this.pal = pal;
    this.build();
  }

  /** destroy removes the chart and stops watching its size. */
  destroy(): void {
    this.observer.disconnect();
    this.plot?.destroy();
    this.plot = null;
  }
}
