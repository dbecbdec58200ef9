// The control panel: switches that change the simulated shop. A switch only
// ever shows the server's configuration: flipping it PUTs a patch and then
// shows what the server answered. The annotation marking the change comes
// from the server over the websocket, never from here.

import type { DemoConfig, DemoPatch } from '@/api';
import { getPath, knobId, parseKnobValue, patchFor, type Knob, type KnobGroup } from '@/knobs';
import { applyPreset, type Preset, type PresetStore } from '@/presets';

/** DemoConfigStore is what the controls need from the API. */
export interface DemoConfigStore {
  demoConfig(): Promise<DemoConfig>;
  updateDemo(patch: DemoPatch, preset?: string): Promise<DemoConfig>;
}

/** CacheControlOptions wires a CacheControl to the page. */
export interface CacheControlOptions {
  input: HTMLInputElement;
  /** Explains why the control is disabled when the server is read-only. */
  readOnlyNote: HTMLElement;
  store: DemoConfigStore;
  readOnly: boolean;
  /** Reports an error to show, or "" once the control works again. */
  onError: (message: string) => void;
}

/** CacheControl binds the cache switch to the shop's cache.enabled. */
export class CacheControl {
  private pending = false;
  private loaded = false;
  private readonly o: CacheControlOptions;

  constructor(o: CacheControlOptions) {
    this.o = o;
    const { input } = o;
    input.disabled = true;
    input.setAttribute('aria-checked', String(input.checked));
    input.addEventListener('change', () => void this.flip());
    // Space toggles a checkbox natively; a switch is expected to take Enter too.
    input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter') {
        ev.preventDefault();
        input.click();
      }
    });
    if (o.readOnly) {
      o.readOnlyNote.textContent =
        'Read-only: this server accepts changes only with its access token. Open the page as …/?token=<token> to use the controls; until then the switch only shows the state.';
      o.readOnlyNote.hidden = false;
    }
  }

  private show(cfg: DemoConfig): void {
    const on = Boolean(cfg.cache?.enabled);
    this.o.input.checked = on;
    this.o.input.setAttribute('aria-checked', String(on));
  }

  /** refresh loads the server's configuration into the switch. */
  async refresh(): Promise<void> {
    if (this.pending) return;
    try {
      const cfg = await this.o.store.demoConfig();
      if (this.pending) return;
      this.show(cfg);
      this.loaded = true;
      this.o.input.disabled = this.o.readOnly;
      this.o.onError('');
    } catch (err) {
      this.o.onError(`Could not load the demo settings: ${errorText(err)}`);
    }
  }

  private async flip(): Promise<void> {
    const { input } = this.o;
    const want = input.checked;
    if (this.pending || !this.loaded || this.o.readOnly) {
      input.checked = !want;
      return;
    }
    this.pending = true;
    input.setAttribute('aria-busy', 'true');
    try {
      const cfg = await this.o.store.updateDemo({ cache: { enabled: want } });
      this.show(cfg);
      this.o.onError('');
    } catch (err) {
      input.checked = !want;
      input.setAttribute('aria-checked', String(!want));
      this.o.onError(`Cache not changed: ${errorText(err)}`);
    } finally {
      this.pending = false;
      input.removeAttribute('aria-busy');
    }
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** KnobPanelOptions wires the control panel to the page. */
export interface KnobPanelOptions {
  root: HTMLElement;
  groups: readonly KnobGroup[];
  store: DemoConfigStore;
  readOnly: boolean;
  onError: (message: string) => void;
}

/**
 * KnobPanel renders every knob as a labelled input, grouped in fieldsets,
 * and shows the server's configuration in them. A change PUTs the one knob
 * (numbers on commit: Enter or leaving the field) and then shows what the
 * server answered; a refused change puts the server's value back and says why.
 */
export class KnobPanel {
  private readonly inputs = new Map<string, { knob: Knob; el: HTMLInputElement | HTMLSelectElement }>();
  private pending = 0;

  constructor(private readonly o: KnobPanelOptions) {
    const doc = o.root.ownerDocument;
    for (const g of o.groups) {
      const fs = doc.createElement('fieldset');
      fs.className = 'knob-group';
      fs.id = `group-${g.id}`;
      const legend = doc.createElement('legend');
      legend.textContent = g.title;
      fs.append(legend);
      for (const k of g.knobs) fs.append(this.row(doc, k));
      o.root.append(fs);
    }
  }

  private row(doc: Document, k: Knob): HTMLElement {
    const row = doc.createElement('div');
    row.className = `knob-row knob-${k.kind}`;
    const id = knobId(k.path);
    let el: HTMLInputElement | HTMLSelectElement;
    if (k.kind === 'select') {
      el = doc.createElement('select');
      for (const opt of k.options ?? []) {
        const o = doc.createElement('option');
        o.value = opt;
        o.textContent = opt.replace(/_/g, ' ');
        el.append(o);
      }
    } else {
      el = doc.createElement('input');
      if (k.kind === 'bool') {
        el.type = 'checkbox';
        el.setAttribute('role', 'switch');
      } else {
        el.type = 'number';
        if (k.min !== undefined) el.min = String(k.min);
        if (k.max !== undefined) el.max = String(k.max);
        el.step = String(k.step ?? 1);
        el.inputMode = 'decimal';
      }
    }
    el.id = id;
    el.dataset.knob = k.path;
    el.disabled = true;
    const label = doc.createElement('label');
    label.htmlFor = id;
    label.textContent = k.label;
    if (k.help) label.title = k.help;
    row.append(k.kind === 'bool' ? el : label, k.kind === 'bool' ? label : el);
    if (k.unit) {
      const unit = doc.createElement('span');
      unit.className = 'unit';
      unit.textContent = k.unit;
      row.append(unit);
    }
    el.addEventListener('change', () => void this.commit(k, el));
    this.inputs.set(k.path, { knob: k, el });
    return row;
  }

  /** show puts a configuration into the inputs (skipped while a change is in flight). */
  show(cfg: DemoConfig): void {
    if (this.pending > 0) return;
    for (const { knob, el } of this.inputs.values()) {
      const v = getPath(cfg, knob.path);
      if (el instanceof HTMLInputElement && el.type === 'checkbox') {
        el.checked = Boolean(v);
        el.setAttribute('aria-checked', String(el.checked));
      } else if (el.ownerDocument.activeElement !== el) {
        el.value = v === undefined || v === null ? '' : String(v);
      }
      el.dataset.loaded = String(v !== undefined);
      el.disabled = this.o.readOnly;
    }
  }

  /** refresh loads the server's configuration into the inputs. */
  async refresh(): Promise<void> {
    try {
      this.show(await this.o.store.demoConfig());
    } catch (err) {
      this.o.onError(`Could not load the demo settings: ${errorText(err)}`);
    }
  }

  private async commit(k: Knob, el: HTMLInputElement | HTMLSelectElement): Promise<void> {
    if (this.o.readOnly) return;
    const raw = el instanceof HTMLInputElement && el.type === 'checkbox' ? el.checked : el.value;
    const parsed = parseKnobValue(k, raw);
    if ('error' in parsed) {
      this.o.onError(parsed.error);
      return void this.refresh();
    }
    this.pending++;
    el.setAttribute('aria-busy', 'true');
    try {
      const cfg = await this.o.store.updateDemo(patchFor(k.path, parsed.value));
      this.o.onError('');
      this.pending--;
      this.show(cfg);
    } catch (err) {
      this.pending--;
      this.o.onError(`${k.label} not changed: ${errorText(err)}`);
      void this.refresh();
    } finally {
      el.removeAttribute('aria-busy');
    }
  }
}

/** PresetPanelOptions wires the presets to the page. */
export interface PresetPanelOptions {
  root: HTMLElement;
  presets: readonly Preset[];
  store: PresetStore;
  readOnly: boolean;
  onApplied: (cfg: DemoConfig, p: Preset) => void;
  onError: (message: string) => void;
}

/** renderPresets lists the presets, each with its story and a button that applies it. */
export function renderPresets(o: PresetPanelOptions): void {
  const doc = o.root.ownerDocument;
  for (const p of o.presets) {
    const li = doc.createElement('li');
    li.className = 'preset';
    const button = doc.createElement('button');
    button.type = 'button';
    button.id = `preset-${p.id}`;
    button.textContent = p.title;
    button.disabled = o.readOnly;
    const story = doc.createElement('p');
    story.className = 'help';
    story.textContent = p.story;
    const watch = doc.createElement('p');
    watch.className = 'help watch';
    watch.textContent = `Watch: ${p.watch}`;
    button.addEventListener('click', () => {
      button.setAttribute('aria-busy', 'true');
      applyPreset(o.store, p)
        .then((cfg) => {
          o.onError('');
          o.root.querySelectorAll('.preset').forEach((x) => x.classList.remove('active'));
          li.classList.add('active');
          o.onApplied(cfg, p);
        })
        .catch((err: unknown) => o.onError(`Preset “${p.title}” not applied: ${errorText(err)}`))
        .finally(() => button.removeAttribute('aria-busy'));
    });
    li.append(button, story, watch);
    o.root.append(li);
  }
}
