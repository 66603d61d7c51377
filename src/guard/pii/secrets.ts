import { before } from './context.ts';
import { shannonEntropy } from './entropy.ts';
import type { PiiMatch } from './types.ts';

/**
 * API keys, tokens and private keys: known vendor prefixes first (near-certain), then values after
 * "api_key=" / "password:" style labels, then long random-looking runs by Shannon entropy. Hashes
 * and UUIDs (hex, fixed lengths) are not secrets on their own and need a label to count.
 */
/** Each known format with a literal that must occur for its pattern to be worth running. */
const KNOWN: Array<[RegExp, string, string]> = [
  [
    /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)/g,
    'pem-private-key',
    'PRIVATE KEY',
  ],
  [/\bsk-(?:proj-|ant-(?:api\d\d-)?|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g, 'sk-prefix', 'sk-'],
  [/\bgh[pousr]_[A-Za-z0-9]{30,}\b/g, 'github-token', '_'],
  [/\bgithub_pat_[A-Za-z0-9_]{22,}\b/g, 'github-pat', 'github_pat_'],
  [/\bglpat-[A-Za-z0-9_-]{20,}\b/g, 'gitlab-token', 'glpat-'],
  [/\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b/g, 'aws-access-key-id', 'A'],
  [/\bxox[abposr]-[A-Za-z0-9-]{10,}\b/g, 'slack-token', 'xox'],
  [/https:\/\/hooks\.slack\.com\/services\/[A-Za-z0-9/_-]{20,}/g, 'slack-webhook', 'hooks.slack.com'],
  [/\bAIza[0-9A-Za-z_-]{35}\b/g, 'google-api-key', 'AIza'],
  [/\b(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{16,}\b/g, 'stripe-key', '_'],
  [/\bhf_[A-Za-z0-9]{30,}\b/g, 'huggingface-token', 'hf_'],
  [/\bnpm_[A-Za-z0-9]{36}\b/g, 'npm-token', 'npm_'],
  [/\bSG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\b/g, 'sendgrid-key', 'SG.'],
  [/\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, 'jwt', 'eyJ'],
  [
    /\b(?:postgres(?:ql)?|mysql|mongodb(?:\+srv)?|redis|amqps?):\/\/[^\s:@/]+:([^\s@/]{3,})@/g,
    'url-credentials',
    '://',
  ],
];

// The value may not start with '@' (a label word used as a URL's password, `user:secret@host`)
// and never holds a backtick (the end of a code span, not part of a key).
const LABELLED =
  /\b(?:api[_-]?key|apikey|secret(?:[_-]?key)?|client[_-]?secret|access[_-]?token|auth[_-]?token|token|password|passwd|pwd|passwort|kennwort|bearer|authorization)\b(["']?\s*(?:[:=]|=>|\bis\b|\bist\b)?\s*["']?)(?:bearer\s+)?([^\s"'`,;@][^\s"'`,;]{7,})/gi;
const LABEL_HINTS = ['key', 'secret', 'token', 'passw', 'pwd', 'bearer', 'authoriz', 'kennwort'];
const RANDOM_MIN = 24;
const HEXISH = /^(?:[0-9a-f]+|[0-9A-F]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/;
const KEY_CTX = /\b(key|secret|token|password|credential|auth|bearer|api)\b/;

function isRunChar(c: number): boolean {
  return (
    (c >= 65 && c <= 90) ||
    (c >= 97 && c <= 122) ||
    (c >= 48 && c <= 57) ||
    c === 43 ||
    c === 47 ||
    c === 95 ||
    c === 61 ||
    c === 45
  );
}

/** Maximal runs of `[A-Za-z0-9+/_=-]` at least `RANDOM_MIN` long (a hand loop: a regex tries every offset). */
function randomRuns(text: string): Array<{ index: number; value: string }> {
  const out: Array<{ index: number; value: string }> = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (!isRunChar(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    while (i < n && isRunChar(text.charCodeAt(i))) i++;
    if (i - start >= RANDOM_MIN) out.push({ index: start, value: text.slice(start, i) });
  }
  return out;
}

function looksRandom(s: string): boolean {
  if (!/[0-9]/.test(s) || !/[a-z]/.test(s) || !/[A-Z]/.test(s)) return false;
  // Identifiers in code (camelCase, snake_case words) have long letter runs; keys rarely do.
  if (/[A-Za-z]{12,}/.test(s) && shannonEntropy(s) < 4.6) return false;
  return shannonEntropy(s) >= 4.2;
}

export function recognizeSecrets(text: string): PiiMatch[] {
  const out: PiiMatch[] = [];
  for (const [re, reason, literal] of KNOWN) {
    if (!text.includes(literal)) continue;
    re.lastIndex = 0;
    for (const m of text.matchAll(re)) {
      let start = m.index;
      let end = start + m[0].length;
      if (m[1] !== undefined) {
        start += m[0].lastIndexOf(m[1]);
        end = start + m[1].length;
      }
      out.push({ type: 'SECRET', start, end, score: 0.95, reason });
    }
  }
  const lower = text.toLowerCase();
  const labelled = LABEL_HINTS.some((h) => lower.includes(h));
  for (const m of labelled ? text.matchAll(LABELLED) : []) {
    // Closing punctuation ends a sentence or a parenthesis, not a key: "(token bucket):".
    const v = m[2]!.replace(/[.:)\]}]+$/, '');
    if (v.length < 8) continue;
    const start = m.index + m[0].length - m[2]!.length;
    // A label followed by a plain word is prose ("token bucket", "password reset"): without a ":",
    // "=" or quote in between, the value must look like a credential (a digit, or random).
    if (!/[:="']|\bis\b|\bist\b/i.test(m[1]!) && !/\d/.test(v) && !looksRandom(v)) continue;
    const strong = looksRandom(v) || (v.length >= 12 && shannonEntropy(v) >= 3.5);
    const placeholder =
      /^(?:x+|\*+|\.+|<[^>]*>|\$\{?\w+\}?|your[_-]?\w*|changeme|example\w*|redacted|null|none|true|false)$/i.test(
        v,
      );
    if (placeholder) continue;
    out.push({
      type: 'SECRET',
      start,
      end: start + v.length,
      score: strong ? 0.9 : 0.6,
      reason: 'labelled-secret',
    });
  }
  for (const m of randomRuns(text)) {
    const v = m.value;
    // Runs far longer than any key are encoded data (images, blobs), not credentials.
    if (v.length > 200) continue;
    if (HEXISH.test(v)) {
      if (!KEY_CTX.test(before(text, m.index, 32))) continue;
      out.push({
        type: 'SECRET',
        start: m.index,
        end: m.index + v.length,
        score: 0.7,
        reason: 'hex+key-context',
      });
      continue;
    }
    if (!looksRandom(v)) continue;
    const s = KEY_CTX.test(before(text, m.index, 32)) ? 0.85 : 0.65;
    out.push({ type: 'SECRET', start: m.index, end: m.index + v.length, score: s, reason: 'high-entropy' });
  }
  return out;
}
