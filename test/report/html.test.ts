import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { EndpointResults, RESULTS_VERSION, ResultsJson } from '../../src/compare/results';
import type { LatencyHistogram } from '../../src/compare/latency';
import { analyze } from '../../src/report/analysis';
import { CHART_COLORS, escapeHtml, renderHtml } from '../../src/report/html';
import type { SampleLine } from '../../src/report/outdir';
import { HEADLESS, noChromium, runChromium } from '../support/chromium';

const TARGET = 'shadow-v2';
const HOSTILE_FIELD = '$.tags.<svg onload=alert(3)>';

/** n latencies spread evenly on a log scale over [fromMs, toMs]. */
function recordSpread(h: LatencyHistogram, n: number, fromMs: number, toMs: number): void {
  for (let i = 0; i < n; i++) h.record(fromMs * 1000 * (toMs / fromMs) ** (i / Math.max(1, n - 1)));
}

/** An endpoint where every side answered n requests with the given latency ranges. */
function endpoint(key: string, n: number, prodMs: [number, number], shadowMs: [number, number]): EndpointResults {
  const e = new EndpointResults(key, [TARGET], true, 64, 64);
  const shadow = e.shadows[0];
  e.production.attempts = n;
  e.baseline!.attempts = n;
  shadow.side.attempts = n;
  shadow.compared = n;
  recordSpread(e.production.latency, n, ...prodMs);
  recordSpread(e.baseline!.latency, n, ...prodMs);
  recordSpread(shadow.side.latency, n, ...shadowMs);
  return e;
}

function repeat(n: number, f: () => void): void {
  for (let i = 0; i < n; i++) f();
}

function buildResults(): ResultsJson {
  // A regression at $.user.email, next to a noisy $.requestId that varies in production too.
  const users = endpoint('GET /api/users/{id}', 300, [2, 20], [2, 22]);
  users.noise.fromBaseline = 300;
  repeat(270, () => users.noise.fields.add('$.requestId', 'value'));
  const u = users.shadows[0];
  repeat(280, () => u.fields.add('$.requestId', 'value'));
  repeat(40, () => u.fields.add('$.user.email', 'value'));
  repeat(5, () => u.fields.add('$.user.email', 'missing'));
  repeat(45, () => u.addSignature(['$.requestId', '$.user.email']));
  repeat(235, () => u.addSignature(['$.requestId']));
  u.mismatched = 280;

  // Slow: same answers, shadow p99 several times production's.
  const search = endpoint('GET /api/search', 200, [5, 40], [15, 150]);
  search.noise.fromRepeats = 30;

  // Errors: 30% of the shadow's answers are 500s.
  const orders = endpoint('POST /api/orders', 100, [10, 60], [10, 70]);
  orders.noise.fromBaseline = 100;
  orders.production.status5xx = 1;
  const o = orders.shadows[0];
  o.side.status5xx = 30;
  repeat(30, () => o.fields.add('status', 'status'));
  repeat(30, () => o.addSignature(['status']));
  o.mismatched = 30;

  // Too little traffic to judge, with a field path full of markup.
  const tags = endpoint('GET /api/tags', 8, [1, 3], [1, 3]);
  tags.shadows[0].fields.add(HOSTILE_FIELD, 'extra');
  tags.shadows[0].addSignature([HOSTILE_FIELD]);
  tags.shadows[0].mismatched = 1;

  const results: ResultsJson = {
    version: RESULTS_VERSION, startedAt: '2025-03-01T10:00:00.000Z', updatedAt: '2025-03-01T10:15:00.000Z', complete: true,
    shadows: [TARGET], baseline: 'http://baseline.internal:8080',
    counters: { exchanges: 608, latencyWarmup: 200, wireTimed: 0, busy: 0, diffFailures: 0, joinOverflow: 0, endpointOverflow: 0, diffsTruncated: 2, decodeErrors: 0, samplesWritten: 3, samplesDropped: 0, repeatCacheEvictions: 1, cpuMs: 412 },
    accounting: { seen: 612, replayed: 608, notReplayed: { queueFull: 4 }, pending: 0 },
    endpoints: [users, search, orders, tags].map((e) => e.toJSON()),
  };
  return JSON.parse(JSON.stringify(results)) as ResultsJson; // as read back from results.json
}

