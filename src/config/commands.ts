// Which option tables each command takes.

import { devicesOptions, liveCaptureOptions, liveSourceOptions, sourceOptions } from '../capture/options';
import { compareOptions } from '../compare/options';
import { OptionRow, checkConfigOptions, configFileOptions, rowsOf } from './options';
import { httpOptions } from '../http/options';
import { recordingOptions } from '../recording/options';
import { adminOptions, logOptions, logShipOptions, reportOutputOptions, stopOptions, summaryOptions, thresholdOptions, verdictOutputOptions } from '../report/options';
import { pacingOptions, replayOptions } from '../replay/options';
import { tcpOptions } from '../tcp/options';
import { redactOptions, trafficOptions } from '../traffic/options';

const source = (live: boolean): OptionRow[] => rowsOf(...(live ? [liveSourceOptions] : []), sourceOptions, summaryOptions, tcpOptions, httpOptions);

/** Each command's options, table by table. */
export const commandOptions = {
  run: [...source(true), ...rowsOf(replayOptions, liveCaptureOptions, trafficOptions, redactOptions, logOptions, stopOptions, compareOptions, adminOptions, configFileOptions, logShipOptions)],
  read: [...source(false), ...rowsOf(configFileOptions)],
  record: [...source(true), ...rowsOf(liveCaptureOptions, redactOptions, recordingOptions, logOptions, stopOptions, configFileOptions, logShipOptions)],
  // A pass over a file is bounded already; its read-ahead admits requests before they are sent.
  replay: [...source(false), ...rowsOf(replayOptions, trafficOptions, pacingOptions, logOptions), stopOptions.duration as OptionRow, ...rowsOf(configFileOptions, logShipOptions)],
  report: [...rowsOf(thresholdOptions), ...reportOutputOptions, ...rowsOf(configFileOptions)],
  verdict: [...rowsOf(thresholdOptions), ...verdictOutputOptions, ...rowsOf(configFileOptions)],
  'check-config': rowsOf(checkConfigOptions, configFileOptions),
  devices: [...devicesOptions, ...rowsOf(configFileOptions)],
};
