// Replay's flags: the shadows and how requests reach them (run, replay), and the pacing of a
// file (replay).

import { optionTable } from '../config/options';

export const replayOptions = optionTable({
  shadow: { flag: '-s, --shadow <url>', type: 'list', help: 'shadow origin, e.g. http://10.0.0.5:8080 (repeatable: every request goes to each)',
    readme: 'shadow origin; repeatable: every request goes to every shadow' },
  keepHost: { flag: '--keep-host', type: 'switch', help: 'send the captured Host header instead of the shadow\'s host:port',
    readme: 'send production\'s Host header instead of the shadow\'s `host:port`' },
  marker: { flag: '--marker <header>', type: 'string', default: 'x-shadowtap: 1', help: 'header added to replayed requests, "name: value"',
    readme: 'header added to every replayed request' },
  noMarker: { flag: '--no-marker', type: 'switch', help: 'add no marker header' },
  concurrency: { flag: '--concurrency <n>', type: 'int', default: 256, min: 1, max: 10_000, help: 'connections per shadow (each carries --pipeline requests at a time)',
    readme: 'keep-alive connections per shadow at most; requests in flight per shadow: this × `--pipeline`' },
  pipeline: { flag: '--pipeline <n>', type: 'int', default: 1, min: 1, max: 128, help: 'requests in flight per shadow connection (HTTP/1.1 pipelining above 1)',
    readme: 'requests in flight on one shadow connection; above 1, HTTP/1.1 pipelining (a connection that dies takes its unanswered requests with it: idempotent ones that got no byte of answer are sent once more, the rest end as `shadowError`). The oldest connection with room takes each request, so requests of one turn share a write: a mirror bound by CPU pays about a third less per request (see Performance). An answer to a request written behind an unanswered one is compared, but its latency (it includes the wait for the other) is not judged: it is counted (`latencyQueued`); only requests written on an idle connection are timed. The shadow then sees fewer, fuller connections than production did, so its latency compares like for like only against a `--baseline` replayed alike: keep 1 where latency gates the release. Not with `--preserve-connections`, whose lanes carry one request at a time' },
  shadowCa: { flag: '--shadow-ca <file>', type: 'string', help: 'PEM file of the CA certificate(s) trusted for https:// shadows (instead of the system\'s)',
    readme: 'PEM file of the CA certificate(s) trusted for `https://` shadows, instead of the system\'s' },
  queueSize: { flag: '--queue-size <n>', type: 'int', default: 10_000, min: 1, max: 10_000_000,
    help: 'requests waiting per shadow; beyond it they are dropped and counted (run) or wait (replay)',
    readme: 'requests waiting per shadow; beyond, dropped and counted as `queueFull` (`replay`: they wait)' },
  queueMb: { flag: '--queue-mb <n>', type: 'int', default: 256, min: 1, max: 65536, help: 'memory the requests waiting per shadow may hold (bodies, heads and their objects)' },
  timeoutMs: { flag: '--timeout-ms <ms>', type: 'int', default: 10_000, min: 1, max: 600_000, help: 'per-request shadow timeout',
    readme: 'per-request shadow timeout (headers and body)' },
  rate: { flag: '--rate <n>', type: 'int', min: 1, max: 10_000_000, readmeDefault: 'none',
    help: 'requests per second at most towards each shadow (beyond: dropped and counted live, delayed from a file)',
    readme: 'requests per second at most towards each shadow (token bucket, burst of `max(1, n/20)`); beyond it a live capture drops them, counted as `rateLimited`, and a file is slowed down instead' },
  preserveConnections: { flag: '--preserve-connections', type: 'switch',
    help: 'requests from one captured client connection go to each shadow in their original order over one dedicated connection',
    readme: 'requests from one captured client connection go to each shadow in their original order, one at a time, over one dedicated connection (a lane; at most `--concurrency` lanes per shadow, an idle one closed after 30 s or when a new connection needs its place); always on for `replay`' },
  shadowProtocol: { flag: '--shadow-protocol <p>', type: 'string', default: 'auto', choices: ['auto', 'http1', 'h2'],
    help: 'protocol towards the shadows: auto (HTTP/2 for requests captured over HTTP/2, HTTP/1.1 otherwise), http1 or h2',
    readme: '`auto`: a request captured over HTTP/2 goes to the shadows over HTTP/2 (h2c by prior knowledge for `http://`, ALPN `h2` for `https://`), any other over HTTP/1.1; `http1` or `h2` sends every request over that one' },
  drainTimeoutMs: { flag: '--drain-timeout-ms <ms>', type: 'int', default: 5000, min: 0, max: 600_000, help: 'at exit, how long to wait for queued requests',
    readme: 'at SIGTERM/SIGINT, how long queued requests may still go out' },
});

export const pacingOptions = optionTable({
  speed: { flag: '--speed <x>', type: 'number', default: 1, min: 0, max: 1e6,
    help: 'pacing factor: 2 is twice as fast as recorded; 0 as fast as the shadows take it',
    readme: 'request i is sent (t_i − t_0) / x after the pass began (t: capture time of the request\'s first byte); 2 is twice as fast; **0 sends as fast as the shadows take it** (no pacing)' },
  loop: { flag: '--loop <n>', type: 'int', default: 1, min: 1, max: 1_000_000,
    help: 'passes over the file; each starts once the previous one\'s last request was sent',
    readme: 'passes over the file; a pass starts when the previous pass\'s last request was sent (not answered), and pacing starts over' },
});

/** `run` only: replay and comparison on worker threads, away from capture and parsing. Off by
 * default: see README, Worker threads (the latency e2e tests are not shown to pass with it). */
export const workerOptions = optionTable({
  workers: { flag: '--workers <n>', type: 'int', default: 0, min: 0, max: 64,
    help: 'threads that replay and compare (requests of one connection go to one thread); 0: on the capture thread',
    readme: 'worker threads that replay to the shadows and compare, away from the capture thread (requests of one captured connection always go to the same one; connections and queues per shadow are shared out among them); 0: everything on one thread. See [Worker threads](#worker-threads)' },
});
