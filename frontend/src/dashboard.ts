// The page's text views: the connection badge, the big current values and
// the list of annotations. Like the charts, they render from the model and
// keep no data of their own; the ids and data-* attributes are a contract
// with the end-to-end test, so keep them stable.

import type { Annotation, Model, SeriesName, Stats, Value } from '@/model';
import { compareAround, latest, newestFirst, SERIES, sinceLastChange } from '@/model';
import { dataValue, formatClock, formatMs, formatPercent, formatRate, NO_VALUE } from '@/format';
import type { ConnState } from '@/ws';

const FORMAT: Record<SeriesName, (v: Value) => string> = {
  p50: formatMs,
  p95: formatMs,
  p99: formatMs,
  throughput: formatRate,
  errors: formatPercent,
  offered: formatRate,
  saturation: formatPercent,
};

function must<T extends HTMLElement>(doc: Document, selector: string): T {
  const el = doc.querySelector<T>(selector);
  if (!el) throw new Error(`page is missing ${selector}; index.html and dashboard.ts disagree`);
  return el;
}

/** Dashboard renders the model into the page's text elements. */
export class Dashboard {
  private readonly conn: HTMLElement;
  private readonly values: Record<SeriesName, HTMLElement>;
  private readonly list: HTMLUListElement;
  private readonly listEmpty: HTMLElement;
  private shownAnnotations: readonly Annotation[] | null = null;
  private readonly deltas: Partial<Record<SeriesName, HTMLElement | null>> = {};

  constructor(doc: Document) {
    this.conn = must(doc, '#conn');
    this.values = {
      p50: must(doc, '#value-p50'),
      p95: must(doc, '#value-p95'),
      p99: must(doc, '#value-p99'),
      throughput: must(doc, '#value-throughput'),
      errors: must(doc, '#value-errors'),
      offered: must(doc, '#value-offered'),
      saturation: must(doc, '#value-saturation'),
    };
    for (const name of SERIES) this.deltas[name] = doc.querySelector<HTMLElement>(`#delta-${name}`);
    this.list = must(doc, '#annotations');
    this.listEmpty = must(doc, '#annotations-empty');
  }

  /** setConn shows the connection state, and when the next attempt is due. */
  setConn(state: ConnState, retryInMs?: number): void {
    this.conn.dataset.state = state;
    if (state === 'open') {
      this.conn.textContent = 'live';
    } else if (retryInMs !== undefined) {
      this.conn.textContent = `disconnected · retry in ${Math.max(1, Math.round(retryInMs / 1000))} s`;
    } else {
      this.conn.textContent = 'disconnected';
    }
  }

  /** renderReadout shows the stats about the shop's insides: breakers, cache, queue. */
  renderReadout(doc: Document, stats: Stats): void {
    const breaker = stats.breaker;
    const state = breaker === undefined ? '' : (['closed', 'open', 'half-open'][breaker] ?? '');
    const b = doc.querySelector<HTMLElement>('#breaker-state');
    if (b && b.dataset.state !== state) {
      b.dataset.state = state;
      b.textContent = state === '' ? NO_VALUE : state === 'closed' ? 'all closed' : `one ${state}`;
    }
    const show = (id: string, v: number | undefined, f: (x: number | null) => string): void => {
      const el = doc.querySelector<HTMLElement>(id);
      if (!el) return;
      el.dataset.value = v === undefined ? '' : String(v);
      el.textContent = f(v ?? null);
    };
    show('#cache-hit', stats.cache_hit, formatPercent);
    show('#queue-lag', stats.queue_lag, formatMs);
    show('#queue-dead', stats.queue_dead, (x) => (x === null ? NO_VALUE : String(x)));
  }

