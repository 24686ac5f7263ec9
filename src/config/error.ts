/** A bad option value, named by the flag (or config key) that gave it. */
export class ConfigError extends Error {
  constructor(readonly key: string, message: string) {
    super(`${key}: ${message}`);
  }
}
