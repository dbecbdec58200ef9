// The shop's knobs as the control panel shows them: one descriptor per knob
// (its path in the config tree, a label, a unit, a range), in groups. The
// server validates every change; the ranges here only shape the inputs.

/** Knob describes one control. */
export interface Knob {
  /** Dotted path in the demo config, e.g. "cache.capacity". */
  path: string;
  label: string;
  kind: 'bool' | 'number' | 'select';
  unit?: string;
  min?: number;
  max?: number;
  step?: number;
  options?: readonly string[];
  help?: string;
}

/** KnobGroup is a fieldset of the control panel. */
export interface KnobGroup {
  id: string;
  title: string;
  knobs: readonly Knob[];
}

const SERVICES = ['auth', 'search', 'cart', 'order', 'inventory', 'payment', 'notification', 'static'] as const;

/** FAULT_SERVICES are the services the per-service faults name. */
export const FAULT_SERVICES = ['product', ...SERVICES, 'worker'] as const;

const num = (path: string, label: string, unit: string, min: number, max: number, step = 1, help?: string): Knob => ({
  path,
  label,
  kind: 'number',
  unit,
  min,
  max,
  step,
  help,
});
const bool = (path: string, label: string, help?: string): Knob => ({ path, label, kind: 'bool', help });
const select = (path: string, label: string, options: readonly string[], help?: string): Knob => ({
  path,
  label,
  kind: 'select',
  options,
  help,
});

/** GROUPS is the control panel, in page order. */
export const GROUPS: readonly KnobGroup[] = [
  {
    id: 'load',
    title: 'Load',
    knobs: [
      num('arrival_rate', 'Arrival rate', 'req/s', 1, 5000, 1, 'Poisson arrivals: the offered load'),
      select('load.model', 'Load model', ['open', 'closed'], 'closed: virtual users who wait for each answer'),
      num('load.users', 'Virtual users', 'users', 1, 10000),
      num('load.think_ms', 'Think time', 'ms', 0, 60000, 100),
      num('journeys.browse', 'Browse weight', '', 0, 100, 0.01),
      num('journeys.search', 'Search weight', '', 0, 100, 0.01),
      num('journeys.cart', 'Add-to-cart weight', '', 0, 100, 0.01),
      num('journeys.checkout', 'Checkout weight', '', 0, 100, 0.01),
      num('journeys.images', 'Image weight', '', 0, 100, 0.01),
      num('speed', 'Simulation speed', '×', 0.25, 100, 0.25),
    ],
  },
  {
    id: 'architecture',
    title: 'Architecture',
    knobs: [
      select('topology', 'Topology', ['microservices', 'monolith'], 'monolith: one process, no hops between services'),
      bool('queue.async_checkout', 'Async checkout (queue)', 'order answers 202; consumers call payment and notification'),
      bool('cdn.enabled', 'CDN for images'),
      select('cache.policy', 'Cache policy', ['lru', 'lfu']),
      select('load_balancer', 'Load balancer', ['round_robin', 'least_connections', 'random', 'power_of_two']),
      bool('serverless.enabled', 'Serverless product service', 'cold starts on scale from zero'),
      num('network.added_ms', 'Added latency per hop', 'ms', 0, 1000),
    ],
  },
  {
    id: 'capacity',
    title: 'Capacity',
    knobs: [
      num('product_replicas', 'Product replicas', '', 1, 100),
      num('product_workers', 'Product workers', 'per replica', 1, 1000),
      num('db_connections', 'DB connections', '', 1, 1000),
      num('monolith.replicas', 'Monolith replicas', '', 1, 100),
      num('monolith.workers', 'Monolith workers', 'per replica', 1, 1000),
      ...SERVICES.map((s) => num(`services.${s}.replicas`, `${s} replicas`, '', 1, 100)),
      num('queue.consumers', 'Queue consumers', '', 1, 1000),
      num('queue.prefetch', 'Queue prefetch', 'messages', 1, 10000),
      bool('autoscaling.enabled', 'Autoscale product'),
      num('autoscaling.target_utilisation', 'Autoscaler target', 'ratio', 0.05, 1, 0.05),
      num('autoscaling.max', 'Autoscaler max', 'replicas', 1, 100),
    ],
  },
  {
    id: 'resilience',
    title: 'Resilience',
    knobs: [
      num('retries.max_attempts', 'Max attempts', 'tries', 1, 10),
      num('retries.backoff_ms', 'Retry backoff', 'ms', 0, 60000, 10),
      num('timeouts.gateway_ms', 'Gateway timeout', 'ms (0 = none)', 0, 600000, 50),
      bool('circuit_breaker.enabled', 'Circuit breaker'),
      num('circuit_breaker.failure_threshold', 'Breaker threshold', 'failures', 1, 10000),
      num('circuit_breaker.open_ms', 'Breaker open for', 'ms', 1, 600000, 100),
      bool('rate_limit.enabled', 'Rate limit'),
      num('rate_limit.rps', 'Rate limit', 'req/s', 1, 100000),
      num('rate_limit.burst', 'Rate-limit burst', 'requests', 1, 100000),
      bool('hedging.enabled', 'Hedged requests'),
      num('hedging.delay_ms', 'Hedge after', 'ms', 0, 60000),
      num('queue.max_deliveries', 'Max deliveries', 'before dead-letter', 1, 100),
    ],
  },
  {
    id: 'data',
    title: 'Data',
    knobs: [
      num('cache.capacity', 'Cache capacity', 'entries', 0, 10000, 100),
      num('cache.ttl_ms', 'Cache TTL', 'ms (0 = none)', 0, 86400000, 1000),
      bool('cache.coalesce', 'Coalesce misses'),
      bool('db.index', 'DB index'),
      bool('db.n_plus_one', 'N+1 queries'),
      select('db.distribution', 'Query-time law', ['lognormal', 'exponential', 'deterministic', 'hyperexponential']),
    ],
  },
  {
    id: 'faults',
    title: 'Faults',
    knobs: [
      num('faults.db_error_ratio', 'DB error ratio', 'ratio', 0, 1, 0.01),
      num('faults.db_added_latency_ms', 'Slow queries', 'ms added', 0, 60000, 10),
      num('faults.db_lock_contention', 'Lock contention', 'factor', 0, 10, 0.1),
      bool('faults.cache_down', 'Cache down'),
      bool('faults.cache_flush', 'Flush cache'),
      bool('faults.product_down', 'Product instance 0 down'),
      num('faults.product_cpu_hog', 'Product CPU hog', '×', 0, 1000, 1),
      bool('faults.partition', 'Partition gateway ⇹ product'),
      num('faults.gc_pause_ms', 'GC pause', 'ms', 0, 60000, 10),
      num('faults.gc_interval_s', 'GC every', 's', 0, 3600),
      num('faults.leak_ms_per_min', 'Memory leak', 'ms/min', 0, 60000),
      bool('faults.queue_consumer_stall', 'Stall consumer 0'),
      ...FAULT_SERVICES.flatMap((s) => [
        num(`faults.service.${s}.error_ratio`, `${s} errors`, 'ratio', 0, 1, 0.01),
        num(`faults.service.${s}.added_latency_ms`, `${s} latency`, 'ms added', 0, 60000, 10),
        bool(`faults.service.${s}.down`, `${s} down`),
      ]),
    ],
  },
];

