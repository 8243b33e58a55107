/**
 * A small typed event emitter: the SDK runs on Node, Bun and Deno, so it does not lean on `node:events`. A
 * listener that throws does not stop the others; an 'error' with no listener is dropped (the App keeps running
 * and reconnecting — that is what an app wants from its connection).
 */
export type Listener<A extends unknown[]> = (...args: A) => void;

export class Emitter<Events extends Record<string, unknown[]>> {
  readonly #listeners = new Map<keyof Events, Set<(...args: never) => void>>();

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    let set = this.#listeners.get(event);
    if (!set) this.#listeners.set(event, (set = new Set()));
    set.add(listener as unknown as (...args: never) => void);
    return this;
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const wrapped: Listener<Events[K]> = (...args) => {
      this.off(event, wrapped);
      listener(...args);
    };
    return this.on(event, wrapped);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    this.#listeners.get(event)?.delete(listener as unknown as (...args: never) => void);
    return this;
  }

  listenerCount(event: keyof Events): number {
    return this.#listeners.get(event)?.size ?? 0;
  }

  protected emit<K extends keyof Events>(event: K, ...args: Events[K]): void {
    for (const listener of [...(this.#listeners.get(event) ?? [])]) {
      try {
        (listener as unknown as Listener<Events[K]>)(...args);
      } catch {
        // a listener's own failure is its own business
      }
    }
  }
}
