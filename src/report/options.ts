// Report's flags: the summary, logs and admin endpoint of a running command, and the
// thresholds and outputs of `report` and `verdict`.

import { optionTable, rowsOf } from '../config/options';

export const summaryOptions = optionTable({
  summaryJson: { flag: '--summary-json <path>', type: 'string', help: 'write the final accounting summary as JSON here',
    readme: 'write the final accounting summary here at exit' },
});

export const logOptions = optionTable({
  statsInterval: { flag: '--stats-interval <seconds>', type: 'int', default: 10, min: 0, max: 86400, help: 'log the counters this often (0: never)',
    readme: 'log the counters as a pino JSON line this often (0: never)' },
  logLevel: { flag: '--log-level <level>', type: 'string', default: 'info', choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], help: 'pino log level' },
});

/** A long-running command's own end, as a first SIGTERM would end it (drain, summary, exit 0). */
export const stopOptions = optionTable({
  duration: { flag: '--duration <seconds>', type: 'number', min: 0.001, max: 1e9, readmeDefault: 'none',
    help: 'stop after this many seconds, as SIGTERM does: drain, summary, exit 0' },
  maxRequests: { flag: '--max-requests <n>', type: 'int', min: 1, max: 1e15, readmeDefault: 'none',
    help: 'stop once this many requests have been captured, as SIGTERM does (the batch holding the last one is finished: a few more may be counted)' },
});

export const logShipOptions = optionTable({
  logTo: { flag: '--log-to <url>', type: 'string',
    help: 'also ship every log line to this collector: syslog+tcp://HOST:PORT (RFC 5424, octet-counted); never blocks: queued, beyond --log-queue dropped and counted',
    readme: 'also ship every log line to a collector: `syslog+tcp://HOST:PORT` (see [Logs](#logs-stdout-and-a-collector)); never blocks' },
  logQueue: { flag: '--log-queue <lines>', type: 'int', default: 10_000, min: 1, max: 10_000_000,
    help: 'log lines queued for --log-to at most (also at most 4 MB); beyond, dropped and counted',
    readme: 'log lines waiting for `--log-to` at most (and 4 MB); beyond, dropped and counted' },
});

export const adminOptions = optionTable({
  admin: { flag: '--admin <host:port>', type: 'string', default: '127.0.0.1:9464',
    help: 'serve /metrics (Prometheus), /healthz and /readyz here ([::1]:9464 for IPv6; off: nowhere)',
    readme: 'serve `/metrics` (Prometheus), `/healthz` and `/readyz` here (`[::1]:9464` for IPv6, port 0 for any free port; `off`: nowhere); see [Observability](#observability-metrics-health-readiness)' },
});

/** Rates are given in percent. */
export const thresholdOptions = optionTable({
  minDiffs: { flag: '--min-diffs <n>', type: 'int', default: 5, min: 1, max: 1e9, help: 'differing exchanges a field needs before it can be flagged' },
  minExcess: { flag: '--min-excess <percent>', type: 'number', default: 1, min: 0, max: 100,
    help: 'flag a field when its difference rate (95% lower bound) exceeds its noise rate (95% upper bound) by more than this' },
  minRelativeExcess: { flag: '--min-relative-excess <percent>', type: 'number', default: 20, min: 0, max: 100, help: '… and by at least this share of its own difference rate' },
  latencyReference: { flag: '--latency-reference <side>', type: 'string', default: 'baseline', choices: ['baseline', 'production'],
    help: 'judge shadow latency against the baseline (default; needs run --baseline) or production (timed from the capture, a different instrument)' },
  minNoiseSamples: { flag: '--min-noise-samples <n>', type: 'int', default: 20, min: 1, max: 1e9,
    help: 'noise comparisons an endpoint needs to use its own noise rates (else pooled over endpoints)' },
  minRequests: { flag: '--min-requests <n>', type: 'int', default: 20, min: 1, max: 1e9, help: 'compared exchanges an endpoint needs to be judged' },
  maxMismatch: { flag: '--max-mismatch <percent>', type: 'number', default: 1, min: 0, max: 100,
    help: 'largest share of an endpoint\'s exchanges that may differ at flagged fields' },
  maxErrorIncrease: { flag: '--max-error-increase <points>', type: 'number', default: 1, min: 0, max: 100,
    help: 'largest rise in error rate (5xx, timeouts, connection errors), in percentage points' },
  minLatencySamples: { flag: '--min-latency-samples <n>', type: 'int', default: 100, min: 1, max: 1e9,
    help: 'latencies each side needs on an endpoint before its latency is judged' },
  latencyConfidence: { flag: '--latency-confidence <percent>', type: 'number', default: 95, min: 50, max: 100,
    help: 'two-sided confidence of the p50/p90/p99 bounds', readme: 'two-sided confidence of the p50/p90/p99 bounds (50 to 99.99)' },
  maxLatencyRatio: { flag: '--max-latency-ratio <x>', type: 'number', default: 1.5, min: 0, max: 1e6,
    help: 'fail when, at p50, p90 or p99, the shadow\'s lower bound is over this many times the reference\'s upper bound' },
  minLatencyDeltaMs: { flag: '--min-latency-delta-ms <ms>', type: 'number', default: 10, min: 0, max: 1e9, help: '… and over it by more than this many ms' },
});

export const reportOutputOptions = rowsOf(optionTable({
  html: { flag: '--html <file>', type: 'string', help: 'also write a self-contained HTML report here' },
  json: { flag: '--json', type: 'switch', help: 'print the analysis as one JSON object instead of the table' },
}));

/** `replay --out`: the recording is the id source (recording id / connection / position). */
export const resultIdsOptions = optionTable({
  recordIds: { flag: '--record-ids', type: 'switch',
    help: 'with --out: also list each compared exchange\'s id (recording/connection/position) in DIR/exchanges.ids, so that report DIR… finds exchanges compared in more than one directory',
    readme: 'with `--out`: also list each compared exchange\'s id in `DIR/exchanges.ids` (see [Merging result directories](#merging-result-directories-report-dir-and-verdict-dir))' },
});

export const verdictOutputOptions = rowsOf(optionTable({
  json: { flag: '--json', type: 'switch', help: 'print the verdict as JSON' },
}));
