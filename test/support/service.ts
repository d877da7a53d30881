// Starts a real GuardianService in-process on an ephemeral port with its own temp home.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigSchema, type ConfigInput } from '../../lib/config-schema.js';
import { GuardianService, type ServiceOptions } from '../../host-services/guardian-service.js';
import { homePaths } from '../../host-services/home.js';
import type { Finding } from '../../lib/finding-schema.js';
import { waitFor } from './proxy-client.js';

export interface TestService {
  svc: GuardianService;
  home: string;
  logs: string[];
  port: number;
  findings: (n: number, filter?: (f: Finding) => boolean) => Promise<Finding[]>;
  stop: () => Promise<void>;
}

export function tempHome(prefix = 'tg-'): string {
  // Short paths: Unix socket paths are limited to ~107 bytes.
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export async function startService(
  config: ConfigInput,
  extra: Partial<Omit<ServiceOptions, 'config' | 'paths' | 'log'>> = {},
  home = tempHome(),
): Promise<TestService> {
  const logs: string[] = [];
  const svc = await GuardianService.start({
    config: ConfigSchema.parse({ proxy_port: 0, ...config }),
    paths: homePaths(home),
    log: (level, msg) => logs.push(`${level}: ${msg}`),
    pidFile: false,
    ...extra,
  });
  return {
    svc,
    home,
    logs,
    port: svc.address.port,
    /** Waits until at least n recent findings match, then returns the matching ones (newest first). */
    findings: async (n, filter = () => true) => {
      await svc.store.flush();
      const found = await waitFor(
        () => svc.store.recent(50).filter(filter),
        (fs) => fs.length >= n,
        `${n} findings`,
      );
      // Scans end asynchronously (in scan workers): what arrived while waiting is in the log too.
      await svc.store.flush();
      return found;
    },
    stop: async () => {
      await svc.stop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}
