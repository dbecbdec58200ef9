import { describe, expect, it } from 'vitest';
import { getPath, GROUPS, knobId, merge, parseKnobValue, patchFor } from '@/knobs';
import { applyPreset, PRESETS } from '@/presets';
import { align, heatmapOf } from '@/rangechart';
import { applyPoints, emptyModel } from '@/model';
import { toCSV } from '@/views';
import { sparkPoints } from '@/dashboard';
import type { DemoConfig, DemoPatch } from '@/api';

describe('knobs', () => {
  it('reads and patches by dotted path', () => {
    const cfg = { cache: { enabled: true, capacity: 10 }, faults: { service: { cart: { down: false } } } };
    expect(getPath(cfg, 'cache.capacity')).toBe(10);
    expect(getPath(cfg, 'faults.service.cart.down')).toBe(false);
    expect(getPath(cfg, 'nope.deeper')).toBeUndefined();
    expect(patchFor('faults.service.cart.down', true)).toEqual({ faults: { service: { cart: { down: true } } } });
    expect(knobId('faults.service.cart.error_ratio')).toBe('knob-faults-service-cart-error-ratio');
  });

  it('merges deeply, lists replace', () => {
    expect(merge({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { c: 3 }, l: [9] })).toEqual({ a: { b: 1, c: 3 }, l: [9] });
  });

  it('parses inputs by kind', () => {
    const n = { path: 'x', label: 'X', kind: 'number' as const };
    expect(parseKnobValue(n, '12.5')).toEqual({ value: 12.5 });
    expect(parseKnobValue(n, '')).toEqual({ error: 'X: a number, please' });
    const s = { path: 'y', label: 'Y', kind: 'select' as const, options: ['a', 'b'] };
    expect(parseKnobValue(s, 'b')).toEqual({ value: 'b' });
    expect('error' in parseKnobValue(s, 'c')).toBe(true);
  });

  it('has unique ids, and the cache switch stays the overview’s', () => {
    const ids = GROUPS.flatMap((g) => g.knobs.map((k) => knobId(k.path)));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).not.toContain('knob-cache');
    expect(ids.length).toBeGreaterThan(60);
  });
});

describe('presets', () => {
  it('start from the defaults, name themselves, and keep the defaults’ seed', async () => {
    const calls: Array<[DemoPatch, string | undefined]> = [];
    const store = {
      demoDefaults: async (): Promise<DemoConfig> => ({ seed: 7, arrival_rate: 150, cache: { enabled: false, capacity: 1000 }, db: { index: true } }),
      updateDemo: async (patch: DemoPatch, preset?: string): Promise<DemoConfig> => {
        calls.push([patch, preset]);
        return patch as DemoConfig;
      },
    };
    const index = PRESETS.find((p) => p.id === 'index');
    if (!index) throw new Error('no index preset');
    await applyPreset(store, index);
    const [patch, name] = calls[0] ?? [];
    expect(name).toBe('A slow query fixed by an index');
    expect(patch).toMatchObject({ seed: 7, arrival_rate: 150, cache: { enabled: true, capacity: 1000 }, db: { index: false } });
    expect(PRESETS.length).toBeGreaterThanOrEqual(8);
  });
});

describe('range charts', () => {
  it('align series on the union of their times', () => {
    const data = align(
      [
        { metric: { code: '200' }, values: [[1, '2'], [2, '4']] },
        { metric: { code: '503' }, values: [[2, '1'], [3, 'NaN']] },
      ],
      10,
    );
    expect(data).toEqual([
      [1, 2, 3],
      [20, 40, null],
      [null, 10, null],
    ]);
  });

  it('turn cumulative bucket rates into per-bucket rates', () => {
    const h = heatmapOf([
      { metric: { le: '+Inf' }, values: [[1, '10']] },
      { metric: { le: '0.1' }, values: [[1, '7']] },
      { metric: { le: '0.01' }, values: [[1, '2']] },
    ]);
    expect(h.bounds).toEqual([0.01, 0.1, Infinity]);
    expect(h.rates).toEqual([[2, 5, 3]]);
  });
});

describe('export', () => {
  it('writes one CSV row per instant', () => {
    const m = applyPoints(emptyModel(), { type: 'points', time: 0, values: { p99: 0.25, throughput: 100 } });
    expect(toCSV(m).split('\n')[1]).toBe('1970-01-01T00:00:00.000Z,,,0.25,100,,,');
  });
});

describe('sparkline', () => {
  it('maps the span onto the box, the maximum at the top', () => {
    let m = emptyModel();
    m = applyPoints(m, { type: 'points', time: 0, values: { p99: 0 } });
    m = applyPoints(m, { type: 'points', time: 150, values: { p99: 2 } });
    m = applyPoints(m, { type: 'points', time: 300, values: { p99: null } });
    expect(sparkPoints(m, 'p99', 300)).toBe('0.0,23.0 50.0,1.0');
  });
});
