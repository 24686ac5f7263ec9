// Choosing a connection's protocol analyzer from its first bytes: HTTP/1 today, anything
// else counted as not HTTP; another analyzer, when registered, gets the whole connection.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { HttpStage, HttpSink, analyzers } from '../../src/http';
import { ProtocolAnalyzer, selectAnalyzer } from '../../src/http/analyzer';
import { http1 } from '../../src/http/connection';
import { h2c } from '../../src/h2';
import { ConnectionInfo, Direction, StreamHandler, ToClient, ToServer } from '../../src/tcp';

const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';

function select(dir: Direction, text: string, known = analyzers): ProtocolAnalyzer | null {
  const buf = Buffer.from(`xx${text}yy`, 'latin1');
  return selectAnalyzer(known, dir, buf, 2, buf.length - 2);
}

function connection(midstream = false): ConnectionInfo {
  return {
    id: 1, client: { address: '10.0.0.1', port: 40000 }, server: { address: '10.0.0.2', port: 80 },
    ipVersion: 4, midstream, openedUs: 0,
  };
}

function recordingSink(): HttpSink & { requests: string[]; notices: string[] } {
  const requests: string[] = [];
  const notices: string[] = [];
  return {
    requests, notices,
    request: (req) => requests.push(`${req.method} ${req.url}`),
    exchange: () => {},
    lost: () => {},
    notice: (kind) => notices.push(kind),
  };
}

type Step = [kind: 'data', dir: Direction, bytes: string] | [kind: 'gap', dir: Direction, lost: number] | [kind: 'fin', dir: Direction];

function staged(known = analyzers): { stage: HttpStage; sink: ReturnType<typeof recordingSink> } {
  const sink = recordingSink();
  return { stage: new HttpStage(sink, {}, known), sink };
}

/** One connection through `stage`, one step per microsecond, then closed. */
function play(stage: HttpStage, steps: Step[], midstream = false): void {
  const conn = stage.open(connection(midstream));
  steps.forEach((step, tsUs) => {
    if (step[0] === 'data') {
      const buf = Buffer.from(step[2], 'latin1');
      conn.data(step[1], buf, 0, buf.length, tsUs);
    } else if (step[0] === 'gap') {
      conn.gap(step[1], step[2], tsUs);
    } else {
      conn.fin(step[1], tsUs);
    }
  });
  conn.close('fin', steps.length);
}

describe('http: analyzer selection', () => {
  it('a request line or a status line chooses HTTP/1', () => {
    assert.equal(select(ToServer, 'GET /a HTTP/1.1\r\nHost: h\r\n\r\n'), http1);
    assert.equal(select(ToServer, '\r\nPOST /b HTTP/1.0\r\n'), http1);
    assert.equal(select(ToClient, 'HTTP/1.1 200 OK\r\n'), http1);
  });

  it('a start too short to judge stays with HTTP/1, whose parser decides', () => {
    assert.equal(select(ToServer, 'GE'), http1);
    assert.equal(select(ToServer, '\r\n'), http1);
    assert.equal(select(ToClient, 'HTT'), http1);
  });

  it('garbage, TLS and SSH choose no analyzer; the HTTP/2 preface or a server\'s first SETTINGS choose h2c', () => {
    assert.equal(select(ToServer, '\x16\x03\x01\x02\x00\x01\x00'), null);
    assert.equal(select(ToClient, 'SSH-2.0-OpenSSH_9.6\r\n'), null);
    assert.equal(select(ToServer, 'x'.repeat(200)), null);
    assert.equal(select(ToServer, H2_PREFACE), h2c);
    assert.equal(select(ToClient, '\x00\x00\x12\x04\x00\x00\x00\x00\x00'), h2c);
    assert.equal(select(ToClient, '\x00\x00\x00\x04\x01\x00\x00\x00\x00'), null, 'a SETTINGS ACK does not open a connection');
  });

  it('the HTTP/2 preface on the wire goes to the h2c analyzer: not counted as non-HTTP, nothing lost', () => {
    const { stage, sink } = staged();
    play(stage, [
      ['data', ToServer, `${H2_PREFACE}\x00\x00\x12\x04\x00\x00\x00\x00\x00`],
      ['data', ToClient, '\x00\x00\x00\x04\x01\x00\x00\x00\x00'],
      ['fin', ToClient],
    ]);
    assert.equal(stage.stats.connections, 1);
    assert.equal(stage.stats.nonHttpConnections, 0);
    assert.equal(stage.stats.h2.connections, 1);
    assert.equal(stage.stats.parseErrors, 0);
    assert.deepEqual(sink.notices, []);
    assert.deepEqual(sink.requests, []);
  });

  const notTheStart: Array<[string, Step[], boolean, string]> = [
    ['a connection picked up mid-stream', [['data', ToServer, 'tail of a body\r\nGET /next HTTP/1.1\r\n\r\n']], true, 'GET /next'],
    ['what follows a gap before any data', [['gap', ToServer, 100], ['data', ToServer, 'rest of a body\r\nGET /after HTTP/1.1\r\n\r\n']], false, 'GET /after'],
    ['data on a direction already finished',
      [['fin', ToClient], ['data', ToClient, 'SSH-2.0-x\r\n'], ['data', ToServer, 'GET /live HTTP/1.1\r\n\r\n']], false, 'GET /live'],
  ];
  for (const [what, steps, midstream, request] of notTheStart) {
    it(`${what} chooses no analyzer: HTTP/1 reads on`, () => {
      const { stage, sink } = staged();
      play(stage, steps, midstream);
      assert.equal(stage.stats.nonHttpConnections, 0);
      assert.deepEqual(sink.requests, [request]);
    });
  }

  it('an analyzer registered beside HTTP/1 gets the connection it recognizes, from its first bytes on', () => {
    const events: string[] = [];
    const h2: ProtocolAnalyzer = {
      name: 'h2',
      recognize: (dir, head) => (dir === ToServer && head.startsWith(H2_PREFACE) ? 'yes' : 'no'),
      open: (): StreamHandler => ({
        data: (dir, buf, start, end) => { events.push(`data ${dir} ${buf.toString('latin1', start, end).slice(0, 3)}`); },
        gap: (dir, bytes) => { events.push(`gap ${dir} ${bytes}`); },
        fin: (dir) => { events.push(`fin ${dir}`); },
        close: (reason) => { events.push(`close ${reason}`); },
      }),
    };
    const { stage, sink } = staged([http1, h2]);
    play(stage, [['data', ToServer, H2_PREFACE], ['data', ToClient, '\x00\x00\x00\x04'], ['gap', ToServer, 10], ['fin', ToServer]]);
    assert.deepEqual(events, ['data 0 PRI', 'data 1 \x00\x00\x00', 'gap 0 10', 'fin 0', 'close fin']);
    assert.equal(stage.stats.nonHttpConnections, 0);
    assert.deepEqual(sink.notices, []);
    // HTTP/1 connections beside it are untouched.
    play(stage, [['data', ToServer, 'GET /x HTTP/1.1\r\n\r\n']]);
    assert.deepEqual(sink.requests, ['GET /x']);
  });
});
