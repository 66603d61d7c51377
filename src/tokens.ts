import { createRequire } from 'node:module';

type Tokenizer = typeof import('gpt-tokenizer');

const require = createRequire(import.meta.url);
let o200k: Tokenizer | undefined;

/**
 * gpt-tokenizer's o200k_base encoding (what Keel counts tokens with), loaded on first use: building
 * it takes about half a second, which a CLI command that never counts a token should not pay. A
 * server loads it before it listens.
 */
export function tokenizer(): Tokenizer {
  o200k ??= require('gpt-tokenizer') as Tokenizer;
  return o200k;
}

export const countTokens: Tokenizer['countTokens'] = (...args) => tokenizer().countTokens(...args);
export const encode: Tokenizer['encode'] = (...args) => tokenizer().encode(...args);
export const decode: Tokenizer['decode'] = (...args) => tokenizer().decode(...args);
