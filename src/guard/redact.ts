/**
 * Reversible redaction. Values found in the input are replaced by typed placeholders (`<PERSON_1>`)
 * before the prompt leaves for a provider; the answer is restored for the client. The mapping lives
 * in this object only (one per request), never in a store, trace or log.
 */

const PLACEHOLDER = /<([A-Z][A-Z_]*_\d+)>/g;

export interface StreamRestorer {
  /** Returns the restored text that is safe to emit now; holds back only a possible placeholder prefix. */
  push(chunk: string): string;
  /** Returns whatever was held back (at the end of the stream). */
  flush(): string;
}

export class RedactionSession {
  private readonly byValue = new Map<string, string>();
  private readonly byPlaceholder = new Map<string, string>();
  private readonly counters = new Map<string, number>();
  private maxLength = 0;

  /** The placeholder for `value` of `type`; the same value always gets the same placeholder. */
  placeholder(type: string, value: string): string {
    const t = type.toUpperCase().replace(/[^A-Z_]/g, '_') || 'PII';
    const key = `${t}\u0000${t === 'EMAIL' ? value.toLowerCase() : value}`;
    const known = this.byValue.get(key);
    if (known) return known;
    const n = (this.counters.get(t) ?? 0) + 1;
    this.counters.set(t, n);
    const ph = `<${t}_${n}>`;
    this.byValue.set(key, ph);
    this.byPlaceholder.set(ph, value);
    if (ph.length > this.maxLength) this.maxLength = ph.length;
    return ph;
  }

  /** Number of distinct redacted values. */
  get size(): number {
    return this.byPlaceholder.size;
  }

  /** Placeholder types and counts, safe for traces (`{EMAIL: 2, PERSON: 1}`). */
  summary(): Record<string, number> {
    return Object.fromEntries(this.counters);
  }

  restore(text: string): string {
    if (this.byPlaceholder.size === 0 || !text.includes('<')) return text;
    return text.replace(PLACEHOLDER, (m) => this.byPlaceholder.get(m) ?? m);
  }

  /** True when `s` (starting with `<`) could still grow into one of this session's placeholders. */
  couldBePlaceholderPrefix(s: string): boolean {
    if (s.length > this.maxLength) return false;
    for (const ph of this.byPlaceholder.keys()) if (ph.startsWith(s)) return true;
    return false;
  }

  createStreamRestorer(): StreamRestorer {
    let pending = '';
    return {
      push: (chunk: string): string => {
        if (pending === '' && (this.byPlaceholder.size === 0 || !chunk.includes('<'))) return chunk;
        let buf = pending === '' ? chunk : pending + chunk;
        pending = '';
        const lt = buf.lastIndexOf('<');
        if (lt >= 0 && buf.indexOf('>', lt) < 0 && this.couldBePlaceholderPrefix(buf.slice(lt))) {
          pending = buf.slice(lt);
          buf = buf.slice(0, lt);
        }
        return this.restore(buf);
      },
      flush: (): string => {
        const rest = pending;
        pending = '';
        return rest;
      },
    };
  }
}

/** Irreversible replacement, for output (what the client must not see is not restored). */
export function maskFor(type: string): string {
  return `[${type.toUpperCase()}]`;
}
