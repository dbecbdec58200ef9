import { describe, expect, it } from 'vitest';
import { ApiError, type DemoConfig, type DemoPatch } from '@/api';
import { CacheControl, type DemoConfigStore } from '@/controls';

/** Just enough of an <input type=checkbox> for the control: events, checked, attributes. */
class FakeInput extends EventTarget {
  checked = false;
  disabled = false;
  private attrs = new Map<string, string>();
  setAttribute(k: string, v: string): void {
    this.attrs.set(k, v);
  }
  removeAttribute(k: string): void {
    this.attrs.delete(k);
  }
  getAttribute(k: string): string | null {
    return this.attrs.get(k) ?? null;
  }
  /** A user's click: the browser toggles first, then fires change. */
  click(): void {
    if (this.disabled) return;
    this.checked = !this.checked;
    this.dispatchEvent(new Event('change'));
  }
}

const config = (enabled: boolean): DemoConfig => ({
  seed: 1,
  arrival_rate: 150,
  product_workers: 8,
  product_queue: 64,
  db_connections: 6,
  cache: { enabled, capacity: 1000 },
});

class FakeStore implements DemoConfigStore {
  patches: DemoPatch[] = [];
  constructor(
    public current: DemoConfig,
    public reject: Error | null = null,
  ) {}
  async demoConfig(): Promise<DemoConfig> {
    return this.current;
  }
  async updateDemo(patch: DemoPatch): Promise<DemoConfig> {
    this.patches.push(patch);
    if (this.reject) throw this.reject;
    this.current = { ...this.current, cache: { ...this.current.cache, ...(patch.cache as Partial<DemoConfig["cache"]>) } };
    return this.current;
  }
}

const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

function setup(store: FakeStore, readOnly = false) {
  const input = new FakeInput();
  const note = { textContent: '', hidden: true };
  const errors: string[] = [];
  const control = new CacheControl({
    input: input as unknown as HTMLInputElement,
    readOnlyNote: note as unknown as HTMLElement,
    store,
    readOnly,
    onError: (m) => errors.push(m),
  });
  return { input, note, errors, control };
}

describe('CacheControl', () => {
  it("shows the server's state once loaded, and is disabled until then", async () => {
    const { input, control } = setup(new FakeStore(config(true)));
    expect(input.disabled).toBe(true);
    await control.refresh();
    expect(input.checked).toBe(true);
    expect(input.disabled).toBe(false);
    expect(input.getAttribute('aria-checked')).toBe('true');
  });

  it('PUTs the flip and then shows what the server answered', async () => {
    const store = new FakeStore(config(false));
    const { input, errors, control } = setup(store);
    await control.refresh();
    input.click();
    await flush();
    expect(store.patches).toEqual([{ cache: { enabled: true } }]);
    expect(input.checked).toBe(true);
    expect(errors.at(-1)).toBe('');
  });

  it('reverts and reports the server message when the PUT is rejected', async () => {
    const store = new FakeStore(config(false), new ApiError('cache capacity 0 must be at least 1', 400));
    const { input, errors, control } = setup(store);
    await control.refresh();
    input.click();
    await flush();
    expect(input.checked).toBe(false);
    expect(errors.at(-1)).toBe('Cache not changed: cache capacity 0 must be at least 1');
  });

  it('stays disabled and explains why when the server is read-only', async () => {
    const store = new FakeStore(config(true));
    const { input, note, control } = setup(store, true);
    await control.refresh();
    expect(input.checked).toBe(true);
    expect(input.disabled).toBe(true);
    expect(note.hidden).toBe(false);
    expect(note.textContent).toMatch(/Read-only/);
    input.click();
    await flush();
    expect(store.patches).toEqual([]);
  });

  it('follows a change made elsewhere on refresh', async () => {
    const store = new FakeStore(config(false));
    const { input, control } = setup(store);
    await control.refresh();
    store.current = config(true);
    await control.refresh();
    expect(input.checked).toBe(true);
  });
});
