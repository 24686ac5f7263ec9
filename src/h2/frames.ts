// HTTP/2 framing (RFC 9113 §4): one direction's reassembled bytes cut into frames. DATA
// payloads are handed on as they arrive (padding left out), never gathered whole; other
// frames are handed on whole, in place when a chunk holds all of one.

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const enum FrameType {
  DATA = 0,
  HEADERS = 1,
  PRIORITY = 2,
  RST_STREAM = 3,
  SETTINGS = 4,
  PUSH_PROMISE = 5,
  PING = 6,
  GOAWAY = 7,
  WINDOW_UPDATE = 8,
  CONTINUATION = 9,
}

export const enum Flag {
  END_STREAM = 0x1,
  ACK = 0x1,
  END_HEADERS = 0x4,
  PADDED = 0x8,
  PRIORITY = 0x20,
}

export const FRAME_HEADER = 9;
/** SETTINGS_MAX_FRAME_SIZE's initial value. */
export const DEFAULT_MAX_FRAME = 16384;
/** Largest frame read, whatever a receiver advertises (the protocol allows 16 MiB - 1). */
export const MAX_FRAME_SIZE = 1 << 20;

export interface FrameSink {
  /** A whole frame other than DATA: its payload is buf[start, end), valid during the call. */
  frame(type: number, flags: number, streamId: number, buf: Buffer, start: number, end: number): void;
  /** Bytes of a DATA frame's payload (padding left out), valid during the call. */
  data(streamId: number, buf: Buffer, start: number, end: number): void;
  /** A DATA frame's last byte. */
  dataEnd(streamId: number, flags: number): void;
  /** The bytes cannot be framed any further. */
  broken(kind: 'preface' | 'oversized' | 'padding', detail: string): void;
}

/** Reads one direction's frames. */
export class FrameReader {
  /** Preface bytes still expected (the client's 24; none from the server). */
  private prefaceLeft: number;
  /** Largest frame the receiver allows (its SETTINGS_MAX_FRAME_SIZE, within MAX_FRAME_SIZE). */
  maxFrame = DEFAULT_MAX_FRAME;
  /** Stops for good after broken(). */
  stopped = false;
  /** Capture time of the current frame's first byte. */
  frameStartUs = 0;

  private readonly head = Buffer.alloc(FRAME_HEADER);
  private headLength = 0;
  private inFrame = false;
  private type = 0;
  private flags = 0;
  private streamId = 0;
  private length = 0;
  /** A frame other than DATA split across chunks: its payload so far. */
  private payload: Buffer | null = null;
  private payloadLength = 0;
  /** DATA: the pad length byte is still to come; payload and padding bytes left. */
  private awaitingPadLength = false;
  private dataLeft = 0;
  private padLeft = 0;

  constructor(private readonly sink: FrameSink, expectPreface: boolean) {
    this.prefaceLeft = expectPreface ? PREFACE.length : 0;
  }

  /** Bytes held for a frame split across chunks. */
  get heldBytes(): number {
    return this.payload === null ? 0 : this.payload.length;
  }

  feed(buf: Buffer, start: number, end: number, tsUs: number): void {
    while (start < end && !this.stopped) {
      if (this.prefaceLeft > 0) start = this.readPreface(buf, start, end);
      else if (!this.inFrame) start = this.readHead(buf, start, end, tsUs);
      else if (this.type === FrameType.DATA) start = this.readData(buf, start, end);
      else start = this.readPayload(buf, start, end);
    }
  }

  private readPreface(buf: Buffer, start: number, end: number): number {
    const from = PREFACE.length - this.prefaceLeft;
    const n = Math.min(this.prefaceLeft, end - start);
    if (buf.compare(PREFACE, from, from + n, start, start + n) !== 0) {
      this.stop('preface', 'the client preface is not HTTP/2\'s');
      return end;
    }
    this.prefaceLeft -= n;
    return start + n;
  }

