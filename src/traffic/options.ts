// Traffic's flags: what is mirrored, how it is rewritten, and what is masked.

import { optionTable } from '../config/options';

export const trafficOptions = optionTable({
  allowWrites: { flag: '--allow-writes', type: 'switch', help: 'replay every method (by default only GET, HEAD and OPTIONS reach the shadow)' },
  methods: { flag: '--methods <list>', type: 'string', help: 'replay only these methods, e.g. GET,HEAD,POST (instead of --allow-writes)' },
  rule: { flag: '--rule <rule>', type: 'list',
    help: 'allow|deny with conditions method:LIST path:REGEX host:REGEX header:NAME[=REGEX]; first match decides (repeatable, in order)',
    readme: '`allow|deny COND…`: ordered rules, the **first match decides**; every condition must hold. Conditions: `method:GET,POST`, `path:REGEX` (against the request target as captured, query included), `host:REGEX`, `header:NAME` (present), `header:NAME=REGEX`. Stopped requests count as `filtered`, and under `traffic.filteredBy` per rule text' },
  defaultAction: { flag: '--default-action <action>', type: 'string', default: 'allow', choices: ['allow', 'deny'], help: 'allow or deny requests no rule matches',
    readme: '`allow` or `deny` requests no rule matches (`deny` makes the rules an allow-list)' },
  sample: { flag: '--sample <percent>', type: 'number', default: 100, min: 0, max: 100, help: 'mirror this share of requests',
    readme: 'mirror this share of requests (random), the rest count as `sampledOut`' },
  sampleBy: { flag: '--sample-by <key>', type: 'string',
    help: 'sample consistently by header:NAME, cookie:NAME or query:NAME (a session is mirrored whole or not at all)',
    readme: '`header:NAME`, `cookie:NAME` or `query:NAME`: consistent sampling by the FNV-1a hash of that value: a user\'s whole session is mirrored or none of it (requests without the key are sampled at random and counted in `traffic.sampleKeyMissing`)' },
  setHeader: { flag: '--set-header <header>', type: 'list', help: 'set this header on replayed requests, "name: value" (repeatable)' },
  removeHeader: { flag: '--remove-header <name>', type: 'list', help: 'remove this header from replayed requests (repeatable)' },
  renameHeader: { flag: '--rename-header <old:new>', type: 'list', help: 'rename a header on replayed requests (repeatable)' },
  rewritePath: { flag: '--rewrite-path <regex=>replacement>', type: 'list', help: 'rewrite the request target (repeatable, applied in order)',
    readme: 'rewrite the request target (`$1` etc. as in JavaScript\'s replace); repeatable, applied in order' },
  mapHeader: { flag: '--map-header <name=file>', type: 'list', help: 'replace this header\'s production values by the shadow values in file (lines "prod shadow")',
    readme: 'replace production values by shadow values, e.g. `authorization=FILE`: FILE has one `production-value shadow-value` pair per line (`#` comments); the whole value, or the credential after a scheme (`Bearer X`), is looked up; unmapped values go unchanged and are counted (`traffic.unmappedHeaderValues`)' },
  forwardClient: { flag: '--forward-client', type: 'switch', help: 'append the captured client address to X-Forwarded-For',
    readme: 'append the captured client address to `X-Forwarded-For`' },
});

export const redactOptions = optionTable({
  redactHeader: { flag: '--redact-header <name>', type: 'list', help: 'also mask this header in logs, samples, reports and recordings (repeatable)' },
  redactQuery: { flag: '--redact-query <name>', type: 'list', help: 'also mask this query parameter (repeatable)' },
  redactField: { flag: '--redact-field <path>', type: 'list', help: 'also mask this JSON body field, e.g. $.user.ssn (repeatable)',
    readme: 'also mask this JSON body field, e.g. `$.user.ssn` (repeatable)' },
  redactPii: { flag: '--redact-pii', type: 'switch', help: 'also replace e-mail addresses, phone numbers and IP addresses (bodies, headers, query) by keyed hashes',
    readme: 'also replace e-mail addresses, phone numbers and IP addresses in bodies, headers and the request target by keyed hashes `[h:…]` (HMAC-SHA-256 with `--redact-key-file`\'s key, else a random key per process): equal values stay equal. In recordings, samples and logs; see "What a recording holds"' },
  redactKeyFile: { flag: '--redact-key-file <file>', type: 'string', help: 'mask as a keyed hash with this key (equal values stay equal) instead of [redacted]',
    readme: 'mask as `[h:…]`, an HMAC-SHA-256 with this key (≥ 16 bytes), so equal secrets stay equal across outputs and runs' },
});
