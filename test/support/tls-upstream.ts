// A local upstream whose TLS certificate comes from its own CA (in its own temp home), so the
// guardian must be told to trust it through `upstream_ca_file`.
import { rmSync } from 'node:fs';
import { loadOrCreateCa } from '../../host-services/ca.js';
import { homePaths } from '../../host-services/home.js';
import { startUpstream, type Upstream } from './upstream.js';
import { tempHome } from './service.js';

export interface TlsUpstream {
  upstream: Upstream;
  /** PEM file of the upstream's CA, for `upstream_ca_file` or a client's trust list. */
  caFile: string;
  caPem: string;
  close: () => Promise<void>;
}

export async function startTlsUpstream(): Promise<TlsUpstream> {
  const home = tempHome('tg-up-');
  const ca = loadOrCreateCa(homePaths(home), { create: true })!;
  const upstream = await startUpstream(ca.certFor('localhost'));
  return {
    upstream,
    caFile: ca.certPath,
    caPem: ca.certPem,
    close: async () => {
      await upstream.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
