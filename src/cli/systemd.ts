// systemd service integration (Type=notify): READY/RELOADING/STOPPING/STATUS notifications
// and watchdog pings, through the capture addon's sdNotify (native/src/sd_notify.cc).
//
// Everything here is a no-op returning false when $NOTIFY_SOCKET is unset (not started by
// systemd, or by a unit without Type=notify): the addon is not even loaded then.

import { loadAddon } from '../capture/native';

let lastError: string | null = null;
let watchdogTimer: NodeJS.Timeout | undefined;

/** Sends one notification; false when not under systemd or when sending failed (see lastError). */
export function notify(state: string): boolean {
  if (!process.env.NOTIFY_SOCKET) return false;
  try {
    const addon = loadAddon();
    if (typeof addon.sdNotify !== 'function') return false; // an addon built before sdNotify existed
    return addon.sdNotify(state);
  } catch (err) {
    lastError = (err as Error).message;
    return false;
  }
}

/**
 * The watchdog period systemd asks for (WatchdogSec= → $WATCHDOG_USEC), in ms, or null when
 * none is set or it is meant for another process ($WATCHDOG_PID).
 */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv = process.env): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== process.pid) return null;
  return usec / 1000;
}

/**
 * Starts WATCHDOG=1 pings every WATCHDOG_USEC/2 (unref'd: they never keep the process alive).
 * The pings come from the event loop, so a loop stuck for longer than WatchdogSec= gets the
 * service killed and (Restart=on-failure) restarted. Idempotent.
 */
export function startWatchdog(): boolean {
  if (watchdogTimer !== undefined) return true;
  const period = watchdogIntervalMs();
  if (period === null || !process.env.NOTIFY_SOCKET) return false;
  notify('WATCHDOG=1');
  watchdogTimer = setInterval(() => notify('WATCHDOG=1'), Math.max(1, Math.floor(period / 2)));
  watchdogTimer.unref();
  return true;
}

export function stopWatchdog(): void {
  if (watchdogTimer !== undefined) clearInterval(watchdogTimer);
  watchdogTimer = undefined;
}

/** CLOCK_MONOTONIC in µs (what systemd expects in MONOTONIC_USEC=; process.hrtime is that clock on Linux). */
function monotonicUsec(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/** Escapes a STATUS= text: one line, no NULs. */
function oneLine(text: string): string {
  return text.replace(/[\r\n\0]+/g, ' ');
}

export const systemd = {
  notify,
  /** READY=1: capture is running (also after a reload). Starts the watchdog pings. */
  ready(status?: string): boolean {
    const sent = notify(status !== undefined ? `READY=1\nSTATUS=${oneLine(status)}` : 'READY=1');
    startWatchdog();
    return sent;
  },
  /** RELOADING=1 (with MONOTONIC_USEC, as systemd ≥ 253 wants): call ready() when the reload is done. */
  reloading(status?: string): boolean {
    const lines = ['RELOADING=1', `MONOTONIC_USEC=${monotonicUsec()}`];
    if (status !== undefined) lines.push(`STATUS=${oneLine(status)}`);
    return notify(lines.join('\n'));
  },
  /** STOPPING=1: shutdown began (capture closing, replay queue draining). */
  stopping(status?: string): boolean {
    return notify(status !== undefined ? `STOPPING=1\nSTATUS=${oneLine(status)}` : 'STOPPING=1');
  },
  /** STATUS=text: shown by `systemctl status`. */
  status(text: string): boolean {
    return notify(`STATUS=${oneLine(text)}`);
  },
  /** One WATCHDOG=1 ping (the timer started by ready() sends them on its own). */
  watchdog(): boolean {
    return notify('WATCHDOG=1');
  },
  startWatchdog,
  stopWatchdog,
  watchdogIntervalMs,
  /** The last sending error, if any (e.g. NOTIFY_SOCKET pointing at nothing). */
  lastError: (): string | null => lastError,
};
