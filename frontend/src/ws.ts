// The live websocket: connect, hand every parsed message to the page, and
// reconnect with capped exponential backoff when the socket closes or goes
// quiet. Each new connection starts with a snapshot, which replaces the
// model, so nothing is lost across a reconnect but the gap itself.

import { parseMessage, type ServerMessage } from '@/model';

/** ConnState is what #conn shows: open while a socket is up, closed otherwise. */
export type ConnState = 'open' | 'closed';

/** resolveWsUrl turns /api/config's ws_url into a URL: empty means this page's origin at /ws. */
export function resolveWsUrl(wsUrl: string, loc: { protocol: string; host: string }): string {
  if (wsUrl !== '') return wsUrl;
  const scheme = loc.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${loc.host}/ws`;
}

/** backoffDelay is the wait before reconnect attempt n (0-based): base·2ⁿ, capped at max. */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number): number {
  return Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
}

/** SocketLike is the part of WebSocket this module uses; tests pass a fake. */
export interface SocketLike {
  onopen: ((ev: Event) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  close(): void;
}

/** LiveSocketOptions configures a LiveSocket. Only url and the two callbacks are required. */
export interface LiveSocketOptions {
  url: string;
  onMessage: (msg: ServerMessage) => void;
  /** Called on every change; retryInMs is set while waiting to reconnect. */
  onState: (state: ConnState, retryInMs?: number) => void;
  createSocket?: (url: string) => SocketLike;
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** A socket with no message for this long is presumed dead and replaced. */
  idleTimeoutMs?: number;
  /** Returns 0..1; spreads reconnects of many tabs after a server restart. */
  random?: () => number;
  setTimeout?: (fn: () => void, ms: number) => unknown;
  clearTimeout?: (handle: unknown) => void;
}

/** LiveSocket keeps one websocket to the server open until stop is called. */
export class LiveSocket {
  private sock: SocketLike | null = null;
  private attempt = 0;
  private retryTimer: unknown = null;
  private idleTimer: unknown = null;
  private stopped = true;
  private readonly o: Required<LiveSocketOptions>;

  constructor(opts: LiveSocketOptions) {
    this.o = {
      createSocket: (url) => new WebSocket(url),
      baseDelayMs: 500,
      maxDelayMs: 10_000,
      idleTimeoutMs: 15_000,
      random: Math.random,
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof globalThis.setTimeout>),
      ...opts,
    };
  }

  /** start connects; it is a no-op while already started. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
  }

  /** stop closes the socket and cancels any pending reconnect. */
  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const s = this.sock;
    this.sock = null;
    if (s) {
      s.onopen = s.onclose = s.onmessage = s.onerror = null;
      s.close();
    }
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) this.o.clearTimeout(this.retryTimer);
    if (this.idleTimer !== null) this.o.clearTimeout(this.idleTimer);
    this.retryTimer = this.idleTimer = null;
  }

  private armIdle(s: SocketLike): void {
    if (this.idleTimer !== null) this.o.clearTimeout(this.idleTimer);
    this.idleTimer = this.o.setTimeout(() => {
      this.idleTimer = null;
      if (this.sock === s) this.lost(s);
    }, this.o.idleTimeoutMs);
  }

  private connect(): void {
    this.retryTimer = null;
    let s: SocketLike;
    try {
      s = this.o.createSocket(this.o.url);
    } catch {
      // A malformed URL throws synchronously; retrying keeps the page honest
      // about being disconnected rather than dying silently.
      this.scheduleRetry();
      return;
    }
    this.sock = s;
    s.onopen = () => {
      if (this.sock !== s) return;
      this.attempt = 0;
      this.armIdle(s);
      this.o.onState('open');
    };
    s.onmessage = (ev: MessageEvent) => {
      if (this.sock !== s) return;
      this.armIdle(s);
      if (typeof ev.data !== 'string') return;
      let raw: unknown;
      try {
        raw = JSON.parse(ev.data);
      } catch {
        return;
      }
      const msg = parseMessage(raw);
      if (msg) this.o.onMessage(msg);
    };
    // onerror is always followed by onclose; reconnecting happens there.
    s.onerror = () => {};
    s.onclose = () => {
      if (this.sock === s) this.lost(s);
    };
  }

  private lost(s: SocketLike): void {
    s.onopen = s.onclose = s.onmessage = s.onerror = null;
    s.close();
    this.sock = null;
    if (this.idleTimer !== null) this.o.clearTimeout(this.idleTimer);
    this.idleTimer = null;
    if (!this.stopped) this.scheduleRetry();
  }

  private scheduleRetry(): void {
    const base = backoffDelay(this.attempt, this.o.baseDelayMs, this.o.maxDelayMs);
    // Full delay plus up to 20 % jitter.
    const delay = Math.round(base * (1 + 0.2 * this.o.random()));
    this.attempt++;
    this.o.onState('closed', delay);
    this.retryTimer = this.o.setTimeout(() => this.connect(), delay);
  }
}
