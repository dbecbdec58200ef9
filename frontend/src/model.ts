// The dashboard's one data model. The websocket feeds it through the pure
// functions below (applySnapshot, applyPoints, applyAnnotation); the views
// (charts, big numbers, annotation list) render from it and never keep data
// of their own. Columnar arrays, as uPlot wants them: times[i] pairs with
// values[name][i] for every series.

/** The series the server streams, in the order the server documents them. */
export const SERIES = ['p50', 'p95', 'p99', 'throughput', 'errors', 'offered', 'saturation'] as const;

/**
 * A series name: latencies in seconds, throughput and offered load in req/s,
 * errors and saturation (the busiest service's utilisation) 0..1 ratios.
 */
export type SeriesName = (typeof SERIES)[number];

/** A sample value; null means the server had no data for that instant. */
export type Value = number | null;

/** An annotation marks a moment, such as a knob change, on every chart. */
export interface Annotation {
  /** Unix seconds. */
  time: number;
  text: string;
}

/** The default window: the last 15 minutes. */
export const WINDOW_SECONDS = 15 * 60;

/** How many annotations the model keeps at most, oldest dropped first. */
export const MAX_ANNOTATIONS = 200;

/** Model is the dashboard's whole state of data. Treat it as immutable. */
export interface Model {
  /** Unix seconds, strictly ascending. */
  readonly times: readonly number[];
  /** One column per series, each as long as times. */
  readonly values: Readonly<Record<SeriesName, readonly Value[]>>;
  /** Ascending by time; ties keep arrival order. */
  readonly annotations: readonly Annotation[];
  /** Points older than the newest time minus this are dropped. */
  readonly windowSeconds: number;
  /**
   * The latest per-service and per-edge numbers (ids like "svc_rps:cart",
   * "edge_lat:gateway>product"), replaced by every points message.
   */
  readonly stats: Readonly<Record<string, number>>;
}

/** Stats are the latest per-service and per-edge numbers, by id. */
export type Stats = Readonly<Record<string, number>>;

/** Server → client messages on /ws. */
export type ServerMessage =
  | { type: 'snapshot'; series: Partial<Record<SeriesName, Array<[number, Value]>>>; annotations: Annotation[]; stats: Stats }
  | { type: 'points'; time: number; values: Partial<Record<SeriesName, Value>>; stats?: Stats }
  | { type: 'annotation'; annotation: Annotation };

function emptyColumns(): Record<SeriesName, Value[]> {
  return { p50: [], p95: [], p99: [], throughput: [], errors: [], offered: [], saturation: [] };
}

/** emptyModel returns a model with no data yet. */
export function emptyModel(windowSeconds: number = WINDOW_SECONDS): Model {
  return { times: [], values: emptyColumns(), annotations: [], windowSeconds, stats: {} };
}

