// Number formatting with units, shared by the big numbers, the chart axes
// and the legends, so one value reads the same everywhere. The server sends
// SI base units (seconds, ratios); people read milliseconds and percent.

import type { Value } from '@/model';

/** The text shown where a value is missing. */
export const NO_VALUE = '—';

/** fixed rounds to a precision that keeps about three significant digits. */
function sig3(x: number): string {
  const a = Math.abs(x);
  if (a === 0) return '0';
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  return x.toFixed(3);
}

/** formatMs shows a duration given in seconds as milliseconds: 0.0123 → "12.3 ms". */
export function formatMs(seconds: Value): string {
  if (seconds === null || !Number.isFinite(seconds)) return NO_VALUE;
  return `${sig3(seconds * 1000)} ms`;
}

/** formatPercent shows a 0..1 ratio as percent: 0.0123 → "1.23 %". */
export function formatPercent(ratio: Value): string {
  if (ratio === null || !Number.isFinite(ratio)) return NO_VALUE;
  return `${sig3(ratio * 100)} %`;
}

/** formatRate shows requests per second: 149.6 → "150 req/s". */
export function formatRate(perSecond: Value): string {
  if (perSecond === null || !Number.isFinite(perSecond)) return NO_VALUE;
  return `${sig3(perSecond)} req/s`;
}

/**
 * axisTick formats one axis tick, already in display units, with its unit
 * suffix. Ticks use as many decimals as the tick step needs, so 0.5-steps
 * do not all round to the same label.
 */
export function axisTick(v: number, step: number, unit: string): string {
  const decimals = step >= 1 || step <= 0 ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
  return `${v.toFixed(decimals)} ${unit}`;
}

/** dataValue is the string for a data-value attribute: the number as is, or "" for none. */
export function dataValue(v: Value): string {
  return v === null || !Number.isFinite(v) ? '' : String(v);
}

/** formatClock shows Unix seconds as a local wall-clock time, HH:MM:SS. */
export function formatClock(unixSeconds: number): string {
  const d = new Date(unixSeconds * 1000);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}
