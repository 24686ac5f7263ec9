// HPACK's Huffman code (RFC 7541 §5.2, Appendix B), decoded four bits at a time.
//
// The code is canonical: codes are handed out in order of length, then of symbol, so the
// lengths below (Appendix B's "len" column; symbol 256 is EOS) are all it takes to rebuild
// every code. From them a tree is built once, then a table over (tree node, next nibble):
// the node reached, and the symbol completed on the way if any (no code is shorter than five
// bits, so a nibble completes at most one).

const CODE_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6, 5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5, 6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23, 24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23, 21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25, 19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23, 26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;

/** Per (node, nibble): the node reached after the four bits. */
let nextNode: Uint16Array;
/** Per (node, nibble): the symbol completed on the way, or -1 (EOS_SEEN for EOS: an error). */
let emitted: Int16Array;
/** Per node: the string may end here (the bits since the last symbol are at most seven 1s:
 * the start of EOS, the only padding allowed). */
let mayEnd: Uint8Array;

const EOS_SEEN = -2;

/** Builds the tree from the canonical code, then the nibble tables over its inner nodes. */
function build(): void {
  const symbols = CODE_LENGTHS.map((_, s) => s).sort((a, b) => CODE_LENGTHS[a] - CODE_LENGTHS[b] || a - b);
  // Inner nodes: children[2n], children[2n+1]; a child >= 0 is an inner node, ~symbol a leaf.
  const children: number[] = [0, 0];
  let inner = 1;
  let code = 0;
  let length = CODE_LENGTHS[symbols[0]];
  for (let i = 0; i < symbols.length; i++) {
    const s = symbols[i];
    if (i > 0) {
      code = (code + 1) * 2 ** (CODE_LENGTHS[s] - length);
      length = CODE_LENGTHS[s];
    }
    let node = 0;
    for (let bit = length - 1; bit > 0; bit--) {
      const slot = 2 * node + (Math.floor(code / 2 ** bit) & 1);
      if (children[slot] === 0) {
        children[slot] = inner++;
        children.push(0, 0);
      }
      node = children[slot];
    }
    children[2 * node + (code & 1)] = ~s;
  }
  // Which inner nodes lie on the all-ones path from the root, and how deep.
  const onesDepth = new Int8Array(inner).fill(-1);
  for (let node = 0, depth = 0; depth < 8 && node >= 0; depth++) {
    onesDepth[node] = depth;
    node = children[2 * node + 1];
  }
  nextNode = new Uint16Array(inner * 16);
  emitted = new Int16Array(inner * 16).fill(-1);
  mayEnd = new Uint8Array(inner);
  for (let n = 0; n < inner; n++) {
    mayEnd[n] = onesDepth[n] >= 0 ? 1 : 0;
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = n;
      for (let bit = 3; bit >= 0; bit--) {
        const child = children[2 * node + ((nibble >> bit) & 1)];
        if (child >= 0) {
          node = child;
          continue;
        }
        const symbol = ~child;
        emitted[n * 16 + nibble] = symbol === EOS ? EOS_SEEN : symbol;
        node = 0;
      }
      nextNode[n * 16 + nibble] = node;
    }
  }
}
build();

/** Output space reused by every decode: a decoded string is at most 8/5 of its code. */
let scratch = Buffer.allocUnsafe(4096);

/** The Huffman-coded bytes buf[start, end) as a latin1 string, or null when they are not a
 * valid code (an EOS symbol, or padding that is not a short run of 1s). */
export function decodeHuffman(buf: Buffer, start: number, end: number): string | null {
  const most = Math.ceil(((end - start) * 8) / 5);
  if (most > scratch.length) scratch = Buffer.allocUnsafe(Math.max(most, scratch.length * 2));
  const out = scratch;
  let at = 0;
  let node = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i];
    let k = node * 16 + (byte >> 4);
    let symbol = emitted[k];
    node = nextNode[k];
    if (symbol >= 0) out[at++] = symbol;
    else if (symbol === EOS_SEEN) return null;
    k = node * 16 + (byte & 15);
    symbol = emitted[k];
    node = nextNode[k];
    if (symbol >= 0) out[at++] = symbol;
    else if (symbol === EOS_SEEN) return null;
  }
  if (mayEnd[node] === 0) return null;
  return out.toString('latin1', 0, at);
}