function finiteOrNull(v: unknown): Value {
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/**
 * applySnapshot replaces all data with the server's snapshot. Series may carry
 * different timestamps; the result is their union, with null where a series
 * has no point at a time.
 */
export function applySnapshot(m: Model, snap: Extract<ServerMessage, { type: 'snapshot' }>): Model {
  const byTime = new Map<number, Partial<Record<SeriesName, Value>>>();
  for (const name of SERIES) {
    for (const pair of snap.series[name] ?? []) {
      const t = pair[0];
      if (!Number.isFinite(t)) continue;
      let row = byTime.get(t);
      if (!row) {
        row = {};
        byTime.set(t, row);
      }
      row[name] = finiteOrNull(pair[1]);
    }
  }
  const times = [...byTime.keys()].sort((a, b) => a - b);
  const values = emptyColumns();
  for (const t of times) {
    const row = byTime.get(t) ?? {};
    for (const name of SERIES) values[name].push(row[name] ?? null);
  }
  let annotations: Annotation[] = [];
  for (const a of snap.annotations) annotations = insertAnnotation(annotations, a);
  return trim({ times, values, annotations, windowSeconds: m.windowSeconds, stats: snap.stats });
}

/**
 * applyPoints adds one instant of every series. A point for a time already
 * present replaces it; a late point is inserted in order.
 */
export function applyPoints(m: Model, pts: Extract<ServerMessage, { type: 'points' }>): Model {
  const t = pts.time;
  if (!Number.isFinite(t)) return m;
  const i = lowerBound(m.times, t);
  const replace = m.times[i] === t;
  const times = m.times.slice();
  const values = emptyColumns();
  if (replace) {
    for (const name of SERIES) {
      values[name] = m.values[name].slice();
      values[name][i] = finiteOrNull(pts.values[name]);
    }
  } else {
    times.splice(i, 0, t);
    for (const name of SERIES) {
      values[name] = m.values[name].slice();
      values[name].splice(i, 0, finiteOrNull(pts.values[name]));
    }
  }
  const newest = i === times.length - 1;
  return trim({ ...m, times, values, stats: newest && pts.stats ? pts.stats : m.stats });
}

/** applyAnnotation adds an annotation in time order, ignoring an exact duplicate. */
export function applyAnnotation(m: Model, a: Annotation): Model {
  const annotations = insertAnnotation(m.annotations, a);
  if (annotations === m.annotations) return m;
  return { ...m, annotations };
}

function insertAnnotation(list: readonly Annotation[], a: Annotation): Annotation[] {
  if (!Number.isFinite(a.time) || typeof a.text !== 'string') return list as Annotation[];
  if (list.some((b) => b.time === a.time && b.text === a.text)) return list as Annotation[];
  // After every annotation with time <= a.time, so ties keep arrival order.
  let i = list.length;
  while (i > 0 && (list[i - 1] as Annotation).time > a.time) i--;
  const out = list.slice();
  out.splice(i, 0, { time: a.time, text: a.text });
  return out.length > MAX_ANNOTATIONS ? out.slice(out.length - MAX_ANNOTATIONS) : out;
}

/** lowerBound returns the first index whose time is >= t. */
function lowerBound(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * trim drops points older than the window, measured back from the newest
 * point (the server's clock, not the browser's, which may be skewed).
 */
export function trim(m: Model): Model {
  const last = m.times[m.times.length - 1];
  if (last === undefined) return m;
  const cut = lowerBound(m.times, last - m.windowSeconds);
  if (cut === 0) return m;
  const values = emptyColumns();
  for (const name of SERIES) values[name] = m.values[name].slice(cut);
  return { ...m, times: m.times.slice(cut), values };
}

/** latest returns the newest non-null value of a series, or null if there is none. */
export function latest(m: Model, name: SeriesName): Value {
  const col = m.values[name];
  for (let i = col.length - 1; i >= 0; i--) {
    const v = col[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

/** newestFirst returns the annotations for a list, newest at the top. */
export function newestFirst(m: Model): Annotation[] {
  return m.annotations.slice().reverse();
}

/** visibleAnnotations returns the annotations inside the model's time span. */
export function visibleAnnotations(m: Model): Annotation[] {
  const last = m.times[m.times.length - 1];
  if (last === undefined) return [];
  const first = last - m.windowSeconds;
  return m.annotations.filter((a) => a.time >= first && a.time <= last);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseAnnotation(v: unknown): Annotation | null {
  if (!isRecord(v)) return null;
  const { time, text } = v;
  if (typeof time !== 'number' || !Number.isFinite(time) || typeof text !== 'string') return null;
  return { time, text };
}

/**
 * parseMessage checks a decoded websocket message against the server
 * contract; it returns null for anything it does not understand, so one bad
 * frame cannot break the page.
 */
export function parseMessage(raw: unknown): ServerMessage | null {
  if (!isRecord(raw)) return null;
  switch (raw.type) {
    case 'snapshot': {
      const series: Partial<Record<SeriesName, Array<[number, Value]>>> = {};
      const src = isRecord(raw.series) ? raw.series : {};
      for (const name of SERIES) {
        const col = src[name];
        if (!Array.isArray(col)) continue;
        const pairs: Array<[number, Value]> = [];
        for (const p of col) {
          if (Array.isArray(p) && typeof p[0] === 'number') pairs.push([p[0], finiteOrNull(p[1])]);
        }
        series[name] = pairs;
      }
      const annotations = (Array.isArray(raw.annotations) ? raw.annotations : [])
        .map(parseAnnotation)
        .filter((a): a is Annotation => a !== null);
      return { type: 'snapshot', series, annotations, stats: parseStats(raw.stats) };
    }
    case 'points': {
      if (typeof raw.time !== 'number' || !isRecord(raw.values)) return null;
      const values: Partial<Record<SeriesName, Value>> = {};
      for (const name of SERIES) values[name] = finiteOrNull(raw.values[name]);
      return { type: 'points', time: raw.time, values, stats: parseStats(raw.stats) };
    }
    case 'annotation': {
      const annotation = parseAnnotation(raw.annotation);
      return annotation ? { type: 'annotation', annotation } : null;
    }
    default:
      return null;
  }
}

function parseStats(v: unknown): Stats {
  const out: Record<string, number> = {};
  if (!isRecord(v)) return out;
  for (const [k, x] of Object.entries(v)) if (typeof x === 'number' && Number.isFinite(x)) out[k] = x;
  return out;
}

/**
 * valueAt returns a series' newest non-null value at or before time t, or
 * null: what the page showed at that moment.
 */
export function valueAt(m: Model, name: SeriesName, t: number): Value {
  const col = m.values[name];
  for (let i = lowerBound(m.times, t + 1e-9) - 1; i >= 0; i--) {
    const v = col[i];
    if (v !== null && v !== undefined) return v;
  }
  return null;
}

/**
 * sinceLastChange compares a series' latest value with its value just
 * before the newest annotation in the window: the effect of the last change.
 * Null when there is no such annotation or no value on either side.
 */
export function sinceLastChange(m: Model, name: SeriesName): { before: number; now: number; text: string } | null {
  const anns = visibleAnnotations(m);
  let last = anns[anns.length - 1];
  if (!last) return null;
  // A preset and its knob changes share one instant: name the preset.
  const t = last.time;
  last = anns.find((a) => a.time === t && a.text.startsWith('preset:')) ?? last;
  const before = valueAt(m, name, last.time);
  const now = latest(m, name);
  if (before === null || now === null) return null;
  return { before, now, text: last.text };
}

/**
 * compareAround averages every series over the span seconds before time t
 * and the span after it (nulls skipped): what a change did.
 */
export function compareAround(m: Model, t: number, span: number): Array<{ name: SeriesName; before: Value; after: Value }> {
  const mean = (name: SeriesName, from: number, to: number): Value => {
    let sum = 0;
    let n = 0;
    m.times.forEach((x, i) => {
      const v = m.values[name][i];
      if (x >= from && x < to && v !== null && v !== undefined) {
        sum += v;
        n++;
      }
    });
    return n > 0 ? sum / n : null;
  };
  return SERIES.map((name) => ({ name, before: mean(name, t - span, t), after: mean(name, t, t + span) }));
}

/** withWindow returns the model with a different window, trimmed to it. */
export function withWindow(m: Model, windowSeconds: number): Model {
  return trim({ ...m, windowSeconds });
}

/** applyMessage folds any server message into the model. */
export function applyMessage(m: Model, msg: ServerMessage): Model {
  switch (msg.type) {
    case 'snapshot':
      return applySnapshot(m, msg);
    case 'points':
      return applyPoints(m, msg);
    case 'annotation':
      return applyAnnotation(m, msg.annotation);
  }
}
