// The Debian package: built by packaging/build-deb.sh (what `make deb` runs after the build;
// called directly here because `make deb` rebuilds dist/, which the running tests use).
// Checks its control data and contents, then unpacks it into a temporary root and runs the
// unpacked program: --help, devices --json, and a real run with the shipped default config.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { haveTool, hasRoot, repoRoot, runTool } from '../support/tools';
import { startProduction, startShadow } from '../support/servers';
import { sendGets, startProc } from './helpers';

const VERSION = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'package.json'), 'utf8')).version as string;

test('make deb: package metadata, contents, and the unpacked program runs', { timeout: 180_000 }, async (t) => {
  if (!haveTool('dpkg-deb')) { t.skip('dpkg-deb missing'); return; }
  if (!fs.existsSync(path.join(repoRoot(), 'native/build/Release/shadowtap_pcap.node'))) { t.skip('addon not built'); return; }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-deb-'));
  try {
    const built = await runTool('bash', [path.join(repoRoot(), 'packaging/build-deb.sh'), work], { cwd: repoRoot(), timeoutMs: 120_000 });
    assert.equal(built.code, 0, built.stderr);
    const arch = (await runTool('dpkg', ['--print-architecture'])).stdout.trim();
    const deb = path.join(work, `shadowtap_${VERSION}_${arch}.deb`);
    assert.equal(built.stdout.trim(), deb);
    assert.ok(fs.existsSync(deb));

    // --- control data ---
    const field = async (name: string) => (await runTool('dpkg-deb', ['-f', deb, name])).stdout.trim();
    assert.equal(await field('Package'), 'shadowtap');
    assert.equal(await field('Version'), VERSION);
    assert.equal(await field('Architecture'), arch);
    const depends = await field('Depends');
    assert.match(depends, /(^|, )nodejs \(>= 20\)(,|$)/);
    assert.match(depends, /(^|, )libpcap0\.8( \([^)]*\))?(,|$)/);
    const info = await runTool('dpkg-deb', ['-I', deb]);
    assert.equal(info.code, 0, info.stderr);
    for (const f of ['conffiles', 'postinst', 'prerm', 'postrm', 'control']) assert.match(info.stdout, new RegExp(`\\b${f}\\b`));
    const ctl = fs.mkdtempSync(path.join(work, 'control-'));
    assert.equal((await runTool('dpkg-deb', ['-e', deb, ctl])).code, 0);
    assert.equal(fs.readFileSync(path.join(ctl, 'conffiles'), 'utf8').trim(), '/etc/shadowtap/shadowtap.yaml\n/etc/shadowtap/worker.yaml');
    const postinst = fs.readFileSync(path.join(ctl, 'postinst'), 'utf8');
    assert.match(postinst, /adduser --system --group .*shadowtap/s);
    assert.match(postinst, /\[ -d \/run\/systemd\/system \]/, 'systemctl only when systemd runs');
    assert.doesNotMatch(postinst, /systemctl (enable|start)|deb-systemd-invoke start/, 'never started automatically');
    for (const s of ['postinst', 'prerm', 'postrm']) {
      assert.equal((await runTool('sh', ['-n', path.join(ctl, s)])).code, 0, `${s} is valid sh`);
      assert.ok(fs.statSync(path.join(ctl, s)).mode & 0o111, `${s} executable`);
    }

    // --- contents ---
    const listing = await runTool('dpkg-deb', ['-c', deb]);
    assert.equal(listing.code, 0, listing.stderr);
    const entries = listing.stdout.split('\n').filter(Boolean).map((l) => {
      const cols = l.split(/\s+/);
      return { mode: cols[0], owner: cols[1], path: cols.slice(5).join(' ').replace(/^\.\//, '/') };
    });
    const paths = new Set(entries.map((e) => e.path));
    for (const p of ['/usr/bin/shadowtap', '/lib/systemd/system/shadowtap.service', '/lib/systemd/system/shadowtap@.service',
      '/lib/systemd/system/shadowtap-worker.service', '/etc/shadowtap/shadowtap.yaml', '/etc/shadowtap/worker.yaml', '/usr/lib/shadowtap/package.json', '/usr/lib/shadowtap/dist/src/cli/main.js',
      '/usr/lib/shadowtap/dist/src/cli/systemd.js', '/usr/lib/shadowtap/native/build/Release/shadowtap_pcap.node',
      '/usr/lib/shadowtap/node_modules/cap/build/Release/cap.node', '/usr/lib/shadowtap/node_modules/http-parser-js/package.json',
      '/usr/lib/shadowtap/node_modules/pino/package.json', '/usr/share/man/man1/shadowtap.1.gz', '/usr/share/bash-completion/completions/shadowtap']) {
      assert.ok(paths.has(p), `${p} missing from the package`);
    }
    assert.ok(entries.every((e) => e.owner === 'root/root'), 'files owned by root');
    assert.ok(entries.find((e) => e.path === '/usr/bin/shadowtap')!.mode.startsWith('-rwxr-xr-x'));
    const devOnly = [...paths].filter((p) => /\/node_modules\/(typescript|node-gyp|@types\/node)\//.test(p) || /^\/usr\/lib\/shadowtap\/dist\/(test|bench)\//.test(p));
    assert.deepEqual(devOnly, [], 'no dev dependencies, tests or benches');

    // --- unpacked: the wrapper, pointed at the unpacked library ---
    const root = path.join(work, 'root');
    assert.equal((await runTool('dpkg-deb', ['-x', deb, root])).code, 0);
    // The man page and the completion, as generated from the option tables.
    const man = zlib.gunzipSync(fs.readFileSync(path.join(root, 'usr/share/man/man1/shadowtap.1.gz'))).toString();
    assert.match(man, /^\.TH SHADOWTAP 1 /);
    assert.ok(man.includes('\\-\\-max\\-requests'), 'a flag from the option tables');
    assert.match(fs.readFileSync(path.join(root, 'usr/share/bash-completion/completions/shadowtap'), 'utf8'), /^complete -F _shadowtap shadowtap$/m);
    const wrapper = path.join(root, 'usr/bin/shadowtap');
    assert.match(fs.readFileSync(wrapper, 'utf8'), /^#!\/bin\/sh\n(#.*\n)*exec \/usr\/bin\/node "\$\{SHADOWTAP_LIBDIR:-\/usr\/lib\/shadowtap\}\/dist\/src\/cli\/main\.js" "\$@"\n$/);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, SHADOWTAP_LIBDIR: path.join(root, 'usr/lib/shadowtap') };
    const help = await runTool(wrapper, ['--help'], { env, cwd: '/' });
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /Usage: shadowtap/);
    for (const cmd of ['run', 'report', 'verdict', 'devices']) assert.match(help.stdout, new RegExp(`^\\s+${cmd}\\b`, 'm'));
    const devices = await runTool(wrapper, ['devices', '--json'], { env, cwd: '/' });
    assert.equal(devices.code, 0, devices.stderr);
    assert.ok((JSON.parse(devices.stdout) as Array<{ name: string }>).some((d) => d.name === 'lo'));

    // --- the default config: loaded by the unpacked CLI for a real run ---
    // Its paths point into the service's state directory; here they go to a temporary one.
    const shipped = fs.readFileSync(path.join(root, 'etc/shadowtap/shadowtap.yaml'), 'utf8');
    assert.match(shipped, /^out: \/var\/lib\/shadowtap\/results$/m);
    assert.match(shipped, /^# interface: /m, 'interface left for the operator');
    const state = path.join(work, 'state');
    fs.mkdirSync(state);
    const config = path.join(work, 'shadowtap.yaml');
    fs.writeFileSync(config, shipped.replaceAll('/var/lib/shadowtap', state));
    // Without interface, port and shadow it must say what is missing, not fail on the file.
    const bare = await runTool(wrapper, ['run', '--config', config], { env, cwd: '/' });
    assert.equal(bare.code, 2, bare.stdout + bare.stderr);
    assert.match(bare.stderr, /--interface|--file|--shadow/);
    assert.doesNotMatch(bare.stderr, /--config|unknown option/);
    // The worker's default config: loads, and names the broker it still needs.
    const workerConfig = path.join(work, 'worker.yaml');
    fs.copyFileSync(path.join(root, 'etc/shadowtap/worker.yaml'), workerConfig);
    const bareWorker = await runTool(wrapper, ['worker', '--config', workerConfig], { env, cwd: '/' });
    assert.equal(bareWorker.code, 2, bareWorker.stdout + bareWorker.stderr);
    assert.match(bareWorker.stderr, /--from|--shadow|--out/);
    assert.doesNotMatch(bareWorker.stderr, /--config|unknown option/);
    if (!hasRoot()) { t.diagnostic('not root: the live run with the default config is skipped'); return; }
    const production = await startProduction();
    const shadow = await startShadow();
    try {
      const run = startProc(wrapper, ['run', '--config', config, '--interface', 'lo', '--port', String(production.port),
        '--shadow', `http://127.0.0.1:${shadow.port}`], { env, cwd: '/' });
      assert.ok(await run.waitForLine(/"msg":"capture started"/, 20_000), run.output());
      await sendGets(production.port, 30);
      assert.ok(await shadow.waitFor(30, 10_000), `shadow got ${shadow.requests.length}`);
      assert.equal(await run.stop('SIGTERM'), 0, run.output());
      // summary-json and out came from the file.
      const summary = JSON.parse(fs.readFileSync(path.join(state, 'summary.json'), 'utf8')) as { seen: number; replayed: number };
      assert.equal(summary.seen, 30);
      assert.equal(summary.replayed, 30);
      assert.ok(fs.existsSync(path.join(state, 'results', 'results.json')), 'out: results.json written');
    } finally {
      await production.close();
      await shadow.close();
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
});