  private readHead(buf: Buffer, start: number, end: number, tsUs: number): number {
    let at: Buffer;
    let offset: number;
    if (this.headLength === 0 && end - start >= FRAME_HEADER) {
      at = buf;
      offset = start;
      start += FRAME_HEADER;
      this.frameStartUs = tsUs;
    } else {
      if (this.headLength === 0) this.frameStartUs = tsUs;
      const n = Math.min(FRAME_HEADER - this.headLength, end - start);
      buf.copy(this.head, this.headLength, start, start + n);
      this.headLength += n;
      start += n;
      if (this.headLength < FRAME_HEADER) return start;
      this.headLength = 0;
      at = this.head;
      offset = 0;
    }
    this.length = (at[offset] << 16) | (at[offset + 1] << 8) | at[offset + 2];
    this.type = at[offset + 3];
    this.flags = at[offset + 4];
    this.streamId = at.readUInt32BE(offset + 5) & 0x7fffffff;
    if (this.length > this.maxFrame) {
      this.stop('oversized', `frame of ${this.length} bytes (type ${this.type}) beyond the ${this.maxFrame} allowed`);
      return end;
    }
    this.inFrame = true;
    if (this.type === FrameType.DATA) {
      this.awaitingPadLength = (this.flags & Flag.PADDED) !== 0;
      this.dataLeft = this.awaitingPadLength ? this.length - 1 : this.length;
      this.padLeft = 0;
      if (this.awaitingPadLength && this.length === 0) this.stop('padding', 'padded DATA frame without its pad length');
      else if (this.length === 0) this.endData();
    } else if (this.length === 0) {
      this.inFrame = false;
      this.sink.frame(this.type, this.flags, this.streamId, buf, start, start);
    }
    return start;
  }

  private readData(buf: Buffer, start: number, end: number): number {
    if (this.awaitingPadLength) {
      this.awaitingPadLength = false;
      const pad = buf[start++];
      if (pad > this.dataLeft) {
        this.stop('padding', `DATA padding of ${pad} bytes in a ${this.length}-byte frame`);
        return end;
      }
      this.dataLeft -= pad;
      this.padLeft = pad;
    }
    const n = Math.min(this.dataLeft, end - start);
    if (n > 0) {
      this.dataLeft -= n;
      this.sink.data(this.streamId, buf, start, start + n);
      start += n;
    }
    if (this.dataLeft === 0) {
      const skip = Math.min(this.padLeft, end - start);
      this.padLeft -= skip;
      start += skip;
      if (this.padLeft === 0) this.endData();
    }
    return start;
  }

  private endData(): void {
    this.inFrame = false;
    this.sink.dataEnd(this.streamId, this.flags);
  }

  private readPayload(buf: Buffer, start: number, end: number): number {
    if (this.payload === null && end - start >= this.length) {
      this.inFrame = false;
      this.sink.frame(this.type, this.flags, this.streamId, buf, start, start + this.length);
      return start + this.length;
    }
    if (this.payload === null) {
      this.payload = Buffer.allocUnsafe(this.length);
      this.payloadLength = 0;
    }
    const n = Math.min(this.length - this.payloadLength, end - start);
    buf.copy(this.payload, this.payloadLength, start, start + n);
    this.payloadLength += n;
    if (this.payloadLength === this.length) {
      const payload = this.payload;
      this.payload = null;
      this.inFrame = false;
      this.sink.frame(this.type, this.flags, this.streamId, payload, 0, payload.length);
    }
    return start + n;
  }

  private stop(kind: 'preface' | 'oversized' | 'padding', detail: string): void {
    this.stopped = true;
    this.payload = null;
    this.sink.broken(kind, detail);
  }
}

/** True when buf[start, end) is one or more whole frames, back to back, each of a known
 * type on a plausible stream: how a connection picked up midway shows it speaks HTTP/2. */
export function looksLikeFrames(buf: Buffer, start: number, end: number): boolean {
  let frames = 0;
  while (end - start >= FRAME_HEADER) {
    const length = (buf[start] << 16) | (buf[start + 1] << 8) | buf[start + 2];
    const type = buf[start + 3];
    const streamId = buf.readUInt32BE(start + 5);
    if (type > FrameType.CONTINUATION || length > MAX_FRAME_SIZE || streamId > 0x7fffffff) return false;
    const onConnection = type === FrameType.SETTINGS || type === FrameType.PING || type === FrameType.GOAWAY;
    if (onConnection !== (streamId === 0) && type !== FrameType.WINDOW_UPDATE) return false;
    start += FRAME_HEADER + length;
    frames++;
  }
  return frames > 0 && start === end;
}
