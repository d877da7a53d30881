// Runs INSIDE the simulated container (see sandbox-plan.ts): uid of the container, only the `-e`
// environment. Does what an agent in the container would: talks to the MCP server NanoClaw
// registered (through the MCP SDK client over stdio), sends a request carrying a generated fake key
// through the proxy from its env, and makes HTTPS requests trusting only the CA files its env names.
// Prints one JSON line with what it saw; the e2e driver judges it.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import tls from 'node:tls';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { expandExample } from '../../test/support/expand-example.js';

export interface SandboxTask {
  mcp?: { command: string; args: string[]; env: Record<string, string> };
  /** Plain-HTTP target sent through HTTP_PROXY with a fake key in the body. */
  leakUrl?: string;
  /** The generated fake key to send (the driver keeps it to audit files for it afterwards). */
  leakKey?: string;
  /** Keep calling list_findings until it reports at least one finding (findings are written async). */
  expectFinding?: boolean;
  /** HTTPS target reached through HTTPS_PROXY, once per CA variable. */
  httpsUrl?: string;
}

export interface CallResult {
  name: string;
  isError: boolean;
  text: string;
  structured?: unknown;
}

export interface HttpsResult {
  variable: string;
  file: string | null;
  ok: boolean;
  status?: number;
  body?: string;
  error?: string;
}

export interface SandboxResult {
  uid: number;
  envKeys: string[];
  tools?: string[];
  calls: CallResult[];
  mcpError?: string;
  leak?: { status?: number; body?: string; error?: string; keyPrefix: string; keyLength: number };
  /** The fake key itself never leaves this process except through the proxy; only its parts' hash. */
  keyEchoedByMcp?: boolean;
  https: HttpsResult[];
}

function proxyOf(envName: string): URL | null {
  const v = process.env[envName] ?? process.env[envName.toLowerCase()];
  if (!v) return null;
  try {
    return new URL(v);
  } catch {
    return null;
  }
}

function basicAuth(u: URL): string | undefined {
  if (!u.username && !u.password) return undefined;
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

function leakRequest(target: string, body: string): Promise<{ status?: number; body?: string; error?: string }> {
  const proxy = proxyOf('HTTP_PROXY');
  if (!proxy) return Promise.resolve({ error: 'no HTTP_PROXY in the container env' });
  return new Promise((resolve) => {
    const auth = basicAuth(proxy);
    const req = http.request(
      {
        host: proxy.hostname,
        port: Number(proxy.port || 80),
        method: 'POST',
        path: target,
        headers: {
          host: new URL(target).host,
          'content-type': 'text/plain',
          'content-length': Buffer.byteLength(body),
          ...(auth ? { 'proxy-authorization': auth } : {}),
        },
        timeout: 15_000,
      },
      (res) => {
        let data = '';
        res.on('data', (c: Buffer) => (data += c.toString('utf8')));
        res.on('end', () => resolve({ status: res.statusCode, body: data.slice(0, 500) }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: errText(e) }));
    req.end(body);
  });
}

/** CONNECT through HTTPS_PROXY, then TLS trusting exactly `ca`, then GET. */
function httpsThroughProxy(target: string, ca: string[]): Promise<{ status?: number; body?: string; error?: string }> {
  const proxy = proxyOf('HTTPS_PROXY');
  if (!proxy) return Promise.resolve({ error: 'no HTTPS_PROXY in the container env' });
  const u = new URL(target);
  const port = Number(u.port || 443);
  return new Promise((resolve) => {
    const auth = basicAuth(proxy);
    const req = http.request({
      host: proxy.hostname,
      port: Number(proxy.port || 80),
      method: 'CONNECT',
      path: `${u.hostname}:${port}`,
      headers: { host: `${u.hostname}:${port}`, ...(auth ? { 'proxy-authorization': auth } : {}) },
      timeout: 15_000,
    });
    req.on('timeout', () => req.destroy(new Error('CONNECT timeout')));
    req.on('error', (e) => resolve({ error: errText(e) }));
    req.on('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        resolve({ error: `CONNECT answered ${res.statusCode}` });
        return;
      }
      const t = tls.connect({ socket, servername: u.hostname, ca }, () => {
        const get = http.request(
          { createConnection: () => t, method: 'GET', path: u.pathname, headers: { host: u.host } },
          (r) => {
            let data = '';
            r.on('data', (c: Buffer) => (data += c.toString('utf8')));
            r.on('end', () => {
              t.end();
              resolve({ status: r.statusCode, body: data.slice(0, 500) });
            });
          },
        );
        get.on('error', (e) => resolve({ error: errText(e) }));
        get.end();
      });
      t.on('error', (e) => resolve({ error: `TLS: ${errText(e)}` }));
    });
    req.end();
  });
}

