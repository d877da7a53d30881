// The self-check of `get_status`: does this container's own traffic pass the guardian, and how?
// It reads the proxy variables (proxy-env.ts), probes PROBE_HOST through the proxies they name
// (self-probe-client.ts) and, with HTTPS inspection on, checks that the guardian's certificate is
// trusted the way this container's clients would check it. The verdict is plain: watched, partly
// (with what is not), or not watched (with why). Bounded in time; never throws.
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { noProxyCoversAll, readProxyEnv, type Env, type ProxyEnv, type ProxyTarget } from './proxy-env.js';
import { probeHttp, probeHttps, type ProbeOutcome } from './self-probe-client.js';

export const DEFAULT_PROBE_TIMEOUT_MS = 2000;
/** Largest CA file read for the OpenSSL-style trust check. */
const MAX_CA_FILE = 4 * 1024 * 1024;

const Line = z.string().max(600);

const TrustSchema = z
  .object({
    /** Who trusts this way: `node` (default trust plus NODE_EXTRA_CA_CERTS) or `SSL_CERT_FILE` (curl, Python, git). */
    by: z.enum(['node', 'SSL_CERT_FILE']),
    trusted: z.boolean(),
    detail: Line,
  })
  .strict();

const RouteSchema = z
  .object({
    /** The variable used and its value without credentials, e.g. `https_proxy=http://[credentials]@h:8888`. */
    proxy: Line.nullable(),
    /** True when a probe sent this way was answered by the guardian. */
    reaches_guardian: z.boolean(),
    detail: Line,
  })
  .strict();

export const SelfCheckSchema = z
  .object({
    verdict: z.enum(['watched', 'partly', 'not_watched']),
    summary: Line,
    /** What keeps the verdict from `watched` (empty when watched). */
    reasons: z.array(Line).max(20),
    /** The proxy and CA variables this server was started with; credentials never shown. */
    variables: z.record(z.string(), Line.nullable()),
    http: RouteSchema,
    https: RouteSchema.extend({
      /** HTTPS inspection as the guardian reports it in the probe answer (null when not reached). */
      inspection: z.boolean().nullable(),
      trust: z.array(TrustSchema).max(2),
    }).strict(),
    /** The group the proxy credentials belong to, as the guardian answered the probe. */
    group: z.string().max(128).nullable(),
    notes: z.array(Line).max(20),
  })
  .strict();
export type SelfCheck = z.infer<typeof SelfCheckSchema>;

interface Route {
  target: ProxyTarget | null;
  outcome: ProbeOutcome | { kind: 'no_variable' } | { kind: 'bypassed' } | { kind: 'invalid'; why: string };
}

