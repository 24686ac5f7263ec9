// check-config judges each key on its own, and a key that only clashes with the minimal
// configuration it is checked in (file: instead of interface:) is not reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runConfig } from '../../src/config';
import { runCli } from '../support/tools';

test('check-config accepts a valid run configuration that reads a file instead of an interface', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-review-check-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(file, 'file: /tmp/capture.pcap\nport: 8080\nshadow: [http://127.0.0.1:9000]\n');
  // The same values as flags are a valid run configuration:
  assert.doesNotThrow(() => runConfig({ file: '/tmp/capture.pcap', port: ['8080'], shadow: ['http://127.0.0.1:9000'] }));
  const r = await runCli(['check-config', '--config', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /: ok$/m);
});
