// False-positive bench: scans real benign text that exists on any machine of this kind (this project's
// node_modules, Debian's /usr/share/doc and man pages, a Python standard library, lockfiles) in both
// directions and prints findings per MB by rule. Every finding here is a false positive: nobody planted
// a secret or an attack in these files. Prints each finding's rule, file and offset, never the matched text.
//
// Bounded: at most FP_BENCH_MB decoded MB per corpus (default 60) and FP_BENCH_FILE_MB per file (default 2),
// files taken in a fixed pseudo-random order (a hash of the path), so runs compare and every corpus is
// sampled across its whole tree rather than its first directories. Progress goes to stderr.
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { scanBuffer } from '../lib/scanner/message-scanner.js';
import { rulesFor } from '../lib/rules/index.js';
import type { Direction } from '../lib/finding-schema.js';

const MB = 1024 * 1024;
const CAP = Number(process.env.FP_BENCH_MB ?? 60) * MB;
const FILE_CAP = Number(process.env.FP_BENCH_FILE_MB ?? 2) * MB;
const DIRECTIONS: readonly Direction[] = ['outbound', 'inbound'];
const salt = randomBytes(32);

interface Corpus {
  name: string;
  root: string;
  /** Files of this corpus, absolute paths. */
  files: () => string[];
}

const TEXT_EXT =
  /\.(?:js|mjs|cjs|ts|mts|cts|jsx|tsx|json|md|markdown|txt|yml|yaml|toml|ini|cfg|conf|html?|css|map|py|pyi|rst|sh|lock|xml|csv|gz|\d)$|(?:^|\/)(?:README|CHANGELOG|CHANGES|LICENSE|NEWS|HISTORY|AUTHORS|copyright|changelog)[^/]*$/i;

/** Every regular file under `root` (sorted walk, symlinks not followed) whose path passes `keep`. */
function walk(root: string, keep: (path: string) => boolean): string[] {
  const out: string[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      continue;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory()) stack.push(p);
      else if (e.isFile() && keep(p)) out.push(p);
    }
  }
  return out;
}

function pythonStdlib(): string | null {
  try {
    return execFileSync('python3', ['-c', 'import sysconfig;print(sysconfig.get_paths()["stdlib"])'], {
      encoding: 'utf8',
    }).trim();
  } catch {
    return null;
  }
}

const LOCKFILE =
  /(?:^|\/)(?:package-lock\.json|npm-shrinkwrap\.json|yarn\.lock|pnpm-lock\.yaml|Cargo\.lock|poetry\.lock|Gemfile\.lock)$/;

function corpora(): Corpus[] {
  const project = resolve(process.env.FP_BENCH_PROJECT ?? '.');
  const nm = join(project, 'node_modules');
  const py = pythonStdlib();
  const list: Corpus[] = [
    { name: 'node_modules', root: nm, files: () => walk(nm, (p) => TEXT_EXT.test(p) && !LOCKFILE.test(p)) },
    { name: 'usr-share-doc', root: '/usr/share/doc', files: () => walk('/usr/share/doc', () => true) },
    { name: 'man-pages', root: '/usr/share/man', files: () => walk('/usr/share/man', () => true) },
  ];
  if (py) {
    list.push({
      name: 'python-stdlib',
      root: py,
      files: () => walk(py, (p) => /\.(?:py|txt|rst|cfg|toml|json)$/.test(p) && !p.includes('/site-packages/')),
    });
  }
  list.push({
    name: 'lockfiles',
    root: project,
    files: () => [
      ...[join(project, 'package-lock.json')].filter((p) => existsSync(p)),
      ...walk(nm, (p) => LOCKFILE.test(p)),
      ...walk('/usr/lib/node_modules', (p) => LOCKFILE.test(p)),
    ],
  });
  return list.filter((c) => existsSync(c.root));
}

/** A fixed pseudo-random order: sort by a hash of the path. */
function shuffled(files: string[]): string[] {
  const key = (p: string) => createHash('sha1').update(p).digest('hex');
  return files
    .map((p) => [key(p), p] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1))
    .map(([, p]) => p);
}

/** The file's text bytes (gunzipped when `.gz`), or null for binary or unreadable files. */
function readText(path: string): Buffer | null {
  let buf: Buffer;
  try {
    if (statSync(path).size > 64 * MB) return null;
    buf = readFileSync(path);
    if (path.endsWith('.gz')) buf = gunzipSync(buf, { maxOutputLength: 64 * MB });
  } catch {
    return null;
  }
  if (buf.subarray(0, 8192).includes(0)) return null;
  return buf.length > FILE_CAP ? buf.subarray(0, FILE_CAP) : buf;
}

