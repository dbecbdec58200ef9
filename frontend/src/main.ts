// Wiring: load /api/config, build the charts and views once, connect the
// websocket, and fold every message into the one model the views render.

import 'uplot/dist/uPlot.min.css';
import '@/style.css';
import { Api, tokenFromQuery, type AppConfig } from '@/api';
import { Chart, CHARTS, readPalette } from '@/charts';
import { CacheControl } from '@/controls';
import { Dashboard } from '@/dashboard';
import { applyMessage, emptyModel, type Model } from '@/model';
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

async function main(): Promise<void> {
  const status = new StatusLine(byId('status'));
  const api = new Api((input, init) => fetch(input, init), tokenFromQuery(location.search));
  const dashboard = new Dashboard(document);
  let model: Model = emptyModel();

  const root = document.documentElement;
  const charts = CHARTS.map((spec) => new Chart(byId(`chart-${spec.kind}`), spec, model, readPalette(root)));
  window
    .matchMedia('(prefers-color-scheme: light)')
    .addEventListener('change', () => charts.forEach((c) => c.setPalette(readPalette(root))));

  const cfg = await loadConfig(api, status);
  byId('version').textContent = `v${cfg.version}`;

  const cache = new CacheControl({
    input: byId<HTMLInputElement>('knob-cache'),
    readOnlyNote: byId('readonly-note'),
    store: api,
    readOnly: cfg.read_only,
    onError: (msg) => status.set('controls', msg),
  });
  if (cfg.demo) {
    void cache.refresh();
  } else {
    byId('readonly-note').textContent = 'This server runs without the demo shop, so there is nothing to control.';
    byId('readonly-note').hidden = false;
  }

  const socket = new LiveSocket({
    url: resolveWsUrl(cfg.ws_url, location),
    onState: (state, retryInMs) => dashboard.setConn(state, retryInMs),
    onMessage: (msg) => {
      model = applyMessage(model, msg);
      for (const c of charts) c.update(model);
      dashboard.render(model);
      // A snapshot follows a (re)connect and an annotation follows a change,
      // perhaps from another window: re-read the settings so switches match.
      if (cfg.demo && msg.type !== 'points') void cache.refresh();
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