  /** render shows the model's latest values and its annotations. */
  render(m: Model): void {
    this.model = m;
    this.renderReadout(this.list.ownerDocument, m.stats);
    for (const name of SERIES) {
      const v = latest(m, name);
      const el = this.values[name];
      const attr = dataValue(v);
      if (el.dataset.value !== attr) {
        el.dataset.value = attr;
        el.textContent = FORMAT[name](v);
      }
      this.renderSpark(name, m);
      const d = this.deltas[name];
      if (d) {
        const c = sinceLastChange(m, name);
        const text = c ? `${FORMAT[name](c.before)} before “${c.text}”` : '';
        if (d.textContent !== text) {
          d.textContent = text;
          d.dataset.before = c ? String(c.before) : '';
          d.dataset.direction = !c ? '' : c.now > c.before ? 'up' : c.now < c.before ? 'down' : 'same';
        }
      }
    }
    if (m.annotations !== this.shownAnnotations) {
      this.shownAnnotations = m.annotations;
      this.renderList(newestFirst(m));
    }
  }

  private renderList(items: readonly Annotation[]): void {
    const doc = this.list.ownerDocument;
    const lis = items.map((a) => {
      const li = doc.createElement('li');
      li.dataset.time = String(a.time);
      const time = doc.createElement('time');
      time.dateTime = new Date(a.time * 1000).toISOString();
      time.textContent = formatClock(a.time);
      const text = doc.createElement('span');
      text.className = 'text';
      text.textContent = a.text;
      const compare = doc.createElement('button');
      compare.type = 'button';
      compare.className = 'compare';
      compare.textContent = 'before/after';
      compare.title = 'Compare the minute before this change with the minute after';
      compare.addEventListener('click', () => this.showCompare(a));
      li.append(time, ' ', text, ' ', compare);
      return li;
    });
    this.list.replaceChildren(...lis);
    this.listEmpty.hidden = items.length > 0;
  }

  private model: Model | null = null;

  /** renderSpark draws the last five minutes of a series under its number. */
  private renderSpark(name: SeriesName, m: Model): void {
    const line = this.list.ownerDocument.querySelector(`#spark-${name} polyline`);
    if (line) line.setAttribute('points', sparkPoints(m, name, 300));
  }

  /** showCompare puts the minute before and after annotation a side by side. */
  private showCompare(a: Annotation): void {
    const doc = this.list.ownerDocument;
    const box = doc.querySelector<HTMLElement>('#compare');
    if (!box || !this.model) return;
    const rows = compareAround(this.model, a.time, 60);
    const table = doc.createElement('table');
    const head = doc.createElement('tr');
    for (const h of ['', 'minute before', 'minute after', 'change']) {
      const th = doc.createElement('th');
      th.textContent = h;
      head.append(th);
    }
    table.append(head);
    for (const r of rows) {
      const tr = doc.createElement('tr');
      tr.dataset.series = r.name;
      const change = r.before !== null && r.after !== null && r.before !== 0 ? `${r.after > r.before ? '+' : ''}${(((r.after - r.before) / Math.abs(r.before)) * 100).toFixed(0)} %` : NO_VALUE;
      for (const c of [LABELS[r.name], FORMAT[r.name](r.before), FORMAT[r.name](r.after), change]) {
        const td = doc.createElement('td');
        td.textContent = c;
        tr.append(td);
      }
      table.append(tr);
    }
    const title = doc.createElement('h3');
    title.textContent = `${formatClock(a.time)} · ${a.text}`;
    box.replaceChildren(title, table);
    box.hidden = false;
    box.dataset.time = String(a.time);
  }
}

/**
 * sparkPoints maps the last seconds of a series onto a 100 × 24 box (0 at
 * the bottom, the span's maximum at the top), as SVG polyline points; gaps
 * are skipped.
 */
export function sparkPoints(m: Model, name: SeriesName, seconds: number): string {
  const last = m.times[m.times.length - 1];
  if (last === undefined) return '';
  const from = last - seconds;
  const pts: Array<[number, number]> = [];
  m.times.forEach((t, i) => {
    const v = m.values[name][i];
    if (t >= from && v !== null && v !== undefined) pts.push([t, v]);
  });
  const max = Math.max(...pts.map((p) => p[1]), 1e-12);
  return pts.map(([t, v]) => `${(((t - from) / seconds) * 100).toFixed(1)},${(23 - (v / max) * 22).toFixed(1)}`).join(' ');
}

const LABELS: Record<SeriesName, string> = {
  p50: 'p50 latency',
  p95: 'p95 latency',
  p99: 'p99 latency',
  throughput: 'throughput (2xx)',
  errors: 'error rate',
  offered: 'offered load',
  saturation: 'saturation',
};
