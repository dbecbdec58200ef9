import { describe, expect, it } from 'vitest';
import {
  applyAnnotation,
  applyMessage,
  applyPoints,
  applySnapshot,
  emptyModel,
  latest,
  MAX_ANNOTATIONS,
  newestFirst,
  parseMessage,
  visibleAnnotations,
  type Model,
  type ServerMessage,
  sinceLastChange,
  compareAround,
  valueAt,
} from '@/model';

type Snapshot = Extract<ServerMessage, { type: 'snapshot' }>;
type Points = Extract<ServerMessage, { type: 'points' }>;

const snap = (series: Snapshot['series'], annotations: Snapshot['annotations'] = []): Snapshot => ({
  type: 'snapshot',
  series,
  annotations,
  stats: {},
});
const pts = (time: number, values: Points['values']): Points => ({ type: 'points', time, values });

describe('applySnapshot', () => {
  it('aligns series with different timestamps, filling null', () => {
    const m = applySnapshot(
      emptyModel(),
      snap({
        p50: [
          [100, 0.01],
          [101, 0.02],
        ],
        throughput: [
          [101, 150],
          [102, 149],
        ],
      }),
    );
    expect(m.times).toEqual([100, 101, 102]);
    expect(m.values.p50).toEqual([0.01, 0.02, null]);
    expect(m.values.throughput).toEqual([null, 150, 149]);
    expect(m.values.p99).toEqual([null, null, null]);
  });

  it('replaces earlier data entirely (a reconnect sends a fresh snapshot)', () => {
    let m = applyPoints(emptyModel(), pts(50, { p99: 9 }));
    m = applySnapshot(m, snap({ p99: [[200, 0.5]] }));
    expect(m.times).toEqual([200]);
    expect(m.values.p99).toEqual([0.5]);
  });

  it('sorts unordered input and keeps snapshot annotations in time order', () => {
    const m = applySnapshot(
      emptyModel(),
      snap(
        {
          errors: [
            [103, 0.1],
            [101, 0.3],
          ],
        },
        [
          { time: 102, text: 'b' },
          { time: 101, text: 'a' },
        ],
      ),
    );
    expect(m.times).toEqual([101, 103]);
    expect(m.values.errors).toEqual([0.3, 0.1]);
    expect(m.annotations.map((a) => a.text)).toEqual(['a', 'b']);
  });

  it('trims a snapshot longer than the window', () => {
    const p50: Array<[number, number]> = [];
    for (let t = 0; t <= 2000; t += 10) p50.push([t, t]);
    const m = applySnapshot(emptyModel(900), snap({ p50 }));
    expect(m.times[0]).toBe(1100);
    expect(m.times[m.times.length - 1]).toBe(2000);
    expect(m.values.p50.length).toBe(m.times.length);
  });
});

describe('applyPoints', () => {
  it('appends after a snapshot', () => {
    let m = applySnapshot(emptyModel(), snap({ p95: [[10, 0.1]] }));
    m = applyPoints(m, pts(11, { p50: 0.01, p95: 0.2, p99: 0.3, throughput: 140, errors: 0.05 }));
    expect(m.times).toEqual([10, 11]);
    expect(m.values.p95).toEqual([0.1, 0.2]);
    expect(m.values.p50).toEqual([null, 0.01]);
    expect(m.values.throughput).toEqual([null, 140]);
    expect(m.values.errors).toEqual([null, 0.05]);
  });

  it('replaces a point at a time already present, and inserts a late one in order', () => {
    let m = applyPoints(emptyModel(), pts(10, { p50: 1 }));
    m = applyPoints(m, pts(12, { p50: 3 }));
    m = applyPoints(m, pts(12, { p50: 4 }));
    m = applyPoints(m, pts(11, { p50: 2 }));
    expect(m.times).toEqual([10, 11, 12]);
    expect(m.values.p50).toEqual([1, 2, 4]);
  });

  it('keeps nulls and turns missing or non-finite values into null', () => {
    const m = applyPoints(emptyModel(), pts(1, { p50: null, p95: Number.NaN, throughput: 5 }));
    expect(m.values.p50).toEqual([null]);
    expect(m.values.p95).toEqual([null]);
    expect(m.values.p99).toEqual([null]);
    expect(m.values.throughput).toEqual([5]);
  });

  it('drops points that fall out of the window as time moves on', () => {
    let m: Model = emptyModel(10);
    for (let t = 0; t <= 25; t++) m = applyPoints(m, pts(t, { throughput: t }));
    expect(m.times).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]);
    expect(m.values.throughput[0]).toBe(15);
    expect(m.values.errors.length).toBe(11);
  });

  it('does not mutate the model it was given', () => {
    const m0 = applyPoints(emptyModel(), pts(1, { p50: 1 }));
    applyPoints(m0, pts(2, { p50: 2 }));
    expect(m0.times).toEqual([1]);
    expect(m0.values.p50).toEqual([1]);
  });

  it('ignores a non-finite time', () => {
    const m0 = emptyModel();
    expect(applyPoints(m0, pts(Number.NaN, { p50: 1 }))).toBe(m0);
  });
});

