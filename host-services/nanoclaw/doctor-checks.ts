// Small probes the doctor uses: a TCP connect, a request through the proxy to the guardian's own probe
// name, the NanoClaw host process and its start time, PEM certificate lists.
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';

export function tcpReachable(host: string, port: number, timeoutMs = 2000): Promise<string | null> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (why: string | null) => {
      s.destroy();
      resolve(why);
    };
    s.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    s.once('connect', () => done(null));
    s.once('error', (e: NodeJS.ErrnoException) => done(e.code ?? e.message));
  });
}

/** GET http://<probeHost>/ through the proxy with the given Proxy-Authorization; the status and body. */
export function probeThroughProxy(
  proxy: { host: string; port: number },
  probeHost: string,
  authorization: string | undefined,
  timeoutMs = 3000,
): Promise<{ status: number; body: string } | { error: string }> {
  return new Promise((resolve) => {
    const req = http.request({
      host: proxy.host,
      port: proxy.port,
      method: 'GET',
      path: `http://${probeHost}/`,
      headers: { host: probeHost, ...(authorization ? { 'proxy-authorization': authorization } : {}) },
      agent: false,
      timeout: timeoutMs,
    });
    req.once('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        if (body.length < 64 * 1024) body += c;
      });
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.once('error', (e) => resolve({ error: e.message }));
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

/** The NanoClaw host processes of checkout `dir` (`node .../dist/index.js` run from it) and when each started. */
export function nanoclawHostProcesses(dir: string): { pid: number; started: Date }[] {
  let out: string;
  try {
    out = execFileSync('ps', ['-eo', 'pid=,lstart=,args='], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  } catch {
    return [];
  }
  const found: { pid: number; started: Date }[] = [];
  for (const line of out.split('\n')) {
    // pid, then lstart as five fields ("Tue Dec  1 06:20:41 2026"), then the command line.
    const m = /^\s*(\d+)\s+(\S+\s+\S+\s+\d+\s+[\d:]+\s+\d+)\s+(.*)$/.exec(line);
    if (!m || !/(^|[\s/])dist\/index\.js(\s|$)/.test(m[3]!)) continue;
    const pid = Number(m[1]);
    const args = m[3]!;
    let cwd = '';
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // not Linux, or not ours to read: rely on the command line
    }
    if (args.includes(`${dir}/dist/index.js`) || cwd === dir) found.push({ pid, started: new Date(m[2]!) });
  }
  return found;
}

/** The certificates in a PEM text, by SHA-256 fingerprint; unparsable blocks are skipped. */
export function pemFingerprints(pem: string): Set<string> {
  const out = new Set<string>();
  for (const block of pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []) {
    try {
      out.add(new X509Certificate(block).fingerprint256);
    } catch {
      // not a certificate we can read; it does not count
    }
  }
  return out;
}
