// Recordings written by hand, for tests of `replay` that need no capture.

import * as fs from 'node:fs';

/** A version-1 recording of `n` GETs (/r/0 …), one per connection, a second apart. */
export function writeRecording(file: string, n: number): void {
  const t0 = 1_700_000_000_000_000;
  const lines = [JSON.stringify({ format: 'shadowtap-recording', version: 1, createdAt: new Date().toISOString(), redacted: true, recording: '0123456789abcdef', part: 0 })];
  for (let i = 0; i < n; i++) {
    lines.push(JSON.stringify({
      t: t0 + i * 1_000_000, conn: i, client: `10.0.0.1:${40000 + i}`, server: '10.0.0.2:8080', index: 0, method: 'GET',
      url: `/r/${i}`, headers: ['Host', 'prod'], body: null, bodyRedacted: false, response: null, responseMissing: 'closed',
    }));
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}
