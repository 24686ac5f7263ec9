// SIGHUP for `run`: the traffic policy, redaction and replay settings (targets included) take
// effect for the next request; captured connections, their parsers and requests in flight carry
// on. Settings the capture or the comparison was opened with need a restart and are kept.

import type { RunConfig } from '../config';
import type { ReplayOptions } from '../replay';
import type { RedactOptions } from '../traffic/redact';
import type { Admission } from '../pipeline';
import type { Logger, ShadowHealth } from '../report';
import { TrafficPolicy } from '../traffic';
import type { Redactor } from '../traffic/redact';
import { ownMarker } from './lifecycle';
import { systemd } from './systemd';

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
    ['--workers', cfg.workers, next.workers],
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

/** The replay output a reload swaps settings of (in process, or on worker threads: those get the
 * redaction too, for the samples they write). */
export interface ReloadableOutput {
  reload(replay: Partial<ReplayOptions> & { targets: string[] }, drainMs: number): void;
  redacting?(redact: RedactOptions): void;
}

/** Reads the configuration again and applies what can change while running; null when the
 * new configuration is rejected (the running one stays). `count` numbers this reload. */
export function applyReload(cfg: RunConfig, reread: () => RunConfig, log: Logger,
  running: { admission: Admission; redactor: Redactor; output: ReloadableOutput; shadowHealth?: ShadowHealth }, count: number): RunConfig | null {
  systemd.reloading('reloading the configuration');
  let plan: ReloadPlan;
  try {
    plan = planReload(cfg, reread());
  } catch (err) {
    log.error({ err: (err as Error).message }, 'reload rejected: the running configuration stays');
    systemd.ready('reload rejected: the running configuration stays');
    return null;
  }
  const { admission, redactor, output } = running;
  admission.policy = new TrafficPolicy(plan.cfg.traffic, Math.random, admission.policy?.stats);
  redactor.options = plan.cfg.redact;
  admission.ownMarker = ownMarker(plan.cfg.replay.marker);
  // What the old replayer has in flight ends within its own timeout; queued requests go out meanwhile.
  running.shadowHealth?.setTargets(plan.cfg.replay.targets);
  if (plan.replayChanged) output.reload(plan.cfg.replay, Math.max(plan.cfg.drainTimeoutMs, (cfg.replay.timeoutMs ?? 10_000) + 1000));
  output.redacting?.(plan.cfg.redact);
  if (plan.kept.length > 0) log.warn({ kept: plan.kept }, `reload: these settings need a restart and were kept: ${plan.kept.join(', ')}`);
  log.info({ applied: plan.applied, shadows: plan.cfg.replay.targets, reloads: count }, `configuration reloaded (applied: ${plan.applied.join(', ') || 'nothing changed'})`);
  systemd.ready(`configuration reloaded (${count})`);
  return plan.cfg;
}
