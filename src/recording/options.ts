// Recording's flags (record).

import { optionTable } from '../config/options';

export const recordingOptions = optionTable({
  output: { flag: '--output <path>', type: 'string', readmeDefault: '(required)', help: 'the recording file (JSON lines; rotated parts are PATH.1, PATH.2, …)',
    readme: 'the recording. Created with mode 0600; it must not exist yet (a recording is never overwritten) and its directory must' },
  redact: { flag: '--no-redact', type: 'switch', help: 'record requests byte for byte, secrets included (the file is then yours to protect)',
    readme: 'record requests byte for byte, credentials included: the file\'s secrecy is then yours' },
  maxFileMb: { flag: '--max-file-mb <n>', type: 'int', default: 256, min: 1, max: 1 << 20, help: 'start the next part when the current file would exceed this',
    readme: 'size of one part: a request line that would take the current part beyond it goes to the next part instead (a part always holds at least one request, so one request larger than the limit makes a larger part)' },
  maxFiles: { flag: '--max-files <n>', type: 'int', default: 10, min: 1, max: 1_000_000, help: 'parts kept; the oldest is deleted beyond',
    readme: 'parts kept: when part n+1 is opened and more than n parts exist, the oldest is deleted' },
});
