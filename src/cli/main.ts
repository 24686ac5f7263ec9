#!/usr/bin/env node
// The shadowtap command line.

import { Command, Option } from 'commander';
import { ConfigError, Flags, readConfig, runConfig } from '../config';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function sourceOptions(cmd: Command, live: boolean): Command {
  if (live) cmd.option('-i, --interface <name>', 'capture live from this interface (e.g. eth0, lo, any)');
  return cmd
    .option('-f, --file <path>', 'read packets from a pcap or pcapng file instead')
    .option('-p, --port <port>', 'production server port to capture (repeatable, or comma-separated)', collect)
    .option('--filter <bpf>', 'raw BPF capture filter (combined with --port by "and" when both are given)')
    .option('--summary-json <path>', 'write the final accounting summary as JSON here')
    .option('--idle-timeout <seconds>', 'expire connections idle this long (capture time)', '60')
    .option('--max-connections <n>', 'connections tracked at once; the oldest is evicted beyond', '100000')
    .option('--max-buffer-mb <n>', 'out-of-order bytes held per connection direction', '4')
    .option('--max-total-buffer-mb <n>', 'out-of-order bytes held over all connections', '256')
    .option('--max-body-mb <n>', 'request body kept for replay; longer bodies are not replayed', '16');
}

async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('shadowtap')
    .description('Passive shadow traffic: capture production HTTP/1.x with libpcap and mirror it to a shadow.')
    .showHelpAfterError();

  let result: Promise<number> = Promise.resolve(0);

  sourceOptions(program.command('run'), true)
    .description('capture production traffic and replay every request to the shadow target(s)')
    .option('-s, --shadow <url>', 'shadow origin, e.g. http://10.0.0.5:8080 (repeatable: every request goes to each)', collect)
    .option('--keep-host', 'send the captured Host header instead of the shadow\'s host:port')
    .option('--marker <header>', 'header added to replayed requests, "name: value"', 'x-shadowtap: 1')
    .option('--no-marker', 'add no marker header')
    .option('--concurrency <n>', 'requests in flight per shadow', '64')
    .option('--queue-size <n>', 'requests waiting per shadow; beyond it they are dropped and counted', '10000')
    .option('--queue-mb <n>', 'request body bytes waiting per shadow', '256')
    .option('--timeout-ms <ms>', 'per-request shadow timeout', '10000')
    .option('--drain-timeout-ms <ms>', 'at exit, how long to wait for queued requests', '5000')
    .option('--snaplen <bytes>', 'capture snapshot length', '262144')
    .option('--buffer-mb <n>', 'kernel capture buffer', '64')
    .option('--pcap-timeout-ms <ms>', 'capture delivery timeout (latency bound)', '10')
    .addOption(new Option('--promisc', 'put the interface in promiscuous mode'))
    .option('--stats-interval <seconds>', 'log the counters this often (0: never)', '10')
    .option('--log-level <level>', 'pino log level', 'info')
    .action((opts: Flags) => {
      const cfg = runConfig(opts);
      result = import('./run').then((m) => m.run(cfg)); // undici and pino only load when needed
    });

  sourceOptions(program.command('read'), false)
    .description('print one JSON line per HTTP exchange in a capture file')
    .action((opts: Flags) => {
      if (opts.file === undefined) throw new ConfigError('--file', 'required');
      const cfg = readConfig(opts);
      result = import('./read').then((m) => m.read(cfg));
    });

  program.command('devices')
    .description('list the interfaces libpcap can capture on, with their addresses')
    .option('--json', 'print them as one JSON array')
    .action((opts: Flags) => {
      result = import('./devices').then((m) => m.devices(opts.json === true));
    });

  await program.parseAsync(argv);
  return result;
}

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err: Error) => {
    process.stderr.write(`shadowtap: ${err instanceof ConfigError ? err.message : err.stack ?? err.message}\n`);
    process.exitCode = err instanceof ConfigError ? 2 : 1;
  },
);
