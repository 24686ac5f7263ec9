// Runs the varied client mix from wherever it is started (e.g. inside a test network namespace)
// and prints the requests it sent as JSON: node mix-client.js ADDRESS PORT COUNT SEED
import { sendVariedMix } from './traffic';

const [address, port, count, seed] = process.argv.slice(2);
const host = address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
sendVariedMix(Number(port), { address, host, count: Number(count), seed: Number(seed), bigUploads: 1 }).then(
  (sent) => process.stdout.write(JSON.stringify(sent)),
  (err: Error) => {
    process.stderr.write(`${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
