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
}

/** DemoConfig is the simulated shop's configuration, GET/PUT /api/v1/demo/config. */
export interface DemoConfig {
  seed: number;
  arrival_rate: number;
  product_workers: number;
  product_queue: number;
  db_connections: number;
  cache: { enabled: boolean; capacity: number };
}

/** DemoPatch is a partial DemoConfig; the server merges it into the current one. */
export type DemoPatch = Partial<Omit<DemoConfig, 'cache'>> & { cache?: Partial<DemoConfig['cache']> };

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

  /** updateDemo merges patch into the shop's configuration and returns the new one. */
  updateDemo(patch: DemoPatch): Promise<DemoConfig> {
    return call<DemoConfig>(this.fetcher, '/api/v1/demo/config', {
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
