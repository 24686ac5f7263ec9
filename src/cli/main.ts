#!/usr/bin/env node
// The shadowtap command line.

import { Command, Option } from 'commander';
import { applyConfigSources, readConfigFile, rereadConfigSources } from '../config/file';
import { ConfigError, Flags, RunConfig, readConfig, recordConfig, replayFileConfig, runConfig, thresholdsConfig } from '../config';

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

/** Live capture tuning (run, record). */
function captureOptions(cmd: Command): Command {
  return cmd
    .option('--snaplen <bytes>', 'capture snapshot length', '262144')
    .option('--buffer-mb <n>', 'kernel capture buffer', '64')
    .option('--pcap-timeout-ms <ms>', 'capture delivery timeout (latency bound)', '10')
    .addOption(new Option('--promisc', 'put the interface in promiscuous mode'));
}

/** The shadows and how requests reach them (run, replay). */
function replayOptions(cmd: Command): Command {
  return cmd
    .option('-s, --shadow <url>', 'shadow origin, e.g. http://10.0.0.5:8080 (repeatable: every request goes to each)', collect)
    .option('--keep-host', 'send the captured Host header instead of the shadow\'s host:port')
    .option('--marker <header>', 'header added to replayed requests, "name: value"', 'x-shadowtap: 1')
    .option('--no-marker', 'add no marker header')
    .option('--concurrency <n>', 'requests in flight per shadow', '64')
    .option('--queue-size <n>', 'requests waiting per shadow; beyond it they are dropped and counted (run) or wait (replay)', '10000')
    .option('--queue-mb <n>', 'request body bytes waiting per shadow', '256')
    .option('--timeout-ms <ms>', 'per-request shadow timeout', '10000')
    .option('--rate <n>', 'requests per second at most towards each shadow (beyond: dropped and counted live, delayed from a file)')
    .option('--preserve-connections', 'requests from one captured client connection go to each shadow in their original order over one dedicated connection')
    .option('--drain-timeout-ms <ms>', 'at exit, how long to wait for queued requests', '5000');
}

function trafficOptions(cmd: Command): Command {
  return cmd
    .option('--allow-writes', 'replay every method (by default only GET, HEAD and OPTIONS reach the shadow)')
    .option('--methods <list>', 'replay only these methods, e.g. GET,HEAD,POST (instead of --allow-writes)')
    .option('--rule <rule>', 'allow|deny with conditions method:LIST path:REGEX host:REGEX header:NAME[=REGEX]; first match decides (repeatable, in order)', collect)
    .option('--default-action <action>', 'allow or deny requests no rule matches', 'allow')
    .option('--sample <percent>', 'mirror this share of requests', '100')
    .option('--sample-by <key>', 'sample consistently by header:NAME, cookie:NAME or query:NAME (a session is mirrored whole or not at all)')
    .option('--set-header <header>', 'set this header on replayed requests, "name: value" (repeatable)', collect)
    .option('--remove-header <name>', 'remove this header from replayed requests (repeatable)', collect)
    .option('--rename-header <old:new>', 'rename a header on replayed requests (repeatable)', collect)
    .option('--rewrite-path <regex=>replacement>', 'rewrite the request target (repeatable, applied in order)', collect)
    .option('--map-header <name=file>', 'replace this header\'s production values by the shadow values in file (lines "prod shadow")', collect)
    .option('--forward-client', 'append the captured client address to X-Forwarded-For');
}

function redactOptions(cmd: Command): Command {
  return cmd
    .option('--redact-header <name>', 'also mask this header in logs, samples, reports and recordings (repeatable)', collect)
    .option('--redact-query <name>', 'also mask this query parameter (repeatable)', collect)
    .option('--redact-field <path>', 'also mask this JSON body field, e.g. $.user.ssn (repeatable)', collect)
    .option('--redact-key-file <file>', 'mask as a keyed hash with this key (equal values stay equal) instead of [redacted]');
}

