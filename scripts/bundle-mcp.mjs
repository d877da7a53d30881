// Bundles the container-side MCP server into one self-contained file that runs under plain `node`
// with no node_modules, then checks that none of the host's proxy or CA code came along.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const outfile = 'dist/mcp-tools/traffic-guardian-mcp.mjs';
await build({
  entryPoints: ['mcp-tools/main.ts'],
  outfile,
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

const text = readFileSync(outfile, 'utf8');
const forbidden = [
  'http-mitm-proxy',
  'node-forge',
  'host-services',
  'BEGIN RSA PRIVATE KEY',
  'generateKeyPair',
  'loadOrCreateCa',
];
const found = forbidden.filter((s) => text.includes(s));
if (found.length > 0) {
  console.error(`bundle-mcp: ${outfile} contains host-only code: ${found.join(', ')}`);
  process.exit(1);
}
console.log(`bundle-mcp: ${outfile} (${Math.round(text.length / 1024)} KiB, no host code)`);
