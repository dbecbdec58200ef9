// The views beyond the overview: service detail (RED, USE and a latency
// heatmap for one service), targets (health of every scrape target) with a
// PromQL box, and export of the overview's data. Each asks the HTTP API
// while it is visible, every few seconds.

import type { Api, Target } from '@/api';
import type { Model } from '@/model';
import { SERIES } from '@/model';
import { formatClock } from '@/format';
import { drawHeatmap, heatmapOf, RangeChart } from '@/rangechart';

/** Queries for one service's charts; `s` is the service label. */
export function serviceQueries(s: string): Record<'rate' | 'latency' | 'util' | 'queue' | 'heatmap', string> {
  const sel = `job="demo",service="${s}"`;
  const w = '[10s]';
  return {
    rate: `sum by (code) (rate(shop_requests_total{${sel}}${w}))`,
    latency:
      `label_replace(histogram_quantile(0.5, sum by (le) (rate(shop_request_duration_seconds_bucket{${sel}}${w}))), "q", "p50", "", "")` +
      ` or label_replace(histogram_quantile(0.99, sum by (le) (rate(shop_request_duration_seconds_bucket{${sel}}${w}))), "q", "p99", "", "")`,
    util: `sum(rate(shop_busy_seconds_total{${sel}}${w})) / sum(shop_servers{${sel}} > 0)`,
    queue: `sum(rate(shop_queued_seconds_total{${sel}}${w}))`,
    heatmap: `sum by (le) (rate(shop_request_duration_seconds_bucket{${sel}}${w}))`,
  };
}

