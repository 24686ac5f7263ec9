// A run's analysis as one self-contained HTML page: verdict, endpoint tables, latency and
// field-difference charts (inline SVG), and mismatch samples side by side. No scripts, no
// external resources. All data comes from production traffic: every interpolation is escaped.

import type { Analysis, EndpointAnalysis, FieldAnalysis, SideAnalysis, TargetAnalysis } from './analysis';
import type { QuantileBounds } from '../compare';
import type { MergeInfo } from './merge';
import type { SampleLine } from './outdir';
import { ledgerText } from './table';

/** Chart colours (distinct from the rest of the page so a screenshot can be checked for them). */
export const CHART_COLORS = {
  production: '#1f6fd1', shadow: '#f28c00', baseline: '#2ca02c', flagged: '#e01b24', field: '#7b52ab', noise: '#9a9a9a',
} as const;

const SAMPLES_PER_ENDPOINT = 10;
const FIELDS_IN_CHART = 25;
const CHART_WIDTH = 560;

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** Markup that is already safe: produced by `html` or a constant. */
class Markup {
  constructor(readonly text: string) {}
}
const trusted = (text: string): Markup => new Markup(text);

function part(v: unknown): string {
  if (v instanceof Markup) return v.text;
  if (Array.isArray(v)) return v.map(part).join('');
  if (v === null || v === undefined || v === false) return '';
  return escapeHtml(v);
}

