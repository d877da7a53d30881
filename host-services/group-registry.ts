// Per-group proxy credentials. Each NanoClaw agent group gets its own token; the proxy reads the
// group from `Proxy-Authorization: Basic <group>:<token>`, so identity comes from the credential a
// container was given, never from anything it claims. Only SHA-256 hashes of tokens are kept here
// (`<home>/groups.json`, 0600); the token itself lives in that group's container environment.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import type { AuthResult } from './proxy/guardian-proxy.js';

export const GROUP_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

const GroupsFileSchema = z
  .object({
    version: z.literal(1),
    groups: z.record(
      z.string().regex(GROUP_NAME),
      z.object({ token_sha256: z.string().regex(/^[0-9a-f]{64}$/), created_at: z.string() }).strict(),
    ),
  })
  .strict();
type GroupsFile = z.infer<typeof GroupsFileSchema>;

function sha256(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** Compared against when the group is unknown, so that path does the same work as a known group's. */
const DUMMY_DIGEST = sha256(randomBytes(32).toString('hex'));

export class GroupRegistry {
  private digestCache: Map<string, Buffer> | undefined;

  private constructor(
    private readonly file: string,
    private data: GroupsFile,
  ) {}

  static load(file: string): GroupRegistry {
    if (!existsSync(file)) return new GroupRegistry(file, { version: 1, groups: {} });
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new Error(`${file}: not valid JSON (${(err as Error).message})`);
    }
    const parsed = GroupsFileSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new Error(`${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
    }
    return new GroupRegistry(file, parsed.data);
  }

  groups(): string[] {
    return Object.keys(this.data.groups).sort();
  }

  has(group: string): boolean {
    return Object.hasOwn(this.data.groups, group);
  }

  /** Adds a group (or replaces its token) and returns the new token. It is not stored anywhere here. */
  issue(group: string): string {
    if (!GROUP_NAME.test(group)) throw new Error(`invalid group name "${group}" (letters, digits, _ . -; at most 64)`);
    const token = randomBytes(24).toString('base64url');
    this.data.groups[group] = { token_sha256: sha256(token).toString('hex'), created_at: new Date().toISOString() };
    this.digestCache = undefined;
    return token;
  }

  remove(group: string): boolean {
    if (!this.has(group)) return false;
    delete this.data.groups[group];
    this.digestCache = undefined;
    return true;
  }

  save(): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(this.data, null, 2)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
  }

  /**
   * Checks a `Proxy-Authorization` header value. A known and an unknown group cost the same: the expected
   * digests are decoded once (`digests`), an unknown group is compared against a fixed dummy digest, and
   * every well-formed header costs exactly one SHA-256 and one constant-time comparison.
   */
  authenticate(header: string | undefined): AuthResult {
    if (!header) return { ok: false };
    const m = /^Basic\s+([A-Za-z0-9+/=]{1,512})$/i.exec(header.trim());
    if (!m) return { ok: false };
    const decoded = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) return { ok: false };
    const group = decoded.slice(0, colon);
    const known = this.digests().get(group);
    const same = timingSafeEqual(sha256(decoded.slice(colon + 1)), known ?? DUMMY_DIGEST);
    return same && known ? { ok: true, group } : { ok: false };
  }

  /** Each group's token digest as bytes, decoded once per change of the registry. */
  private digests(): Map<string, Buffer> {
    if (!this.digestCache) {
      this.digestCache = new Map(
        Object.entries(this.data.groups).map(([g, e]) => [g, Buffer.from(e.token_sha256, 'hex')] as const),
      );
    }
    return this.digestCache;
  }
}

export function proxyUrlWithCredentials(host: string, port: number, group: string, token: string): string {
  return `http://${encodeURIComponent(group)}:${encodeURIComponent(token)}@${host}:${port}`;
}
