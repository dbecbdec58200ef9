// Scenario presets: stories from the classic architecture write-ups, each a
// patch on top of the shop's defaults. Applying one resets every knob to its
// default first, so a preset always starts from the same place; a preset
// with two acts schedules its second (the fix) 30 s later, and the server
// annotates both.

import type { DemoConfig, DemoPatch } from '@/api';
import { merge } from '@/knobs';
import presetData from '@/presets.json';

/** Preset is one scenario. */
export interface Preset {
  id: string;
  title: string;
  /** What the preset sets up, in a sentence or two. */
  story: string;
  /** What to watch on the page. */
  watch: string;
  patch: DemoPatch;
}

/**
 * PRESETS in the order the page lists them. They live in presets.json so the
 * simulator's Go tests can replay each one and check that its story holds.
 */
export const PRESETS: readonly Preset[] = presetData as Preset[];

/** PresetStore is what applying a preset needs from the API. */
export interface PresetStore {
  demoDefaults(): Promise<DemoConfig>;
  updateDemo(patch: DemoPatch, preset?: string): Promise<DemoConfig>;
}

/** applyPreset resets the shop to its defaults with the preset's patch on top. */
export async function applyPreset(store: PresetStore, p: Preset): Promise<DemoConfig> {
  const defaults = await store.demoDefaults();
  return store.updateDemo(merge(defaults, p.patch) as DemoPatch, p.title);
}
