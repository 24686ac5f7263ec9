// `make demo`: production and shadow servers on loopback, shadowtap mirroring live from `lo`,
// a varied client mix against production, then what the shadow received and the accounting.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProduction, startShadow } from './servers';
import { captureSkipReason, startCli } from './tools';
import { describeMix, sendVariedMix } from './traffic';

async function main(): Promise<void> {
  const skip = captureSkipReason(['tcpdump']);
  if (skip !== null && skip.includes('root')) {
    console.error(`The demo captures on lo and ${skip}: run it as root (sudo make demo).`);
    process.exit(1);
  }
  const production = await startProduction();
  const shadow = await startShadow();
  const dir = mkdtempSync(join(tmpdir(), 'shadowtap-demo-'));
  const summaryPath = join(dir, 'summary.json');
  console.log(`production on 127.0.0.1:${production.port}, shadow on 127.0.0.1:${shadow.port}`);
  const args = ['run', '--allow-writes', '--interface', 'lo', '--port', String(production.port),
    '--shadow', `http://127.0.0.1:${shadow.port}`, '--summary-json', summaryPath, '--stats-interval', '0'];
  console.log(`$ shadowtap ${args.join(' ')}`);
  const cli = startCli(args);
  if ((await cli.waitForLine(/capture started/, 15_000)) === null) {
    throw new Error(`shadowtap did not start:\n${cli.stderr()}${cli.stdout()}`);
  }

  const count = 1000;
  const sent = await sendVariedMix(production.port, { count, seed: 7 });
  console.log(`client sent ${sent.length} requests to production:`, describeMix(sent));
  await shadow.waitFor(sent.length, 15_000);
  await cli.stop('SIGTERM');

  console.log('\nfirst requests the shadow received (method, target, marker):');
  for (const r of shadow.requests.slice(0, 8)) {
    const marker = r.headers.find(([k]) => k.toLowerCase() === 'x-shadowtap');
    console.log(`  ${r.method.padEnd(7)} ${r.url.slice(0, 60).padEnd(60)} x-shadowtap: ${marker?.[1] ?? '-'} body ${r.bodySize} B`);
  }
  const summary = JSON.parse(readFileSync(summaryPath, 'utf8'));
  console.log('\naccounting (from --summary-json):');
  console.log(`  seen ${summary.seen} = replayed ${summary.replayed} + not replayed ${JSON.stringify(summary.notReplayed)}`);
  console.log(`  capture: ${summary.capture.packets} packets, kernel drops ${summary.capture.kernelDropped}, queue drops ${summary.capture.queueDropped}`);
  console.log(`  shadow received ${shadow.requests.length} of ${sent.length} requests production received`);
  await production.close();
  await shadow.close();
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
