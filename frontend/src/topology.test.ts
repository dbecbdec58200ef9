import { describe, expect, it } from 'vitest';
import { edgesOf, healthOf, nodesOf } from '@/topology';

const stats = {
  'edge_up:client>gateway': 1,
  'edge_up:gateway>monolith': 1,
  'edge_up:gateway>order': 0,
  'edge_up:monolith>db': 1,
  'edge_rps:client>gateway': 150,
  'edge_rps:gateway>monolith': 150,
  'edge_lat:gateway>monolith': 0.02,
  'edge_rps:monolith>db': 120,
  'edge_err:monolith>db': 3,
  'svc_rps:gateway': 150,
  'svc_err:gateway': 0.02,
  'svc_rps:db': 120,
  'svc_util:db': 0.97,
  'svc_util:monolith': 0.5,
  breaker: 0,
};

describe('topology', () => {
  it('draws only the edges in force, with their numbers', () => {
    const edges = edgesOf(stats);
    expect(edges.map((e) => `${e.from}>${e.to}`)).toEqual(['client>gateway', 'gateway>monolith', 'monolith>db']);
    expect(edges[1]).toEqual({ from: 'gateway', to: 'monolith', rps: 150, latency: 0.02, errors: 0 });
    expect(edges[2]?.errors).toBe(3);
  });

  it('gives boxes without their own counters what flows through them, and a health', () => {
    const nodes = nodesOf(stats, edgesOf(stats));
    const by = Object.fromEntries(nodes.map((n) => [n.name, n]));
    expect(by.client?.rps).toBe(150);
    expect(by.monolith?.rps).toBe(150);
    expect(by.monolith?.util).toBe(0.5);
    expect(by.db?.health).toBe('warn'); // 97 % busy
    expect(by.gateway?.health).toBe('warn'); // 2 % errors
  });

  it('classifies health by errors first, then load', () => {
    expect(healthOf(10, 0.06, 0.1, false)).toBe('bad');
    expect(healthOf(10, 0, 0.9, false)).toBe('warn');
    expect(healthOf(10, 0, 0.1, true)).toBe('warn');
    expect(healthOf(0, null, null, false)).toBe('idle');
    expect(healthOf(5, 0, 0.2, false)).toBe('ok');
  });
});
