// Benchmarks for the per-tick path: one points message folded into a full
// 15-minute window (900 one-second points), then turned into chart columns.
// Run with: npx vitest bench --run
import { bench, describe } from 'vitest';
import { CHARTS, columns } from '@/charts';
import { applyPoints, emptyModel, type Model } from '@/model';

function fullModel(): Model {
  let m = emptyModel();
  for (let t = 0; t < 900; t++) {
    m = applyPoints(m, { type: 'points', time: t, values: { p50: 0.01, p95: 0.05, p99: 0.1, throughput: 150, errors: 0.01 } });
  }
  return m;
}

describe('tick', () => {
  const base = fullModel();
  let m = base;
  let t = 900;
  bench('applyPoints into a full window (trims one point)', () => {
    m = applyPoints(m, { type: 'points', time: t++, values: { p50: 0.01, p95: 0.05, p99: 0.1, throughput: 150, errors: 0.01 } });
  });
  bench('columns for all three charts', () => {
    for (const spec of CHARTS) columns(base, spec);
  });
});