function thresholdOptions(cmd: Command): Command {
  return cmd
    .option('--min-diffs <n>', 'differing exchanges a field needs before it can be flagged', '5')
    .option('--min-excess <percent>', 'flag a field when its difference rate (95% lower bound) exceeds its noise rate (95% upper bound) by more than this', '1')
    .option('--min-relative-excess <percent>', '… and by at least this share of its own difference rate', '20')
    .option('--latency-reference <side>', 'judge shadow latency against the baseline (default; needs run --baseline) or production (timed from the capture, a different instrument)', 'baseline')
    .option('--min-noise-samples <n>', 'noise comparisons an endpoint needs to use its own noise rates (else pooled over endpoints)', '20')
    .option('--min-requests <n>', 'compared exchanges an endpoint needs to be judged', '20')
    .option('--max-mismatch <percent>', 'largest share of an endpoint\'s exchanges that may differ at flagged fields', '1')
    .option('--max-error-increase <points>', 'largest rise in error rate (5xx, timeouts, connection errors), in percentage points', '1')
    .option('--min-latency-samples <n>', 'latencies each side needs on an endpoint before its latency is judged', '100')
    .option('--latency-confidence <percent>', 'two-sided confidence of the p50/p90/p99 bounds', '95')
    .option('--max-latency-ratio <x>', 'fail when, at p50, p90 or p99, the shadow\'s lower bound is over this many times the reference\'s upper bound', '1.5')
    .option('--min-latency-delta-ms <ms>', '… and over it by more than this many ms', '10');
}

