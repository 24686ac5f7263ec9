// Which option tables each command takes.

import { devicesOptions, liveCaptureOptions, liveSourceOptions, sourceOptions } from '../capture/options';
import { compareOptions } from '../compare/options';
import { OptionRow, checkConfigOptions, configFileOptions, rowsOf } from './options';
import { httpOptions } from '../http/options';
import { recordingOptions } from '../recording/options';
import { adminOptions, logOptions, logShipOptions, reportOutputOptions, summaryOptions, thresholdOptions, verdictOutputOptions } from '../report/options';
import { pacingOptions, replayOptions } from '../replay/options';
import { tcpOptions } from '../tcp/options';
import { redactOptions, trafficOptions } from '../traffic/options';

/** Each command's options, table by table. */
const rows = (...tables: Array<Record<string, OptionRow>>): OptionRow[] => tables.flatMap(rowsOf);
const source = (live: boolean): OptionRow[] => rows(...(live ? [liveSourceOptions] : []), sourceOptions, summaryOptions, tcpOptions, httpOptions);
export const commandOptions = {
  run: [...source(true), ...rows(replayOptions, liveCaptureOptions, trafficOptions, redactOptions, logOptions, compareOptions, adminOptions, configFileOptions, logShipOptions)],
  read: [...source(false), ...rows(configFileOptions)],
  record: [...source(true), ...rows(liveCaptureOptions, redactOptions, recordingOptions, logOptions, configFileOptions, logShipOptions)],
  replay: [...source(false), ...rows(replayOptions, trafficOptions, pacingOptions, logOptions, configFileOptions, logShipOptions)],
  report: [...rows(thresholdOptions), ...reportOutputOptions, ...rows(configFileOptions)],
  verdict: [...rows(thresholdOptions), ...verdictOutputOptions, ...rows(configFileOptions)],
  'check-config': rows(checkConfigOptions, configFileOptions),
  devices: [...devicesOptions, ...rows(configFileOptions)],
};
