// Redaction audit across everything that leaves the guardian: generated secrets of many formats are
// sent through the real proxy (HTTP and HTTPS; in headers, query strings and bodies, plain, gzip,
// deflate, br, JSON-escaped, percent-encoded, base64 and hex), then every IPC frame, MCP answer, the
// findings log, the service log and the CLI's JSON output are searched for any 8-character run of
// any secret's random part, and for the guardian's own CA and leaf key material.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { loadOrCreateCa } from '../host-services/ca.js';
import { homePaths } from '../host-services/home.js';
import { FrameSplitter, MAX_RESPONSE_FRAME } from '../lib/ipc-protocol.js';
import type { Finding } from '../lib/finding-schema.js';
import { ALL_RULES } from '../lib/rules/index.js';
import { startUpstream, type Upstream } from './support/upstream.js';
import { viaProxyHttp, viaProxyHttps, waitFor, type Resp } from './support/proxy-client.js';
import { startService, tempHome, type TestService } from './support/service.js';
import { expandExample } from './support/expand-example.js';
import { runCli } from './support/cli.js';

const BUNDLE = path.resolve('dist/mcp-tools/traffic-guardian-mcp.mjs');

interface Plant {
  /** Path the request goes to; findings are matched to plants by it. */
  path: string;
  pattern: string;
  randomParts: string[];
  send: () => Promise<Resp>;
}

/** A positive example of the rule, so the audit follows the catalogue's own formats. */
function example(rule: string, match: RegExp): string {
  const r = ALL_RULES.find((x) => x.id === rule);
  if (!r || r.threat_type !== 'EXFIL') throw new Error(`no EXFIL rule ${rule}`);
  const t = r.examples.positive.find((p) => match.test(p));
  if (!t) throw new Error(`no positive example of ${rule} matching ${match}`);
  return t;
}

function runs8(parts: string[]): string[] {
  const out = new Set<string>();
  for (const p of parts) for (let i = 0; i + 8 <= p.length; i++) out.add(p.slice(i, i + 8));
  return [...out];
}

/** Base64 body lines of a PEM file (the armor lines dropped). */
function pemBody(pem: string): string[] {
  return pem
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('-----'));
}

function pct(s: string): string {
  return [...Buffer.from(s)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

let upstream: Upstream;
let upHome: string;
let g: TestService;
const plants: Plant[] = [];
const sources = new Map<string, string>();

async function rawIpc(socketPath: string, requests: unknown[]): Promise<string> {
  const sock = net.connect(socketPath);
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject);
  });
  const raw: Buffer[] = [];
  const splitter = new FrameSplitter(MAX_RESPONSE_FRAME);
  let frames = 0;
  const done = new Promise<void>((resolve) => {
    sock.on('data', (c: Buffer) => {
      raw.push(c);
      frames += splitter.push(c).length;
      if (frames === requests.length) resolve();
    });
  });
  sock.write(requests.map((r) => `${JSON.stringify(r)}\n`).join(''));
  await done;
  sock.destroy();
  return Buffer.concat(raw).toString('utf8');
}