async function main(argv: string[]): Promise<number> {
  const program = new Command();
  program
    .name('shadowtap')
    .description('Passive shadow traffic: capture production HTTP/1.x with libpcap and mirror it to a shadow.')
    .showHelpAfterError();

  let result: Promise<number> = Promise.resolve(0);

  redactOptions(trafficOptions(captureOptions(replayOptions(sourceOptions(program.command('run'), true)))))
    .description('capture production traffic and replay every request to the shadow target(s)')
    .option('--stats-interval <seconds>', 'log the counters this often (0: never)', '10')
    .option('--log-level <level>', 'pino log level', 'info')
    .option('-o, --out <dir>', 'keep the comparison here: results.json (updated as the run goes) and samples.jsonl')
    .option('--baseline <url>', 'a second production instance: also replayed to, compared with production to learn noise')
    .option('--no-compare', 'mirror only: keep no response bodies and compare nothing')
    .option('--compare-body-kb <n>', 'response body bytes kept per side for comparison; longer bodies compare status and headers only', '1024')
    .option('--ignore-field <path>', 'never compare this field: $.a.b, $.items[*].ts, header.<name>, status, body (repeatable)', collect)
    .option('--ignore-header <name>', 'never compare this header (added to the defaults; repeatable)', collect)
    .option('--unordered-array <path>', 'compare the array at this path as a multiset (repeatable)', collect)
    .option('--tolerance <path=n>', 'numbers at this path (or * for all) equal within n (repeatable)', collect)
    .option('--route <pattern>', 'endpoint pattern overriding the learned template, "[METHOD] /users/:id" (repeatable)', collect)
    .option('--max-endpoints <n>', 'distinct endpoints tracked; the rest are grouped as {other}', '1000')
    .option('--wire-timing [when]', 'capture the replays to each shadow too and time them from the capture, like production: auto (whenever every target is an IP address routed over the captured interface), on, off', 'auto')
    .option('--no-wire-timing', 'time the shadows as their client only (latency then judged against a --baseline)')
    .option('--latency-warmup <n>', 'the first n exchanges are compared but not timed (cold start)', '200')
    .option('--compare-cpu <percent>', 'share of one core the comparison may use; beyond it exchanges are counted as busy', '50')
    .option('--admin <host:port>', 'serve /metrics (Prometheus), /healthz and /readyz here ([::1]:9464 for IPv6; off: nowhere)', '127.0.0.1:9464')
    .action((opts: Flags, cmd: Command) => {
      const cfg = runConfig(opts);
      const reload = (): RunConfig => runConfig(rereadConfigSources(cmd, process.env, (o) => o.parseArg === collect));
      result = import('./run').then((m) => m.run(cfg, undefined, reload)); // undici and pino only load when needed
    });

  sourceOptions(program.command('read'), false)
    .description('print one JSON line per HTTP exchange in a capture file')
    .action((opts: Flags) => {
      if (opts.file === undefined) throw new ConfigError('--file', 'required');
      const cfg = readConfig(opts);
      result = import('./read').then((m) => m.read(cfg));
    });

  redactOptions(captureOptions(sourceOptions(program.command('record'), true)))
    .description('capture production exchanges (requests and production\'s response summary) to a recording file')
    .option('--output <path>', 'the recording file (JSON lines; rotated parts are PATH.1, PATH.2, …)')
    .option('--no-redact', 'record requests byte for byte, secrets included (the file is then yours to protect)')
    .option('--max-file-mb <n>', 'start the next part when the current file would exceed this', '256')
    .option('--max-files <n>', 'parts kept; the oldest is deleted beyond', '10')
    .option('--stats-interval <seconds>', 'log the counters this often (0: never)', '10')
    .option('--log-level <level>', 'pino log level', 'info')
    .action((opts: Flags) => {
      const cfg = recordConfig(opts);
      result = import('./record').then((m) => m.record(cfg));
    });

  trafficOptions(replayOptions(sourceOptions(program.command('replay'), false)))
    .description('replay a recording (or a pcap/pcapng file) to the shadow(s) at the recorded pace')
    .option('--speed <x>', 'pacing factor: 2 is twice as fast as recorded; 0 as fast as the shadows take it', '1')
    .option('--loop <n>', 'passes over the file; each starts once the previous one\'s last request was sent', '1')
    .option('--stats-interval <seconds>', 'log the counters this often (0: never)', '10')
    .option('--log-level <level>', 'pino log level', 'info')
    .action((opts: Flags) => {
      const cfg = replayFileConfig(opts);
      result = import('./replay-file').then((m) => m.replayFile(cfg));
    });

  thresholdOptions(program.command('report'))
    .description('summarise a run\'s comparison (the DIR given to run --out): terminal table, HTML or JSON')
    .argument('<dir>', 'the run\'s --out directory')
    .option('--html <file>', 'also write a self-contained HTML report here')
    .option('--json', 'print the analysis as one JSON object instead of the table')
    .action((dir: string, opts: Flags) => {
      const thresholds = thresholdsConfig(opts);
      result = import('./report').then((m) => m.report(dir, thresholds, { html: opts.html as string | undefined, json: opts.json === true }));
    });

  thresholdOptions(program.command('verdict'))
    .description('exit 0 when the shadow is fit to promote, 1 when not (with the reasons)')
    .argument('<dir>', 'the run\'s --out directory')
    .option('--json', 'print the verdict as JSON')
    .action((dir: string, opts: Flags) => {
      const thresholds = thresholdsConfig(opts);
      result = import('./report').then((m) => m.verdict(dir, thresholds, opts.json === true));
    });

  const shadow = ['http://127.0.0.1:8080'];
  const builders: Record<string, { build: (flags: Flags) => unknown; minimal: Flags }> = {
    run: { build: runConfig, minimal: { interface: 'lo', port: ['8080'], shadow } },
    read: { build: readConfig, minimal: { file: 'capture.pcap' } },
    record: { build: recordConfig, minimal: { interface: 'lo', port: ['8080'], output: 'recording' } },
    replay: { build: replayFileConfig, minimal: { file: 'recording', shadow } },
  };
  program.command('check-config')
    .description('check a configuration file: print every problem with the key that caused it; exit 1 if any')
    .option('--command <name>', `the command the file configures: ${Object.keys(builders).join(', ')}`, 'run')
    .action((opts: Flags) => {
      const name = String(opts.command);
      const target = program.commands.find((c) => c.name() === name);
      const checked = builders[name];
      if (target === undefined || checked === undefined) throw new ConfigError('--command', `one of ${Object.keys(builders).join(', ')}, got ${name}`);
      if (opts.config === undefined) throw new ConfigError('--config', 'required');
      result = import('./check-config').then((m) => {
        const problems = m.configProblems({ cmd: target, ...checked }, String(opts.config), process.env, (o) => o.parseArg === collect);
        for (const p of problems) process.stdout.write(`${p.key}: ${p.message}\n`);
        process.stdout.write(problems.length === 0 ? `${opts.config}: ok\n` : `${opts.config}: ${problems.length} problem(s)\n`);
        return problems.length === 0 ? 0 : 1;
      });
    });

  program.command('devices')
    .description('list the interfaces libpcap can capture on, with their addresses')
    .option('--json', 'print them as one JSON array')
    .action((opts: Flags) => {
      result = import('./devices').then((m) => m.devices(opts.json === true));
    });

  // Every command takes --config FILE; values come from flags, then SHADOWTAP_* variables,
  // then the file, then the defaults.
  for (const cmd of program.commands) cmd.option('--config <file>', 'read option values from this YAML/JSON file (flags and SHADOWTAP_* variables win)');
  for (const cmd of program.commands) {
    if (['run', 'record', 'replay'].includes(cmd.name())) {
      cmd.option('--log-to <url>', 'also ship every log line to this collector: syslog+tcp://HOST:PORT (RFC 5424, octet-counted); never blocks: queued, beyond --log-queue dropped and counted');
      cmd.option('--log-queue <lines>', 'log lines queued for --log-to at most (also at most 4 MB); beyond, dropped and counted', '10000');
    }
  }
  program.hook('preAction', (_program, cmd) => {
    if (cmd.name() === 'check-config') return; // it reads the file itself, for another command
    const file = cmd.opts().config as string | undefined;
    applyConfigSources(cmd, file === undefined ? null : readConfigFile(file), process.env, (o) => o.parseArg === collect);
  });

  await program.parseAsync(argv);
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
