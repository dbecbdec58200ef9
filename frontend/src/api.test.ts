import { describe, expect, it } from 'vitest';
import { Api, ApiError, tokenFromQuery, type Fetcher } from '@/api';

interface Call {
  input: string;
  init: RequestInit | undefined;
}

function fakeFetch(status: number, body: string): { fetcher: Fetcher; calls: Call[] } {
  const calls: Call[] = [];
  const fetcher: Fetcher = async (input, init) => {
    calls.push({ input, init });
    return new Response(body, { status, headers: { 'Content-Type': 'application/json' } });
  };
  return { fetcher, calls };
}

const demo = '{"seed":1,"arrival_rate":150,"product_workers":8,"product_queue":64,"db_connections":6,"cache":{"enabled":true,"capacity":1000}}';

describe('Api', () => {
  it('GETs /api/config', async () => {
    const { fetcher, calls } = fakeFetch(200, '{"version":"0.1.0","ws_url":"","read_only":false,"demo":true}');
    const cfg = await new Api(fetcher).config();
    expect(calls[0]?.input).toBe('/api/config');
    expect(cfg).toEqual({ version: '0.1.0', ws_url: '', read_only: false, demo: true });
  });

  it('PUTs a partial demo config with the bearer token and returns the full config', async () => {
    const { fetcher, calls } = fakeFetch(200, demo);
    const cfg = await new Api(fetcher, 'T0k').updateDemo({ cache: { enabled: true } });
    expect(cfg.cache.enabled).toBe(true);
    expect(cfg.db_connections).toBe(6);
    const call = calls[0];
    expect(call?.input).toBe('/api/v1/demo/config');
    expect(call?.init?.method).toBe('PUT');
    expect(call?.init?.body).toBe('{"cache":{"enabled":true}}');
    expect((call?.init?.headers as Record<string, string>).Authorization).toBe('Bearer T0k');
  });

  it('sends the token with GET /api/config, which decides read_only by it', async () => {
    const { fetcher, calls } = fakeFetch(200, '{"version":"0.1.0","ws_url":"","read_only":false,"demo":true}');
    await new Api(fetcher, 'T0k').config();
    expect((calls[0]?.init?.headers as Record<string, string>).Authorization).toBe('Bearer T0k');
  });

  it('sends no Authorization header without a token', async () => {
    const { fetcher, calls } = fakeFetch(200, demo);
    await new Api(fetcher).updateDemo({ cache: { enabled: false } });
    expect((calls[0]?.init?.headers as Record<string, string>).Authorization).toBeUndefined();
  });

  it("surfaces the server's error message on a 400", async () => {
    const { fetcher } = fakeFetch(400, '{"error":"db_connections 0 must be at least 1"}');
    const err = await new Api(fetcher).updateDemo({ db_connections: 0 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).message).toBe('db_connections 0 must be at least 1');
    expect((err as ApiError).status).toBe(400);
  });

  it('names the status when the error body is not JSON', async () => {
    const { fetcher } = fakeFetch(502, '<html>bad gateway</html>');
    await expect(new Api(fetcher).demoConfig()).rejects.toThrow('GET /api/v1/demo/config: HTTP 502');
  });

  it('says the server is unreachable when fetch itself fails', async () => {
    const api = new Api(async () => {
      throw new TypeError('Failed to fetch');
    });
    await expect(api.config()).rejects.toThrow(/server unreachable/);
  });
});

describe('tokenFromQuery', () => {
  it.each([
    ['?token=abc', 'abc'],
    ['?x=1&token=a%20b', 'a b'],
    ['?token=', null],
    ['', null],
  ])('%j → %j', (search, want) => {
    expect(tokenFromQuery(search)).toBe(want);
  });
});