describe('latest', () => {
  it('is the newest non-null value, or null when there is none', () => {
    let m = applyPoints(emptyModel(), pts(1, { p99: 0.2 }));
    m = applyPoints(m, pts(2, { p99: null }));
    expect(latest(m, 'p99')).toBe(0.2);
    expect(latest(m, 'p50')).toBeNull();
    expect(latest(emptyModel(), 'errors')).toBeNull();
  });

  it('reports a real zero, not "none"', () => {
    const m = applyPoints(emptyModel(), pts(1, { errors: 0 }));
    expect(latest(m, 'errors')).toBe(0);
  });
});

describe('annotations', () => {
  it('keep time order, tie order by arrival, and list newest first', () => {
    let m = emptyModel();
    m = applyAnnotation(m, { time: 20, text: 'cache: off → on' });
    m = applyAnnotation(m, { time: 10, text: 'workers: 8 → 4' });
    m = applyAnnotation(m, { time: 20, text: 'db: 6 → 2' });
    expect(m.annotations.map((a) => a.time)).toEqual([10, 20, 20]);
    expect(newestFirst(m).map((a) => a.text)).toEqual(['db: 6 → 2', 'cache: off → on', 'workers: 8 → 4']);
  });

  it('ignore an exact duplicate (e.g. replayed in a snapshot)', () => {
    const a = { time: 5, text: 'cache: off → on' };
    const m1 = applyAnnotation(emptyModel(), a);
    const m2 = applyAnnotation(m1, { ...a });
    expect(m2).toBe(m1);
    expect(m2.annotations.length).toBe(1);
  });

  it(`keep at most ${MAX_ANNOTATIONS}, dropping the oldest`, () => {
    let m = emptyModel();
    for (let i = 0; i < MAX_ANNOTATIONS + 5; i++) m = applyAnnotation(m, { time: i, text: `n${i}` });
    expect(m.annotations.length).toBe(MAX_ANNOTATIONS);
    expect(m.annotations[0]?.time).toBe(5);
  });

  it('are visible on charts only inside the data window', () => {
    let m = emptyModel(100);
    m = applyPoints(m, pts(1000, { p50: 1 }));
    m = applyAnnotation(m, { time: 850, text: 'old' });
    m = applyAnnotation(m, { time: 950, text: 'in' });
    m = applyAnnotation(m, { time: 1000, text: 'edge' });
    expect(visibleAnnotations(m).map((a) => a.text)).toEqual(['in', 'edge']);
    expect(visibleAnnotations(emptyModel())).toEqual([]);
  });
});

