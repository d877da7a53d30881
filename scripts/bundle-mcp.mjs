// Bundles the container-side MCP server into one self-contained file that runs under plain `node`
// with no node_modules, then checks that none of the host's proxy or CA code came along.
//
//   node scripts/bundle-mcp.mjs [--outfile PATH]   build (default dist/mcp-tools/traffic-guardian-mcp.mjs)
//   node scripts/bundle-mcp.mjs --check FILE        only run the forbidden-content check on FILE
//
// Exit 1 when the bundle carries host-only code or key material; nothing is written in that case.
// The file is written to a temporary name and renamed, so a process starting the bundle while it is
// rebuilt (a parallel test) reads the old or the new file, never half of one.
import { build } from 'esbuild';
import { chmodSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

/** Strings that only host code (proxy, CA, key generation) or key material would bring into the bundle. */
export const FORBIDDEN = [
  'http-mitm-proxy',
  'node-forge',
  'host-services',
  'BEGIN RSA PRIVATE KEY',
  'generateKeyPair',
  'loadOrCreateCa',
];

function check(text, name) {
  const found = FORBIDDEN.filter((s) => text.includes(s));
  if (found.length > 0) {
    console.error(`bundle-mcp: ${name} contains host-only code: ${found.join(', ')}`);
    process.exit(1);
  }
}

const { values } = parseArgs({
  options: { outfile: { type: 'string' }, check: { type: 'string' } },
});

if (values.check) {
  check(readFileSync(values.check, 'utf8'), values.check);
  console.log(`bundle-mcp: ${values.check} has no host code`);
  process.exit(0);
}

const outfile = values.outfile ?? 'dist/mcp-tools/traffic-guardian-mcp.mjs';
const result = await build({
  entryPoints: ['mcp-tools/main.ts'],
  outfile,
  write: false,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  legalComments: 'none',
  // Some dependencies still call require(); give the ESM bundle one.
  banner: {
    js: "#!/usr/bin/env node\nimport { createRequire as __tgCreateRequire } from 'node:module'; const require = __tgCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});

const out = result.outputFiles.find((f) => f.path === path.resolve(outfile));
if (!out || result.outputFiles.length !== 1) {
  console.error(`bundle-mcp: expected one output file, got ${result.outputFiles.map((f) => f.path).join(', ')}`);
  process.exit(1);
}
check(out.text, outfile);

mkdirSync(path.dirname(outfile), { recursive: true });
const tmp = `${outfile}.${process.pid}.tmp`;
writeFileSync(tmp, out.contents, { mode: 0o755 });
chmodSync(tmp, 0o755);
renameSync(tmp, outfile);
console.log(`bundle-mcp: ${outfile} (${Math.round(out.contents.length / 1024)} KiB, no host code)`);
