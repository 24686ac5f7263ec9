// A throwaway one-worker nginx on loopback, with an access log as ground truth of what it served.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

export interface Nginx {
  port: number;
  /** Requests nginx logged (one access-log line each). */
  served(): number;
  stop(): Promise<void>;
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

export async function startNginx(dir: string, name: string, port: number): Promise<Nginx> {
  const root = path.join(dir, `nginx-${name}`);
  fs.mkdirSync(root, { recursive: true });
  const accessLog = path.join(root, 'access.log');
  const conf = path.join(root, 'nginx.conf');
  fs.writeFileSync(conf, `worker_processes 1;
pid ${root}/nginx.pid;
error_log ${root}/error.log warn;
events { worker_connections 4096; }
http {
  log_format plain '$request';
  access_log ${accessLog} plain buffer=64k flush=100ms;
  keepalive_requests 1000000;
  client_body_temp_path ${root}/body;
  server {
    listen 127.0.0.1:${port} backlog=4096;
    location / { default_type application/json; return 200 '{"ok":true,"from":"${name}"}'; }
  }
}
`);
  const child = spawn('nginx', ['-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  for (let i = 0; i < 100 && !(await listening(port)); i++) await new Promise((r) => setTimeout(r, 50));
  if (!(await listening(port))) throw new Error(`nginx ${name} did not start on ${port}: ${stderr}`);
  return {
    port,
    served: () => (fs.existsSync(accessLog) ? fs.readFileSync(accessLog, 'utf8').split('\n').filter(Boolean).length : 0),
    stop: async () => {
      child.kill('SIGQUIT'); // graceful: flushes the access log buffer
      await exited;
    },
  };
}
