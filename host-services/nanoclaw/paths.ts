// Where the NanoClaw wiring lives on the host (under the guardian home) and where it appears inside
// a container. One place, so install, uninstall, doctor and the generated NanoClaw helper agree.
import path from 'node:path';
import type { HomePaths } from '../home.js';

export const MCP_SERVER_NAME = 'traffic-guardian';
export const SKILL_NAME = 'add-traffic-guardian';

/** Inside the container: one read-only directory of files, one read-only socket directory. */
export const IN_CONTAINER = {
  dir: '/opt/traffic-guardian',
  bundle: '/opt/traffic-guardian/traffic-guardian-mcp.mjs',
  ca: '/opt/traffic-guardian/ca.crt',
  /** Every CA the container trusts for tools that replace their roots (SSL_CERT_FILE, DENO_CERT, ...). */
  caBundle: '/opt/traffic-guardian/ca-bundle.pem',
  /** The CAs added to Node's own roots (NODE_EXTRA_CA_CERTS): the guardian's and OneCLI's. */
  extraCa: '/opt/traffic-guardian/extra-ca.pem',
  socketDir: '/run/traffic-guardian',
  socket: '/run/traffic-guardian/guardian.sock',
};

/** Host-side files of the NanoClaw wiring, all under `<home>/nanoclaw`. */
export function nanoclawPaths(p: HomePaths) {
  const root = path.join(p.root, 'nanoclaw');
  return {
    root,
    manifest: path.join(root, 'install.json'),
    backups: path.join(root, 'backup'),
    /** `<folder>.json` per wired group: read by the generated helper at each container spawn. */
    wiring: path.join(root, 'groups'),
    /** `<folder>/` per wired group: MCP bundle, guardian CA certificate, CA bundles (mounted read-only). */
    share: path.join(root, 'share'),
    /** `<folder>.json` per wired group: the group's own OneCLI gateway, recorded by the helper at spawn. */
    upstreams: path.join(root, 'upstreams'),
    /** The wrapper that starts the guardian where NanoClaw itself runs without a service manager. */
    startScript: path.join(root, 'start-guardian.sh'),
    serviceLog: path.join(root, 'guardian.log'),
  };
}
export type NanoclawPaths = ReturnType<typeof nanoclawPaths>;

export const wiringFile = (np: NanoclawPaths, folder: string) => path.join(np.wiring, `${folder}.json`);
export const shareDir = (np: NanoclawPaths, folder: string) => path.join(np.share, folder);
export const upstreamFile = (np: NanoclawPaths, folder: string) => path.join(np.upstreams, `${folder}.json`);
