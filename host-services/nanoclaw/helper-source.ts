// The source of `src/traffic-guardian.ts`, the file install adds to NanoClaw. It is written to pass
// NanoClaw's own checks as it stands (Prettier with singleQuote and printWidth 120, ESLint, strict
// NodeNext TypeScript); test/nanoclaw-install.test.ts runs Prettier and tsc on it, and the NanoClaw
// end-to-end script runs NanoClaw's format:check, lint, typecheck, build and tests with it in place.
import { BEGIN } from './runner-patch.js';
import { IN_CONTAINER } from './paths.js';

/** The wiring file install writes per group and the helper reads at each spawn. */
export interface Wiring {
  version: 2;
  group: string;
  /** Proxy variables with the group's own guardian credentials. */
  env: Record<string, string>;
  /** Host directory mounted read-only at IN_CONTAINER.dir (MCP bundle, CA certificate, CA bundles). */
  share_dir: string;
  /** Host directory of the group's status socket, mounted read-only at IN_CONTAINER.socketDir. */
  socket_dir: string;
  /** Where the helper records the group's own OneCLI gateway for the guardian. */
  upstream_file: string;
  /** How the host reaches what containers call host.docker.internal. */
  gateway_host: string;
}

export function helperSource(wiringDir: string): string {
  return `${BEGIN} (whole file; added by \`traffic-guardian install\`, removed by \`traffic-guardian uninstall\`)
// Routes an agent group's container through the host traffic guardian. buildContainerArgs calls it after
// OneCLI has pushed its gateway env, so what is pushed here wins in \`docker run\`. For a wired group it:
//  - records the group's own OneCLI gateway (with that agent's token) and OneCLI's CA for the guardian,
//    which chains the group's traffic there, so OneCLI still sees each agent as itself;
//  - writes the CA bundles the container trusts: what it trusted before (public roots, OneCLI's CA) plus
//    the guardian's CA certificate (never its key);
//  - points the proxy variables at the guardian with the group's own credentials, and mounts read-only
//    (through NanoClaw's mount helper) the MCP bundle, the bundles and the group's status socket.
// Groups without a wiring file are untouched. A wiring problem is logged and the container starts as it
// would without the guardian: the guardian only watches, it never stands between an agent and its work.
import fs from 'fs';
import path from 'path';
import tls from 'tls';

import { readonlyMountArgs } from './container-runtime.js';
import { log } from './log.js';

const WIRING_DIR = ${quote(wiringDir)};
const IN_CONTAINER = {
  dir: ${quote(IN_CONTAINER.dir)},
  socketDir: ${quote(IN_CONTAINER.socketDir)},
  caBundle: ${quote(IN_CONTAINER.caBundle)},
  extraCa: ${quote(IN_CONTAINER.extraCa)},
};
/** Variables naming a full CA bundle: each gets every CA the container needs. */
const BUNDLE_VARS = ['SSL_CERT_FILE', 'DENO_CERT', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE', 'GIT_SSL_CAINFO'];

interface Wiring {
  version: 2;
  group: string;
  env: Record<string, string>;
  share_dir: string;
  socket_dir: string;
  upstream_file: string;
  gateway_host: string;
}

interface DockerArgs {
  /** The last value each variable was given so far. */
  env: Map<string, string>;
  /** Host path of each mount, by its path in the container. */
  mounts: Map<string, string>;
}

export function trafficGuardianArgs(folder: string, args: readonly string[]): string[] {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(folder)) return [];
  const file = path.join(WIRING_DIR, \`\${folder}.json\`);
  if (!fs.existsSync(file)) return [];
  try {
    const wiring = JSON.parse(fs.readFileSync(file, 'utf8')) as Wiring;
    const before = readDockerArgs(args);
    const onecliCa = recordUpstream(wiring, before);
    writeBundles(wiring, before, onecliCa);
    return guardianArgs(wiring, before);
    // eslint-disable-next-line no-catch-all/no-catch-all -- any failure here must leave the spawn as it was
  } catch (err) {
    log.warn('traffic-guardian: wiring not applied; this container runs without the guardian', { folder, err });
    return [];
  }
}

function readDockerArgs(args: readonly string[]): DockerArgs {
  const env = new Map<string, string>();
  const mounts = new Map<string, string>();
  for (let i = 0; i < args.length - 1; i++) {
    const flag = args[i];
    const value = args[i + 1];
    if (flag === '-e' || flag === '--env') {
      const eq = value.indexOf('=');
      if (eq > 0) env.set(value.slice(0, eq), value.slice(eq + 1));
    } else if (flag === '-v' || flag === '--volume') {
      const [hostPath, containerPath] = value.split(':');
      if (hostPath && containerPath) mounts.set(containerPath, hostPath);
    } else if (flag === '--mount') {
      const kv = new Map(value.split(',').map((part) => part.split('=', 2) as [string, string]));
      const source = kv.get('source') ?? kv.get('src');
      const target = kv.get('target') ?? kv.get('destination') ?? kv.get('dst');
      if (source && target) mounts.set(target, source);
    }
  }
  return { env, mounts };
}

/** Reads a file the container was given, by its path inside the container; '' when there is none. */
function hostFile(before: DockerArgs, containerPath: string | undefined): string {
  const hostPath = containerPath ? before.mounts.get(containerPath) : undefined;
  return hostPath && fs.existsSync(hostPath) ? fs.readFileSync(hostPath, 'utf8').trim() : '';
}

/** Records the group's own gateway (OneCLI's proxy URL carries that agent's token); returns OneCLI's CA. */
function recordUpstream(wiring: Wiring, before: DockerArgs): string {
  const gateway = before.env.get('HTTPS_PROXY') ?? before.env.get('https_proxy');
  const ca = hostFile(before, before.env.get('NODE_EXTRA_CA_CERTS'));
  if (!gateway) {
    fs.rmSync(wiring.upstream_file, { force: true });
    return ca;
  }
  const url = new URL(gateway);
  if (url.hostname === 'host.docker.internal') url.hostname = wiring.gateway_host;
  const record = { version: 1, group: wiring.group, proxy_url: url.toString(), ca_pem: ca };
  writePrivate(wiring.upstream_file, \`\${JSON.stringify(record)}\\n\`, 0o600);
  return ca;
}

/** What the container trusted before (its bundle, else Node's public roots) plus the guardian's CA. */
function writeBundles(wiring: Wiring, before: DockerArgs, onecliCa: string): void {
  const guardianCa = fs.readFileSync(path.join(wiring.share_dir, 'ca.crt'), 'utf8').trim();
  const roots = hostFile(before, before.env.get('SSL_CERT_FILE')) || tls.rootCertificates.join('\\n');
  const extra = [onecliCa, guardianCa].filter(Boolean);
  writePrivate(path.join(wiring.share_dir, 'extra-ca.pem'), \`\${extra.join('\\n')}\\n\`, 0o644);
  writePrivate(path.join(wiring.share_dir, 'ca-bundle.pem'), \`\${[roots, ...extra].join('\\n')}\\n\`, 0o644);
}

function guardianArgs(wiring: Wiring, before: DockerArgs): string[] {
  const env: Record<string, string> = { ...wiring.env };
  const noProxy = [before.env.get('NO_PROXY'), before.env.get('no_proxy'), wiring.env.NO_PROXY]
    .flatMap((v) => (v ? v.split(',') : []))
    .map((v) => v.trim())
    .filter((v, i, all) => v && all.indexOf(v) === i)
    .join(',');
  if (noProxy) Object.assign(env, { NO_PROXY: noProxy, no_proxy: noProxy });
  env.NODE_EXTRA_CA_CERTS = IN_CONTAINER.extraCa;
  for (const name of BUNDLE_VARS) env[name] = IN_CONTAINER.caBundle;
  const out: string[] = [];
  for (const [key, value] of Object.entries(env)) out.push('-e', \`\${key}=\${value}\`);
  out.push(...readonlyMountArgs(wiring.share_dir, IN_CONTAINER.dir));
  out.push(...readonlyMountArgs(wiring.socket_dir, IN_CONTAINER.socketDir));
  return out;
}

// A fresh file (O_EXCL: never through a link planted at the temporary name) renamed over the old one.
function writePrivate(file: string, data: string, mode: number): void {
  const tmp = \`\${file}.\${process.pid}.tmp\`;
  fs.rmSync(tmp, { force: true });
  fs.writeFileSync(tmp, data, { mode, flag: 'wx' });
  fs.renameSync(tmp, file);
}
`;
}

function quote(s: string): string {
  // A single-quoted TS string, as Prettier (singleQuote) would print it.
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
