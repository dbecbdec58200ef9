// The control panel: switches that change the simulated shop. A switch only
// ever shows the server's configuration: flipping it PUTs a patch and then
// shows what the server answered. The annotation marking the change comes
// from the server over the websocket, never from here.

import type { DemoConfig, DemoPatch } from '@/api';

/** DemoConfigStore is what the controls need from the API. */
export interface DemoConfigStore {
  demoConfig(): Promise<DemoConfig>;
  updateDemo(patch: DemoPatch): Promise<DemoConfig>;
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
