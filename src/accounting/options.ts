// The memory budget's flag: every command that reads packets stays within it.

import { optionTable } from '../config/options';

export const memoryOptions = optionTable({
  maxMemoryMb: { flag: '--max-memory-mb <n>', type: 'int', default: 256, min: 128, max: 1_048_576,
    help: 'memory budget: flows, buffers, messages in progress, replay and compare state share it and shed (counted) before it is full',
    readme: 'memory budget (MiB) shared out to tracked connections, out-of-order bytes, heads and bodies in progress, replay queues and comparison state; each sheds what it holds most of, counted, before its share is full (see [Memory](#memory)); caps `--max-connections`, `--max-total-buffer-mb`, `--queue-mb` and `--buffer-mb`' },
});
