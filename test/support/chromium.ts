// Headless Chromium for the HTML report tests: its profile and config in a directory of the
// test's own, every process it starts killed at the end.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

function findChromium(): string | null {
  const r = spawnSync('sh', ['-c', 'command -v chromium'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : null;
}

const chromium = findChromium();

/** Kills (by pid) processes whose command line mentions `dir`: chromium's crash handlers start
 * their own sessions, outside the process group; with XDG_CONFIG_HOME in `dir` they name it. */
function killProcessesUsing(dir: string): void {
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(dir)) process.kill(Number(pid), 'SIGKILL');
    } catch { /* gone meanwhile */ }
  }
}

/** Runs chromium with its profile and config in `dir`; kills its process group and strays on exit or timeout. */
export function runChromium(dir: string, args: string[], timeoutMs = 60_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, XDG_CONFIG_HOME: join(dir, 'config'), XDG_CACHE_HOME: join(dir, 'cache') };
    const child = spawn(chromium!, [...args, `--user-data-dir=${join(dir, 'profile')}`], { detached: true, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const killAll = (): void => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch { /* already gone */ }
      killProcessesUsing(dir);
    };
    const timer = setTimeout(() => {
      killAll();
      reject(new Error(`chromium timed out after ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('error', (e) => { clearTimeout(timer); killAll(); reject(e); });
    child.on('exit', killAll); // helpers left behind would keep the pipes open
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** Why the Chromium tests skip, or false. */
export const noChromium = chromium === null ? 'chromium is not installed (no `chromium` on PATH)' : false;

/** The flags every headless run takes. */
export const HEADLESS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'];