function sampleLine(endpointKey: string, target: string, prodBody: string, shadowBody: string, shadowStatus: number, diffs: SampleLine['diffs']): SampleLine {
  return {
    target, endpoint: endpointKey,
    request: { method: endpointKey.split(' ')[0], url: `${endpointKey.split(' ')[1].replace('{id}', '42')}?q="><i>x</i>`, headers: ['host', 'api.example.com', 'accept', 'application/json'], body: null },
    production: { status: 200, headers: ['content-type', 'application/json'], body: prodBody, latencyMs: 12.345 },
    shadow: { status: shadowStatus, headers: ['content-type', 'application/json', 'set-cookie', 'a=1', 'set-cookie', 'b=<2>'], body: shadowBody, latencyMs: 40.5 },
    diffs,
  };
}

const samples: SampleLine[] = [
  sampleLine('GET /api/users/{id}', TARGET,
    '{"user":{"email":"ada@example.com","bio":"<script>alert(1)</script>"}}',
    '{"user":{"email":"<script>alert(1)</script>","bio":"<script>alert(1)</script>"}}', 200,
    [{ path: '$.user.email', at: '$.user.email', kind: 'value', expected: 'ada@example.com', actual: '<script>alert(1)</script>' }]),
  sampleLine('POST /api/orders', TARGET, '{"order":"ok"}', '<html><body>Internal Server Error</body></html>', 500,
    [{ path: 'status', at: 'status', kind: 'status', expected: 200, actual: 500 }]),
  sampleLine('POST /api/orders', 'other-target', '{"order":"ONLY-OTHER-TARGET"}', '{}', 200, []),
];

const analysis = analyze(buildResults());
const page = renderHtml(analysis, samples);
const endpointKeys = ['GET /api/users/{id}', 'GET /api/search', 'POST /api/orders', 'GET /api/tags'];

test('the analysis behind the page has the intended problems', () => {
  assert.equal(analysis.verdict.pass, false);
  const byKey = new Map(analysis.targets[0].endpoints.map((e) => [e.key, e]));
  const users = byKey.get('GET /api/users/{id}')!;
  assert.deepEqual(users.fields.map((f) => [f.path, f.flagged]), [['$.user.email', true], ['$.requestId', false]]);
  assert.match(byKey.get('GET /api/search')!.problems.join(), /p\d+ latency ≥ [\d.]+ ms on the shadow vs ≤ [\d.]+ ms on the baseline/);
  assert.match(byKey.get('POST /api/orders')!.problems.join(), /error rate 30\.0%/);
  assert.equal(byKey.get('GET /api/tags')!.judged, false);
});

test('escapeHtml escapes every markup character', () => {
  assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
});

