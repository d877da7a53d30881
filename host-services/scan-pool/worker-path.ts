// Where the scan worker's script is. A worker thread runs plain Node: in dist/ that is the compiled
// scan-worker.js next to this file. Tests (vitest) load this file from the TypeScript sources, where
// scan-worker.ts cannot be run as a worker (Node does not run .ts and vitest's transform does not reach
// worker threads), so from source it resolves to the built file under dist/ (the test global setup
// builds dist/ first; `npm test` builds and sets TG_BUILT=1). Kept in one file so that choice is made once.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export function scanWorkerPath(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return path.join(path.dirname(here), 'scan-worker.js');
  // <repo>/host-services/scan-pool/worker-path.ts -> <repo>/dist/host-services/scan-pool/scan-worker.js
  const repo = path.resolve(path.dirname(here), '..', '..');
  return path.join(repo, 'dist', 'host-services', 'scan-pool', 'scan-worker.js');
}