describe('parseMessage', () => {
  it('accepts the three documented messages', () => {
    const s = parseMessage(
      JSON.parse(
        '{"type":"snapshot","series":{"p50":[[1,0.01],[2,null]],"errors":[[1,0]]},"annotations":[{"time":1.5,"text":"cache: off → on"}],"stats":{"svc_rps:cart":9.5,"bad":"x"}}',
      ),
    );
    expect(s).toEqual({
      type: 'snapshot',
      series: {
        p50: [
          [1, 0.01],
          [2, null],
        ],
        errors: [[1, 0]],
      },
      annotations: [{ time: 1.5, text: 'cache: off → on' }],
      stats: { 'svc_rps:cart': 9.5 },
    });
    const p = parseMessage({ type: 'points', time: 3, values: { p50: 0.1, p95: null, throughput: 7 } });
    expect(p).toEqual({
      type: 'points',
      time: 3,
      values: { p50: 0.1, p95: null, p99: null, throughput: 7, errors: null, offered: null, saturation: null },
      stats: {},
    });
    const a = parseMessage({ type: 'annotation', annotation: { time: 4, text: 'x' } });
    expect(a).toEqual({ type: 'annotation', annotation: { time: 4, text: 'x' } });
  });

  it('rejects what it does not understand', () => {
    expect(parseMessage(null)).toBeNull();
    expect(parseMessage([1, 2])).toBeNull();
    expect(parseMessage({ type: 'hello' })).toBeNull();
    expect(parseMessage({ type: 'points', values: {} })).toBeNull();
    expect(parseMessage({ type: 'annotation', annotation: { time: '4', text: 'x' } })).toBeNull();
  });

  it('feeds applyMessage end to end', () => {
    let m = emptyModel();
    for (const raw of [
      { type: 'snapshot', series: { p99: [[1, 0.3]] }, annotations: [] },
      { type: 'points', time: 2, values: { p99: 0.4 } },
      { type: 'annotation', annotation: { time: 2, text: 'cache: off → on' } },
    ]) {
      const msg = parseMessage(raw);
      expect(msg).not.toBeNull();
      if (msg) m = applyMessage(m, msg);
    }
    expect(m.times).toEqual([1, 2]);
    expect(latest(m, 'p99')).toBe(0.4);
    expect(m.annotations).toEqual([{ time: 2, text: 'cache: off → on' }]);
  });
});

describe('sinceLastChange', () => {
  it('compares the latest value with the one just before the newest annotation', () => {
    let m = emptyModel();
    m = applyPoints(m, pts(1, { p99: 0.9 }));
    m = applyPoints(m, pts(2, { p99: 0.8 }));
    expect(sinceLastChange(m, 'p99')).toBeNull();
    m = applyAnnotation(m, { time: 2.5, text: 'cache: off → on' });
    m = applyPoints(m, pts(3, { p99: 0.2 }));
    m = applyPoints(m, pts(4, { p99: 0.1 }));
    expect(sinceLastChange(m, 'p99')).toEqual({ before: 0.8, now: 0.1, text: 'cache: off → on' });
    expect(valueAt(m, 'p99', 3.5)).toBe(0.2);
  });

  it('keeps the stats of the newest points only', () => {
    let m = applyPoints(emptyModel(), { type: 'points', time: 5, values: {}, stats: { 'svc_rps:cart': 3 } });
    m = applyPoints(m, { type: 'points', time: 4, values: {}, stats: { 'svc_rps:cart': 1 } });
    expect(m.stats).toEqual({ 'svc_rps:cart': 3 });
  });
});

describe('compareAround', () => {
  it('averages each series over the span before and after a moment', () => {
    let m = emptyModel();
    for (const [t, v] of [[1, 0.9], [2, 0.7], [3, 0.2], [4, 0.1], [9, 5]] as const) m = applyPoints(m, pts(t, { p99: v }));
    const p99 = compareAround(m, 2.5, 2).find((r) => r.name === 'p99');
    expect(p99?.before).toBeCloseTo(0.8);
    expect(p99?.after).toBeCloseTo(0.15);
    expect(compareAround(m, 2.5, 2).find((r) => r.name === 'errors')).toEqual({ name: 'errors', before: null, after: null });
  });
});