/** Poller runs a refresh at once and every 5 s while its view is shown. */
class Poller {
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly refresh: () => Promise<void>) {}

  get running(): boolean {
    return this.timer !== null;
  }

  show(visible: boolean): void {
    if (visible && !this.timer) {
      void this.refresh();
      this.timer = setInterval(() => void this.refresh(), 5000);
    } else if (!visible && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

/** ServiceView shows one service's charts, refreshed while visible. */
export class ServiceView {
  private readonly rate: RangeChart;
  private readonly latency: RangeChart;
  private readonly util: RangeChart;
  private readonly queue: RangeChart;
  private readonly poller = new Poller(() => this.refresh());

  constructor(
    private readonly api: Api,
    private readonly select: HTMLSelectElement,
    private readonly heatmap: HTMLCanvasElement,
    charts: Record<'rate' | 'latency' | 'util' | 'queue', HTMLElement>,
    private readonly onError: (msg: string) => void,
  ) {
    this.rate = new RangeChart(charts.rate, 'req/s');
    this.latency = new RangeChart(charts.latency, 'ms', 1000);
    this.util = new RangeChart(charts.util, '%', 100);
    this.queue = new RangeChart(charts.queue, 'req');
    select.addEventListener('change', () => void this.refresh());
  }

  /** setServices offers the services the stats know, keeping the choice. */
  setServices(names: readonly string[]): void {
    const want = [...names].sort();
    const have = [...this.select.options].map((o) => o.value);
    if (want.join() === have.join()) return;
    const chosen = this.select.value || 'product';
    this.select.replaceChildren(
      ...want.map((n) => {
        const o = this.select.ownerDocument.createElement('option');
        o.value = n;
        o.textContent = n;
        return o;
      }),
    );
    this.select.value = want.includes(chosen) ? chosen : (want[0] ?? '');
    if (this.poller.running) void this.refresh(); // the first services arrived while the view is open
  }

  /** show starts or stops the refreshes. */
  show(visible: boolean): void {
    this.poller.show(visible);
  }

  async refresh(): Promise<void> {
    const s = this.select.value;
    if (!s) return;
    const q = serviceQueries(s);
    const end = Math.floor(Date.now() / 1000);
    const start = end - 15 * 60;
    try {
      const [rate, latency, util, queue, heat] = await Promise.all([
        this.api.queryRange(q.rate, start, end, 5),
        this.api.queryRange(q.latency, start, end, 5),
        this.api.queryRange(q.util, start, end, 5),
        this.api.queryRange(q.queue, start, end, 5),
        this.api.queryRange(q.heatmap, start, end, 10),
      ]);
      this.rate.update(rate, (m) => `code ${m.code ?? '?'}`);
      this.latency.update(latency, (m) => m.q ?? 'latency');
      this.util.update(util, () => 'busy workers');
      this.queue.update(queue, () => 'mean queue length');
      const h = heatmapOf(heat);
      const colour = getComputedStyle(this.heatmap).getPropertyValue('--c-p99').trim() || '#D55E00';
      this.heatmap.width = Math.max(300, this.heatmap.clientWidth);
      drawHeatmap(this.heatmap, h, colour);
      this.heatmap.dataset.columns = String(h.times.length);
      this.heatmap.dataset.buckets = String(h.bounds.length);
      this.heatmap.closest('section')?.setAttribute('data-service', s);
      this.onError('');
    } catch (err) {
      this.onError(`Service charts: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

/** TargetsView lists the scrape targets and runs the PromQL box. */
export class TargetsView {
  private readonly chart: RangeChart;
  private readonly poller = new Poller(() => this.refresh());
  private ran = false;

  constructor(
    private readonly api: Api,
    private readonly table: HTMLTableSectionElement,
    form: HTMLFormElement,
    private readonly input: HTMLInputElement,
    chart: HTMLElement,
    private readonly error: HTMLElement,
  ) {
    this.chart = new RangeChart(chart, '', 1, 260);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.run();
    });
  }

  show(visible: boolean): void {
    if (visible && !this.poller.running && !this.ran) void this.run(); // the example query, so the chart is not empty at first
    this.poller.show(visible);
  }

  async refresh(): Promise<void> {
    let targets: Target[];
    try {
      targets = await this.api.targets();
    } catch (err) {
      this.error.textContent = `Targets: ${err instanceof Error ? err.message : String(err)}`;
      return;
    }
    const doc = this.table.ownerDocument;
    this.table.replaceChildren(
      ...targets.map((t) => {
        const tr = doc.createElement('tr');
        tr.dataset.health = t.health;
        tr.dataset.job = t.labels.job ?? t.scrapePool;
        const cells = [
          t.labels.job ?? t.scrapePool,
          t.labels.instance ?? '',
          t.scrapeUrl,
          t.health,
          t.lastScrape ? formatClock(Date.parse(t.lastScrape) / 1000) : '—',
          `${(t.lastScrapeDuration * 1000).toFixed(1)} ms`,
          t.lastError || '',
        ];
        cells.forEach((c, i) => {
          const td = doc.createElement('td');
          td.textContent = c;
          if (i === 3) td.className = `health ${t.health}`;
          tr.append(td);
        });
        return tr;
      }),
    );
  }

  /** run charts the PromQL in the box over the last 15 minutes. */
  async run(): Promise<void> {
    const q = this.input.value.trim();
    if (!q) return;
    this.ran = true;
    const end = Math.floor(Date.now() / 1000);
    try {
      const result = await this.api.queryRange(q, end - 15 * 60, end, 5);
      this.error.textContent = result.length === 0 ? 'No data for this query in the last 15 minutes.' : '';
      this.chart.update(result);
    } catch (err) {
      this.error.textContent = err instanceof Error ? err.message : String(err);
    }
  }
}

/** toCSV is the overview's data as CSV: one row per instant, one column per series. */
export function toCSV(m: Model): string {
  const rows = [['time', ...SERIES].join(',')];
  m.times.forEach((t, i) => {
    rows.push([new Date(t * 1000).toISOString(), ...SERIES.map((s) => m.values[s][i] ?? '')].join(','));
  });
  return rows.join('\n') + '\n';
}

/** toJSON is the overview's data and annotations as JSON. */
export function toJSON(m: Model): string {
  return JSON.stringify({ times: m.times, values: m.values, annotations: m.annotations }, null, 1);
}

/** download offers a file to the user. */
export function download(name: string, type: string, data: string | Blob): void {
  const blob = typeof data === 'string' ? new Blob([data], { type }) : data;
  const a = document.createElement('a');
  a.href = URL.createObjectURL(blob);
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}
