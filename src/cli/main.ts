#!/usr/bin/env node
// The shadowtap command line.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { findRepoRoot } from '../capture/native';
import { ConfigError, Flags, RunConfig, readConfig, recordConfig, replayFileConfig, runConfig, thresholdsConfig } from '../config';
import { commandOptions } from '../config/commands';
import { applyConfigSources, readConfigFile, rereadConfigSources } from '../config/file';
import { addOptions, checkConfigOptions, checkedCommands, readOption } from '../config/options';

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(findRepoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('shadowtap')
    .description('Passive shadow traffic: capture production HTTP/1.x with libpcap and mirror it to a shadow.')
    .version(packageVersion(), '-V, --version', 'print the version')
    // A mistyped option: its one-line error and a hint, not the whole help; exit 2 (usage).
    .showHelpAfterError('(add --help for the options)')
    .exitOverride();

  let result: Promise<number> = Promise.resolve(0);

  addOptions(program.command('run'), commandOptions.run)
    .description('capture production traffic and replay every request to the shadow target(s)')
    .action((opts: Flags, cmd: Command) => {
      const cfg = runConfig(opts);
      const reload = (): RunConfig => runConfig(rereadConfigSources(cmd, process.env));
      result = import('./run').then((m) => m.run(cfg, undefined, reload)); // the replayer and pino only load when needed
    });

  addOptions(program.command('read'), commandOptions.read)
    .description('print one JSON line per HTTP exchange in a capture file')
    .action((opts: Flags) => {
      if (opts.file === undefined) throw new ConfigError('--file', 'required');
      const cfg = readConfig(opts);
      result = import('./read').then((m) => m.read(cfg));
    });

  addOptions(program.command('record'), commandOptions.record)
    .description('capture production exchanges (requests and production\'s response summary) to a recording file')
    .action((opts: Flags) => {
      const cfg = recordConfig(opts);
      result = import('./record').then((m) => m.record(cfg));
    });

  addOptions(program.command('replay'), commandOptions.replay)
    .description('replay a recording (or a pcap/pcapng file) to the shadow(s) at the recorded pace')
    .action((opts: Flags) => {
      const cfg = replayFileConfig(opts);
      result = import('./replay').then((m) => m.replayFile(cfg));
    });

  addOptions(program.command('report'), commandOptions.report)
    .description('summarise a run\'s comparison (the DIR given to run --out): terminal table, HTML or JSON')
    .argument('<dir>', 'the run\'s --out directory')
    .action((dir: string, opts: Flags) => {
      const thresholds = thresholdsConfig(opts);
      result = import('./report').then((m) => m.report(dir, thresholds, { html: opts.html as string | undefined, json: opts.json === true }));
    });

  addOptions(program.command('verdict'), commandOptions.verdict)
    .description('exit 0 when the shadow is fit to promote, 1 when not (with the reasons)')
    .argument('<dir>', 'the run\'s --out directory')
    .action((dir: string, opts: Flags) => {
      const thresholds = thresholdsConfig(opts);
      result = import('./report').then((m) => m.verdict(dir, thresholds, opts.json === true));
    });

  const shadow = ['http://127.0.0.1:8080'];
  const builders: Record<typeof checkedCommands[number], { build: (flags: Flags) => unknown; minimal: Flags }> = {
    run: { build: runConfig, minimal: { interface: 'lo', port: ['8080'], shadow } },
    read: { build: readConfig, minimal: { file: 'capture.pcap' } },
    record: { build: recordConfig, minimal: { interface: 'lo', port: ['8080'], output: 'recording' } },
    replay: { build: replayFileConfig, minimal: { file: 'recording', shadow } },
  };
  addOptions(program.command('check-config'), commandOptions['check-config'])
    .description('check a configuration file: print every problem with the key that caused it; exit 1 if any')
    .action((opts: Flags) => {
      const name = readOption(opts, checkConfigOptions.command) as typeof checkedCommands[number];
      const target = program.commands.find((c) => c.name() === name)!;
      const checked = builders[name];
      if (opts.config === undefined) throw new ConfigError('--config', 'required');
      result = import('./check-config').then((m) => {
        const problems = m.configProblems({ cmd: target, ...checked }, String(opts.config), process.env);
        for (const p of problems) process.stdout.write(`${p.key}: ${p.message}\n`);
        process.stdout.write(problems.length === 0 ? `${opts.config}: ok\n` : `${opts.config}: ${problems.length} problem(s)\n`);
        return problems.length === 0 ? 0 : 1;
      });
    });

  addOptions(program.command('devices'), commandOptions.devices)
    .description('list the interfaces libpcap can capture on, with their addresses')
    .action((opts: Flags) => {
      result = import('./devices').then((m) => m.devices(opts.json === true));
    });

  // Values come from flags, then SHADOWTAP_* variables, then the --config file, then the defaults.
  program.hook('preAction', (_program, cmd) => {
    if (cmd.name() === 'check-config') return; // it reads the file itself, for another command
    const file = cmd.opts().config as string | undefined;
    applyConfigSources(cmd, file === undefined ? null : readConfigFile(file), process.env);
  });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    // commander has printed its message (or the help, or the version) already.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    throw err;
  }
  try {
    return await result;
  } finally {
    // Lines still queued for --log-to get a moment to reach the collector (no pino loaded here).
    await import('../report/logship').then((m) => m.closeLogShippers(2000));
  }
}

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err: Error) => {
    process.stderr.write(`shadowtap: ${err instanceof ConfigError ? err.message : err.stack ?? err.message}\n`);
    process.exitCode = err instanceof ConfigError ? 2 : 1;
  },
);
