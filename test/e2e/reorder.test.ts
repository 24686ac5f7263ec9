// Capture files out of time order, made from real loopback captures by tcpdump: records moved
// within a bounded distance, two halves appended the wrong way round by mergecap -a, and a
// one-request capture shuffled whole. `read` gives the same exchanges as on the ordered file,
// counts what came out of order; a window smaller than the disorder is counted, never a crash.
// Needs root, tcpdump, editcap and mergecap; skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { startProduction } from '../support/servers';
import { sendVariedMix } from '../support/traffic';
import { captureSkipReason, runCli, runTool, startTcpdump } from '../support/tools';
import { disorder, movedRecords, readPcapRecords, shuffleWithin, writePcapRecords } from '../support/pcap-shuffle';
import { rng, shuffle } from '../support/packets';

interface ReadSummary {
  seen: number;
  replayed: number;
  notReplayed: Record<string, number>;
  pending: number;
  capture: { packets: number; outOfOrder: number; lateBeyondWindow: number };
  http: { requests: number };
}

/** `read` of `file`: its exchange lines, sorted (the order they complete in may differ), and its summary. */
async function read(file: string, port: number, extra: string[] = []): Promise<{ lines: string[]; summary: ReadSummary }> {
  const summaryPath = `${file}.summary.json`;
  const r = await runCli(['read', '--file', file, '--port', String(port), '--summary-json', summaryPath, ...extra], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, `read ${path.basename(file)}: ${r.stderr.slice(-2000)}`);
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as ReadSummary;
  let settled = summary.replayed + summary.pending;
  for (const n of Object.values(summary.notReplayed)) settled += n;
  assert.equal(summary.seen, settled, 'every request seen has one outcome');
  return { lines: r.stdout.split('\n').filter((l) => l.startsWith('{')).sort(), summary };
}

async function tool(cmd: string, args: string[]): Promise<void> {
  const r = await runTool(cmd, args, { timeoutMs: 60_000 });
  assert.equal(r.code, 0, `${cmd} ${args.join(' ')}: ${r.stderr}`);
}

