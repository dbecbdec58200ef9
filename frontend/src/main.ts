// Wiring: load /api/config, build the views once, connect the websocket,
// and fold every message into the one model the views render.

import 'uplot/dist/uPlot.min.css';
import '@/style.css';
import { Api, tokenFromQuery, type AppConfig } from '@/api';
import { Chart, CHARTS, readPalette } from '@/charts';
import { CacheControl, KnobPanel, renderPresets } from '@/controls';
import { Dashboard } from '@/dashboard';
import { GROUPS } from '@/knobs';
import { applyMessage, applySnapshot, emptyModel, SERIES, WINDOW_SECONDS, withWindow, type Model, type SeriesName, type Value } from '@/model';
import { PRESETS } from '@/presets';
import { TopologyMap } from '@/topology';
import { download, ServiceView, TargetsView, toCSV, toJSON } from '@/views';
import { backoffDelay, LiveSocket, resolveWsUrl } from '@/ws';

/** StatusLine shows one message per source in #status; empty when all is well. */
class StatusLine {
  private readonly messages = new Map<string, string>();
  constructor(private readonly el: HTMLElement) {}
  set(source: string, message: string): void {
    if (message) this.messages.set(source, message);
    else this.messages.delete(source);
    this.el.textContent = [...this.messages.values()].join(' ');
  }
}

function byId<T extends HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`page is missing #${id}`);
  return el as T;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** loadConfig retries until the server answers; the page is useless without it. */
async function loadConfig(api: Api, status: StatusLine): Promise<AppConfig> {
  for (let attempt = 0; ; attempt++) {
    try {
      const cfg = await api.config();
      status.set('config', '');
      return cfg;
    } catch (err) {
      const wait = backoffDelay(attempt, 500, 10_000);
      status.set('config', `Cannot reach the archscope server (${err instanceof Error ? err.message : String(err)}); retrying in ${Math.ceil(wait / 1000)} s.`);
      await sleep(wait);
    }
  }
}

/** longWindow builds the overview's model from query_range answers for each panel. */
async function longWindow(api: Api, panels: Record<string, string>, m: Model, start: number, end: number, step: number): Promise<Model> {
  const series: Partial<Record<SeriesName, Array<[number, Value]>>> = {};
  await Promise.all(
    SERIES.map(async (name) => {
      // The live panels rate over 10 s; at a longer step every sample
      // should count, so the window grows to the step.
      const q = panels[name]?.replaceAll('[10s]', `[${Math.max(10, step)}s]`);
      if (!q) return;
      const result = await api.queryRange(q, start, end, step);
      series[name] = (result[0]?.values ?? []).map(([t, v]) => [t, Number.isFinite(Number(v)) ? Number(v) : null]);
    }),
  );
  const annotations = await api.annotations(start, end);
  return applySnapshot({ ...m, windowSeconds: end - start }, { type: 'snapshot', series, annotations, stats: m.stats });
}

const VIEWS = ['overview', 'topology', 'service', 'controls', 'targets'] as const;
type View = (typeof VIEWS)[number];

/** Theme: the user's choice, else the system's. */
function applyTheme(theme: string | null): void {
  if (theme === 'light' || theme === 'dark') document.documentElement.dataset.theme = theme;
  else delete document.documentElement.dataset.theme;
}

