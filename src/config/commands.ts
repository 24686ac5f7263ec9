// Which option tables each command takes.

import { memoryOptions } from '../accounting/options';
import { devicesOptions, liveCaptureOptions, liveSourceOptions, sourceOptions } from '../capture/options';
import { compareOptions } from '../compare/options';
import { OptionRow, checkConfigOptions, configFileOptions, rowsOf } from './options';
import { httpOptions } from '../http/options';
import { recordingOptions } from '../recording/options';
import { adminOptions, logOptions, logShipOptions, reportOutputOptions, resultIdsOptions, stopOptions, summaryOptions, thresholdOptions, verdictOutputOptions } from '../report/options';
import { pacingOptions, replayOptions, workerOptions } from '../replay/options';
import { tcpOptions } from '../tcp/options';
import { redactOptions, trafficOptions } from '../traffic/options';
import { brokerOptions, fleetWorkerOptions, publishOptions, streamOptions } from '../fleet/options';

const source = (live: boolean): OptionRow[] => rowsOf(...(live ? [liveSourceOptions] : []), sourceOptions, summaryOptions, memoryOptions, tcpOptions, httpOptions);

/** A recording's replay compares as a live run does, minus what only a capture can do. */
const { wireTiming: _w, noWireTiming: _n, compare: _c, ...replayCompare } = compareOptions;
const replayCompareRows = rowsOf(replayCompare);

/** Each command's options, table by table. */
export const commandOptions = {
  run: [...source(true), ...rowsOf(replayOptions, workerOptions, liveCaptureOptions, trafficOptions, redactOptions, logOptions, stopOptions, compareOptions, adminOptions,
    publishOptions, streamOptions, brokerOptions, configFileOptions, logShipOptions)],
  read: [...source(false), ...rowsOf(configFileOptions)],
  record: [...source(true), ...rowsOf(liveCaptureOptions, redactOptions, recordingOptions, logOptions, stopOptions, configFileOptions, logShipOptions)],
  // A pass over a file is bounded already; its read-ahead admits requests before they are sent.
  replay: [...source(false), ...rowsOf(replayOptions, trafficOptions, pacingOptions, logOptions), stopOptions.duration as OptionRow,
    ...replayCompareRows, ...rowsOf(resultIdsOptions, redactOptions, configFileOptions, logShipOptions)],
  // A fleet worker replays and compares as `replay --out` does, from a stream instead of a file.
  worker: [...rowsOf(fleetWorkerOptions, streamOptions, brokerOptions, replayOptions), ...replayCompareRows,
    ...rowsOf(redactOptions, memoryOptions, summaryOptions, logOptions, adminOptions), stopOptions.duration as OptionRow, ...rowsOf(configFileOptions, logShipOptions)],
  report: [...rowsOf(thresholdOptions), ...reportOutputOptions, ...rowsOf(configFileOptions)],
  verdict: [...rowsOf(thresholdOptions), ...verdictOutputOptions, ...rowsOf(configFileOptions)],
  'check-config': rowsOf(checkConfigOptions, configFileOptions),
  devices: [...devicesOptions, ...rowsOf(configFileOptions)],
};

export const PROGRAM_DESCRIPTION = 'Passive shadow traffic: capture production HTTP/1.x, HTTP/2 (h2c) and gRPC with libpcap and mirror it to a shadow.';

/** Each command's one-line description and its argument, for --help, the man page and completion. */
export const commandHelp: Record<keyof typeof commandOptions, { description: string; argument?: string }> = {
  run: { description: 'capture production traffic and replay every request to the shadow target(s)' },
  read: { description: 'print one JSON line per HTTP exchange in a capture file' },
  record: { description: 'capture production exchanges (requests, and production\'s response: summarised, or whole with --bodies) to a recording file' },
  replay: { description: 'replay a recording (or a pcap/pcapng file) to the shadow(s) at the recorded pace; with --out, compare their answers with production\'s recorded ones', argument: '[file]' },
  worker: { description: 'fleet worker: take exchanges published by run --publish from NATS JetStream (shared with other workers), replay them to the shadow(s) and compare as replay --out does' },
  report: { description: 'summarise a run\'s comparison (the DIR given to run --out; several are merged): terminal table, HTML or JSON', argument: '<dir...>' },
  verdict: { description: 'exit 0 when the shadow is fit to promote, 1 when not (with the reasons); several DIRs are judged as one', argument: '<dir...>' },
  'check-config': { description: 'check a configuration file: print every problem with the key that caused it; exit 1 if any' },
  devices: { description: 'list the interfaces libpcap can capture on, with their addresses' },
};
