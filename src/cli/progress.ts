/** A \r-rewritten progress line on stderr (only when stderr is a terminal), five times a second. */
export class Progress {
  private readonly timer: NodeJS.Timeout | null;
  private readonly started = performance.now();
  constructor(private readonly line: (elapsed: string) => string) {
    this.timer = process.stderr.isTTY ? setInterval(() => this.render(), 200) : null;
  }
  render(): void {
    if (this.timer === null) return;
    process.stderr.write(`\r${this.line(`${((performance.now() - this.started) / 1000).toFixed(1)}s`)}\x1b[K`);
  }
  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.render();
    process.stderr.write('\n');
  }
}

/** `replay`: requests sent, against the total when known. */
export function sentLine(sent: number, total: number | null, elapsed: string): string {
  if (total === null || total <= 0) return `${sent} sent  ${elapsed}`;
  const f = Math.min(1, sent / total);
  const width = 30;
  const done = Math.round(f * width);
  return `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(f * 100).toFixed(0).padStart(3)}%  ${sent}/${total} sent  ${elapsed}`;
}

interface LiveCounts {
  seen: number;
  replayed: number;
  pending: number;
  notReplayed: Partial<Record<string, number>>;
  capture: { packets: number; kernelDropped: number; queueDropped: number };
}

/** `run`: what was seen and what became of it, the top reasons first, and capture losses. */
export function liveLine(s: LiveCounts, elapsed: string): string {
  const reasons = Object.entries(s.notReplayed).filter(([, n]) => (n ?? 0) > 0).sort((a, b) => (b[1] ?? 0) - (a[1] ?? 0));
  const not = reasons.reduce((a, [, n]) => a + (n ?? 0), 0);
  const why = reasons.slice(0, 3).map(([k, n]) => `${k} ${n}`).join(', ');
  const dropped = s.capture.kernelDropped + s.capture.queueDropped;
  return `${elapsed}  ${s.seen} seen: ${s.replayed} replayed, ${s.pending} pending, ${not} not${not > 0 ? ` (${why})` : ''}` +
    `  ·  ${s.capture.packets} packets${dropped > 0 ? `, ${dropped} dropped` : ''}`;
}
