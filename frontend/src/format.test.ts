import { describe, expect, it } from 'vitest';
import { axisTick, dataValue, formatClock, formatMs, formatPercent, formatRate, NO_VALUE } from '@/format';

describe('formatMs', () => {
  it.each([
    [0.0123, '12.3 ms'],
    [0.25, '250 ms'],
    [1.5, '1500 ms'],
    [0.0042, '4.20 ms'],
    [0.00042, '0.420 ms'],
    [0, '0 ms'],
    [null, NO_VALUE],
    [Number.NaN, NO_VALUE],
  ])('%s s → %s', (v, want) => {
    expect(formatMs(v)).toBe(want);
  });
});

describe('formatPercent', () => {
  it.each([
    [0.0123, '1.23 %'],
    [0.5, '50.0 %'],
    [1, '100 %'],
    [0, '0 %'],
    [null, NO_VALUE],
  ])('%s → %s', (v, want) => {
    expect(formatPercent(v)).toBe(want);
  });
});

describe('formatRate', () => {
  it.each([
    [149.6, '150 req/s'],
    [12.34, '12.3 req/s'],
    [0.5, '0.500 req/s'],
    [null, NO_VALUE],
    [Number.POSITIVE_INFINITY, NO_VALUE],
  ])('%s → %s', (v, want) => {
    expect(formatRate(v)).toBe(want);
  });
});

describe('axisTick', () => {
  it.each([
    [200, 50, 'ms', '200 ms'],
    [2.5, 0.5, '%', '2.5 %'],
    [0.25, 0.05, '%', '0.25 %'],
    [100, 0.1, 'req/s', '100.0 req/s'],
    [3, 0, 'ms', '3 ms'],
  ])('%s step %s → %s', (v, step, unit, want) => {
    expect(axisTick(v, step, unit)).toBe(want);
  });
});

describe('dataValue', () => {
  it('is the plain number, or empty for none', () => {
    expect(dataValue(0.0123)).toBe('0.0123');
    expect(dataValue(0)).toBe('0');
    expect(dataValue(null)).toBe('');
    expect(dataValue(Number.NaN)).toBe('');
    expect(Number.parseFloat(dataValue(1e-7))).toBe(1e-7);
  });
});

describe('formatClock', () => {
  it('shows local HH:MM:SS', () => {
    const d = new Date(2024, 0, 2, 3, 4, 5);
    expect(formatClock(d.getTime() / 1000)).toBe('03:04:05');
    expect(formatClock(d.getTime() / 1000 + 0.9)).toBe('03:04:05');
  });
});