beforeAll(async () => {
  upHome = tempHome('tg-up-');
  const upCa = loadOrCreateCa(homePaths(upHome), { create: true })!;
  upstream = await startUpstream(upCa.certFor('localhost'));
  g = await startService(
    { https_inspection: true, upstream_ca_file: upCa.certPath, dedup_window_secs: 0 },
    { pidFile: true },
  );
  const ca = g.svc.ca!.certPem;
  const http = (p: string, o: Parameters<typeof viaProxyHttp>[2] = {}) =>
    viaProxyHttp(g.port, `http://localhost:${upstream.httpPort}${p}`, o);
  const https = (p: string, o: Parameters<typeof viaProxyHttps>[3] = {}) =>
    viaProxyHttps(g.port, `https://localhost:${upstream.httpsPort}${p}`, ca, o);
  const add = (p: string, pattern: string, randomParts: string[], send: (p: string) => Promise<Resp>) =>
    plants.push({ path: p, pattern, randomParts, send: () => send(p) });

  // 1. Anthropic key in a request header (HTTP).
  const anthropic = expandExample(example('ai_api_key', /^x-api-key: sk-ant-api03-/));
  add('/p1', 'ai_api_key', anthropic.randomParts, (p) =>
    http(p, { headers: { 'x-api-key': anthropic.text.replace(/^x-api-key: /, '') } }),
  );
  // 2. OpenAI project key in the Authorization header, inside inspected TLS.
  const openai = expandExample(example('ai_api_key', /Bearer sk-proj-/));
  add('/p2', 'ai_api_key', openai.randomParts, (p) =>
    https(p, { headers: { authorization: openai.text.replace(/^Authorization: /, '') } }),
  );
  // 3. GitHub token in the query string (HTTP).
  const github = expandExample('ghp_{{rand:alnum:36}}');
  expect(ALL_RULES.find((r) => r.id === 'github_token')!.examples.positive.join()).toContain('ghp_{{rand:alnum:36}}');
  add('/p3', 'github_token', github.randomParts, (p) => http(`${p}?access=${github.text}&x=1`));
  // 4. GitLab token in the query string (HTTPS).
  const gitlab = expandExample(example('gitlab_token', /^PRIVATE-TOKEN: glpat-/));
  add('/p4', 'gitlab_token', gitlab.randomParts, (p) =>
    https(`${p}?private_token=${gitlab.text.replace(/^PRIVATE-TOKEN: /, '')}`),
  );
  // 5. AWS secret key in a plain credentials-file body (HTTP).
  const awsSecret = expandExample(example('aws_secret_key', /^\[default\]/));
  add('/p5', 'aws_secret_key', awsSecret.randomParts, (p) => http(p, { method: 'POST', body: awsSecret.text }));
  // 6. AWS access key id, percent-encoded in a form body (HTTPS).
  const awsId = expandExample(example('aws_access_key', /^aws_access_key_id = AKIA/));
  add('/p6', 'aws_access_key', awsId.randomParts, (p) =>
    https(p, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `note=hello&creds=${pct(awsId.text)}`,
    }),
  );
  // 7. A freshly generated RSA private key, JSON-escaped in a body (HTTPS).
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  add('/p7', 'private_key_pem', pemBody(privateKey), (p) =>
    https(p, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ path: 'id_rsa', content: privateKey }),
    }),
  );
  // 8. Stripe key in a gzip body (HTTP).
  const stripe = expandExample(example('stripe_key', /sk_live_/));
  add('/p8', 'stripe_key', stripe.randomParts, (p) =>
    http(p, { method: 'POST', headers: { 'content-encoding': 'gzip' }, body: zlib.gzipSync(stripe.text) }),
  );
  // 9. Slack token, base64 inside a JSON body (HTTPS).
  const slack = expandExample(example('slack_token', /^SLACK_BOT_TOKEN=xoxb-/));
  add('/p9', 'slack_token', slack.randomParts, (p) =>
    https(p, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ blob: Buffer.from(`${slack.text}\n`).toString('base64') }),
    }),
  );
  // 10. Google API key in a JSON body with escaped slashes and dashes (HTTP).
  const google = expandExample(example('google_api_key', /maps\.example\.net/));
  add('/p10', 'google_api_key', google.randomParts, (p) =>
    http(p, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"url":"${google.text.replace(/\//g, '\\/').replace(/-/g, '\\u002d')}"}`,
    }),
  );
  // 11. Hugging Face token in a brotli body (HTTPS).
  const hf = expandExample(example('huggingface_token', /^HF_TOKEN=/));
  add('/p11', 'huggingface_token', hf.randomParts, (p) =>
    https(p, { method: 'POST', headers: { 'content-encoding': 'br' }, body: zlib.brotliCompressSync(hf.text) }),
  );
  // 12. npm token, hex-encoded in a body (HTTP).
  const npm = expandExample(example('npm_token', /registry\.npmjs\.org/));
  add('/p12', 'npm_token', npm.randomParts, (p) =>
    http(p, { method: 'POST', body: `payload=${Buffer.from(npm.text).toString('hex')}` }),
  );
  // 13. JWT credential in a deflate JSON body (HTTPS).
  const jwt = expandExample(example('jwt_credential', /access_token/));
  add('/p13', 'jwt_credential', jwt.randomParts, (p) =>
    https(p, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'deflate' },
      body: zlib.deflateSync(jwt.text),
    }),
  );
  // 14. Fine-grained GitHub token in the URL path itself (HTTP).
  const pat = expandExample(example('github_token', /github_pat_/));
  const patToken = /github_pat_\w+/.exec(pat.text)![0];
  add('/p14', 'github_token', pat.randomParts, (p) => http(`${p}/repos/${patToken}/x`));
  // 15. Anthropic admin key in a cookie (HTTPS).
  const admin = expandExample(example('ai_api_key', /sk-ant-admin01-/));
  const adminKey = /sk-ant-admin01-[\w-]+AA/.exec(admin.text)![0];
  add('/p15', 'ai_api_key', admin.randomParts, (p) => https(p, { headers: { cookie: `theme=dark; k=${adminKey}` } }));

  for (const plant of plants) {
    const r = await plant.send();
    expect(r.status, plant.path).toBeGreaterThan(0);
  }
  // Inbound injections too, so neutralised snippets are part of the audit.
  expect((await http('/plain')).status).toBe(200);
  expect((await https('/gzip')).status).toBe(200);

  const wanted = plants.length + 2;
  await waitFor(
    async () => {
      await g.svc.store.flush();
      return (await g.svc.listFindings({ limit: 500 })).length;
    },
    (n) => n >= wanted,
    `${wanted} findings`,
  );
  // Each plant's finding must be in: wait for every one, not only for the count.
  await waitFor(
    async () => {
      await g.svc.store.flush();
      const fs = await g.svc.listFindings({ limit: 500 });
      return plants.filter((pl) => !fs.some((f) => matches(f, pl))).map((pl) => pl.path);
    },
    (missing) => missing.length === 0,
    'a finding for every planted secret',
  );
  await g.svc.store.flush();

  // --- collect everything that leaves the guardian ---
  sources.set(
    'ipc frames',
    await rawIpc(g.svc.socketPath, [
      { id: 1, method: 'hello' },
      { id: 2, method: 'get_status' },
      { id: 3, method: 'list_findings', params: { limit: 500 } },
      { id: 4, method: 'list_findings', params: { threat_type: 'INJECTION' } },
    ]),
  );

  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [BUNDLE, '--socket', g.svc.socketPath],
    stderr: 'pipe',
  });
  let mcpErr = '';
  transport.stderr?.on('data', (d: Buffer) => (mcpErr += d.toString()));
  const client = new Client({ name: 'leak-audit', version: '0.0.0' });
  await client.connect(transport);
  try {
    const results: unknown[] = [await client.listTools()];
    results.push(await client.callTool({ name: 'get_status', arguments: {} }));
    results.push(await client.callTool({ name: 'list_findings', arguments: { limit: 100 } }));
    for (const pattern of new Set(plants.map((p) => p.pattern)))
      results.push(await client.callTool({ name: 'list_findings', arguments: { pattern } }));
    results.push(await client.callTool({ name: 'list_findings', arguments: { threat_type: 'INJECTION' } }));
    results.push(await client.callTool({ name: 'validate_config', arguments: { config: { proxy_port: 70000 } } }));
    sources.set('mcp results', results.map((r) => JSON.stringify(r)).join('\n'));
  } finally {
    await client.close();
  }
  sources.set('mcp stderr', mcpErr);

  const logFiles = readdirSync(g.home)
    .filter((f) => f.startsWith('findings.jsonl'))
    .map((f) => readFileSync(path.join(g.home, f), 'utf8'));
  sources.set('findings log', logFiles.join(''));
  sources.set('service log', g.logs.join('\n'));

  const env = { NANOCLAW_TRAFFIC_GUARDIAN_HOME: g.home };
  const status = await runCli(['status', '--json'], { env });
  expect(status.code, status.stderr).toBe(0);
  sources.set('cli status', status.stdout + status.stderr);
  const findings = await runCli(['findings', '--json', '--limit', '500'], { env });
  expect(findings.code, findings.stderr).toBe(0);
  sources.set('cli findings', findings.stdout + findings.stderr);
});

afterAll(async () => {
  await g?.stop();
  await upstream?.close();
  if (upHome) rmSync(upHome, { recursive: true, force: true });
});

function matches(f: Finding, plant: Plant): boolean {
  const p = (f.path ?? '').split('?')[0]!;
  return f.pattern === plant.pattern && (p === plant.path || p.startsWith(`${plant.path}/`));
}

describe('leak audit', () => {
  it('is not vacuous: every planted secret produced a finding, and every source has content', async () => {
    const fs = await g.svc.listFindings({ limit: 500 });
    for (const plant of plants) {
      const hit = fs.filter((f) => matches(f, plant));
      expect(hit.length, `${plant.pattern} at ${plant.path}`).toBeGreaterThanOrEqual(1);
      expect(hit[0]!.direction).toBe('outbound');
    }
    expect(new Set(fs.filter((f) => plants.some((p) => matches(f, p))).map((f) => f.protocol))).toEqual(
      new Set(['http', 'https']),
    );
    expect(fs.some((f) => f.threat_type === 'INJECTION')).toBe(true);
    for (const name of ['ipc frames', 'mcp results', 'findings log', 'service log', 'cli status', 'cli findings'])
      expect(sources.get(name)?.length ?? 0, name).toBeGreaterThan(200);
    // The outputs do carry the findings: a marker of redaction is in each of them.
    for (const name of ['ipc frames', 'mcp results', 'findings log', 'cli findings'])
      expect(sources.get(name), name).toContain('[REDACTED');
    // And the audit is sharp: the random parts would be found if they were there.
    expect(plants.flatMap((p) => p.randomParts).every((r) => r.length >= 8)).toBe(true);
  });

  it('shows no 8-character run of any secret random part anywhere', () => {
    const windows = runs8(plants.flatMap((p) => p.randomParts));
    expect(windows.length).toBeGreaterThan(500);
    const leaks: string[] = [];
    for (const [name, text] of sources) for (const w of windows) if (text.includes(w)) leaks.push(`${name}: ${w}`);
    expect(leaks).toEqual([]);
  });

  it('shows no CA or leaf key material in any output', () => {
    const caDir = path.join(g.home, 'ca');
    const keys = ['ca.key', 'leaf.key'].map((k) => path.join(caDir, k));
    for (const k of keys) expect(existsSync(k), k).toBe(true);
    const bodies = keys.flatMap((k) => pemBody(readFileSync(k, 'utf8')));
    expect(bodies.join('').length).toBeGreaterThan(1000);
    const windows = runs8(bodies);
    const leaks: string[] = [];
    for (const [name, text] of sources) {
      for (const w of windows) if (text.includes(w)) leaks.push(`${name}: ${w}`);
      for (const k of keys) expect(text, name).not.toContain(readFileSync(k, 'utf8').trim());
    }
    expect(leaks).toEqual([]);
  });

  it('says "PRIVATE KEY" in IPC and MCP output only as the armor of a redacted private_key_pem snippet', () => {
    for (const name of ['ipc frames', 'mcp results', 'mcp stderr', 'cli status']) {
      const text = sources.get(name)!;
      // An armor line followed (after JSON-escaped line breaks) by the redaction marker is the rule's
      // public format (`⟦…⟧` where the text was neutralised); anything else would be key material or a key
      // header on its own.
      const stripped = text
        .replace(
          /-----BEGIN (?:RSA |EC |OPENSSH |ENCRYPTED )?PRIVATE KEY-----(?:\\\\[rn])*[[⟦]REDACTED \d+ chars[\]⟧]/g,
          '',
        )
        .replace(/-----END (?:RSA |EC |OPENSSH |ENCRYPTED )?PRIVATE KEY-----/g, '');
      expect(stripped, name).not.toContain('PRIVATE KEY');
    }
  });
});
