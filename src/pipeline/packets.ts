// Wires the stages: packet batches → decode → tcp → http → the command's HttpSink.

import { RecordCursor } from '../capture';
import { DecodeOutcome, TcpPacket, decodePacket } from '../decode';
import { HttpOptions, HttpSink, HttpStage, HttpStats } from '../http';
import { Reassembler, ReassemblyOptions, ReassemblyStats, SequenceMarkSink, SequenceMarkStats, SequenceMarks } from '../tcp';
import { MemoryGuard, MemoryPlan, MemoryStats, memoryStats } from '../accounting/memory';

export type DecodeStats = Record<DecodeOutcome, number>;

export interface PipelineStats {
  decode: DecodeStats;
  tcp: ReassemblyStats;
  http: HttpStats;
  memory?: MemoryStats;
  /** Packets of shadowtap's own replays, located for wire timing instead of reassembled. */
  wireMarks?: SequenceMarkStats;
}

/** Servers whose connections are only located (their packets marked), never reassembled. */
export interface MarkedServers {
  servers: ReadonlyArray<{ address: string; port: number }>;
  sink: SequenceMarkSink;
}

export class PacketPipeline {
  readonly decode: DecodeStats = {
    tcp: 0, unsupportedLink: 0, notIp: 0, notTcp: 0, fragment: 0, truncated: 0, malformed: 0,
  };
  readonly reassembler: Reassembler;
  readonly http: HttpStage;
  private readonly packet = new TcpPacket();
  private readonly cursor = new RecordCursor();
  private readonly marks: SequenceMarks | null;
  private finished = false;

  /** The budget the pipeline runs within, and its guard; null when none was given. */
  private readonly memory: { plan: MemoryPlan; guard: MemoryGuard } | null;

  constructor(sink: HttpSink, options: { tcp?: Partial<ReassemblyOptions>; http?: Partial<HttpOptions>; memory?: MemoryPlan; marked?: MarkedServers | null } = {}) {
    this.http = new HttpStage(sink, options.http);
    this.reassembler = new Reassembler(this.http, options.tcp);
    this.marks = options.marked == null ? null : new SequenceMarks(options.marked.servers, options.marked.sink);
    this.memory = options.memory === undefined ? null : { plan: options.memory, guard: new MemoryGuard(options.memory.budgetBytes) };
  }

  /** Processes one batch of capture records from a link of `linkType`. */
  batch(linkType: number, buf: Buffer, count: number): void {
    const cursor = this.cursor;
    const packet = this.packet;
    const decode = this.decode;
    const marks = this.marks;
    cursor.reset(buf, count);
    while (cursor.next()) {
      const outcome = decodePacket(linkType, buf, cursor.offset, cursor.caplen, cursor.wirelen, packet);
      decode[outcome]++;
      if (outcome === 'tcp' && (marks === null || !marks.take(packet, cursor.tsUs))) this.reassembler.push(packet, cursor.tsUs);
    }
    this.memory?.guard.check();
  }

  /** Closes every connection still open: what is incomplete is counted as such. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.reassembler.flush('shutdown');
  }

  stats(): PipelineStats {
    return {
      decode: { ...this.decode },
      tcp: { ...this.reassembler.stats, closed: { ...this.reassembler.stats.closed } },
      http: {
        ...this.http.stats,
        lost: { ...this.http.stats.lost },
        responsesMissing: { ...this.http.stats.responsesMissing },
        h2: { ...this.http.stats.h2 },
      },
      ...(this.marks === null ? {} : { wireMarks: { ...this.marks.stats } }),
      ...(this.memory === null ? {} : { memory: memoryStats(this.memory.plan, this.http.messages, this.reassembler.maxConnections, this.memory.guard) }),
    };
  }
}
