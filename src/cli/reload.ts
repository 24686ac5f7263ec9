// SIGHUP for `run`: the traffic policy, redaction and replay settings (targets included) take
// effect for the next request; captured connections, their parsers and requests in flight carry
// on. Settings the capture or the comparison was opened with need a restart and are kept.

import type { RunConfig } from '../config';

/** Deep equality of configuration values (Sets, Maps and RegExps included). */
export function same(a: unknown, b: unknown): boolean {
  const plain = (_k: string, v: unknown): unknown =>
    v instanceof Set ? ['Set', ...v] : v instanceof Map ? ['Map', ...v] : v instanceof RegExp ? `RegExp ${v}` : v;
  return JSON.stringify(a, plain) === JSON.stringify(b, plain);
}

export interface ReloadPlan {
  /** The configuration now in force. */
  cfg: RunConfig;
  /** What changed and is applied. */
  applied: string[];
  /** What changed but needs a restart. */
  kept: string[];
  replayChanged: boolean;
}

/** What a reload from `cfg` to `next` applies and what it keeps. */
export function planReload(cfg: RunConfig, next: RunConfig): ReloadPlan {
  const kept: string[] = [];
  for (const [what, a, b] of [
    ['capture source and filter', cfg.source, next.source], ['reassembly limits', cfg.tcp, next.tcp], ['HTTP limits', cfg.http, next.http],
    ['--out', cfg.outDir, next.outDir], ['comparison settings', cfg.compare, next.compare], ['--baseline', cfg.baseline, next.baseline],
    ['log settings', [cfg.logLevel, cfg.logTo], [next.logLevel, next.logTo]], ['--admin', cfg.admin, next.admin],
    ['--stats-interval', cfg.statsIntervalMs, next.statsIntervalMs], ['--summary-json', cfg.summaryJson, next.summaryJson],
  ] as Array<[string, unknown, unknown]>) {
    if (!same(a, b)) kept.push(what);
  }
  let replay = next.replay;
  if (cfg.compare !== null && !same(cfg.replay.targets, next.replay.targets)) {
    kept.push('shadow targets (the comparison is per target: restart to compare others)');
    replay = { ...next.replay, targets: cfg.replay.targets };
  }
  const applied: string[] = [];
  if (!same(cfg.traffic, next.traffic)) applied.push('traffic policy');
  if (!same(cfg.redact, next.redact)) applied.push('redaction');
  if (cfg.drainTimeoutMs !== next.drainTimeoutMs) applied.push('--drain-timeout-ms');
  const replayChanged = !same(cfg.replay, replay);
  if (replayChanged) applied.push('replay settings');
  return {
    cfg: { ...cfg, replay, traffic: next.traffic, redact: next.redact, drainTimeoutMs: next.drainTimeoutMs },
    applied, kept, replayChanged,
  };
}
