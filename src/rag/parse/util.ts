import type { ParsedSection } from '../types.ts';

export interface ParseOptions {
  /** Title given by the caller; wins over one found in the content. */
  title?: string | undefined;
  /** Used for a fallback title (the file name). */
  uri?: string | undefined;
}

/** File name without directory and extension: the last-resort title. */
export function titleFromUri(uri: string | undefined): string {
  if (!uri) return '';
  const base =
    uri
      .replace(/[?#].*$/, '')
      .replace(/\/+$/, '')
      .split('/')
      .pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/** Trims line ends (keeping indentation, which code needs) and squeezes blank-line runs to one. */
export function tidy(text: string): string {
  return text
    .split('\n')
    .map((l) => (l.trim() === '' ? '' : l.trimEnd()))
    .join('\n')
    .replace(/\n{3,}/g, '\n\n')
    .trim();
}

/** Collects lines into sections, keeping the stack of enclosing headings. */
export class SectionBuilder {
  #stack: Array<{ level: number; text: string }> = [];
  #sections: ParsedSection[] = [];
  #lines: string[] = [];

  heading(level: number, text: string): void {
    this.#flush();
    while (this.#stack.length > 0 && (this.#stack.at(-1) as { level: number }).level >= level)
      this.#stack.pop();
    if (text) this.#stack.push({ level, text });
  }

  line(text: string): void {
    this.#lines.push(text);
  }

  finish(): ParsedSection[] {
    this.#flush();
    return this.#sections;
  }

  #flush(): void {
    const text = tidy(this.#lines.join('\n'));
    this.#lines = [];
    if (text) this.#sections.push({ headingPath: this.#stack.map((h) => h.text), text });
  }
}