test('html: data is escaped; endpoints, tables, charts and samples are there', () => {
  assert.doesNotMatch(page, /<script/i);
  assert.doesNotMatch(page, /<svg onload|<i>x<\/i>|b=<2>/);
  assert.ok(page.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(page.includes(escapeHtml(HOSTILE_FIELD)));
  for (const key of endpointKeys) assert.ok(page.includes(escapeHtml(key)), key);
  assert.match(page, /<table class="endpoint-table" id="endpoints">/);
  assert.equal(page.match(/id="endpoints"/g)?.length, 1);
  assert.equal(page.match(/<svg class="latency-chart"/g)?.length, 4);
  assert.equal(page.match(/<svg class="field-chart"/g)?.length, 4);
  assert.equal(page.match(/class="sample"/g)?.length, 2, 'only the samples of this target');
  assert.ok(!page.includes('ONLY-OTHER-TARGET'));
  assert.match(page, />FAIL</);
  assert.ok(page.includes(CHART_COLORS.flagged));
  // Rates as percentages with one decimal, latencies in ms.
  assert.ok(page.includes('15.0%'), 'email differs in 45 of 300');
  assert.match(page, /\d+\.\d{1,2} ms/);
});

// --- headless Chromium ---------------------------------------------------------------------

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Minimal PNG decoder: 8-bit RGB or RGBA, not interlaced. */
function decodePng(png: Buffer): { width: number; height: number; channels: number; pixels: Buffer } {
  assert.ok(png.subarray(0, 8).equals(Buffer.from([137, 80, 78, 71, 13, 10, 26, 10])), 'PNG signature');
  let [width, height, depth, colorType, interlace] = [0, 0, 0, 0, 0];
  const idat: Buffer[] = [];
  for (let off = 8; off + 8 <= png.length;) {
    const len = png.readUInt32BE(off);
    const type = png.toString('latin1', off + 4, off + 8);
    const data = png.subarray(off + 8, off + 8 + len);
    off += 12 + len; // length, type, data, CRC
    if (type === 'IHDR') [width, height, depth, colorType, interlace] = [data.readUInt32BE(0), data.readUInt32BE(4), data[8], data[9], data[12]];
    else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
  }
  assert.ok(depth === 8 && (colorType === 2 || colorType === 6) && interlace === 0, `unsupported PNG: depth ${depth}, colour type ${colorType}, interlace ${interlace}`);
  const channels = colorType === 6 ? 4 : 3;
  const stride = width * channels;
  const raw = inflateSync(Buffer.concat(idat));
  assert.equal(raw.length, height * (stride + 1));
  const pixels = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const row = y * stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? pixels[row + i - channels] : 0;
      const b = y > 0 ? pixels[row - stride + i] : 0;
      const c = y > 0 && i >= channels ? pixels[row - stride + i - channels] : 0;
      const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter];
      assert.ok(predictor !== undefined, `bad PNG filter ${filter}`);
      pixels[row + i] = (line[i] + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

function countNear(img: ReturnType<typeof decodePng>, hex: string, tolerance = 8): number {
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let p = 0; p < img.pixels.length; p += img.channels) {
    const px = img.pixels;
    if (Math.abs(px[p] - r) <= tolerance && Math.abs(px[p + 1] - g) <= tolerance && Math.abs(px[p + 2] - b) <= tolerance) n++;
  }
  return n;
}


test('headless Chromium renders the page: table rows, chart bars, coloured pixels', { skip: noChromium, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shadowtap-html-'));
  try {
    const file = join(dir, 'report.html');
    const png = join(dir, 'report.png');
    writeFileSync(file, page);
    const common = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'];

    const dump = await runChromium(dir, [...common, '--dump-dom', `file://${file}`]);
    assert.equal(dump.code, 0, dump.stderr.slice(-2000));
    const dom = dump.stdout;
    const table = dom.match(/<table[^>]*id="endpoints"[^>]*>([\s\S]*?)<\/table>/);
    assert.ok(table, 'endpoint table in the rendered DOM');
    assert.equal(table[1].match(/<tr/g)?.length, 1 + endpointKeys.length, 'a header row and one row per endpoint');
    for (const key of endpointKeys) assert.ok(table[1].includes(escapeHtml(key)), key);
    const latencyCharts = [...dom.matchAll(/<svg class="latency-chart"[\s\S]*?<\/svg>/g)].map((m) => m[0]);
    assert.equal(latencyCharts.length, endpointKeys.length);
    for (const svg of latencyCharts) assert.ok((svg.match(/<rect/g)?.length ?? 0) >= 6, 'bars and legend in every latency chart');
    const fieldCharts = [...dom.matchAll(/<svg class="field-chart"[\s\S]*?<\/svg>/g)].map((m) => m[0]);
    assert.ok(fieldCharts.some((svg) => svg.includes(`fill="${CHART_COLORS.flagged}"`)), 'a flagged field bar');
    assert.doesNotMatch(dom, /<script|<svg onload/i);

    const shot = await runChromium(dir, [...common, '--hide-scrollbars', '--window-size=1280,2000', `--screenshot=${png}`, `file://${file}`]);
    assert.equal(shot.code, 0, shot.stderr.slice(-2000));
    const img = decodePng(readFileSync(png));
    assert.deepEqual([img.width, img.height], [1280, 2000]);
    for (const name of ['production', 'shadow', 'baseline', 'flagged', 'noise'] as const) {
      const n = countNear(img, CHART_COLORS[name]);
      assert.ok(n >= 150, `${name} colour ${CHART_COLORS[name]}: ${n} pixels`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a run whose exchanges were all in the latency warm-up: – with the reason, no raw JSON (table, HTML, and as Chromium renders it)', { timeout: 180_000 }, async (t) => {
  const e = new EndpointResults('GET /warm/{id}', [TARGET], false, 64, 64);
  e.production.attempts = 30;
  e.shadows[0].side.attempts = 30;
  e.shadows[0].compared = 30;
  const results = JSON.parse(JSON.stringify({
    version: RESULTS_VERSION, startedAt: '2025-03-01T10:00:00.000Z', updatedAt: '2025-03-01T10:00:05.000Z', complete: true,
    shadows: [TARGET], baseline: null,
    counters: { exchanges: 30, latencyWarmup: 30, wireTimed: 0, busy: 0, diffFailures: 0, joinOverflow: 0, endpointOverflow: 0, diffsTruncated: 0, decodeErrors: 0, samplesWritten: 0, samplesDropped: 0, repeatCacheEvictions: 0, cpuMs: 3 },
    accounting: { seen: 30, replayed: 30, notReplayed: {}, pending: 0, shadows: [{ target: TARGET, sent: 30, responses: 30, errors: 0, byStatusClass: { '2xx': 30 } }] },
    endpoints: [e.toJSON()],
  })) as ResultsJson;
  const a = analyze(results);
  const why = /30 exchange\(s\) at the start of the run were compared but not timed \(--latency-warmup/;
  assert.ok(a.verdict.notes.some((n) => why.test(n)), a.verdict.notes.join('\n'));
  const { renderTable } = await import('../../src/report/table');
  const text = renderTable(a);
  assert.match(text, /GET \/warm\/\{id\}.*–\/–\s+–\/–/);
  assert.doesNotMatch(text, /0\.0\/0\.0/);

  const warm = renderHtml(a, []);
  if (noChromium) { t.diagnostic(noChromium); return; }
  const dir = mkdtempSync(join(tmpdir(), 'shadowtap-html-warm-'));
  try {
    const file = join(dir, 'report.html');
    writeFileSync(file, warm);
    const dump = await runChromium(dir, [...HEADLESS, '--dump-dom', `file://${file}`]);
    assert.equal(dump.code, 0, dump.stderr.slice(-2000));
    const dom = dump.stdout;
    const cells = [...dom.matchAll(/<td class="latency">([\s\S]*?)<\/td>/g)].map((m) => m[1].replace(/<br>/g, ' '));
    assert.deepEqual(cells, ['– –', '– –', '– –'], 'p50, p90, p99: nothing timed on either side');
    assert.match(dom, why);
    const header = /<header>([\s\S]*?)<\/header>/.exec(dom)![1];
    assert.doesNotMatch(header, /\{&quot;|\{"|\[\{|\[object/, 'no raw JSON or object text');
    assert.match(header, /shadows\[shadow-v2\]\.sent <b>30<\/b>/);
    assert.match(header, /shadows\[shadow-v2\]\.byStatusClass\.2xx <b>30<\/b>/);
    assert.doesNotMatch(dom, /reference: \.|: \.<|: ,/, 'no empty figure');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
