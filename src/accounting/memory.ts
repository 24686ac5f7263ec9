// One memory budget for the whole daemon (--max-memory-mb): each consumer of memory gets a
// share of it and sheds, counted under a named reason, before its share is full. The V8 heap
// limit and the systemd unit's MemoryHigh/MemoryMax come from the same budget.

import { getHeapStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { readFileSync } from 'node:fs';

/** Node itself, code, V8's young generation and garbage not yet collected: not shared out. */
export const RUNTIME_RESERVE_MB = 80;

/** What one tracked connection costs at most when it holds no bytes of its own (flow table,
 * reassembly and HTTP state of a half-open connection); checked by test/accounting/memory.test.ts. */
export const FLOW_BYTES = 1700;

/** How the budget left after the runtime reserve and the capture ring is shared out. */
const SHARES = {
  /** Tracked connections, at FLOW_BYTES each: beyond, the least recently active is evicted. */
  flows: 0.35,
  /** Out-of-order TCP bytes waiting for a hole to fill. */
  reorder: 0.1,
  /** Request and response heads and bodies still arriving. */
  messages: 0.2,
  /** Requests waiting for, or in flight to, the shadows (all shadows together). */
  replay: 0.15,
  /** Exchanges waiting for their other half or to be diffed, and the repeat cache. */
  compare: 0.2,
} as const;

export type MemoryConsumer = keyof typeof SHARES;

export interface MemoryPlan {
  budgetBytes: number;
  /** The kernel capture ring, and the batches of packets waiting for the JS thread beyond
   * which new ones are dropped (queueDropped); live capture only. */
  captureRingBytes: number;
  captureQueueBytes: number;
  shares: Record<MemoryConsumer, number>;
  maxConnections: number;
  /** V8's old-generation limit (--max-old-space-size), in MiB. */
  heapLimitMb: number;
  /** The systemd unit's MemoryHigh= (reclaim pressure) and MemoryMax= (the cgroup's own OOM
   * kill: shadowtap's, never production's), in MiB. */
  memoryHighMb: number;
  memoryMaxMb: number;
}

const MiB = 1 << 20;

/** The budget in MiB shared out; `ringMb` is the capture ring asked for (at most an eighth of
 * the budget; 0 when not capturing live, which needs no ring and no queue either). */
export function planMemory(budgetMb: number, ringMb = 0): MemoryPlan {
  const captureRingMb = Math.min(ringMb, Math.floor(budgetMb / 8));
  const captureQueueMb = ringMb === 0 ? 0 : Math.floor(budgetMb / 16);
  const dataBytes = Math.max(0, budgetMb - RUNTIME_RESERVE_MB - captureRingMb - captureQueueMb) * MiB;
  const shares = {} as Record<MemoryConsumer, number>;
  for (const k of Object.keys(SHARES) as MemoryConsumer[]) shares[k] = Math.floor(dataBytes * SHARES[k]);
  return {
    budgetBytes: budgetMb * MiB,
    captureRingBytes: captureRingMb * MiB,
    captureQueueBytes: captureQueueMb * MiB,
    shares,
    maxConnections: Math.max(16, Math.floor(shares.flows / FLOW_BYTES)),
    heapLimitMb: budgetMb,
    memoryHighMb: Math.ceil(budgetMb * 1.25),
    memoryMaxMb: Math.ceil(budgetMb * 1.5),
  };
}

/**
 * Bytes held by many holders against one share: holders report what they hold; when the total
 * passes the share, the largest holders give theirs up (shed) until a quarter is free again.
 */
export class SharedAllowance<H> {
  used = 0;
  shed = 0;
  shedBytes = 0;
  private readonly held = new Map<H, number>();

  constructor(readonly limit: number, private readonly release: (holder: H) => void) {}

  /** `holder` now holds `bytes` (0: nothing). */
  hold(holder: H, bytes: number): void {
    const before = this.held.get(holder) ?? 0;
    if (bytes === before) return;
    if (bytes === 0) this.held.delete(holder);
    else this.held.set(holder, bytes);
    this.used += bytes - before;
    if (this.used > this.limit) this.shedLargest();
  }

  get holders(): number {
    return this.held.size;
  }

  private shedLargest(): void {
    const target = this.limit * 0.75;
    while (this.used > target && this.held.size > 0) {
      // One pass finds the largest holders enough to get under the target at once.
      const ranked = [...this.held].sort((a, b) => b[1] - a[1]);
      for (const [holder, bytes] of ranked) {
        if (this.used <= target) break;
        this.held.delete(holder);
        this.used -= bytes;
        this.shed++;
        this.shedBytes += bytes;
        this.release(holder);
      }
    }
  }
}

export interface MemoryStats {
  budgetMb: number;
  rssMb: number;
  /** V8's heap in use, and memory outside it (Buffers): what the resident set is made of. */
  heapUsedMb: number;
  externalMb: number;
  /** The process's peak resident set so far (getrusage). */
  peakRssMb: number;
  heapLimitMb: number;
  /** Connections tracked at most (the flow share's, or --max-connections if lower). */
  maxConnections: number;
  /** Heads and bodies in progress: held now, the share, and how many were shed. */
  messages: { heldMb: number; shareMb: number; shed: number };
  /** Full collections forced because the resident set neared the budget. */
  forcedGcs: number;
}

const mb = (bytes: number): number => Math.round((bytes / MiB) * 10) / 10;

export function memoryStats(plan: MemoryPlan, messages: { used: number; limit: number; shed: number }, maxConnections: number, guard: MemoryGuard): MemoryStats {
  const usage = process.memoryUsage();
  return {
    budgetMb: mb(plan.budgetBytes),
    rssMb: mb(usage.rss),
    heapUsedMb: mb(usage.heapUsed),
    externalMb: mb(usage.external),
    peakRssMb: mb(process.resourceUsage().maxRSS * 1024),
    heapLimitMb: mb(getHeapStatistics().heap_size_limit),
    maxConnections,
    messages: { heldMb: mb(messages.used), shareMb: mb(messages.limit), shed: messages.shed },
    forcedGcs: guard.forcedGcs,
  };
}

/** A full garbage collection on demand (V8's gc(), exposed at run time). */
function fullGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

/**
 * The resident set against the budget. V8 lets garbage pile up as far as its heap limit, which
 * is a quarter of the machine's memory unless the unit sets it from the budget (NODE_OPTIONS):
 * past PRESSURE of the budget, with an eighth of the budget of heap grown since the last forced
 * collection (a live set that stays put is not collected over and over), a full collection is
 * forced, at most every MIN_GAP_MS.
 */
export class MemoryGuard {
  static readonly PRESSURE = 0.85;
  static readonly MIN_GAP_MS = 100;
  forcedGcs = 0;
  private gc: (() => void) | null = null;
  private nextCheckMs = 0;
  private nextGcMs = 0;
  /** The heap in use right after the last forced collection: the live set then. */
  private liveHeap = 0;

  constructor(private readonly budgetBytes: number) {}

  /** Cheap enough to call per batch: looks at the resident set every 50 ms at most. */
  check(): void {
    const now = performance.now();
    if (now < this.nextCheckMs) return;
    this.nextCheckMs = now + 50;
    if (now < this.nextGcMs || process.memoryUsage.rss() < this.budgetBytes * MemoryGuard.PRESSURE) return;
    if (process.memoryUsage().heapUsed < this.liveHeap + this.budgetBytes / 8) return;
    this.nextGcMs = now + MemoryGuard.MIN_GAP_MS;
    (this.gc ??= fullGc())();
    this.forcedGcs++;
    this.liveHeap = process.memoryUsage().heapUsed;
  }
}

/** The memory limit of this process's cgroup (v2 memory.max), or null when there is none. */
function cgroupMemoryMax(): number | null {
  try {
    const line = readFileSync('/proc/self/cgroup', 'utf8').split('\n').find((l) => l.startsWith('0::'));
    if (line === undefined) return null;
    const max = readFileSync(`/sys/fs/cgroup${line.slice(3)}/memory.max`, 'utf8').trim();
    return max === 'max' ? null : Number(max);
  } catch {
    return null;
  }
}

/** What would make the budget fail: a limit below it that stops the process before it sheds. */
export function memoryWarnings(plan: MemoryPlan, heapLimitBytes = getHeapStatistics().heap_size_limit,
                               cgroupMax = cgroupMemoryMax()): string[] {
  const out: string[] = [];
  const budgetMb = plan.budgetBytes / MiB;
  if (heapLimitBytes < plan.budgetBytes * 0.9) {
    out.push(`V8's heap limit (${Math.round(heapLimitBytes / MiB)} MiB) is below --max-memory-mb ${budgetMb}: the process may die of heap exhaustion before shedding; start node with --max-old-space-size=${plan.heapLimitMb}`);
  }
  if (cgroupMax !== null && cgroupMax < plan.budgetBytes) {
    out.push(`the cgroup's memory.max (${Math.round(cgroupMax / MiB)} MiB) is below --max-memory-mb ${budgetMb}: the kernel may kill the process before it sheds; set MemoryMax=${plan.memoryMaxMb}M`);
  }
  return out;
}

/** The budget's shares as the startup line shows them, in MiB. */
export function memorySummary(plan: MemoryPlan, maxConnections: number): Record<string, number> {
  return {
    budgetMb: plan.budgetBytes / MiB,
    maxConnections,
    ...Object.fromEntries(Object.entries(plan.shares).map(([k, v]) => [`${k}Mb`, mb(v)])),
    captureRingMb: mb(plan.captureRingBytes),
    captureQueueMb: mb(plan.captureQueueBytes),
  };
}
