// Options are declared once, in one table per stage. From a row come its commander option,
// its config-file key and SHADOWTAP_* variable, its typed, bounds-checked value and its line
// in the README's flag tables.

import type { Command } from 'commander';
import { ConfigError } from './error';

interface RowBase {
  /** As commander takes it: '-p, --port <port>', '--promisc', '--no-compare', '--wire-timing [when]'. */
  flag: string;
  /** One line for --help. */
  help: string;
  /** The README's meaning column, when it says more than `help`. */
  readme?: string;
  /** The README's default column, when the value alone does not say it ('none', '(required)'). */
  readmeDefault?: string;
  /** Only on the command line: never from a file or the environment (--config). */
  cliOnly?: boolean;
  /** A credential: from the config file or the environment only, never the command line (where
   * `ps` and shell histories show it); never printed. */
  secret?: boolean;
}

export interface IntRow extends RowBase { type: 'int'; default?: number; min: number; max: number }
export interface NumberRow extends RowBase { type: 'number'; default?: number; min: number; max: number }
/** A string; with `choices`, one of them. */
export interface StringRow extends RowBase { type: 'string'; default?: string; choices?: readonly string[] }
/** A repeatable string: every use adds one. */
export interface ListRow extends RowBase { type: 'list' }
/** A boolean switch: --x (default off), or --no-x (x's value: on unless given). */
export interface SwitchRow extends RowBase { type: 'switch' }

export type RowSpec = IntRow | NumberRow | StringRow | ListRow | SwitchRow;

/** What every row is told apart by, derived from its flag. */
export interface RowNames {
  /** '--max-body-mb' (or '--no-compare'): how errors name it. */
  long: string;
  /** The config-file key: 'max-body-mb', 'compare' for --no-compare. */
  key: string;
  /** The attribute in commander's values (Flags): 'maxBodyMb', 'compare'. */
  attr: string;
  /** The environment variable: SHADOWTAP_MAX_BODY_MB. */
  env: string;
  /** A --no-x form. */
  negated: boolean;
}

export type OptionRow<T extends RowSpec = RowSpec> = T & RowNames;

export const ENV_PREFIX = 'SHADOWTAP_';

/** Raw option values as commander hands them over. */
export type Flags = Record<string, unknown>;

export function rowNames(flag: string): RowNames {
  const long = /(--[a-z0-9-]+)/.exec(flag)?.[1];
  if (long === undefined) throw new Error(`option without a long flag: ${flag}`);
  const key = long.replace(/^--(no-)?/, '');
  return {
    long,
    key,
    attr: key.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase()),
    env: ENV_PREFIX + key.toUpperCase().replace(/-/g, '_'),
    negated: long.startsWith('--no-'),
  };
}

/**
 * A stage's table: each row is named by its commander attribute, so that code reads
 * `readOption(flags, tcpOptions.idleTimeout)`; a --no-x twin beside --x is named noX.
 * A name that is neither throws.
 */
export function optionTable<T extends Record<string, RowSpec>>(rows: T): { [K in keyof T]: OptionRow<T[K]> } {
  const out: Record<string, OptionRow> = {};
  for (const [name, spec] of Object.entries(rows)) {
    const names = rowNames(spec.flag);
    const twin = `no${names.attr[0].toUpperCase()}${names.attr.slice(1)}`;
    if (name !== names.attr && !(names.negated && name === twin)) throw new Error(`option table: ${spec.flag} is listed as ${name}, not ${names.attr}`);
    out[name] = { ...spec, ...names };
  }
  return out as { [K in keyof T]: OptionRow<T[K]> };
}

/** A numeric row's default, for a stage's own defaults (a row without one is a bug). */
export function defaultOf(row: IntRow | NumberRow): number {
  if (row.default === undefined) throw new Error(`option ${row.flag} has no default`);
  return row.default;
}

/** The rows of one or more tables, in order. */
export const rowsOf = (...tables: Array<Record<string, OptionRow>>): OptionRow[] => tables.flatMap((t) => Object.values(t));

const registered = new WeakMap<Command, OptionRow[]>();

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** Adds the rows' options to `cmd` (string defaults, as a flag would give them). */
export function addOptions(cmd: Command, rows: readonly OptionRow[]): Command {
  for (const row of rows) {
    const o = cmd.createOption(row.flag, row.help);
    if (row.type === 'list') o.argParser(collect);
    if ((row.type === 'int' || row.type === 'number' || row.type === 'string') && row.default !== undefined) o.default(String(row.default));
    cmd.addOption(o);
  }
  registered.set(cmd, [...(registered.get(cmd) ?? []), ...rows]);
  return cmd;
}

/** The rows a command's options came from. */
export function commandRows(cmd: Command): readonly OptionRow[] {
  return registered.get(cmd) ?? [];
}

/** "a, b or c" */
const alternatives = (xs: readonly string[]): string => (xs.length === 1 ? xs[0] : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`);

export type OptionValue<R extends RowSpec> =
  R extends IntRow | NumberRow ? number :
  R extends StringRow ? (R extends { default: string } ? string : string | undefined) :
  R extends ListRow ? string[] : boolean;

/**
 * The row's value from `flags`, converted and checked; its default when absent. A bad value
 * throws a ConfigError naming the flag.
 */
export function readOption<R extends RowSpec>(flags: Flags, row: OptionRow<R>): OptionValue<R> {
  const v = flags[row.attr];
  const r = row as OptionRow;
  switch (r.type) {
    case 'int':
    case 'number': {
      if (v === undefined && r.default !== undefined) return r.default as OptionValue<R>;
      const n = typeof v === 'number' ? v : Number(v);
      if (!(n >= r.min && n <= r.max) || (r.type === 'int' && !Number.isInteger(n))) {
        throw new ConfigError(r.long, `expected ${r.type === 'int' ? 'an integer' : 'a number'} from ${r.min} to ${r.max}, got ${JSON.stringify(v)}`);
      }
      return n as OptionValue<R>;
    }
    case 'string': {
      if (v === undefined) return r.default as OptionValue<R>;
      const s = String(v);
      if (r.choices !== undefined && !r.choices.includes(s)) throw new ConfigError(r.long, `expected ${alternatives(r.choices)}, got ${JSON.stringify(v)}`);
      return s as OptionValue<R>;
    }
    case 'list':
      return (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]) as OptionValue<R>;
    case 'switch':
      return (r.negated ? v !== false : v === true) as OptionValue<R>;
  }
}

/** Every command takes --config; check-config also the command the file is for. */
export const configFileOptions = optionTable({
  config: { flag: '--config <file>', type: 'string', cliOnly: true, help: 'read option values from this YAML/JSON file (flags and SHADOWTAP_* variables win)' },
});

export const checkedCommands = ['run', 'read', 'record', 'replay', 'worker'] as const;

export const checkConfigOptions = optionTable({
  command: { flag: '--command <name>', type: 'string', default: 'run', choices: checkedCommands, cliOnly: true,
    help: `the command the file configures: ${checkedCommands.join(', ')}` },
  strict: { flag: '--strict', type: 'switch', cliOnly: true,
    help: 'also run the preflight of a start: the interface opens, the shadows resolve (none is production), the outputs can be written' },
});
