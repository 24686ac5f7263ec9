// `make demo`: (1) production and shadow servers on loopback, shadowtap mirroring live from `lo`,
// a varied client mix against production, then what the shadow received and the accounting;
// (2) a JSON API and a new version of it with a regression, compared live: report and verdict.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { driveApiMix, startApi } from './api';
import { startProduction, startShadow } from './servers';
import { captureSkipReason, runCli, startCli } from './tools';
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
  await compareDemo(dir);
}

/** The API in production, a second instance of it (the baseline), and the new version in the
 * shadow, where users' "age" is off by one and search takes twice as long. */
async function compareDemo(dir: string): Promise<void> {
  console.log('\n--- comparison: does the new version answer like production? ---');
  const api = await startApi({ name: 'api/1.0' });
  const baseline = await startApi({ name: 'api/1.0' });
  const next = await startApi({ name: 'api/2.0', gzip: true, reorderKeys: true, planted: { changedValue: true, slow: true } });
  const out = join(dir, 'compare');
  const args = ['run', '--interface', 'lo', '--port', String(api.port), '--shadow', next.url, '--baseline', baseline.url,
    '--out', out, '--stats-interval', '0'];
  console.log(`$ shadowtap ${args.join(' ')}`);
  const cli = startCli(args);
  if ((await cli.waitForLine(/capture started/, 15_000)) === null) throw new Error(`shadowtap did not start:\n${cli.stderr()}`);
  const { sent } = await driveApiMix(api.port, { requests: 3000, perSecond: 500 });
  console.log(`client sent ${sent} API requests (users, orders, reports, search, static) over 6 s`);
  const until = Date.now() + 30_000;
  while ((next.requests < sent || baseline.requests < sent) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  await cli.stop('SIGTERM');
  console.log(`\n$ shadowtap report ${out}`);
  process.stdout.write((await runCli(['report', out, '--html', join(out, 'report.html')])).stdout);
  const verdict = await runCli(['verdict', out]);
  console.log(`$ shadowtap verdict ${out}   # exit ${verdict.code}`);
  process.stdout.write(verdict.stdout);
  console.log(`\nHTML report: ${join(out, 'report.html')}`);
  await Promise.all([api.close(), baseline.close(), next.close()]);
}

main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
