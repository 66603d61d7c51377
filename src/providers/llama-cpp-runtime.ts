import type { Llama, LlamaContextSequence } from 'node-llama-cpp';
import { KeelError } from '../errors.ts';

/**
 * Loading node-llama-cpp, an optional dependency: imported on first use only, so Keel runs without
 * it, and a missing install is a clear error that says how to fix it. One `Llama` (the native
 * backend) is shared per thread/GPU setting by every local model of the process.
 */

export type NodeLlamaCpp = typeof import('node-llama-cpp');
export type ModuleLoader = () => Promise<NodeLlamaCpp>;

export const NODE_LLAMA_CPP_VERSION = '3.21.1';

export function missingPackageError(cause: unknown): KeelError {
  return new KeelError(
    'config_invalid',
    `Local GGUF models need the optional package node-llama-cpp; install it with \`npm install node-llama-cpp@${NODE_LLAMA_CPP_VERSION}\``,
    { cause },
  );
}

export const importNodeLlamaCpp: ModuleLoader = () => import('node-llama-cpp');

// Keyed by loader too, so a test's stand-in loader never gets the real backend (or the reverse).
const backends = new Map<string, Promise<Llama>>();
const loaderIds = new WeakMap<ModuleLoader, number>();
let loaders = 0;

export function sharedLlama(load: ModuleLoader, opts: { gpu: boolean; threads: number }): Promise<Llama> {
  let lid = loaderIds.get(load);
  if (lid === undefined) {
    lid = ++loaders;
    loaderIds.set(load, lid);
  }
  const key = `${lid}:${opts.gpu}:${opts.threads}`;
  let p = backends.get(key);
  if (p === undefined) {
    p = (async () => {
      let mod: NodeLlamaCpp;
      try {
        mod = await load();
      } catch (e) {
        throw missingPackageError(e);
      }
      // build 'never': never try to compile llama.cpp from source at run time (no toolchain, no network).
      return mod.getLlama({ gpu: opts.gpu ? 'auto' : false, build: 'never', maxThreads: opts.threads });
    })();
    p.catch(() => backends.delete(key));
    backends.set(key, p);
  }
  return p;
}

/** Frees every shared backend (tests, shutdown). */
export async function disposeLlamaBackends(): Promise<void> {
  const all = [...backends.values()];
  backends.clear();
  await Promise.allSettled(all.map(async (p) => (await p).dispose()));
}

/** The context's sequences, lent to one generation at a time; waiters queue in order. */
export class SequencePool {
  private readonly free: LlamaContextSequence[] = [];
  private readonly waiters: { resolve: (s: LlamaContextSequence) => void; reject: (e: unknown) => void }[] =
    [];

  constructor(sequences: LlamaContextSequence[]) {
    this.free.push(...sequences);
  }

  acquire(signal?: AbortSignal): Promise<LlamaContextSequence> {
    const s = this.free.pop();
    if (s) return Promise.resolve(s);
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (seq: LlamaContextSequence) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(seq);
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  release(s: LlamaContextSequence): void {
    const w = this.waiters.shift();
    if (w) w.resolve(s);
    else this.free.push(s);
  }
}

/** Callback output (`onTextChunk`) as an async iterable, with an end and an error. */
export class PushQueue<T> {
  private items: T[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private error: unknown;
  private failed = false;

  push(item: T): void {
    this.items.push(item);
    this.notify();
  }

  end(error?: unknown): void {
    this.ended = true;
    if (error !== undefined) {
      this.failed = true;
      this.error = error;
    }
    this.notify();
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *drain(): AsyncGenerator<T> {
    for (;;) {
      if (this.items.length > 0) {
        const batch = this.items;
        this.items = [];
        for (const item of batch) yield item;
        continue;
      }
      if (this.ended) {
        if (this.failed) throw this.error;
        return;
      }
      await new Promise<void>((r) => (this.wake = r));
    }
  }
}
