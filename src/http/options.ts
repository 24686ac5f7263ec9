// The HTTP analyzer's flags.

import { optionTable } from '../config/options';

export const httpOptions = optionTable({
  maxBodyMb: { flag: '--max-body-mb <n>', type: 'int', default: 16, min: 0, max: 4096, help: 'request body kept for replay; longer bodies are not replayed',
    readme: 'request body kept for replay; a longer request is counted `bodyTooLarge`' },
});
