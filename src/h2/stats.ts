// The h2 analyzer's counters, kept under the http stage's stats (`http.h2` in the summary).

export interface H2Stats {
  /** Connections read as HTTP/2 cleartext: by the client's preface (or the server's first
   * SETTINGS), or after an accepted `Upgrade: h2c` (also in `upgraded`). */
  connections: number;
  upgraded: number;
  /** Connections joined midway whose first bytes are HTTP/2 frames: without the preface and
   * the header tables' history their headers cannot be decoded; counted, not read. */
  midstream: number;
  /** Client streams opened (one request each). */
  streams: number;
  /** PUSH_PROMISE frames: the promised requests are the server's, never replayed. */
  pushPromises: number;
  /** RST_STREAM frames, from either side. */
  resets: number;
  goaways: number;
  /** Header blocks that are not valid HPACK: that direction's table is lost, the connection
   * stops being read (as a peer would close it with COMPRESSION_ERROR). */
  hpackErrors: number;
  /** Frames longer than the receiver's SETTINGS_MAX_FRAME_SIZE (at most MAX_FRAME_SIZE). */
  oversizedFrames: number;
  /** Header lists beyond MAX_HEADER_LIST once decoded (an HPACK bomb): that stream's
   * message is lost, the connection goes on. */
  headerListTooLarge: number;
  /** Header blocks (HEADERS + CONTINUATION) beyond MAX_HEADER_BLOCK bytes. */
  headerBlockTooLarge: number;
  /** Another frame where a CONTINUATION of the same stream was due. */
  continuationErrors: number;
  /** Other framing errors: a wrong preface, padding beyond the frame, a frame on the wrong
   * stream, a malformed request or response head. */
  protocolErrors: number;
  /** Streams given up because more than maxPending were open on one connection (oldest first). */
  streamsShed: number;
}

export function newH2Stats(): H2Stats {
  return {
    connections: 0, upgraded: 0, midstream: 0, streams: 0, pushPromises: 0, resets: 0, goaways: 0, hpackErrors: 0,
    oversizedFrames: 0, headerListTooLarge: 0, headerBlockTooLarge: 0, continuationErrors: 0, protocolErrors: 0,
    streamsShed: 0,
  };
}
