// Capture's flags: where packets come from, and live capture tuning.

import { optionTable, rowsOf } from '../config/options';

export const liveSourceOptions = optionTable({
  interface: { flag: '-i, --interface <name>', type: 'string', help: 'capture live from this interface (e.g. eth0, lo, any)',
    readme: 'capture live from this interface (`eth0`, `lo`, `any`)' },
});

export const sourceOptions = optionTable({
  file: { flag: '-f, --file <path>', type: 'string', help: 'read packets from a pcap or pcapng file instead',
    readme: 'read a pcap or pcapng file instead (the file waits for the shadow; a live capture never does)' },
  port: { flag: '-p, --port <port>', type: 'list', help: 'production server port to capture (repeatable, or comma-separated)',
    readme: 'production port(s) to capture, both directions; repeatable or comma-separated. Matches untagged, 802.1Q and QinQ frames. Also tells which side is the server when a connection\'s handshake was not seen' },
  filter: { flag: '--filter <bpf>', type: 'string', help: 'raw BPF capture filter (combined with --port by "and" when both are given)',
    readme: 'raw BPF filter instead of (or, with `--port`, and-ed to) the port filter' },
  reorderPackets: { flag: '--reorder-packets <n>', type: 'int', default: 4096, min: 0, max: 1_000_000,
    help: 'a file: packets held to deliver them in timestamp order (0: file order)',
    readme: 'a file whose timestamps go backwards (`mergecap -a`, several capture points) is read in timestamp order within a window of this many packets; a packet later than the window allows is counted (`capture.lateBeyondWindow`) and delivered as it comes. 0: file order. Live capture is always in kernel order' },
  reorderMb: { flag: '--reorder-mb <n>', type: 'int', default: 16, min: 1, max: 4096,
    help: 'a file: bytes of packets the reorder window holds at most',
    readme: 'the reorder window\'s size in MiB at most (whichever of the two limits comes first); capped at a sixteenth of `--max-memory-mb`' },
});

export const liveCaptureOptions = optionTable({
  snaplen: { flag: '--snaplen <bytes>', type: 'int', default: 262144, min: 64, max: 262144, help: 'capture snapshot length' },
  bufferMb: { flag: '--buffer-mb <n>', type: 'int', default: 64, min: 1, max: 4096, help: 'kernel capture buffer', readme: 'kernel capture ring size' },
  pcapTimeoutMs: { flag: '--pcap-timeout-ms <ms>', type: 'int', default: 10, min: 1, max: 1000, help: 'capture delivery timeout (latency bound)',
    readme: 'capture delivery timeout (bounds latency of a quiet capture)' },
  promisc: { flag: '--promisc', type: 'switch', help: 'put the interface in promiscuous mode', readme: 'promiscuous mode' },
  warnIdle: { flag: '--warn-idle <seconds>', type: 'int', default: 30, min: 0, max: 86400,
    help: 'warn when the capture has matched no packet for this long (0: never)',
    readme: 'log a warning, naming the filter in force, when no packet has matched for this long (a wrong `--port` or interface captures nothing); 0: never' },
});

export const devicesOptions = rowsOf(optionTable({
  json: { flag: '--json', type: 'switch', help: 'print them as one JSON array' },
}));
