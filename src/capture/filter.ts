// The capture filter: production's ports and/or a raw BPF expression, plus the replay targets
// when shadowtap times its own replays on the wire.

/** BPF filters for the given ports and/or raw expression, best first: the port part also
 * matching frames with one or two VLAN tags (a trunk port, where a plain "tcp port" misses
 * them), then without, for link types that carry no VLAN tags. */
export function captureFilters(ports: number[], filter: string | undefined,
  also: Array<{ address: string; port: number }> = []): Array<string | undefined> {
  // The replay targets' connections (--wire-timing), whatever the production filter says;
  // first, since "vlan" shifts the offsets of every test after it.
  const extra = also.map((a) => `(tcp and host ${a.address} and port ${a.port})`).join(' or ');
  const plus = (f: string | undefined): string | undefined => (extra === '' || f === undefined ? f : `${extra} or (${f})`);
  if (ports.length === 0) return [plus(filter)];
  const tcp = `tcp and (${ports.map((p) => `port ${p}`).join(' or ')})`;
  const withVlan = `(${tcp}) or (vlan and ((${tcp}) or (vlan and ${tcp})))`;
  const and = (portPart: string) => (filter === undefined ? portPart : `(${filter}) and (${portPart})`);
  return [plus(and(withVlan)), plus(and(tcp))];
}
