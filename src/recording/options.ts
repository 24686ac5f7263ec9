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
  bodies: { flag: '--bodies', type: 'switch', help: 'keep production\'s responses whole (status, headers, body) so that `replay --out` can compare with them; the parts are gzip-compressed',
    readme: 'keep production\'s responses whole — status, headers and body (redacted like requests) — so that `replay --out` compares the shadow with them; the parts are then gzip-compressed' },
  maxResponseKb: { flag: '--max-response-kb <n>', type: 'int', default: 1024, min: 0, max: 1 << 20, help: 'with --bodies: a response body beyond this is not kept (its status and headers still compare)',
    readme: 'with `--bodies`: a response body beyond this many KiB is not kept (`bodyTruncated`): replay then compares its status and headers only' },
});