async function main(): Promise<void> {
  const status = new StatusLine(byId('status'));
  const api = new Api((input, init) => fetch(input, init), tokenFromQuery(location.search));
  const dashboard = new Dashboard(document);
  let model: Model = emptyModel();
  let paused = false;

  applyTheme(localStorage.getItem('archscope-theme'));
  const root = document.documentElement;
  // Dragging across any chart zooms them all and pauses; Resume goes live again.
  let zoomed: [number, number] | null = null;
  const setPaused = (p: boolean): void => {
    paused = p;
    if (!p) zoomed = null;
    byId('pause').setAttribute('aria-pressed', String(paused));
    byId('pause').textContent = paused ? 'Resume' : 'Pause';
  };
  const zoom = {
    get: (): [number, number] | null => zoomed,
    set: (range: [number, number]): void => {
      zoomed = range;
      setPaused(true);
      charts.forEach((c) => c.rescale());
    },
  };
  const charts = CHARTS.map((spec) => new Chart(byId(`chart-${spec.kind}`), spec, model, readPalette(root), zoom));
  const repaint = (): void => charts.forEach((c) => c.setPalette(readPalette(root)));
  window.matchMedia('(prefers-color-scheme: light)').addEventListener('change', repaint);
  byId('theme').addEventListener('click', () => {
    const dark = getComputedStyle(root).getPropertyValue('--theme').trim() !== 'light';
    const next = dark ? 'light' : 'dark';
    localStorage.setItem('archscope-theme', next);
    applyTheme(next);
    repaint();
  });

  const topology = new TopologyMap(byId<HTMLElement>('topology') as unknown as SVGSVGElement);
  const service = new ServiceView(
    api,
    byId<HTMLSelectElement>('service-select'),
    byId<HTMLCanvasElement>('svc-heatmap'),
    { rate: byId('svc-rate'), latency: byId('svc-latency'), util: byId('svc-util'), queue: byId('svc-queue') },
    (msg) => status.set('service', msg),
  );
  const targets = new TargetsView(
    api,
    byId<HTMLTableSectionElement>('targets-table'),
    byId<HTMLFormElement>('promql-form'),
    byId<HTMLInputElement>('promql-input'),
    byId('promql-chart'),
    byId('promql-error'),
  );

  const render = (): void => {
    if (paused) return;
    for (const c of charts) c.update(model);
    dashboard.render(model);
    topology.render(model.stats);
    service.setServices(Object.keys(model.stats).flatMap((k) => (k.startsWith('svc_rps:') ? [k.slice(8)] : [])));
  };

  const showView = (): void => {
    const want = location.hash.slice(1) as View;
    const view: View = VIEWS.includes(want) ? want : 'overview';
    for (const v of VIEWS) {
      byId(`view-${v}`).hidden = v !== view;
      byId(`tab-${v}`).setAttribute('aria-selected', String(v === view));
    }
    service.show(view === 'service');
    targets.show(view === 'targets');
    if (view === 'overview') charts.forEach((c) => c.resize());
    document.body.dataset.view = view;
  };
  window.addEventListener('hashchange', showView);
  showView();

  byId('pause').addEventListener('click', () => {
    setPaused(!paused);
    render();
    charts.forEach((c) => c.rescale());
  });
  // Up to 15 minutes the websocket's snapshot holds the window; beyond, the
  // page fetches the panels' PromQL from query_range (about 600 points) and
  // live points append to it.
  let panels: Record<string, string> = {};
  const loadWindow = async (seconds: number): Promise<void> => {
    if (seconds > WINDOW_SECONDS && Object.keys(panels).length > 0) {
      try {
        const end = Math.floor(Date.now() / 1000);
        const step = Math.max(1, Math.round(seconds / 600));
        model = await longWindow(api, panels, model, end - seconds, end, step);
        status.set('window', '');
      } catch (err) {
        status.set('window', `Could not load the last ${seconds / 3600} h: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    model = withWindow(model, seconds);
    charts.forEach((c, i) => {
      c.destroy();
      charts[i] = new Chart(byId(`chart-${c.spec.kind}`), c.spec, model, readPalette(root), zoom);
    });
    render();
  };
  byId<HTMLSelectElement>('window').addEventListener('change', (ev) => void loadWindow(Number((ev.target as HTMLSelectElement).value)));
  const stamp = (): string => new Date().toISOString().replace(/[:.]/g, '-');
  byId('export-csv').addEventListener('click', () => download(`archscope-${stamp()}.csv`, 'text/csv', toCSV(model)));
  byId('export-json').addEventListener('click', () => download(`archscope-${stamp()}.json`, 'application/json', toJSON(model)));
  document.querySelectorAll<HTMLButtonElement>('button.png').forEach((b) =>
    b.addEventListener('click', () => {
      const canvas = byId(`chart-${b.dataset.chart}`).querySelector('canvas');
      canvas?.toBlob((blob) => blob && download(`archscope-${b.dataset.chart}-${stamp()}.png`, 'image/png', blob));
    }),
  );

  const cfg = await loadConfig(api, status);
  panels = cfg.panels ?? {};
  byId('version').textContent = `v${cfg.version}`;
  const access = byId('access');
  access.hidden = false;
  access.dataset.readOnly = String(cfg.read_only);
  access.textContent = cfg.read_only ? 'read-only' : 'can change';
  access.title = cfg.read_only ? 'Changes need the access token: open the page as …/?token=<token>' : 'This page may change the shop';

  const cache = new CacheControl({
    input: byId<HTMLInputElement>('knob-cache'),
    readOnlyNote: byId('readonly-note'),
    store: api,
    readOnly: cfg.read_only,
    onError: (msg) => status.set('controls', msg),
  });
  const knobs = new KnobPanel({
    root: byId('knob-panel'),
    groups: GROUPS,
    store: api,
    readOnly: cfg.read_only || !cfg.demo,
    onError: (msg) => status.set('knobs', msg),
  });
  renderPresets({
    root: byId('presets'),
    presets: PRESETS,
    store: api,
    readOnly: cfg.read_only || !cfg.demo,
    onApplied: (c) => knobs.show(c),
    onError: (msg) => status.set('presets', msg),
  });
  byId<HTMLFormElement>('annotation-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = byId<HTMLInputElement>('annotation-text');
    const text = input.value.trim();
    if (!text) return;
    api
      .annotate(text)
      .then(() => {
        input.value = '';
        status.set('note', '');
      })
      .catch((err: unknown) => status.set('note', `Note not added: ${err instanceof Error ? err.message : String(err)}`));
  });
  byId<HTMLButtonElement>('annotation-add').disabled = cfg.read_only;
  const refreshControls = (): void => {
    if (!cfg.demo) return;
    void cache.refresh();
    void knobs.refresh();
  };
  if (cfg.demo) {
    refreshControls();
  } else {
    byId('readonly-note').textContent = 'This server runs without the demo shop, so there is nothing to control.';
    byId('readonly-note').hidden = false;
  }

  const socket = new LiveSocket({
    url: resolveWsUrl(cfg.ws_url, location),
    onState: (state, retryInMs) => dashboard.setConn(state, retryInMs),
    onMessage: (msg) => {
      // A snapshot (on every connect) holds 15 minutes: a longer window is
      // loaded again around it.
      model = applyMessage(model, msg);
      if (msg.type === 'snapshot' && model.windowSeconds > WINDOW_SECONDS) void loadWindow(model.windowSeconds);
      render();
      // A snapshot follows a (re)connect and an annotation follows a change,
      // perhaps from another window: re-read the settings so controls match.
      if (msg.type !== 'points') refreshControls();
    },
  });
  socket.start();
  window.addEventListener('pagehide', () => socket.stop());
  // Back/forward cache: a restored page needs its socket again.
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted) socket.start();
  });
}

void main();