/** Template tag: interpolated values are escaped unless they are Markup (arrays are joined). */
function html(strings: TemplateStringsArray, ...values: unknown[]): Markup {
  return trusted(strings.reduce((out, s, i) => out + part(values[i - 1]) + s));
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
/** Latency given in µs, shown in ms: 2 decimals below 10 ms, else 1. */
const ms = (us: number): string => `${(us / 1000).toFixed(us < 10_000 ? 2 : 1)} ms`;
const tickLabel = (us: number): string => (us >= 1e6 ? `${us / 1e6} s` : us >= 1000 ? `${us / 1000} ms` : `${us} µs`);
const shown = (v: unknown): string => (v === undefined ? '(absent)' : JSON.stringify(v));
const cut = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

const CSS = `
body{font:14px/1.4 system-ui,sans-serif;margin:16px;color:#222;background:#fff}
table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right;vertical-align:top}
th{background:#f4f4f4}
.text,td:first-child{text-align:left}
.verdict{padding:2px 10px;border-radius:4px;color:#fff}
.pass{background:#2b8a3e}.fail{background:#a4133c}
tr.unjudged{color:#888}
.latency{white-space:nowrap}
.problems{text-align:left;color:#a4133c;max-width:420px}
.flag{color:${CHART_COLORS.flagged};font-weight:bold}
.charts{display:flex;flex-wrap:wrap;gap:16px}
svg text{font:11px sans-serif;fill:#333}
.sample{border:1px solid #ccc;margin:8px 0;padding:6px}
.sides{display:grid;grid-template-columns:1fr 1fr;gap:8px}
pre{white-space:pre-wrap;word-break:break-all;background:#f7f7f7;padding:6px;margin:0;max-height:320px;overflow:auto}
h4{margin:4px 0}
`;

/** `refreshSeconds`: the page reloads itself this often (the admin port's live /report). */
export function renderHtml(analysis: Analysis, samples: SampleLine[], refreshSeconds?: number): string {
  const verdict = analysis.verdict.pass ? 'PASS' : 'FAIL';
  return html`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
${refreshSeconds !== undefined && html`<meta http-equiv="refresh" content="${refreshSeconds}">`}
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>shadowtap report: ${verdict}</title><style>${trusted(CSS)}</style></head>
<body>
${header(analysis)}
${analysis.targets.map((t, ti) => target(t, ti, samples.filter((s) => s.target === t.target), analysis.thresholds.latencyConfidence))}
</body></html>
`.text;
}

function header(a: Analysis): Markup {
  const v = a.verdict;
  const list = (title: string, items: string[]): Markup =>
    html`${items.length > 0 && html`<h3>${title}</h3><ul>${items.map((i) => html`<li>${i}</li>`)}</ul>`}`;
  return html`<header>
<h1>shadowtap report <span class="verdict ${v.pass ? 'pass' : 'fail'}">${v.pass ? 'PASS' : 'FAIL'}</span></h1>
${list('Reasons', v.reasons)}${list('Notes', v.notes)}
<table class="info">
<tr><th>Started</th><td class="text">${a.startedAt}</td><th>Updated</th><td class="text">${a.updatedAt}</td></tr>
<tr><th>Complete</th><td class="text">${a.complete ? 'yes' : 'no, the run is still going'}</td><th>Baseline</th><td class="text">${a.baseline ?? 'none'}</td></tr>
</table>
${keyValues('Counters', a.counters)}${keyValues('Accounting', a.accounting)}
${a.merge !== undefined && mergeSection(a.merge, a.accounting)}
</header>`;
}

/** A merge (`report DIR…`): each directory's ledger, the total, and exchanges counted twice. */
function mergeSection(m: MergeInfo, total: Record<string, unknown>): Markup {
  const row = (name: string, accounting: Record<string, unknown>, ids: number | null, state: string): Markup =>
    html`<tr><td>${name}</td><td class="text">${ledgerText(accounting)}</td><td>${ids ?? '–'}</td><td class="text">${state}</td></tr>`;
  const d = m.duplicates;
  return html`<section class="merge"><h3>Merged from ${m.directories.length} result directories</h3>
<table class="merge-table"><thead><tr><th class="text">Directory</th><th class="text">Requests</th><th>Ids</th><th class="text">State</th></tr></thead>
<tbody>${m.directories.map((x) => row(x.dir, x.accounting, x.ids, x.complete ? 'complete' : 'in progress'))}
${row('total', total, d === null ? null : d.ids, '')}</tbody></table>
${d === null ? html`<p>No directory lists its exchange ids: exchanges counted twice cannot be found.</p>`
    : d.countedTwice > 0 ? html`<p class="duplicates">${d.exchanges} exchange(s) counted in more than one directory (${d.countedTwice} count(s) too many in the totals):</p>
<ul>${d.first.map((x) => html`<li><code>${x.id}</code>: ${x.dirs.join(', ')}</li>`)}</ul>`
    : html`<p>No exchange counted twice among ${d.ids} ids in ${d.checkedDirectories} directories.</p>`}
</section>`;
}

/** Nested objects (and lists of them, each named by its target) flattened to dotted keys. */
function flatten(obj: object, prefix = ''): Array<[string, unknown]> {
  return Object.entries(obj).flatMap(([k, v]): Array<[string, unknown]> => {
    if (Array.isArray(v) && v.every((x) => typeof x === 'object' && x !== null)) {
      return v.flatMap((x: Record<string, unknown>, i) => flatten(x, `${prefix}${k}[${typeof x.target === 'string' ? x.target : i}].`).filter(([key]) => !key.endsWith('.target')));
    }
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? flatten(v, `${prefix}${k}.`) : [[`${prefix}${k}`, v]];
  });
}

/** A value as a person reads it: numbers and text as they are, lists joined, nothing as none. */
const readable = (v: unknown): string | number =>
  typeof v === 'number' || typeof v === 'string' ? v : v === null || v === undefined ? 'none' : Array.isArray(v) ? v.join(', ') || 'none' : String(v);

function keyValues(title: string, obj: object): Markup {
  const items = flatten(obj).map(([k, v]) => html`<span>${k} <b>${readable(v)}</b></span>`);
  return html`<p class="counters"><b>${title}:</b> ${items.map((m, i) => html`${i > 0 && ' · '}${m}`)}</p>`;
}

function target(t: TargetAnalysis, ti: number, samples: SampleLine[], confidence: number): Markup {
  return html`<section class="target"><h2>Target ${t.target}</h2>
<p>${t.compared} exchanges compared, ${t.mismatched} differ anywhere, ${t.flaggedFields} flagged field(s).</p>
${endpointTable(t, ti)}
${t.endpoints.map((e, ei) => endpointSection(e, `t${ti}-e${ei}`, samples.filter((s) => s.endpoint === e.key), confidence))}
</section>`;
}

function endpointTable(t: TargetAnalysis, ti: number): Markup {
  const withBaseline = t.endpoints.some((e) => e.baseline !== null);
  const sides = withBaseline ? 'production / shadow / baseline' : 'production / shadow';
  const latency = (e: EndpointAnalysis, p: 'p50' | 'p90' | 'p99'): Markup =>
    html`${[e.production, e.shadow, ...(withBaseline ? [e.baseline] : [])].map((s, i) => html`${i > 0 && trusted('<br>')}${s === null || s.count === 0 ? '–' : ms(s[p])}`)}`;
  const rows = t.endpoints.map((e, ei) => html`<tr class="${e.judged ? 'judged' : 'unjudged'}">
<td><a href="#t${ti}-e${ei}">${e.key}</a></td><td>${e.traffic}</td><td>${e.compared}</td>
<td>${pct(e.mismatchRate)}</td><td>${pct(e.rawMismatchRate)}</td><td>${e.noise.comparisons}</td>
<td>${e.fields.filter((f) => f.flagged).length}</td><td>${pct(e.production.errorRate)} / ${pct(e.shadow.errorRate)}</td>
<td class="latency">${latency(e, 'p50')}</td><td class="latency">${latency(e, 'p90')}</td><td class="latency">${latency(e, 'p99')}</td>
<td class="problems">${e.judged ? e.problems.map((p) => html`<div>${p}</div>`) : 'not judged: too few compared'}</td></tr>`);
  return html`<table class="endpoint-table"${ti === 0 && trusted(' id="endpoints"')}>
<thead><tr><th class="text">Endpoint</th><th>Traffic</th><th>Compared</th><th>Mismatch</th><th>Raw mismatch</th>
<th>Noise comparisons</th><th>Flagged fields</th><th>Errors (production / shadow)</th>
<th>p50 (${sides})</th><th>p90</th><th>p99</th><th class="text">Problems</th></tr></thead>
<tbody>${rows}</tbody></table>`;
}

/** What the latency was judged against, and each quantile's bounds (shadow vs reference). */
function latencyLine(e: EndpointAnalysis, confidence: number): string {
  if (e.latencyReference === null) return 'Latency not judged: no reference timed like the shadow (no baseline, no wire timing).';
  const ref = e.latencyReference === 'baseline' ? 'the baseline' : 'production';
  const parts = e.latency.map((j) => {
    const name = `p${Math.round(j.q * 100)}`;
    if (!j.judged) return `${name} not enough data (${j.shadow.samples} vs ${j.reference.samples} samples)`;
    const range = (b: QuantileBounds): string => `${ms(b.low ?? 0)}–${ms(b.high ?? 0)}`;
    return `${name} ${j.tripped ? 'SLOWER' : 'ok'}: shadow ${range(j.shadow)} vs ${range(j.reference)}`;
  });
  return `Latency against ${ref}, ${Math.round(confidence * 100)}% bounds: ${parts.join('; ')}.`;
}

function endpointSection(e: EndpointAnalysis, id: string, samples: SampleLine[], confidence: number): Markup {
  const skipped = Object.entries(e.skipped).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  return html`<section class="endpoint" id="${id}"><h3>${e.key}</h3>
<p>${e.compared} compared (skipped: ${skipped}; bodies not compared: ${e.bodiesNotCompared}).
Noise: ${e.noise.comparisons} comparisons (${e.noise.fromBaseline} against the baseline, ${e.noise.fromRepeats} from repeated requests).
${latencyLine(e, confidence)}</p>
<div class="charts">${latencyChart(e)}${fieldChart(e.fields)}</div>
${fieldTable(e)}
${samples.slice(0, SAMPLES_PER_ENDPOINT).map(sample)}
${samples.length > SAMPLES_PER_ENDPOINT && html`<p>${samples.length - SAMPLES_PER_ENDPOINT} more sample(s) in samples.jsonl.</p>`}
</section>`;
}

function legend(items: Array<[string, string]>, y: number): Markup {
  return html`${items.map(([label, color], i) =>
    html`<rect x="${60 + i * 170}" y="${y - 9}" width="10" height="10" fill="${color}"/><text x="${74 + i * 170}" y="${y}">${label}</text>`)}`;
}

/** Share of each side's requests per latency bucket, as grouped bars on a log-scale x axis. */
function latencyChart(e: EndpointAnalysis): Markup {
  type Side = ['production' | 'shadow' | 'baseline', SideAnalysis | null];
  const all: Side[] = [['production', e.production], ['shadow', e.shadow], ['baseline', e.baseline]];
  const sides = all.filter((s): s is [Side[0], SideAnalysis] => s[1] !== null && s[1].count > 0);
  const [width, height, left, right, top, bottom] = [CHART_WIDTH, 250, 50, 12, 30, 212];
  if (sides.length === 0) return html`<svg class="latency-chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="40"><text x="10" y="24">no latency data</text></svg>`;
  const bounds = [...new Set(sides.flatMap(([, s]) => s.buckets.map((b) => b.upToUs)))].sort((a, b) => a - b);
  // Buckets cover (previous bound, upToUs]; the first one's lower edge is drawn at upToUs / 1.5.
  const lowers = bounds.map((b, i) => (i > 0 ? bounds[i - 1] : b / 1.5));
  const [lo, hi] = [Math.log10(lowers[0]), Math.log10(bounds[bounds.length - 1])];
  const x = (us: number): number => left + ((Math.log10(us) - lo) / (hi - lo)) * (width - left - right);
  const shares = sides.map(([, s]) => new Map(s.buckets.map((b) => [b.upToUs, b.count / s.count])));
  const maxShare = Math.max(...shares.flatMap((m) => [...m.values()]));
  const y = (share: number): number => bottom - (share / maxShare) * (bottom - top);
  const bars = bounds.flatMap((b, i) => {
    const slot = (x(b) - x(lowers[i])) / sides.length;
    return sides.map(([name], j) => {
      const share = shares[j].get(b) ?? 0;
      if (share === 0) return '';
      return html`<rect x="${(x(lowers[i]) + j * slot).toFixed(1)}" y="${y(share).toFixed(1)}" width="${Math.max(1, slot * 0.9).toFixed(1)}" height="${(bottom - y(share)).toFixed(1)}" fill="${CHART_COLORS[name]}"><title>${name}: ${pct(share)} of requests in (${ms(lowers[i])}, ${ms(b)}]</title></rect>`;
    });
  });
  const ticks: number[] = [];
  for (let k = Math.floor(lo); k <= Math.ceil(hi); k++) {
    for (const f of [1, 2, 5]) if (Math.log10(f * 10 ** k) >= lo && Math.log10(f * 10 ** k) <= hi) ticks.push(f * 10 ** k);
  }
  return html`<svg class="latency-chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
<title>Latency distribution of ${e.key}</title>
${legend(sides.map(([name, s]) => [`${name} (n=${s.count})`, CHART_COLORS[name]]), 14)}
${[maxShare / 2, maxShare].map((s) => html`<line x1="${left}" x2="${width - right}" y1="${y(s)}" y2="${y(s)}" stroke="#eee"/><text x="4" y="${y(s) + 4}">${pct(s)}</text>`)}
${bars}
<line x1="${left}" x2="${width - right}" y1="${bottom}" y2="${bottom}" stroke="#444"/>
${ticks.map((t) => html`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${bottom}" y2="${bottom + 4}" stroke="#444"/><text x="${x(t).toFixed(1)}" y="${bottom + 16}" text-anchor="middle">${tickLabel(t)}</text>`)}
<text x="${width / 2}" y="${height - 4}" text-anchor="middle">latency (log scale); bars: share of that side's requests</text>
</svg>`;
}

/** Difference rate per field (red when flagged) with the noise rate as a thinner grey bar below. */
function fieldChart(fields: FieldAnalysis[]): Markup {
  const shownFields = fields.slice(0, FIELDS_IN_CHART);
  const [width, labelWidth, valueWidth, row, top] = [CHART_WIDTH, 190, 110, 24, 28];
  if (shownFields.length === 0) return html`<svg class="field-chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="40"><text x="10" y="24">no differences</text></svg>`;
  const height = top + shownFields.length * row + (fields.length > shownFields.length ? 20 : 6);
  const max = Math.max(0.001, ...shownFields.flatMap((f) => [f.rate, f.noiseRate]));
  const w = (rate: number): number => (rate / max) * (width - labelWidth - valueWidth);
  const rows = shownFields.map((f, i) => {
    const y = top + i * row;
    return html`<g><title>${f.path}: ${f.diffs} differing, noise ${f.noiseDiffs}/${f.noiseComparisons}</title>
<text x="${labelWidth - 6}" y="${y + 11}" text-anchor="end" class="${f.flagged ? 'flag' : ''}">${cut(f.path, 30)}</text>
<rect x="${labelWidth}" y="${y}" width="${Math.max(1, w(f.rate)).toFixed(1)}" height="12" fill="${f.flagged ? CHART_COLORS.flagged : CHART_COLORS.field}"/>
<rect x="${labelWidth}" y="${y + 13}" width="${Math.max(1, w(f.noiseRate)).toFixed(1)}" height="6" fill="${CHART_COLORS.noise}"/>
<text x="${labelWidth + w(Math.max(f.rate, f.noiseRate)) + 6}" y="${y + 11}">${pct(f.rate)} vs ${pct(f.noiseRate)}</text></g>`;
  });
  return html`<svg class="field-chart" xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">
${legend([['flagged difference rate', CHART_COLORS.flagged], ['difference rate', CHART_COLORS.field], ['noise rate', CHART_COLORS.noise]], 14)}
${rows}
${fields.length > shownFields.length && html`<text x="10" y="${height - 6}">${fields.length - shownFields.length} more field(s) in the table</text>`}
</svg>`;
}

function fieldTable(e: EndpointAnalysis): Markup {
  if (e.fields.length === 0) return html``;
  const rows = e.fields.map((f) => html`<tr><td class="${f.flagged ? 'flag' : ''}">${f.path}</td><td>${f.diffs}</td><td>${pct(f.rate)}</td>
<td>${pct(f.noiseRate)} (${f.noiseDiffs}/${f.noiseComparisons}${f.noisePooled && ', pooled'})</td><td>${f.flagged ? 'yes' : 'no'}</td>
<td class="text">${Object.entries(f.kinds).map(([k, n]) => `${k} ${n}`).join(', ')}</td></tr>`);
  return html`<table class="field-table"><thead><tr><th class="text">Field</th><th>Differing</th><th>Rate</th><th>Noise</th><th>Flagged</th><th class="text">Kinds</th></tr></thead>
<tbody>${rows}</tbody></table>${e.fieldsOverflow > 0 && html`<p>${e.fieldsOverflow} difference(s) at fields beyond the field cap.</p>`}`;
}

function headerLines(h: string[]): string {
  return h.flatMap((v, i) => (i % 2 === 0 ? [`${v}: ${h[i + 1] ?? ''}`] : [])).join('\n');
}

function sample(s: SampleLine): Markup {
  const column = (title: string, headers: string[], body: string | null): Markup =>
    html`<div><h4>${title}</h4><details><summary>headers</summary><pre>${headerLines(headers)}</pre></details><pre>${body ?? '(no body)'}</pre></div>`;
  return html`<div class="sample">
<h4><code>${s.request.method} ${s.request.url}</code></h4>
${s.request.body !== null && html`<pre>${s.request.body}</pre>`}
<ul class="diffs">${s.diffs.map((d) => html`<li><code>${d.at}</code> (${d.kind}): ${shown(d.expected)} → ${shown(d.actual)}</li>`)}</ul>
<div class="sides">
${column(`production: ${s.production.status}, ${ms(s.production.latencyMs * 1000)}`, s.production.headers, s.production.body)}
${column(`shadow: ${s.shadow.status ?? 'no response'}, ${ms(s.shadow.latencyMs * 1000)}`, s.shadow.headers, s.shadow.body)}
</div></div>`;
}
