/** A \r-rewritten progress line on stderr (only when stderr is a terminal). */
export class Progress {
  private readonly timer: NodeJS.Timeout | null;
  private readonly started = performance.now();
  constructor(private readonly sent: () => number, private readonly total: () => number | null) {
    this.timer = process.stderr.isTTY ? setInterval(() => this.render(), 200) : null;
  }
  render(): void {
    if (this.timer === null) return;
    const sent = this.sent();
    const total = this.total();
    const elapsed = ((performance.now() - this.started) / 1000).toFixed(1);
    let line: string;
    if (total !== null && total > 0) {
      const f = Math.min(1, sent / total);
      const width = 30;
      const done = Math.round(f * width);
      line = `[${'#'.repeat(done)}${'.'.repeat(width - done)}] ${(f * 100).toFixed(0).padStart(3)}%  ${sent}/${total} sent  ${elapsed}s`;
    } else {
      line = `${sent} sent  ${elapsed}s`;
    }
    process.stderr.write(`\r${line}\x1b[K`);
  }
  stop(): void {
    if (this.timer === null) return;
    clearInterval(this.timer);
    this.render();
    process.stderr.write('\n');
  }
}

