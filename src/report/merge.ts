// `report DIR…` and `verdict DIR…`: many result directories (fleet workers, or one traffic
// set compared in parts) read as one. Counts add, latency histograms merge exactly (they are
// HDR histograms in results.json), samples are taken from every directory within the usual
// limits, and exchanges listed in more than one directory's exchanges.ids are reported as
// counted twice: counts cannot be taken back per exchange, so the report says how many.

import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { LatencyHistogram } from '../compare';
import type { EndpointJson, FieldsJson, NoiseJson, ResultsJson, ShadowEndpointJson, SideJson } from '../compare';
import { ConfigError } from '../config/error';
import { validateResults } from './analysis';
import { IDS_FILE, SampleLine, defaultSampleLimits, forEachLine, readResults, readSamples } from './outdir';

/** One directory of a merge: its own run window and accounting. */
export interface MergedDirectory {
  dir: string;
  startedAt: string;
  updatedAt: string;
  complete: boolean;
  accounting: Record<string, unknown>;
  /** Ids its exchanges.ids lists (null: it has none). */
  ids: number | null;
}

export interface DuplicateIds {
  /** Directories whose exchanges.ids was read, and those without one (not checked). */
  checkedDirectories: number;
  uncheckedDirectories: string[];
  /** Ids read over all the files. */
  ids: number;
  /** Exchanges listed more than once (in two directories, or twice in one) … */
  exchanges: number;
  /** … and how many counts too many that makes: each exchange counted n times adds n − 1. */
  countedTwice: number;
  /** The first few, with the directories that counted them. */
  first: Array<{ id: string; dirs: string[] }>;
  /** Ids beyond what is checked (MAX_CHECKED_IDS), damaged lines and directories whose list
   * is known to be incomplete (a failed write): duplicates among them are not found. */
  notChecked: number;
  incompleteDirectories: string[];
}

export interface MergeInfo {
  directories: MergedDirectory[];
  duplicates: DuplicateIds | null;
}

/** Ids held for the duplicate check at most (8 bytes each): beyond, counted as not checked. */
export const MAX_CHECKED_IDS = 20_000_000;
/** Duplicate ids named in the report. */
const DUPLICATES_NAMED = 10;
/** Distinct candidate ids whose directories are looked up (the second pass) at most. */
const MAX_CANDIDATES = 100_000;

/** A directory's results, validated; one line naming the directory when they cannot be read. */
export function loadResults(dir: string): ResultsJson {
  let raw: unknown;
  try {
    raw = readResults(dir);
  } catch (err) {
    throw new ConfigError('<dir>', `cannot read the results in ${dir}: ${(err as Error).message}`);
  }
  try {
    return validateResults(raw);
  } catch (err) {
    throw new ConfigError('<dir>', `${dir}: ${(err as Error).message}`);
  }
}

const sameList = (a: readonly string[], b: readonly string[]): boolean => a.length === b.length && a.every((x, i) => x === b[i]);

/** Directories that can be merged: each named once, the same shadows and baseline, the same kind of source. */
function checkCompatible(dirs: string[], parts: ResultsJson[]): void {
  const seen = new Map<string, string>();
  dirs.forEach((dir, i) => {
    let real = dir;
    try { real = realpathSync(dir); } catch { /* read already: keep the name */ }
    const earlier = seen.get(real);
    if (earlier !== undefined) throw new ConfigError('<dir>', `${dir}: the same directory as ${earlier}: its results would count twice`);
    seen.set(real, dir);
    const first = parts[0];
    const p = parts[i];
    const shadows = [...p.shadows].sort();
    if (!sameList(shadows, [...first.shadows].sort())) {
      throw new ConfigError('<dir>', `shadow sets differ: ${dirs[0]} compared ${first.shadows.join(', ')}; ${dir} compared ${p.shadows.join(', ')}`);
    }
    if (p.baseline !== first.baseline) {
      throw new ConfigError('<dir>', `baselines differ: ${dirs[0]} has ${first.baseline ?? 'none'}; ${dir} has ${p.baseline ?? 'none'}`);
    }
    if ((p.source?.kind ?? 'capture') !== (first.source?.kind ?? 'capture')) {
      throw new ConfigError('<dir>', `${dirs[0]} compared ${first.source?.kind ?? 'a live capture'}, ${dir} ${p.source?.kind ?? 'a live capture'}: production's latencies are not timed alike`);
    }
  });
}

/** Adds counts: numbers add, objects add key by key, lists of per-target objects add by
 * target; any other value is kept when every part agrees, else marked as differing. */