function where(t: Extract<ProxyTarget, { ok: true }>): string {
  return t.host.includes(':') ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

function shownProxy(t: ProxyTarget | null): string | null {
  return t ? `${t.variable}=${t.shown}` : null;
}

/** A plain probe through one proxy variable, or why none could be sent. */
async function route(p: ProxyEnv, target: ProxyTarget | null, timeoutMs: number): Promise<Route> {
  if (target === null) return { target, outcome: { kind: 'no_variable' } };
  if (noProxyCoversAll(p)) return { target, outcome: { kind: 'bypassed' } };
  if (!target.ok) return { target, outcome: { kind: 'invalid', why: target.why } };
  return { target, outcome: await probeHttp(target, timeoutMs) };
}

/** One sentence for a route that did not reach the guardian. */
function routeDetail(r: Route, scheme: 'HTTP' | 'HTTPS'): string {
  const o = r.outcome;
  const t = r.target;
  const at = t?.ok ? where(t) : '';
  switch (o.kind) {
    case 'no_variable':
      return `no ${scheme === 'HTTP' ? 'http_proxy or HTTP_PROXY' : 'https_proxy or HTTPS_PROXY'} is set: ${scheme} goes direct, unwatched`;
    case 'bypassed':
      return `NO_PROXY=* sends every host around the proxy: ${scheme} goes direct, unwatched`;
    case 'invalid':
      return `${t?.variable} is ${o.why}: ${scheme} clients cannot use it`;
    case 'guardian':
      return `answered by the guardian ${o.answer.version}${o.answer.group ? ` (group ${o.answer.group})` : ''}`;
    case 'auth_required':
      return `the proxy at ${at} asks for credentials ${t?.variable} does not carry or gets wrong (407): ${scheme} requests are refused`;
    case 'inspection_off':
    case 'untrusted':
    case 'other':
      return `the proxy at ${at} is not the guardian (it answered ${'status' in o ? o.status : o.kind}): ${scheme} is not watched`;
    case 'unreachable':
      return `nothing answers at ${at} (${o.code}): ${scheme} requests fail`;
  }
}

/** Certificates of a CA file, read as an OpenSSL-based client would (the file replaces the store). */
function readCaFile(file: string): { pem: string } | { error: string } {
  try {
    if (statSync(file).size > MAX_CA_FILE) return { error: 'larger than 4 MiB' };
    const pem = readFileSync(file, 'utf8');
    return pem.includes('-----BEGIN CERTIFICATE-----') ? { pem } : { error: 'holds no PEM certificate' };
  } catch (err) {
    return { error: `unreadable (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
}

function trustDetail(o: ProbeOutcome, who: string): { trusted: boolean; detail: string } {
  if (o.kind === 'guardian') return { trusted: true, detail: `${who} trusts the guardian's certificate` };
  if (o.kind === 'untrusted')
    return { trusted: false, detail: `${who} rejects the guardian's certificate (${o.code})` };
  if (o.kind === 'inspection_off')
    return { trusted: false, detail: 'the guardian answered that HTTPS inspection is off' };
  if (o.kind === 'unreachable') return { trusted: false, detail: `the HTTPS probe failed (${o.code})` };
  return { trusted: false, detail: `the HTTPS probe was not answered by the guardian (${o.kind})` };
}

/** With inspection on: the TLS probe once for Node's trust and once for SSL_CERT_FILE's, when set. */
async function trustChecks(
  target: Extract<ProxyTarget, { ok: true }>,
  env: Env,
  timeoutMs: number,
): Promise<SelfCheck['https']['trust']> {
  const extra = env.NODE_EXTRA_CA_CERTS?.trim();
  const nodeWho = `Node (its default trust${extra ? ' plus NODE_EXTRA_CA_CERTS' : ', NODE_EXTRA_CA_CERTS unset'})`;
  const checks: Promise<SelfCheck['https']['trust'][number]>[] = [
    probeHttps(target, undefined, timeoutMs).then((o) => ({ by: 'node' as const, ...trustDetail(o, nodeWho) })),
  ];
  const file = env.SSL_CERT_FILE?.trim();
  if (file) {
    const who = 'SSL_CERT_FILE (curl, Python, git)';
    const ca = readCaFile(file);
    checks.push(
      'pem' in ca
        ? probeHttps(target, [ca.pem], timeoutMs).then((o) => ({
            by: 'SSL_CERT_FILE' as const,
            ...trustDetail(o, who),
          }))
        : Promise.resolve({ by: 'SSL_CERT_FILE' as const, trusted: false, detail: `SSL_CERT_FILE is ${ca.error}` }),
    );
  }
  return Promise.all(checks);
}

export interface SelfCheckOptions {
  env?: Env;
  timeoutMs?: number;
  /**
   * The group of the guardian socket this server talks to, compared with the proxy credentials' group
   * (a promise: it is asked over IPC while the probes run). Null or a failed promise: no comparison.
   */
  socketGroup?: string | null | Promise<string | null>;
}

export async function runSelfCheck(opts: SelfCheckOptions = {}): Promise<SelfCheck> {
  const env = opts.env ?? process.env;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
  const p = readProxyEnv(env);
  const sameProxy =
    p.http?.ok &&
    p.https?.ok &&
    p.http.host === p.https.host &&
    p.http.port === p.https.port &&
    p.http.authorization === p.https.authorization;
  const httpRoute = route(p, p.http, timeoutMs);
  const [http, https] = await Promise.all([
    httpRoute,
    sameProxy ? httpRoute.then((r) => ({ ...r, target: p.https })) : route(p, p.https, timeoutMs),
  ]);
  const httpsAnswer = https.outcome.kind === 'guardian' ? https.outcome.answer : null;
  const trust =
    httpsAnswer?.https_inspection && https.target?.ok ? await trustChecks(https.target, env, timeoutMs) : [];
  const socketGroup = await Promise.resolve(opts.socketGroup ?? null).catch(() => null);
  return judge(p, http, https, trust, socketGroup, env);
}

function judge(
  p: ProxyEnv,
  http: Route,
  https: Route,
  trust: SelfCheck['https']['trust'],
  socketGroup: string | null,
  env: Env,
): SelfCheck {
  const reasons: string[] = [];
  const notes = [...p.notes];
  const httpOk = http.outcome.kind === 'guardian';
  const httpsAnswer = https.outcome.kind === 'guardian' ? https.outcome.answer : null;
  if (!httpOk) reasons.push(`HTTP: ${routeDetail(http, 'HTTP')}.`);
  let httpsDetail = routeDetail(https, 'HTTPS');
  if (!httpsAnswer) reasons.push(`HTTPS: ${httpsDetail}.`);
  else if (!httpsAnswer.https_inspection) {
    httpsDetail +=
      '; HTTPS inspection is off, so HTTPS passes as blind tunnels (destinations recorded, contents not read)';
    reasons.push('HTTPS: passes the guardian as blind tunnels: HTTPS inspection is off, so contents are not read.');
  } else {
    httpsDetail += '; HTTPS inspection on';
    for (const t of trust) {
      httpsDetail += `; ${t.detail}`;
      if (!t.trusted) {
        reasons.push(
          t.by === 'node'
            ? `HTTPS: ${t.detail}: Node clients in this container fail on HTTPS through the guardian (set NODE_EXTRA_CA_CERTS to the guardian's CA certificate).`
            : `HTTPS: ${t.detail}: curl, Python and git fail on HTTPS through the guardian (SSL_CERT_FILE must hold the guardian's CA).`,
        );
      }
    }
    if (!env.SSL_CERT_FILE?.trim()) {
      notes.push(
        'SSL_CERT_FILE is not set: curl, Python and git use the system store, which this check does not read.',
      );
    }
  }
  if (httpOk || httpsAnswer) reasons.push(...p.gaps);
  const group = (httpsAnswer ?? (http.outcome.kind === 'guardian' ? http.outcome.answer : null))?.group ?? null;
  if (group !== null && socketGroup !== null && group !== socketGroup) {
    reasons.push(
      `the proxy credentials are group ${group}'s but this status socket is group ${socketGroup}'s: findings of this traffic are not listed here.`,
    );
  }
  const through = httpOk || httpsAnswer !== null;
  const verdict = reasons.length === 0 ? 'watched' : through ? 'partly' : 'not_watched';
  const summary =
    verdict === 'watched'
      ? `This container's HTTP and HTTPS traffic passes the traffic guardian${group ? ` (group ${group})` : ''}, and HTTPS is inspected.`
      : verdict === 'partly'
        ? `Only part of this container's traffic is watched by the traffic guardian${group ? ` (group ${group})` : ''}.`
        : "This container's traffic does not pass the traffic guardian.";
  return {
    verdict,
    summary,
    reasons: reasons.slice(0, 20),
    variables: p.shown,
    http: { proxy: shownProxy(http.target), reaches_guardian: httpOk, detail: routeDetail(http, 'HTTP') },
    https: {
      proxy: shownProxy(https.target),
      reaches_guardian: httpsAnswer !== null,
      detail: httpsDetail.slice(0, 600),
      inspection: httpsAnswer ? httpsAnswer.https_inspection : null,
      trust,
    },
    group,
    notes: notes.slice(0, 20),
  };
}

/** Never throws: an unexpected failure is itself the answer. */
export async function safeSelfCheck(opts: SelfCheckOptions = {}): Promise<SelfCheck | { error: string }> {
  try {
    return SelfCheckSchema.parse(await runSelfCheck(opts));
  } catch (err) {
    return { error: `self-check failed: ${(err as Error).message.slice(0, 200)}` };
  }
}
