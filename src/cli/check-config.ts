// `shadowtap check-config --config FILE`: every problem in a configuration, each named by the
// key that caused it, without starting anything; --strict: also what a start's preflight finds.

import type { Command } from 'commander';
import { ConfigError, EnvironmentError, Flags } from '../config';
import { ConfigErrors, ConfigProblem, applyConfigSources, configKey, readConfigFile } from '../config/file';

export interface CheckedCommand {
  cmd: Command;
  /** Builds the command's configuration from flags, throwing ConfigError. */
  build: (flags: Flags) => unknown;
  /** A minimal valid set of flags, so that each key can be checked on its own. */
  minimal: Flags;
}

function problemOf(e: ConfigError | EnvironmentError): ConfigProblem {
  return { key: configKey(e.key), message: e.message.slice(e.key.length + 2) };
}

/**
 * Structural problems (unknown keys, wrong types) come all at once from the loader. Values are
 * then checked key by key against a minimal valid configuration, and finally all together
 * (for what only shows in combination: a missing required key, two keys in conflict).
 */
export function configProblems(c: CheckedCommand, file: string, env: NodeJS.ProcessEnv): ConfigProblem[] {
  let doc: Record<string, unknown>;
  try {
    doc = readConfigFile(file);
  } catch (e) {
    return [problemOf(e as ConfigError)];
  }
  const defaults: Flags = { ...c.cmd.opts() };
  const problems: ConfigProblem[] = [];
  const bad = new Set<string>();
  try {
    applyConfigSources(c.cmd, doc, env);
  } catch (e) {
    if (!(e instanceof ConfigErrors)) throw e;
    problems.push(...e.problems);
    for (const p of e.problems) bad.add(p.key);
    applyConfigSources(c.cmd, Object.fromEntries(Object.entries(doc).filter(([k]) => !bad.has(k))), {});
  }
  const full: Flags = { ...c.cmd.opts() };
  const changed = Object.keys(full).filter((a) => full[a] !== defaults[a]);
  const attempt = (flags: Flags): ConfigError | null => {
    try {
      c.build(flags);
      return null;
    } catch (e) {
      if (e instanceof ConfigError) return e;
      throw e;
    }
  };
  const failed = new Set<string>();
  // The minimal set with the file's own values where it has them (its shadow, say).
  const ownMinimal: Flags = { ...c.minimal };
  for (const attr of Object.keys(c.minimal)) if (changed.includes(attr)) ownMinimal[attr] = full[attr];
  for (const attr of changed) {
    const option = c.cmd.options.find((o) => o.attributeName() === attr); // a --no-x twin has the same key
    const blames = (e: ConfigError | null): e is ConfigError => e !== null && problemOf(e).key === configKey(option?.long ?? '');
    const e = attempt({ ...defaults, ...c.minimal, [attr]: full[attr] });
    // An error naming another key is a clash with the minimal set (file: beside interface:), and
    // one that goes away beside the file's own values a clash with a minimal value (a baseline
    // equal to the minimal shadow): not this key's fault; the check of everything together decides.
    if (!blames(e) || !blames(attempt({ ...defaults, ...ownMinimal, [attr]: full[attr] }))) continue;
    failed.add(attr);
    problems.push(problemOf(e));
  }
  // Together: a missing key is reported, then filled from the minimal set to look further.
  const together: Flags = { ...full };
  for (const attr of failed) together[attr] = defaults[attr];
  for (let i = 0; i < 20; i++) {
    const e = attempt(together);
    if (e === null) break;
    const p = problemOf(e);
    if (!problems.some((q) => q.key === p.key)) problems.push(p);
    const option = c.cmd.options.find((o) => o.long === e.key);
    const attr = option?.attributeName();
    if (attr === undefined || !(attr in c.minimal) || together[attr] === c.minimal[attr]) break;
    together[attr] = c.minimal[attr];
  }
  return problems;
}

/** Prints the problems (with --strict, the preflight's too, once the file itself is sound);
 * 0 when there are none, else 1. */
export async function checkConfig(c: CheckedCommand, file: string, env: NodeJS.ProcessEnv, strict: boolean): Promise<number> {
  const problems = configProblems(c, file, env);
  if (strict && problems.length === 0) {
    const { preflightOnly } = await import('./preflight');
    try {
      await preflightOnly(c.build({ ...c.cmd.opts() }) as Parameters<typeof preflightOnly>[0]);
    } catch (e) {
      if (!(e instanceof ConfigError || e instanceof EnvironmentError)) throw e;
      problems.push(problemOf(e));
    }
  }
  for (const p of problems) process.stdout.write(`${p.key}: ${p.message}\n`);
  process.stdout.write(problems.length === 0 ? `${file}: ok\n` : `${file}: ${problems.length} problem(s)\n`);
  return problems.length === 0 ? 0 : 1;
}