export function addCounts(into: Record<string, unknown>, from: Record<string, unknown>): void {
  for (const [k, v] of Object.entries(from)) {
    const have = into[k];
    if (have === undefined) into[k] = structuredClone(v);
    else if (typeof have === 'number' && typeof v === 'number') into[k] = have + v;
    else if (isTargetList(have) && isTargetList(v)) addTargets(have, v);
    else if (isRecord(have) && isRecord(v)) addCounts(have, v);
    else if (JSON.stringify(have) !== JSON.stringify(v)) into[k] = '(differs between directories)';
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isTargetList(v: unknown): v is Array<Record<string, unknown> & { target: string }> {
  return Array.isArray(v) && v.every((x) => isRecord(x) && typeof x.target === 'string');
}

function addTargets(into: Array<Record<string, unknown> & { target: string }>, from: Array<Record<string, unknown> & { target: string }>): void {
  for (const t of from) {
    const same = into.find((x) => x.target === t.target);
    if (same === undefined) into.push(structuredClone(t));
    else addCounts(same, t);
  }
}

/** Histograms merged in memory while parts are added, encoded once at the end (decoding and
 * encoding an HDR histogram is the costly part of a merge). */
class HistogramSums {
  private readonly sums = new Map<SideJson, { latency: LatencyHistogram; wire: LatencyHistogram | null }>();

  /** A side as its first directory has it (decoded here, so that damage names that directory). */
  track(side: SideJson): void {
    this.sums.set(side, { latency: LatencyHistogram.fromJSON(side.latency), wire: side.wireLatency !== undefined ? LatencyHistogram.fromJSON(side.wireLatency) : null });
  }

  add(into: SideJson, from: SideJson): void {
    const sum = this.sums.get(into)!;
    sum.latency.mergeJSON(from.latency);
    if (from.wireLatency !== undefined) {
      if (sum.wire === null) sum.wire = LatencyHistogram.fromJSON(from.wireLatency);
      else sum.wire.mergeJSON(from.wireLatency);
    }
  }

  /** Writes the merged histograms into their sides. */
  finish(): void {
    for (const [side, sum] of this.sums) {
      side.latency = sum.latency.toJSON();
      if (sum.wire !== null) side.wireLatency = sum.wire.toJSON();
    }
  }
}

/** A side's counters added, its histograms merged (the wire-timed one when either has it). */
function addSide(into: SideJson, from: SideJson, histograms: HistogramSums): void {
  into.attempts += from.attempts;
  into.status5xx += from.status5xx;
  into.timeouts += from.timeouts;
  into.connectionErrors += from.connectionErrors;
  into.missing += from.missing;
  histograms.add(into, from);
}

function addFields(into: FieldsJson, from: FieldsJson): void {
  into.overflow += from.overflow;
  for (const [path, f] of Object.entries(from.fields)) {
    const have = into.fields[path];
    if (have === undefined) {
      into.fields[path] = { diffs: f.diffs, kinds: { ...f.kinds } };
      continue;
    }
    have.diffs += f.diffs;
    for (const [kind, n] of Object.entries(f.kinds) as Array<[keyof typeof f.kinds, number]>) have.kinds[kind] = (have.kinds[kind] ?? 0) + n;
  }
}

function addNoise(into: NoiseJson, from: NoiseJson): void {
  into.comparisons += from.comparisons;
  into.fromBaseline += from.fromBaseline;
  into.fromRepeats += from.fromRepeats;
  addFields(into, from);
}

function addShadow(into: ShadowEndpointJson, from: ShadowEndpointJson, histograms: HistogramSums): void {
  addSide(into, from, histograms);
  into.compared += from.compared;
  into.mismatched += from.mismatched;
  into.bodiesNotCompared += from.bodiesNotCompared;
  for (const [reason, n] of Object.entries(from.skipped) as Array<[keyof typeof from.skipped, number]>) into.skipped[reason] = (into.skipped[reason] ?? 0) + n;
  addFields(into, from);
  for (const [sig, n] of Object.entries(from.signatures)) into.signatures[sig] = (into.signatures[sig] ?? 0) + n;
  into.signaturesOverflow += from.signaturesOverflow;
}

/** An endpoint with its shadows in `order` (the first directory's). */
function reordered(e: EndpointJson, order: string[]): EndpointJson {
  const copy = structuredClone(e);
  copy.shadows = order.map((t) => copy.shadows.find((s) => s.target === t)!);
  return copy;
}

function addEndpoint(into: EndpointJson, from: EndpointJson, histograms: HistogramSums): void {
  addSide(into.production, from.production, histograms);
  if (into.baseline !== null && from.baseline !== null) addSide(into.baseline, from.baseline, histograms);
  else if (into.baseline === null && from.baseline !== null) {
    into.baseline = from.baseline;
    histograms.track(from.baseline);
  }
  addNoise(into.noise, from.noise);
  into.shadows.forEach((s, i) => addShadow(s, from.shadows[i], histograms));
}

/** Results of several directories as one run's: counts added, histograms merged, the run
 * window spanning all. Pure (the directories' names only label errors). */
export function mergeResults(dirs: string[], parts: ResultsJson[]): ResultsJson {
  checkCompatible(dirs, parts);
  const order = parts[0].shadows;
  const endpoints = new Map<string, EndpointJson>();
  const counters = {} as Record<string, unknown>;
  const accounting: Record<string, unknown> = {};
  const histograms = new HistogramSums();
  parts.forEach((p, i) => {
    try {
      addCounts(counters, p.counters as unknown as Record<string, unknown>);
      addCounts(accounting, p.accounting);
      for (const e of p.endpoints) {
        const mine = reordered(e, order);
        const have = endpoints.get(e.key);
        if (have === undefined) {
          for (const side of [mine.production, mine.baseline, ...mine.shadows]) if (side !== null) histograms.track(side);
          endpoints.set(e.key, mine);
        } else {
          addEndpoint(have, mine, histograms);
        }
      }
    } catch (err) {
      throw new ConfigError('<dir>', `${dirs[i]}: damaged results (${(err as Error).message})`);
    }
  });
  histograms.finish();
  const recordings = parts.flatMap((p) => (p.source?.kind === 'recording' ? [p.source] : []));
  // Fleet workers' directories: production's answers are recorded ones there too.
  const fleets = parts.flatMap((p) => (p.source?.kind === 'fleet' ? [p.source] : []));
  return {
    version: parts[0].version,
    startedAt: parts.map((p) => p.startedAt).sort()[0],
    updatedAt: parts.map((p) => p.updatedAt).sort().at(-1)!,
    complete: parts.every((p) => p.complete),
    shadows: order,
    baseline: parts[0].baseline,
    counters: counters as unknown as ResultsJson['counters'],
    accounting,
    endpoints: [...endpoints.values()],
    ...(recordings.length > 0 ? {
      source: { kind: 'recording' as const, recording: [...new Set(recordings.map((r) => r.recording))].join(', '), files: recordings.flatMap((r) => r.files) },
    } : fleets.length > 0 ? {
      source: { kind: 'fleet' as const, stream: [...new Set(fleets.map((f) => f.stream))].join(', '), consumer: [...new Set(fleets.map((f) => f.consumer))].join(', ') },
    } : {}),
  };
}

/** 53 bits of an id's FNV-1a hashes (two seeds), exact as a double. */
function idHash(id: string): number {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ 0x5bd1e995;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (a >>> 0) * 0x200000 + ((b >>> 0) & 0x1fffff);
}

/** Reads the ids of one directory's exchanges.ids (null when it has none). */
function eachId(dir: string, onId: (id: string) => boolean): { damaged: number } | null {
  let damaged = 0;
  try {
    const stats = forEachLine(join(dir, IDS_FILE), (line) => {
      if (line === '') { damaged++; return true; }
      return onId(line);
    }, 4096);
    return { damaged: damaged + stats.overlong + (stats.tornBytes > 0 ? 1 : 0) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ConfigError('<dir>', `cannot read ${join(dir, IDS_FILE)}: ${(err as Error).message}`);
  }
}

/**
 * Ids found in more than one place among the directories' exchanges.ids. Two passes: hashes
 * of every id (8 bytes each, at most MAX_CHECKED_IDS) sorted to find repeated hashes, then the
 * ids behind those hashes read again to confirm them by value and name their directories.
 */
export function findDuplicates(dirs: string[], parts: ResultsJson[]): DuplicateIds | null {
  let hashes = new Float64Array(1 << 16);
  let n = 0;
  let notChecked = 0;
  const unchecked: string[] = [];
  const incomplete: string[] = [];
  const idsPerDir = new Map<string, number>();
  dirs.forEach((dir, i) => {
    let count = 0;
    const read = eachId(dir, (id) => {
      count++;
      if (n >= MAX_CHECKED_IDS) { notChecked++; return true; }
      if (n === hashes.length) {
        const grown = new Float64Array(Math.min(MAX_CHECKED_IDS, hashes.length * 2));
        grown.set(hashes);
        hashes = grown;
      }
      hashes[n++] = idHash(id);
      return true;
    });
    if (read === null) { unchecked.push(dir); return; }
    idsPerDir.set(dir, count);
    notChecked += read.damaged;
    if ((parts[i].ids?.lost ?? 0) > 0) incomplete.push(dir);
  });
  if (idsPerDir.size === 0) return null;
  const sorted = hashes.subarray(0, n).sort();
  // Repeated hashes: nearly always repeated ids (53 bits); confirmed by value below when few enough.
  const candidates = new Set<number>();
  let hashExchanges = 0;
  let hashExtra = 0;
  for (let i = 1; i < n; i++) {
    if (sorted[i] !== sorted[i - 1]) continue;
    hashExtra++;
    if (i === 1 || sorted[i - 1] !== sorted[i - 2]) {
      hashExchanges++;
      if (candidates.size < MAX_CANDIDATES) candidates.add(sorted[i]);
    }
  }
  hashes = new Float64Array(0); // the second pass needs only the candidates
  const where = new Map<string, string[]>();
  if (candidates.size > 0) {
    for (const dir of idsPerDir.keys()) {
      eachId(dir, (id) => {
        if (!candidates.has(idHash(id))) return true;
        const dirsOf = where.get(id);
        if (dirsOf === undefined) where.set(id, [dir]);
        else dirsOf.push(dir);
        return true;
      });
    }
  }
  let exchanges = 0;
  let countedTwice = 0;
  const first: DuplicateIds['first'] = [];
  for (const [id, dirsOf] of where) {
    if (dirsOf.length < 2) continue; // a hash collision, not a duplicate
    exchanges++;
    countedTwice += dirsOf.length - 1;
    if (first.length < DUPLICATES_NAMED) first.push({ id, dirs: dirsOf });
  }
  if (hashExchanges > candidates.size) { // too many to confirm one by one: the hashes' count
    exchanges = hashExchanges;
    countedTwice = hashExtra;
  }
  return {
    checkedDirectories: idsPerDir.size, uncheckedDirectories: unchecked, ids: [...idsPerDir.values()].reduce((a, b) => a + b, 0),
    exchanges, countedTwice, first, notChecked, incompleteDirectories: incomplete,
  };
}

/** Per-directory facts for the merged report. */
export function mergeInfo(dirs: string[], parts: ResultsJson[], duplicates: DuplicateIds | null): MergeInfo {
  return {
    directories: parts.map((p, i) => ({
      dir: dirs[i], startedAt: p.startedAt, updatedAt: p.updatedAt, complete: p.complete, accounting: p.accounting,
      ids: p.ids !== undefined ? p.ids.written : null,
    })),
    duplicates,
  };
}

/** Notes for the verdict: what a merge cannot vouch for. */
export function mergeNotes(info: MergeInfo): string[] {
  const notes: string[] = [];
  notes.push(`merged from ${info.directories.length} result directories`);
  const running = info.directories.filter((d) => !d.complete).map((d) => d.dir);
  if (running.length > 0) notes.push(`still running (results so far): ${running.join(', ')}`);
  const d = info.duplicates;
  if (d === null) {
    notes.push('no directory has an exchanges.ids list: exchanges counted in more than one directory cannot be found');
    return notes;
  }
  if (d.countedTwice > 0) {
    const named = d.first.map((x) => `${x.id} (${x.dirs.join(', ')})`).join('; ');
    notes.push(`${d.exchanges} exchange(s) were counted in more than one directory, ${d.countedTwice} count(s) too many in these totals ` +
      `(a worker stopped before acknowledging them, and they were redelivered): ${named}${d.exchanges > d.first.length ? '; …' : ''}`);
  }
  if (d.uncheckedDirectories.length > 0) notes.push(`not checked for duplicates (no ${IDS_FILE}): ${d.uncheckedDirectories.join(', ')}`);
  if (d.incompleteDirectories.length > 0) notes.push(`${IDS_FILE} incomplete (a failed write) in ${d.incompleteDirectories.join(', ')}: duplicates may be missed`);
  if (d.notChecked > 0) notes.push(`${d.notChecked} id(s) not checked for duplicates (damaged lines, or beyond ${MAX_CHECKED_IDS} ids)`);
  return notes;
}

/** Samples from every directory, in turn, within one run's limits: each directory gets an
 * equal share, and what the short ones leave goes to the others. */
export function mergedSamples(dirs: string[]): SampleLine[] {
  const { maxSamples, maxBytes } = defaultSampleLimits;
  const share = { samples: Math.ceil(maxSamples / dirs.length), bytes: Math.ceil(maxBytes / dirs.length) };
  const each = dirs.map((dir) => readSamples(dir, share));
  const room = maxSamples - each.reduce((n, s) => n + s.length, 0);
  const cut = each.flatMap((s, i) => (s.length >= share.samples ? [i] : []));
  if (room > 0 && cut.length > 0) {
    const more = { samples: share.samples + Math.ceil(room / cut.length), bytes: share.bytes + Math.ceil(maxBytes / dirs.length) };
    for (const i of cut) each[i] = readSamples(dirs[i], more);
  }
  const out: SampleLine[] = [];
  for (let i = 0; out.length < maxSamples && each.some((s) => i < s.length); i++) {
    for (const s of each) if (i < s.length && out.length < maxSamples) out.push(s[i]);
  }
  return out;
}
