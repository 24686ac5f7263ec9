// Reassembly's flags: how long and how much the flow table keeps.

import { optionTable } from '../config/options';

export const tcpOptions = optionTable({
  idleTimeout: { flag: '--idle-timeout <seconds>', type: 'int', default: 60, min: 1, max: 86400, help: 'expire connections idle this long (capture time)' },
  maxConnections: { flag: '--max-connections <n>', type: 'int', default: 100_000, min: 16, max: 10_000_000, help: 'connections tracked at once; the oldest is evicted beyond',
    readme: 'connections tracked at once, at most what the memory budget\'s flow share holds (~27,600 at the default budget); beyond, the least recently active is evicted' },
  maxBufferMb: { flag: '--max-buffer-mb <n>', type: 'int', default: 4, min: 1, max: 1024, help: 'out-of-order bytes held per connection direction',
    readme: 'out-of-order bytes held per connection direction before a gap is declared' },
  maxTotalBufferMb: { flag: '--max-total-buffer-mb <n>', type: 'int', default: 256, min: 1, max: 65536, help: 'out-of-order bytes held over all connections' },
});