/** knobId is the element id of a knob's input. */
export function knobId(path: string): string {
  return `knob-${path.replace(/[._]/g, '-')}`;
}

/** getPath reads a dotted path from a config tree; undefined when absent. */
export function getPath(tree: unknown, path: string): unknown {
  let v: unknown = tree;
  for (const key of path.split('.')) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[key];
  }
  return v;
}

/** patchFor builds the smallest patch that sets path to value: {"a":{"b":value}}. */
export function patchFor(path: string, value: unknown): Record<string, unknown> {
  const keys = path.split('.');
  let out: unknown = value;
  for (let i = keys.length - 1; i >= 0; i--) out = { [keys[i] as string]: out };
  return out as Record<string, unknown>;
}

/** merge deep-merges patch into base (objects merge, anything else replaces); neither is changed. */
export function merge(base: unknown, patch: unknown): unknown {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return patch;
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(patch as Record<string, unknown>)) out[k] = merge(out[k], v);
  return out;
}

/** parseKnobValue turns an input's text into the value a knob takes, or an error. */
export function parseKnobValue(k: Knob, raw: string | boolean): { value: unknown } | { error: string } {
  if (k.kind === 'bool') return { value: Boolean(raw) };
  if (k.kind === 'select') {
    return k.options?.includes(String(raw)) ? { value: String(raw) } : { error: `${k.label}: choose one of ${k.options?.join(', ')}` };
  }
  const n = Number(raw);
  if (String(raw).trim() === '' || !Number.isFinite(n)) return { error: `${k.label}: a number, please` };
  return { value: n };
}
