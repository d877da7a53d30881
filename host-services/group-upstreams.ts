// Per-group upstream proxies. With `group_upstreams` on, each group's traffic is chained to the upstream
// proxy recorded for that group by the NanoClaw helper at container spawn (`<home>/nanoclaw/upstreams/
// <group>.json`): OneCLI's gateway URL carrying that agent's own token, and OneCLI's CA. So OneCLI keeps
// seeing each agent as itself (its secret selection and approvals follow the agent), not one shared
// guardian identity. Records are re-read when they change (a respawn may bring a new token).
import { lstatSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { GROUP_NAME } from './group-registry.js';
import { parseUpstreamProxy, type UpstreamProxy } from './proxy/upstream-proxy.js';

const RecordSchema = z
  .object({
    version: z.literal(1),
    group: z.string().regex(GROUP_NAME),
    proxy_url: z.string().url(),
    ca_pem: z
      .string()
      .max(256 * 1024)
      .default(''),
  })
  .strict();

export interface GroupUpstream {
  proxy: UpstreamProxy;
  /** Extra CA (PEM) trusted for TLS through this upstream: OneCLI re-signs what it forwards. */
  caPem: string;
  /** Identifies the upstream and its credential: connections are pooled per key, never shared across groups. */
  key: string;
}

export class GroupUpstreams {
  private readonly cache = new Map<string, { mtimeMs: number; size: number; value: GroupUpstream | null }>();

  constructor(
    private readonly dir: string,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  /** The group's recorded upstream, or null when it has none (or the record is unusable, which is logged). */
  forGroup(group: string | undefined): GroupUpstream | null {
    if (!group || !GROUP_NAME.test(group)) return null;
    const file = path.join(this.dir, `${group}.json`);
    let st;
    try {
      st = lstatSync(file);
    } catch {
      this.cache.delete(group);
      return null;
    }
    const hit = this.cache.get(group);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.value;
    const value = st.isFile() ? this.read(file, group) : null;
    if (!st.isFile()) this.log(`upstream record ${file} is not a regular file; ignored`);
    this.cache.set(group, { mtimeMs: st.mtimeMs, size: st.size, value });
    return value;
  }

  private read(file: string, group: string): GroupUpstream | null {
    try {
      const rec = RecordSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
      if (rec.group !== group) throw new Error(`it names group ${rec.group}`);
      const proxy = parseUpstreamProxy(rec.proxy_url);
      return { proxy, caPem: rec.ca_pem, key: `${proxy.host}:${proxy.port}|${proxy.authorization ?? ''}` };
    } catch (err) {
      // Never log the record itself: its URL carries the agent's gateway token.
      this.log(
        `upstream record ${file} is unusable (${err instanceof z.ZodError ? 'bad shape' : (err as Error).message}); group ${group} goes direct`,
      );
      return null;
    }
  }
}
