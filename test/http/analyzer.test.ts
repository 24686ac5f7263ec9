// Choosing a connection's protocol analyzer from its first bytes: HTTP/1 today, anything
// else counted as not HTTP; another analyzer, when registered, gets the whole connection.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { HttpStage, HttpSink, analyzers } from '../../src/http';
import { ProtocolAnalyzer, selectAnalyzer } from '../../src/http/analyzer';
import { http1 } from '../../src/http/connection';
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

  it('garbage, TLS, SSH and the HTTP/2 preface choose no analyzer today', () => {
    assert.equal(select(ToServer, '\x16\x03\x01\x02\x00\x01\x00'), null);
    assert.equal(select(ToClient, 'SSH-2.0-OpenSSH_9.6\r\n'), null);
    assert.equal(select(ToServer, 'x'.repeat(200)), null);
    assert.equal(select(ToServer, H2_PREFACE), null);
  });

  it('the HTTP/2 preface on the wire is counted as not HTTP, nothing parsed, nothing lost', () => {
    const sink = recordingSink();
    const stage = new HttpStage(sink);
    const conn = stage.open(connection());
    conn.data(ToServer, Buffer.from(`${H2_PREFACE}\x00\x00\x12\x04\x00\x00\x00\x00\x00`, 'latin1'), 0, 33, 1);
    conn.data(ToClient, Buffer.from('\x00\x00\x00\x04\x01\x00\x00\x00\x00', 'latin1'), 0, 9, 2);
    conn.fin(ToClient, 3);
    conn.close('fin', 4);
    assert.equal(stage.stats.connections, 1);
    assert.equal(stage.stats.nonHttpConnections, 1);
    assert.equal(stage.stats.parseErrors, 0);
    assert.deepEqual(sink.notices, ['nonHttp']);
    assert.deepEqual(sink.requests, []);
  });

  it('a connection picked up mid-stream is not judged by its first bytes', () => {
    const sink = recordingSink();
    const stage = new HttpStage(sink);
    const conn = stage.open(connection(true));
    conn.data(ToServer, Buffer.from('tail of a body\r\nGET /next HTTP/1.1\r\n\r\n'), 0, 39, 1);
    assert.equal(stage.stats.nonHttpConnections, 0);
    assert.deepEqual(sink.requests, ['GET /next']);
  });

  it('after a gap before any data, what follows is not judged as the start of the connection', () => {
    const sink = recordingSink();
    const stage = new HttpStage(sink);
    const conn = stage.open(connection());
    conn.gap(ToServer, 100, 1);
    conn.data(ToServer, Buffer.from('rest of a body\r\nGET /after HTTP/1.1\r\n\r\n'), 0, 40, 2);
    assert.equal(stage.stats.nonHttpConnections, 0);
    assert.deepEqual(sink.requests, ['GET /after']);
  });

  it('bytes on a direction already finished choose nothing: the first live bytes do', () => {
    const sink = recordingSink();
    const stage = new HttpStage(sink);
    const conn = stage.open(connection());
    conn.fin(ToClient, 1);
    conn.data(ToClient, Buffer.from('SSH-2.0-x\r\n'), 0, 11, 2);
    conn.data(ToServer, Buffer.from('GET /live HTTP/1.1\r\n\r\n'), 0, 22, 3);
    assert.equal(stage.stats.nonHttpConnections, 0);
    assert.deepEqual(sink.requests, ['GET /live']);
  });

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
    const sink = recordingSink();
    const stage = new HttpStage(sink, {}, [http1, h2]);
    const conn = stage.open(connection());
    conn.data(ToServer, Buffer.from(H2_PREFACE, 'latin1'), 0, H2_PREFACE.length, 1);
    conn.data(ToClient, Buffer.from('\x00\x00\x00\x04'), 0, 4, 2);
    conn.gap(ToServer, 10, 3);
    conn.fin(ToServer, 4);
    conn.close('fin', 5);
    assert.deepEqual(events, ['data 0 PRI', 'data 1 \x00\x00\x00', 'gap 0 10', 'fin 0', 'close fin']);
    assert.equal(stage.stats.nonHttpConnections, 0);
    assert.deepEqual(sink.notices, []);
    // HTTP/1 connections beside it are untouched.
    const plain = stage.open(connection());
    plain.data(ToServer, Buffer.from('GET /x HTTP/1.1\r\n\r\n'), 0, 19, 6);
    assert.deepEqual(sink.requests, ['GET /x']);
  });
});
