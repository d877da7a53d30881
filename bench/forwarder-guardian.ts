// A guardian proxy on its own (no service, findings counted not written) whose request forwarder is
// the home-made HTTP/1.1 client (`home`) or undici (`undici`): the two sides of the forwarder benchmark.
//   node dist/bench/forwarder-guardian.js home|undici <upstream CA file>
// Prints `listening on http://127.0.0.1:<port>` and runs until SIGTERM.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { FindingSink } from '../host-services/finding-sink.js';
import { ClientAllowlist } from '../host-services/proxy/client-allowlist.js';
import { GuardianProxy } from '../host-services/proxy/guardian-proxy.js';
import { Deduper } from '../lib/dedup.js';
import { rulesFor } from '../lib/rules/index.js';
import { zeroCounters } from '../lib/status-schema.js';
import { undiciForwarder } from './undici-forward.js';

const mode = process.argv[2];
const trust = [readFileSync(process.argv[3]!, 'utf8')];
if (mode !== 'home' && mode !== 'undici') throw new Error('usage: forwarder-guardian home|undici <ca file>');
const counters = zeroCounters();
const proxy = new GuardianProxy({
  host: '127.0.0.1',
  port: 0,
  ca: null,
  allowlist: new ClientAllowlist([]),
  upstreamTrust: trust,
  counters,
  sink: new FindingSink(new Deduper(300_000), { append: () => undefined }, counters),
  rules: { outbound: rulesFor('outbound'), inbound: rulesFor('inbound') },
  salt: randomBytes(32),
  maxScanBytes: 1024 * 1024,
  allowHosts: [],
  log: (level, msg) => process.stderr.write(`${level}: ${msg}\n`),
  forward: mode === 'undici' ? undiciForwarder(trust) : undefined,
});
const a = await proxy.start();
process.stdout.write(`listening on http://127.0.0.1:${a.port}\n`);
process.once('SIGTERM', () => void proxy.stop().then(() => process.exit(0)));
