// The install manifest, `<home>/nanoclaw/install.json`: every change install makes is recorded here
// BEFORE it is made (and the file rewritten after each record), so uninstall can always undo what was
// done, also after a failed or interrupted install. Every undo tolerates a change that never happened.
import { existsSync } from 'node:fs';
import { z } from 'zod';
import { ensurePrivateDir, readFileNoFollow, replaceFileNoFollow } from '../home.js';
import path from 'node:path';

const Sha = z.string().regex(/^[0-9a-f]{64}$/);

export const StepSchema = z.discriminatedUnion('kind', [
  /** A file install created; removed on undo unless it was edited since. */
  z.object({ kind: z.literal('file-created'), path: z.string(), sha256: Sha }).strict(),
  /** A NanoClaw source file with marked blocks added; restored from the backup (or unmarked) on undo. */
  z
    .object({
      kind: z.literal('file-patched'),
      path: z.string(),
      original_sha256: Sha,
      patched_sha256: Sha,
      backup: z.string(),
    })
    .strict(),
  /** A guardian file install wrote over (backup) or created (no backup); put back on undo. */
  z.object({ kind: z.literal('file-replaced'), path: z.string(), backup: z.string().nullable() }).strict(),
  /** A directory install created; removed with its content on undo. */
  z.object({ kind: z.literal('dir-created'), path: z.string() }).strict(),
  /** A group's proxy credential in groups.json; revoked on undo. */
  z.object({ kind: z.literal('group-credential'), folder: z.string() }).strict(),
  /** The MCP server registered for a group through ncl; unregistered on undo. */
  z.object({ kind: z.literal('mcp-registered'), folder: z.string(), id: z.string() }).strict(),
  /** The guardian's service (unit, plist or start script) installed and started; stopped and removed on undo. */
  z.object({ kind: z.literal('guardian-service'), manager: z.string(), name: z.string(), file: z.string() }).strict(),
]);
export type Step = z.infer<typeof StepSchema>;

export const ManifestSchema = z
  .object({
    version: z.literal(2),
    nanoclaw_dir: z.string(),
    /** `installing` until every step succeeded; a manifest left `installing` is a partial install. */
    state: z.enum(['installing', 'installed']),
    groups: z.array(z.object({ folder: z.string(), id: z.string() }).strict()),
    steps: z.array(StepSchema),
  })
  .strict();
export type Manifest = z.infer<typeof ManifestSchema>;

export class ManifestError extends Error {}

export function readManifest(file: string): Manifest | null {
  if (!existsSync(file)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileNoFollow(file, 'utf8'));
  } catch (err) {
    throw new ManifestError(`${file} is not valid JSON (${(err as Error).message}); fix or remove it by hand`);
  }
  if ((raw as { version?: unknown } | null)?.version === 1) {
    throw new ManifestError(
      `${file} was written by an older traffic-guardian (manifest version 1): run that version's uninstall, ` +
        'or restore src/container-runner.ts with git and delete the file',
    );
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ManifestError(`${file}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Writes the manifest atomically (0600 in a 0700 directory). */
export function saveManifest(file: string, m: Manifest): void {
  ensurePrivateDir(path.dirname(file));
  replaceFileNoFollow(file, `${JSON.stringify(m, null, 2)}\n`, 0o600);
}
