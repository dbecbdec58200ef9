import { describe, expect, it } from 'vitest';
import { annotationX, CHARTS, columns, groupMarkers, layoutLabels, zoomRange } from '@/charts';
import { applyPoints, emptyModel } from '@/model';

describe('annotationX', () => {
  it.each([
    // t, min, max, left, width, want
    [100, 100, 200, 50, 1000, 50],
    [200, 100, 200, 50, 1000, 1050],
    [150, 100, 200, 50, 1000, 550],
    [125, 100, 200, 0, 400, 100],
  ])('t=%s on [%s,%s] over left=%s width=%s → %s', (t, min, max, left, width, want) => {
    expect(annotationX(t, min, max, left, width)).toBeCloseTo(want, 9);
  });

  it('is null outside the scale or on a degenerate scale', () => {
    expect(annotationX(99, 100, 200, 0, 100)).toBeNull();
    expect(annotationX(201, 100, 200, 0, 100)).toBeNull();
    expect(annotationX(100, 100, 100, 0, 100)).toBeNull();
  });
});

describe('zoomRange', () => {
  it('zooms to the span dragged across', () => {
    expect(zoomRange(120, 1_700_000_000, 1_700_000_080)).toEqual([1_700_000_000, 1_700_000_080]);
  });
  it('ignores a drag across a chart with no points yet, or a span that is no span', () => {
    expect(zoomRange(0, 90, 99)).toBeNull();
    expect(zoomRange(120, Number.NaN, 99)).toBeNull();
    expect(zoomRange(120, 99, 99)).toBeNull();
  });
});

describe('layoutLabels', () => {
  it('puts far-apart labels on the first row at their markers', () => {
    expect(layoutLabels([10, 200], [50, 50], 0, 1000, 4)).toEqual([
      { x: 10, row: 0 },
      { x: 200, row: 0 },
    ]);
  });

  it('moves an overlapping label to the next row, and back up when room returns', () => {
    expect(layoutLabels([10, 30, 100], [80, 80, 40], 0, 1000, 4)).toEqual([
      { x: 10, row: 0 },
      { x: 30, row: 1 },
      { x: 100, row: 0 },
    ]);
  });

  it('puts a label that would run past the right edge to the left of its marker', () => {
    expect(layoutLabels([990], [100], 0, 1000, 4)).toEqual([{ x: 890, row: 0 }]);
    expect(layoutLabels([950, 990], [100, 100], 0, 1000, 4)).toEqual([
      { x: 850, row: 0 },
      { x: 890, row: 1 },
    ]);
  });

  it('never starts a label left of the plot', () => {
    expect(layoutLabels([30], [100], 20, 110, 4)).toEqual([{ x: 20, row: 0 }]);
  });
});

describe('columns', () => {
  it('scales to display units and keeps nulls as gaps', () => {
    let m = applyPoints(emptyModel(), { type: 'points', time: 1, values: { p50: 0.012, p95: null, p99: 0.5, errors: 0.25, throughput: 140 } });
    m = applyPoints(m, { type: 'points', time: 2, values: { p50: 0.02 } });
    const byKind = Object.fromEntries(CHARTS.map((s) => [s.kind, columns(m, s)]));
    expect(byKind.latency).toEqual([
      [1, 2],
      [12, 20],
      [null, null],
      [500, null],
    ]);
    expect(byKind.throughput).toEqual([
      [1, 2],
      [null, null],
      [140, null],
    ]);
    expect(byKind.errors).toEqual([
      [1, 2],
      [25, null],
    ]);
  });

  it('gives every chart a unit and a legend formatter in its own unit', () => {
    const units = Object.fromEntries(CHARTS.map((s) => [s.kind, s.unit]));
    expect(units).toEqual({ latency: 'ms', throughput: 'req/s', errors: '%', saturation: '%' });
    const latency = CHARTS.find((s) => s.kind === 'latency');
    expect(latency?.format(0.25)).toBe('250 ms');
  });
});

describe('groupMarkers', () => {
  it('merges markers at one instant under the preset that made them', () => {
    const g = groupMarkers(
      [
        { x: 10, text: 'cache: off → on' },
        { x: 100, text: 'preset: Add a cache' },
        { x: 101, text: 'cache: off → on' },
        { x: 101, text: 'arrival_rate: 90 → 150' },
        { x: 200, text: 'a note' },
      ],
      3,
    );
    expect(g).toEqual([
      { x: 10, text: 'cache: off → on' },
      { x: 100, text: 'preset: Add a cache (+2)' },
      { x: 200, text: 'a note' },
    ]);
  });
});

describe('columns across a gap', () => {
  it('breaks the line where no points came for a while', () => {
    let m = emptyModel();
    for (const t of [1, 2, 3, 60, 61]) m = applyPoints(m, { type: 'points', time: t, values: { errors: 0.5 } });
    const errors = CHARTS.find((c) => c.kind === 'errors');
    if (!errors) throw new Error('no errors chart');
    expect(columns(m, errors)).toEqual([
      [1, 2, 3, 3.001, 60, 61],
      [50, 50, 50, null, 50, 50],
    ]);
  });
});
