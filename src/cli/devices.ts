// `shadowtap devices`: the interfaces libpcap can capture on, with their addresses.

import { listDevices } from '../capture';

export function devices(json: boolean, out: NodeJS.WritableStream = process.stdout): number {
  const list = listDevices();
  if (json) {
    out.write(`${JSON.stringify(list)}\n`);
    return 0;
  }
  for (const d of list) {
    const addresses = d.addresses.map((a) => a.address).join(', ') || '-';
    const notes = [d.loopback ? 'loopback' : '', d.description ?? ''].filter(Boolean).join('; ');
    out.write(`${d.name.padEnd(16)} ${addresses}${notes ? `  (${notes})` : ''}\n`);
  }
  return 0;
}