/** A useful message even for errors without one (AggregateError from a dual-stack connect). */
function errText(e: Error & { code?: string }): string {
  return e.message || e.code || e.name;
}

function readPems(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

async function main(): Promise<void> {
  const task = JSON.parse(Buffer.from(process.argv[2] ?? '', 'base64').toString('utf8')) as SandboxTask;
  const out: SandboxResult = {
    uid: process.getuid?.() ?? -1,
    envKeys: Object.keys(process.env).sort(),
    calls: [],
    https: [],
  };
  const key =
    task.leakKey ??
    expandExample('Authorization: token ghp_{{rand:alnum:36}}').text.slice('Authorization: token '.length);

  if (task.leakUrl) {
    const r = await leakRequest(task.leakUrl, `deploy config\nGITHUB_TOKEN=${key}\n`);
    out.leak = { ...r, keyPrefix: 'ghp_', keyLength: key.length };
  }

  if (task.mcp) {
    // The MCP server's env as NanoClaw's agent runner composes it: the container env plus the server's own.
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
    Object.assign(env, task.mcp.env);
    const transport = new StdioClientTransport({ command: task.mcp.command, args: task.mcp.args, env, stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const client = new Client({ name: 'e2e-sandbox', version: '0.0.0' });
    try {
      await client.connect(transport);
      out.tools = (await client.listTools()).tools.map((t) => t.name).sort();
      const call = async (name: string, args: Record<string, unknown>) => {
        const r = (await client.callTool({ name, arguments: args })) as {
          isError?: boolean;
          content?: { type: string; text?: string }[];
          structuredContent?: unknown;
        };
        const text = (r.content ?? []).map((c) => c.text ?? '').join('\n');
        out.calls.push({ name, isError: r.isError === true, text, structured: r.structuredContent });
      };
      await call('get_status', {});
      await call('validate_config', { config: { proxy_port: 8888, https_inspection: true } });
      await call('validate_config', { config: { proxy_port: 700000 } });
      await call('list_findings', { limit: 20 });
      for (let i = 0; task.expectFinding && i < 25 && /^no findings/i.test(out.calls.at(-1)!.text); i++) {
        await new Promise((r) => setTimeout(r, 200));
        out.calls.pop();
        await call('list_findings', { limit: 20 });
      }
      out.keyEchoedByMcp = JSON.stringify(out.calls).includes(key.slice(4));
    } catch (err) {
      out.mcpError = `${(err as Error).message}${stderr ? `; server stderr: ${stderr.trim().slice(-800)}` : ''}`;
    } finally {
      await client.close().catch(() => {});
    }
  }

  if (task.httpsUrl) {
    const vars: [string, (file: string) => string[]][] = [
      // curl/OpenSSL/Python: SSL_CERT_FILE replaces the default roots.
      ['SSL_CERT_FILE', (f) => readPems(f)],
      // Deno: DENO_CERT adds to its roots; a bundle must still verify this chain on its own.
      ['DENO_CERT', (f) => readPems(f)],
      // Node: NODE_EXTRA_CA_CERTS adds to Node's bundled roots.
      ['NODE_EXTRA_CA_CERTS', (f) => [...tls.rootCertificates, ...readPems(f)]],
    ];
    for (const [variable, load] of vars) {
      const file = process.env[variable] ?? null;
      if (!file) {
        out.https.push({ variable, file, ok: false, error: `${variable} is not set` });
        continue;
      }
      let ca: string[];
      try {
        ca = load(file);
      } catch (err) {
        out.https.push({ variable, file, ok: false, error: `cannot read ${file}: ${(err as Error).message}` });
        continue;
      }
      const r = await httpsThroughProxy(task.httpsUrl, ca);
      out.https.push({ variable, file, ok: r.status === 200, ...r });
    }
  }
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err) => {
  process.stdout.write(`${JSON.stringify({ fatal: (err as Error).stack ?? String(err) })}\n`);
  process.exit(1);
});
