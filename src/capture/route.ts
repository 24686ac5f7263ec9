// Which interface the kernel would send a packet to an address over (`ip route get`): traffic
// to one of this host's own addresses, loopback or not, goes over lo.
import { execFileSync } from 'node:child_process';

/** The outgoing interface for `address`, or null when there is no route or `ip` cannot tell. */
export function routeInterface(address: string): string | null {
  try {
    const out = execFileSync('ip', ['-j', 'route', 'get', address], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] });
    const routes = JSON.parse(out) as Array<{ dev?: unknown }>;
    return typeof routes[0]?.dev === 'string' ? routes[0].dev : null;
  } catch {
    return null;
  }
}
