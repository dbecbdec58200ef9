// HTTP calls to the archscope server, one function per endpoint. Paths are
// absolute on the page's origin: http://host/ in a browser, wails://wails/
// in the desktop window, which forwards them to the same Go handlers.

/** AppConfig is GET /api/config. */
export interface AppConfig {
  version: string;
  /** Empty: the websocket is on this page's origin at /ws. */
  ws_url: string;
  read_only: boolean;
  demo: boolean;
  /** The PromQL behind each live series, for windows longer than the live snapshot. */
  panels?: Record<string, string>;
}

/**
 * DemoConfig is the simulated shop's configuration, GET/PUT
 * /api/v1/demo/config: a tree of knobs (see the README's tables). The page
 * reads the knobs it shows by path, so only a few are typed here.
 */
export interface DemoConfig {
  seed: number;
  arrival_rate: number;
  cache: { enabled: boolean; capacity: number };
  [knob: string]: unknown;
}

/** DemoPatch is any part of the config tree; the server merges it into the current one. */
export type DemoPatch = { [knob: string]: unknown };

/** Target is one scrape target, as GET /api/v1/targets reports it (Prometheus' shape). */
export interface Target {
  labels: Record<string, string>;
  scrapePool: string;
  scrapeUrl: string;
  health: string;
  lastError: string;
  lastScrape: string;
  lastScrapeDuration: number;
}

/** RangeSeries is one series of a query_range answer. */
export interface RangeSeries {
  metric: Record<string, string>;
  values: Array<[number, string]>;
}

interface PromEnvelope<T> {
  status: string;
  data: T;
}

/** ApiError is a failed call, with the server's own message when it sent one. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/** Fetcher is the part of fetch the API needs; tests pass their own. */
export type Fetcher = (input: string, init?: RequestInit) => Promise<Response>;

async function call<T>(fetcher: Fetcher, path: string, init?: RequestInit): Promise<T> {
  let res: Response;
  try {
    res = await fetcher(path, init);
  } catch (err) {
    throw new ApiError(`${init?.method ?? 'GET'} ${path}: server unreachable (${String(err)})`, 0);
  }
  const body = await res.text();
  let parsed: unknown = undefined;
  try {
    parsed = body === '' ? undefined : JSON.parse(body);
  } catch {
    // Not JSON: a proxy's error page, say; reported below by status.
  }
  if (!res.ok) {
    const msg =
      typeof parsed === 'object' && parsed !== null && 'error' in parsed && typeof parsed.error === 'string'
        ? parsed.error
        : `${init?.method ?? 'GET'} ${path}: HTTP ${res.status}`;
    throw new ApiError(msg, res.status);
  }
  if (parsed === undefined) throw new ApiError(`${init?.method ?? 'GET'} ${path}: response is not JSON`, res.status);
  return parsed as T;
}

/** Api binds the endpoints to a fetch function and an optional bearer token. */
export class Api {
  constructor(
    private readonly fetcher: Fetcher,
    private readonly token: string | null = null,
  ) {}

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { ...extra, Authorization: `Bearer ${this.token}` } : extra;
  }

  /**
   * config loads the app's configuration. It carries the token too: the
   * server reports read_only for a request that lacks it.
   */
  config(): Promise<AppConfig> {
    return call<AppConfig>(this.fetcher, '/api/config', { headers: this.headers() });
  }

  /** demoConfig loads the simulated shop's current configuration. */
  demoConfig(): Promise<DemoConfig> {
    return call<DemoConfig>(this.fetcher, '/api/v1/demo/config', { headers: this.headers() });
  }

  /** demoDefaults loads the shop's starting configuration (with its seed and speed). */
  demoDefaults(): Promise<DemoConfig> {
    return call<DemoConfig>(this.fetcher, '/api/v1/demo/defaults', { headers: this.headers() });
  }

  /** targets lists the scrape targets and their health. */
  async targets(): Promise<Target[]> {
    const r = await call<PromEnvelope<{ activeTargets: Target[] }>>(this.fetcher, '/api/v1/targets', { headers: this.headers() });
    return r.data.activeTargets ?? [];
  }

  /** queryRange runs PromQL over [start, end] (Unix seconds) at step seconds. */
  async queryRange(query: string, start: number, end: number, step: number): Promise<RangeSeries[]> {
    const q = new URLSearchParams({ query, start: String(start), end: String(end), step: String(step) });
    const r = await call<PromEnvelope<{ resultType: string; result: RangeSeries[] }>>(this.fetcher, `/api/v1/query_range?${q}`, {
      headers: this.headers(),
    });
    return r.data.result;
  }

  /** annotations lists the markers between start and end (Unix seconds). */
  async annotations(start: number, end: number): Promise<Array<{ time: number; text: string }>> {
    const q = new URLSearchParams({ start: String(start), end: String(end) });
    const r = await call<PromEnvelope<Array<{ time: number; text: string }>>>(this.fetcher, `/api/v1/annotations?${q}`, { headers: this.headers() });
    return r.data;
  }

  /** annotate adds a marker of the user's own to every chart. */
  annotate(text: string): Promise<unknown> {
    return call<unknown>(this.fetcher, '/api/v1/annotations', {
      method: 'POST',
      headers: this.headers({ 'Content-Type': 'application/json' }),
      body: JSON.stringify({ text }),
    });
  }

  /**
   * updateDemo merges patch into the shop's configuration and returns the
   * new one; preset names the change in its annotation.
   */
  updateDemo(patch: DemoPatch, preset?: string): Promise<DemoConfig> {
    const path = preset ? `/api/v1/demo/config?preset=${encodeURIComponent(preset)}` : '/api/v1/demo/config';
    return call<DemoConfig>(this.fetcher, path, {
      method: 'PUT',
      headers: this.headers({ 'Content-Type': 'application/json' }),
      body: JSON.stringify(patch),
    });
  }
}

/** tokenFromQuery returns the ?token= of a page URL's query string, or null. */
export function tokenFromQuery(search: string): string | null {
  const t = new URLSearchParams(search).get('token');
  return t ? t : null;
}
