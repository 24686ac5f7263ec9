/** A bad option value, named by the flag (or config key) that gave it. Exit status 2. */
export class ConfigError extends Error {
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`);
  }
}

/** The configuration is sound but this host cannot provide what it names: no such interface,
 * no capture privilege, a shadow name that does not resolve. Exit status 3. */
export class EnvironmentError extends Error {
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`);
  }
}

/** Exit statuses, as the README's "Exit status" paragraph and the systemd units have them. */
export const EXIT = { ok: 0, runtime: 1, config: 2, environment: 3 } as const;
