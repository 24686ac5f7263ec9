// Production's side from a redacted recording: a value redaction replaced ('[redacted]', or a
// keyed hash '[h:…]') stands for whatever was there, so it matches any value on the shadow's
// side and is never reported as a difference. Only when the comparison is told production was
// redacted (an API may well answer '[redacted]' itself).

/** The masks src/traffic/redact.ts writes. */
const MASK_TOKEN = /\[redacted\]|\[h:[0-9a-f]{16}\]/;
const MASK_TOKENS = new RegExp(MASK_TOKEN.source, 'g');
const WHOLE_MASK = new RegExp(`^(?:${MASK_TOKEN.source})$`);
/** Longer texts are compared as they are (a pattern that long costs more than it saves). */
const MAX_PATTERN_CHARS = 64 << 10;

/** The whole value was masked: it matches anything, of any type. */
export function isWholeMask(v: unknown): boolean {
  return typeof v === 'string' && v.length <= 19 && WHOLE_MASK.test(v);
}

/** `expected` (with masks in it) could have been `actual` before redaction. */
export function maskedMatch(expected: string, actual: string): boolean {
  if (expected.length > MAX_PATTERN_CHARS || !MASK_TOKEN.test(expected)) return false;
  const parts = expected.split(MASK_TOKENS).map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('[\\s\\S]*?')}$`).test(actual);
}
