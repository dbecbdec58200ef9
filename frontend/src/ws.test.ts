import { describe, expect, it } from 'vitest';
import type { ServerMessage } from '@/model';
import { backoffDelay, LiveSocket, resolveWsUrl, type ConnState, type SocketLike } from '@/ws';

describe('resolveWsUrl', () => {
  it.each([
    ['', 'http:', '127.0.0.1:7777', 'ws://127.0.0.1:7777/ws'],
    ['', 'https:', 'scope.example:8443', 'wss://scope.example:8443/ws'],
    ['ws://127.0.0.1:40123/ws', 'wails:', 'wails', 'ws://127.0.0.1:40123/ws'],
  ])('ws_url=%j on %s//%s → %s', (wsUrl, protocol, host, want) => {
    expect(resolveWsUrl(wsUrl, { protocol, host })).toBe(want);
  });
});

describe('backoffDelay', () => {
  it('doubles from the base and stops at the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 6, 100].map((n) => backoffDelay(n, 500, 10_000))).toEqual([
      500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000,
    ]);
  });
});

class FakeSocket implements SocketLike {
  onopen: ((ev: Event) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  closed = false;
  constructor(readonly url: string) {}
  close(): void {
    this.closed = true;
  }
  open(): void {
    this.onopen?.(new Event('open'));
  }
  send(data: string): void {
    this.onmessage?.({ data } as MessageEvent);
  }
  drop(): void {
    this.onclose?.({} as CloseEvent);
  }
}

/** A manual clock: timers fire only when the test advances it. */
class Clock {
  now = 0;
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private next = 1;
  set = (fn: () => void, ms: number): unknown => {
    const id = this.next++;
    this.timers.push({ at: this.now + ms, fn, id });
    return id;
  };
  clear = (h: unknown): void => {
    this.timers = this.timers.filter((t) => t.id !== h);
  };
  advance(ms: number): void {
    const end = this.now + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const t = this.timers[0];
      if (!t || t.at > end) break;
      this.timers.shift();
      this.now = t.at;
      t.fn();
    }
    this.now = end;
  }
  get pending(): number {
    return this.timers.length;
  }
}

function setup() {
  const clock = new Clock();
  const sockets: FakeSocket[] = [];
  const states: Array<[ConnState, number | undefined]> = [];
  const messages: ServerMessage[] = [];
  const live = new LiveSocket({
    url: 'ws://test/ws',
    onMessage: (m) => messages.push(m),
    onState: (s, retry) => states.push([s, retry]),
    createSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    baseDelayMs: 100,
    maxDelayMs: 1000,
    idleTimeoutMs: 5000,
    random: () => 0,
    setTimeout: clock.set,
    clearTimeout: clock.clear,
  });
  return { clock, sockets, states, messages, live };
}

describe('LiveSocket', () => {
  it('reports open and hands over parsed messages, skipping bad frames', () => {
    const { sockets, states, messages, live } = setup();
    live.start();
    expect(sockets.length).toBe(1);
    expect(sockets[0]?.url).toBe('ws://test/ws');
    sockets[0]?.open();
    sockets[0]?.send('{"type":"points","time":1,"values":{"p50":0.1}}');
    sockets[0]?.send('not json');
    sockets[0]?.send('{"type":"mystery"}');
    expect(states).toEqual([['open', undefined]]);
    expect(messages.length).toBe(1);
    expect(messages[0]?.type).toBe('points');
  });

  it('reconnects with growing delays after failures, and resets once connected', () => {
    const { clock, sockets, states, live } = setup();
    live.start();
    sockets[0]?.drop(); // never opened
    expect(states.at(-1)).toEqual(['closed', 100]);
    clock.advance(99);
    expect(sockets.length).toBe(1);
    clock.advance(1);
    expect(sockets.length).toBe(2);
    sockets[1]?.drop();
    expect(states.at(-1)).toEqual(['closed', 200]);
    clock.advance(200);
    expect(sockets.length).toBe(3);
    sockets[2]?.open();
    sockets[2]?.drop();
    // A connection that opened resets the backoff.
    expect(states.at(-1)).toEqual(['closed', 100]);
  });

  it('replaces a socket that goes quiet', () => {
    const { clock, sockets, states, live } = setup();
    live.start();
    sockets[0]?.open();
    clock.advance(4000);
    sockets[0]?.send('{"type":"points","time":1,"values":{}}');
    clock.advance(4000);
    expect(sockets[0]?.closed).toBe(false);
    clock.advance(1000);
    expect(sockets[0]?.closed).toBe(true);
    expect(states.at(-1)).toEqual(['closed', 100]);
    clock.advance(100);
    expect(sockets.length).toBe(2);
  });

  it('stops for good: closes the socket and cancels timers', () => {
    const { clock, sockets, live } = setup();
    live.start();
    sockets[0]?.open();
    live.stop();
    expect(sockets[0]?.closed).toBe(true);
    expect(clock.pending).toBe(0);
    clock.advance(60_000);
    expect(sockets.length).toBe(1);
  });
});