test('read puts a capture file out of time order back in order within its window', { timeout: 240_000 }, async (t) => {
  const why = captureSkipReason(['tcpdump', 'editcap', 'mergecap']);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-reorder-'));
  const prod = await startProduction();
  t.after(async () => {
    await prod.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const port = prod.port;

  // Real traffic: many requests over several connections.
  const ordered = path.join(dir, 'ordered.pcap');
  const cap = await startTcpdump({ iface: 'lo', filter: `tcp port ${port}`, file: ordered });
  const sent = await sendVariedMix(port, { count: 400, seed: 7, bigUploads: 0 });
  await new Promise((r) => setTimeout(r, 300));
  const capStats = await cap.stop();
  assert.equal(capStats.droppedByKernel, 0, 'tcpdump dropped packets');
  const base = await read(ordered, port);
  assert.equal(base.summary.seen, sent.length, 'the ordered file has every request');
  assert.equal(base.lines.length, sent.length);
  assert.deepEqual([base.summary.capture.outOfOrder, base.summary.capture.lateBeyondWindow], [0, 0]);
  const pcap = readPcapRecords(ordered);
  assert.equal(disorder(pcap.records), 0, 'tcpdump wrote it in time order');
  // Enough room for every packet of the file: --reorder-mb is capped at a sixteenth of the budget.
  const roomy = ['--reorder-packets', String(pcap.records.length), '--reorder-mb', '256', '--max-memory-mb', '4096'];

  // Records moved by fewer than 64 places: the default window puts them back.
  const near = path.join(dir, 'near.pcap');
  const nearRecords = shuffleWithin(pcap.records, 64, 11);
  writePcapRecords(near, { header: pcap.header, records: nearRecords });
  const d = disorder(nearRecords);
  assert.ok(d > 1 && d < 64, `disorder ${d}`);
  t.diagnostic(`${pcap.records.length} packets, ${movedRecords(pcap.records, nearRecords)} moved, disorder ${d}`);
  const nearRead = await read(near, port);
  assert.deepEqual(nearRead.lines, base.lines, 'the same exchanges as on the ordered file');
  assert.ok(nearRead.summary.capture.outOfOrder > 0);
  assert.equal(nearRead.summary.capture.lateBeyondWindow, 0);
  assert.equal(nearRead.summary.capture.packets, pcap.records.length);
  // In file order (no window) the same file loses exchanges: what the window is for.
  const unordered = await read(near, port, ['--reorder-packets', '0']);
  assert.notDeepEqual(unordered.lines, base.lines);

  // mergecap -a of the second half and then the first: the file goes back in time by half its length.
  const half = Math.floor(pcap.records.length / 2);
  const first = path.join(dir, 'first.pcap');
  const second = path.join(dir, 'second.pcap');
  const appended = path.join(dir, 'appended.pcap');
  await tool('editcap', ['-r', ordered, first, `1-${half}`]);
  await tool('editcap', ['-r', ordered, second, `${half + 1}-${pcap.records.length}`]);
  await tool('mergecap', ['-a', '-F', 'pcap', '-w', appended, second, first]);
  assert.equal(disorder(readPcapRecords(appended).records), pcap.records.length - half);
  const appendedRead = await read(appended, port, roomy);
  assert.deepEqual(appendedRead.lines, base.lines, 'mergecap -a: the same exchanges, given a window as large as the disorder');
  assert.equal(appendedRead.summary.capture.outOfOrder, half);
  assert.equal(appendedRead.summary.capture.lateBeyondWindow, 0);

  // A window smaller than the disorder: the late packets are counted and delivered; no crash,
  // every request still booked once (some lost as reassembly could not place them).
  for (const [file, packets] of [[near, '4'], [appended, '100']]) {
    const small = await read(file, port, ['--reorder-packets', packets]);
    assert.ok(small.summary.capture.lateBeyondWindow > 0, `${path.basename(file)}: late packets counted`);
    assert.ok(small.summary.capture.lateBeyondWindow <= small.summary.capture.outOfOrder);
    assert.equal(small.summary.capture.packets, pcap.records.length, 'every packet read');
  }
});

test('a one-request capture shuffled whole still gives its request', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason(['tcpdump']);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-reorder1-'));
  const prod = await startProduction();
  t.after(async () => {
    await prod.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const ordered = path.join(dir, 'one.pcap');
  const cap = await startTcpdump({ iface: 'lo', filter: `tcp port ${prod.port}`, file: ordered });
  await new Promise<void>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: prod.port, method: 'POST', path: '/one?x=1', agent: false, headers: { 'Content-Type': 'text/plain' } }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    });
    req.on('error', reject);
    req.end('one request body');
  });
  await new Promise((r) => setTimeout(r, 300));
  await cap.stop();
  const base = await read(ordered, prod.port);
  assert.equal(base.lines.length, 1);
  assert.match(base.lines[0], /"method":"POST","url":"\/one\?x=1"/);

  const pcap = readPcapRecords(ordered);
  // Back to front, and whole shuffles (each moving every record, or all but one).
  const orders = [[...pcap.records].reverse()];
  for (let seed = 1; orders.length < 6; seed++) {
    const records = shuffle(rng(seed), [...pcap.records]);
    if (movedRecords(pcap.records, records) >= pcap.records.length - 1) orders.push(records);
  }
  for (const [i, records] of orders.entries()) {
    const shuffled = path.join(dir, `shuffled-${i}.pcap`);
    writePcapRecords(shuffled, { header: pcap.header, records });
    const got = await read(shuffled, prod.port);
    assert.deepEqual(got.lines, base.lines, `order ${i}: its one request, as on the ordered file`);
    assert.ok(got.summary.capture.outOfOrder > 0);
    assert.equal(got.summary.capture.lateBeyondWindow, 0);
  }
  // Back to front in file order (no window, as before it): production's answer comes before the request.
  const reversed = await read(path.join(dir, 'shuffled-0.pcap'), prod.port, ['--reorder-packets', '0']);
  assert.notDeepEqual(reversed.lines, base.lines);
});
