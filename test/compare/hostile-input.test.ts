// Hostile traffic against the compare stage and the report: it must cost the exchange, not
// the process, and never reach the operator's terminal raw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompareStage, defaultCompareOptions } from '../../src/compare';
import type { HttpResponse } from '../../src/http';
import type { ShadowResponse } from '../../src/replay';
import { analyze } from '../../src/report/analysis';
import { renderTable } from '../../src/report/table';
import { fakeAnswer, fakeRequest, fakeResponse } from '../support/requests';

const SHADOW = 'http://shadow:1';

const prod = (body: string): HttpResponse => fakeResponse(body);
const answer = (body: string): ShadowResponse => fakeAnswer(SHADOW, body);

test('--unordered-array over a deeply nested element: the diff fails for that exchange only, counted', () => {
  // 40 KB of nesting is well inside --compare-body-kb (1 MiB). JSON.parse takes it; the
  // multiset walk's canonicalJson() recurses without a depth limit and without a try. In a run
  // the diff runs from setImmediate, so the RangeError is uncaught: the mirror process dies.
  const opts = defaultCompareOptions();
  opts.diff = { ...opts.diff, unorderedArrays: new Set(['$.items']) };
  const stage = new CompareStage([SHADOW], null, opts);
  const d = 20_000;
  const deep = `{"items":[${'['.repeat(d)}${']'.repeat(d)}]}`;
  const r = fakeRequest('/x', { headers: ['Host', 'api'] });
  stage.exchange({ request: r, response: prod(deep), responseMissing: null });
  stage.replayed(r, [answer('{"items":[1]}')]);
  assert.doesNotThrow(() => stage.flush());
});

test('terminal escape sequences in a captured target are shown escaped by `shadowtap report`', () => {
  // http-parser-js accepts any non-space byte in the request target; the endpoint template keeps
  // literal segments raw, and renderTable prints keys as they are.
  const stage = new CompareStage([SHADOW], null);
  const r = fakeRequest('/\x1b]0;pwned\x07\x1b[2J', { headers: ['Host', 'api'] });
  stage.exchange({ request: r, response: prod('{}'), responseMissing: null });
  stage.replayed(r, []); // unreplayable (control bytes), but still an endpoint of the report
  stage.flush();
  const out = renderTable(analyze(stage.results({}, true)));
  // eslint-disable-next-line no-control-regex
  assert.ok(!/[\x00-\x08\x0b-\x1f\x7f\x9b]/.test(out), `control bytes in the table: ${JSON.stringify(out.split('\n').find((l) => l.includes('\x1b')))}`);
});
