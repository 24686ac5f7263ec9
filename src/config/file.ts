// Option values from a config file (YAML or JSON) and the environment, under the command line:
// flags > SHADOWTAP_* environment > file > defaults. Keys are the long flag names
// ('shadow', 'max-body-mb', 'compare: false' for --no-compare); an unknown key is an error.

import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from './error';
import { OptionRow, commandRows } from './options';

export interface ConfigProblem {
  key: string;
  message: string;
}

/** Several problems at once (every one named by its key). */
export class ConfigErrors extends ConfigError {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems[0].key, problems.map((p) => `${p.key}: ${p.message}`).join('\n  '));
    this.message = problems.map((p) => `${p.key}: ${p.message}`).join('\n');
  }
}

/** A configuration is a few KB; anything near this is a mistake (a log, a capture). */
export const MAX_CONFIG_BYTES = 1 << 20;

export function readConfigFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    // Checked before reading: a FIFO or a device would block or never end.
    const st = statSync(path);
    if (!st.isFile()) throw new Error('not a regular file');
    if (st.size > MAX_CONFIG_BYTES) throw new Error(`${st.size} bytes: a configuration is at most ${MAX_CONFIG_BYTES}`);
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError('--config', `cannot read ${path}: ${(e as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true, uniqueKeys: true }); // JSON is YAML too
  } catch (e) {
    throw new ConfigError('--config', `${path}: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError('--config', `${path}: expected a mapping of option names to values`);
  return doc as Record<string, unknown>;
}

/** The config key of a flag: '--max-body-mb' → 'max-body-mb', '--no-compare' → 'compare'. */
export function configKey(flag: string): string {
  return flag.replace(/^--(no-)?/, '');
}

/** How a value from a file or the environment becomes what commander would have parsed. */
function coerce(row: OptionRow, value: unknown, key: string, problems: ConfigProblem[]): unknown {
  const scalar = (v: unknown): string | null => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
    if (typeof v === 'boolean') return String(v);
    problems.push({ key, message: `expected a string or number, got ${v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v}` });
    return null;
  };
  if (row.type === 'switch') {
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    problems.push({ key, message: `expected true or false, got ${JSON.stringify(value)}` });
    return undefined;
  }
  if (row.type === 'list') {
    const items = Array.isArray(value) ? value : [value];
    const out: string[] = [];
    for (const item of items) {
      const s = scalar(item);
      if (s !== null) out.push(s);
    }
    return out;
  }
  return scalar(value) ?? undefined;
}

/**
 * Fills `cmd`'s options that the command line left at their defaults from `file` and then
 * from the environment (SHADOWTAP_MAX_BODY_MB=32), as its option rows say. Throws
 * ConfigErrors naming every bad key.
 */
export function applyConfigSources(cmd: Command, file: Record<string, unknown> | null, env: NodeJS.ProcessEnv): void {
  const problems: ConfigProblem[] = [];
  for (const row of commandRows(cmd)) {
    if (row.secret === true && cmd.getOptionValueSource(row.attr) === 'cli') {
      problems.push({ key: row.long, message: `a secret: give it in the --config file or ${row.env}, never on the command line (ps shows it)` });
    }
  }
  // A key names one row, or a switch and its --no- twin (marker, wire-timing).
  const byKey = new Map<string, OptionRow[]>();
  for (const row of commandRows(cmd)) {
    if (!row.cliOnly) byKey.set(row.key, [...(byKey.get(row.key) ?? []), row]);
  }
  const set = (name: string, raw: unknown, origin: 'config' | 'env', key: string): void => {
    const rows = byKey.get(name);
    if (rows === undefined) {
      problems.push({ key, message: `unknown option for \`${cmd.name()}\`` });
      return;
    }
    // A switch with a --no- twin (--marker / --no-marker) takes its value from the positive form.
    const row = rows.find((x) => !x.negated) ?? rows[0];
    if (cmd.getOptionValueSource(row.attr) === 'cli') return;
    if (origin === 'config' && cmd.getOptionValueSource(row.attr) === 'env') return;
    let value: unknown;
    if ((raw === false || raw === 'false') && rows.some((x) => x.negated)) {
      value = false; // `marker: false` is --no-marker
    } else if (row.negated) {
      // Only a --no-x form exists (e.g. --no-compare): `compare: false`.
      if (typeof raw !== 'boolean' && raw !== 'true' && raw !== 'false') {
        problems.push({ key, message: `expected true or false, got ${JSON.stringify(raw)}` });
        return;
      }
      value = raw === true || raw === 'true';
    } else {
      value = coerce(row, raw, key, problems);
    }
    if (value !== undefined) cmd.setOptionValueWithSource(row.attr, value, origin);
  };
  if (file !== null) for (const [k, v] of Object.entries(file)) set(k, v, 'config', k);
  for (const [name, rows] of byKey) {
    const v = env[rows[0].env];
    if (v !== undefined) set(name, rows[0].type === 'list' ? v.split(',') : v, 'env', rows[0].env);
  }
  if (problems.length > 0) throw new ConfigErrors(problems);
}

/**
 * The option values as they would be now: what the command line gave, over the environment and
 * the config file read again. Throws (ConfigErrors) without touching `cmd` when they are bad.
 */
export function rereadConfigSources(cmd: Command, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const saved = cmd.options.map((o) => [o.attributeName(), cmd.getOptionValue(o.attributeName()), cmd.getOptionValueSource(o.attributeName())] as const);
  const restore = (): void => {
    for (const [attr, value, source] of saved) cmd.setOptionValueWithSource(attr, value, source as 'default');
  };
  for (const o of cmd.options) {
    const attr = o.attributeName();
    const source = cmd.getOptionValueSource(attr);
    if (source !== 'config' && source !== 'env') continue;
    // A --no-x option alone defaults to true; beside its positive twin, the twin's default counts.
    const positive = cmd.options.find((x) => x.attributeName() === attr && !x.negate);
    cmd.setOptionValueWithSource(attr, positive !== undefined ? positive.defaultValue : true, 'default');
  }
  try {
    const file = cmd.getOptionValue('config') as string | undefined;
    applyConfigSources(cmd, file === undefined ? null : readConfigFile(file), env);
    return { ...cmd.opts() };
  } finally {
    restore();
  }
}