interface Hit {
  corpus: string;
  direction: Direction;
  rule: string;
  severity: string;
  file: string;
  offset: number;
  encoding: string;
}

interface CorpusResult {
  name: string;
  files: number;
  mb: number;
  seconds: number;
}

async function scanCorpus(c: Corpus, hits: Hit[]): Promise<CorpusResult> {
  const t0 = performance.now();
  const files = shuffled(c.files());
  let bytes = 0;
  let scanned = 0;
  let nextReport = 10 * MB;
  for (const path of files) {
    if (bytes >= CAP) break;
    const buf = readText(path);
    if (!buf || buf.length === 0) continue;
    const body = bytes + buf.length > CAP ? buf.subarray(0, CAP - bytes) : buf;
    bytes += body.length;
    scanned++;
    for (const direction of DIRECTIONS) {
      const r = await scanBuffer(body, { direction, rules: rulesFor(direction), salt, maxScanBytes: body.length + 1 });
      for (const d of r.detections) {
        hits.push({
          corpus: c.name,
          direction,
          rule: d.pattern,
          severity: d.severity,
          file: path.startsWith(c.root) ? relative(c.root, path) : path,
          offset: d.offset,
          encoding: d.encoding,
        });
      }
    }
    if (bytes >= nextReport) {
      process.stderr.write(`  ${c.name}: ${(bytes / MB).toFixed(0)} MB, ${scanned} files\n`);
      nextReport += 10 * MB;
    }
  }
  return { name: c.name, files: scanned, mb: bytes / MB, seconds: (performance.now() - t0) / 1000 };
}

export async function runFpBench(): Promise<{ results: CorpusResult[]; hits: Hit[] }> {
  const hits: Hit[] = [];
  const results: CorpusResult[] = [];
  for (const c of corpora()) {
    process.stderr.write(`scanning ${c.name} (${c.root}), up to ${CAP / MB} MB\n`);
    results.push(await scanCorpus(c, hits));
  }
  return { results, hits };
}

function fmt(n: number): string {
  return n.toFixed(4);
}

function print(results: CorpusResult[], hits: Hit[]): void {
  const totalMb = results.reduce((s, r) => s + r.mb, 0);
  console.log('false-positive bench: real benign text, every finding is a false positive');
  console.log(
    `${'corpus'.padEnd(16)}${'files'.padStart(8)}${'MB'.padStart(9)}${'out'.padStart(6)}${'in'.padStart(6)}${'s'.padStart(7)}`,
  );
  for (const r of results) {
    const n = (d: Direction) => hits.filter((h) => h.corpus === r.name && h.direction === d).length;
    console.log(
      `${r.name.padEnd(16)}${String(r.files).padStart(8)}${r.mb.toFixed(1).padStart(9)}${String(n('outbound')).padStart(6)}${String(n('inbound')).padStart(6)}${r.seconds.toFixed(1).padStart(7)}`,
    );
  }
  console.log(`total MB: ${totalMb.toFixed(1)}`);
  for (const d of DIRECTIONS) {
    const mine = hits.filter((h) => h.direction === d);
    console.log(`${d}: ${mine.length} findings, ${fmt(mine.length / totalMb)} per MB`);
    const byRule = new Map<string, number>();
    for (const h of mine) byRule.set(h.rule, (byRule.get(h.rule) ?? 0) + 1);
    for (const [rule, n] of [...byRule].sort((a, b) => b[1] - a[1])) {
      console.log(`  ${rule.padEnd(28)}${String(n).padStart(5)}  ${fmt(n / totalMb)} per MB`);
    }
  }
  if (hits.length > 0) console.log('findings (rule, severity, corpus, file@offset, decoding):');
  for (const h of hits) {
    console.log(
      `  ${h.direction} ${h.rule} ${h.severity} ${h.corpus} ${h.file}@${h.offset}${h.encoding ? ` ${h.encoding}` : ''}`,
    );
  }
  const per = (d: Direction) => Number(fmt(hits.filter((h) => h.direction === d).length / totalMb));
  console.log(
    JSON.stringify({
      fp_bench: {
        mb: Number(totalMb.toFixed(1)),
        outbound_per_mb: per('outbound'),
        inbound_per_mb: per('inbound'),
        corpora: results.map((r) => ({ name: r.name, files: r.files, mb: Number(r.mb.toFixed(1)) })),
      },
    }),
  );
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const { results, hits } = await runFpBench();
  print(results, hits);
}
