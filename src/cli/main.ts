#!/usr/bin/env node
// The shadowtap command line.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { findRepoRoot } from '../capture/native';
import { ConfigError, EXIT, EnvironmentError, Flags, RunConfig, readConfig, recordConfig, replayFileConfig, runConfig, thresholdsConfig } from '../config';
import { PROGRAM_DESCRIPTION, commandHelp, commandOptions } from '../config/commands';
import { applyConfigSources, readConfigFile, rereadConfigSources } from '../config/file';
import { addOptions, checkConfigOptions, checkedCommands, readOption } from '../config/options';
import { agentConfig, workerConfig } from '../fleet/config';

function packageVersion(): string {
  return (JSON.parse(readFileSync(join(findRepoRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

const preflight = (targets: string[], baseline: string | null, capture: RunConfig['source'] | null): Promise<void> =>
  import('./preflight').then((p) => p.checkTargets(p.targetRefs(targets, baseline), capture));

/** --log-level debug: failures print their stack trace too. */
let debug = false;

async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('shadowtap')
    .description(PROGRAM_DESCRIPTION)
    .version(packageVersion(), '-V, --version', 'print the version')
    // A mistyped option: its one-line error and a hint, not the whole help; exit 2 (usage).
    .showHelpAfterError('(add --help for the options)')
    .exitOverride();

  let result: Promise<number> = Promise.resolve(0);

  addOptions(program.command('run'), commandOptions.run)
    .description(commandHelp.run.description)
    .action((opts: Flags, cmd: Command) => {
      // --publish: the fleet agent (capture, select, publish; workers replay).
      if (opts.publish !== undefined) {
        const agent = agentConfig(opts);
        result = import('./publish').then((m) => m.publishRun(agent));
        return;
      }
      const cfg = runConfig(opts);
      const reload = (): RunConfig => runConfig(rereadConfigSources(cmd, process.env));
      // the replayer and pino only load when needed
      result = preflight(cfg.replay.targets, cfg.baseline, cfg.source).then(() => import('./run')).then((m) => m.run(cfg, undefined, reload));
    });

  addOptions(program.command('read'), commandOptions.read)
    .description(commandHelp.read.description)
    .action((opts: Flags) => {
      if (opts.file === undefined) throw new ConfigError('--file', 'required');
      const cfg = readConfig(opts);
      result = import('./read').then((m) => m.read(cfg));
    });

  addOptions(program.command('record'), commandOptions.record)
    .description(commandHelp.record.description)
    .action((opts: Flags) => {
      const cfg = recordConfig(opts);
      result = import('./record').then((m) => m.record(cfg));
    });

  addOptions(program.command('replay'), commandOptions.replay)
    .description(commandHelp.replay.description)
    .argument('[file]', 'the recording (a part, or a directory of parts) or capture file; the same as --file')
    .action((file: string | undefined, opts: Flags) => {
      const cfg = replayFileConfig(file === undefined ? opts : { ...opts, file });
      result = preflight(cfg.replay.targets, cfg.baseline, null).then(() => import('./replay')).then((m) => m.replayFile(cfg));
    });

  addOptions(program.command('worker'), commandOptions.worker)
    .description(commandHelp.worker.description)
    .action((opts: Flags) => {
      const cfg = workerConfig(opts);
      result = preflight(cfg.replay.targets, cfg.baseline, null).then(() => import('./worker')).then((m) => m.worker(cfg));
    });

  addOptions(program.command('report'), commandOptions.report)
    .description(commandHelp.report.description)
    .argument('<dir...>', 'the run\'s --out directory; several are merged into one report (fleet workers, a run in parts)')
    .action((dirs: string[], opts: Flags) => {
      const thresholds = thresholdsConfig(opts);
      result = import('./report').then((m) => m.report(dirs, thresholds, { html: opts.html as string | undefined, json: opts.json === true }));
    });

  addOptions(program.command('verdict'), commandOptions.verdict)
    .description(commandHelp.verdict.description)
    .argument('<dir...>', 'the run\'s --out directory; several are judged as one (merged)')
    .action((dirs: string[], opts: Flags) => {
      const thresholds = thresholdsConfig(opts);
      result = import('./report').then((m) => m.verdict(dirs, thresholds, opts.json === true));
    });

  const shadow = ['http://127.0.0.1:8080'];
  const builders: Record<typeof checkedCommands[number], { build: (flags: Flags) => unknown; minimal: Flags }> = {
    // --publish makes run a fleet agent: checked as one.
    run: { build: (flags) => (flags.publish !== undefined ? agentConfig(flags) : runConfig(flags)), minimal: { interface: 'lo', port: ['8080'], shadow } },
    read: { build: readConfig, minimal: { file: 'capture.pcap' } },
    record: { build: recordConfig, minimal: { interface: 'lo', port: ['8080'], output: 'recording' } },
    replay: { build: replayFileConfig, minimal: { file: 'recording', shadow } },
    worker: { build: workerConfig, minimal: { from: 'nats://127.0.0.1:4222', shadow, out: 'results' } },
  };
  addOptions(program.command('check-config'), commandOptions['check-config'])
    .description(commandHelp['check-config'].description)
    .action((opts: Flags) => {
      const name = readOption(opts, checkConfigOptions.command) as typeof checkedCommands[number];
      const target = program.commands.find((c) => c.name() === name)!;
      const checked = builders[name];
      if (opts.config === undefined) throw new ConfigError('--config', 'required');
      result = import('./check-config').then((m) => m.checkConfig({ cmd: target, ...checked }, String(opts.config), process.env, opts.strict === true));
    });

  addOptions(program.command('devices'), commandOptions.devices)
    .description(commandHelp.devices.description)
    .action((opts: Flags) => {
      result = import('./devices').then((m) => m.devices(opts.json === true));
    });

  // Values come from flags, then SHADOWTAP_* variables, then the --config file, then the defaults.
  program.hook('preAction', (_program, cmd) => {
    if (cmd.name() === 'check-config') return; // it reads the file itself, for another command
    const file = cmd.opts().config as string | undefined;
    applyConfigSources(cmd, file === undefined ? null : readConfigFile(file), process.env);
    debug = cmd.opts().logLevel === 'debug';
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

/** One line naming what failed; the stack trace only at --log-level debug. */
function failed(err: Error): number {
  const status = err instanceof ConfigError ? EXIT.config : err instanceof EnvironmentError ? EXIT.environment : EXIT.runtime;
  process.stderr.write(`shadowtap: ${debug ? err.stack ?? err.message : err.message}\n`);
  return status;
}

main(process.argv).then((code) => { process.exitCode = code; }, (err: Error) => { process.exitCode = failed(err); });
