// Scanner throughput (MB/s, one core) on generated corpora: benign LLM-API JSON and a secret-dense
// corpus, with all rules on, with and without content decoding. Prints a table and a JSON line.
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { MessageScanner } from '../lib/scanner/message-scanner.js';
import { rulesFor } from '../lib/rules/index.js';
import type { Direction } from '../lib/finding-schema.js';
import { benignJson } from '../test/support/benign-corpus.js';
import { expandExample } from '../test/support/expand-example.js';
import { ALL_RULES } from '../lib/rules/index.js';

export interface ScanBenchRow {
  corpus: string;
  direction: Direction;
  encoding: string;
  mb: number;
  mb_per_s: number;
  detections: number;
}

const salt = randomBytes(32);
const CHUNK = 16 * 1024;

function secretDense(bytes: number): string {
  const templates = ALL_RULES.flatMap((r) => r.examples.positive);
  let out = '';
  let i = 0;
  while (out.length < bytes) {
    out += `${JSON.stringify({ i, text: `line ${i} ${expandExample(templates[i % templates.length]!).text} end` })}\n`;
    i++;
  }
  return out;
}

async function measure(
  body: Buffer,
  direction: Direction,
  encoding: string | undefined,
  decodedBytes: number,
  minMs = 1500,
) {
  const rules = rulesFor(direction);
  let runs = 0;
  let detections = 0;
  const t0 = process.hrtime.bigint();
  let elapsed = 0;
  do {
    // A fresh scanner per 1 MiB message, as the proxy does per request.
    for (let off = 0; off < body.length; off += 1024 * 1024) {
      const msg = body.subarray(off, off + 1024 * 1024);
      const s = new MessageScanner({
        direction,
        rules,
        salt,
        maxScanBytes: 64 * 1024 * 1024,
        contentEncoding: encoding,
      });
      for (let i = 0; i < msg.length; i += CHUNK) s.write(msg.subarray(i, i + CHUNK));
      detections += (await s.end()).detections.length;
    }
    runs++;
    elapsed = Number(process.hrtime.bigint() - t0) / 1e6;
  } while (elapsed < minMs);
  const mb = (decodedBytes * runs) / (1024 * 1024);
  return { mb, mbps: mb / (elapsed / 1000), detections: Math.round(detections / runs) };
}

export async function runScanBench(sizeMiB = 8): Promise<ScanBenchRow[]> {
  const benign = Buffer.from(benignJson(sizeMiB * 1024 * 1024));
  const dense = Buffer.from(secretDense(sizeMiB * 1024 * 1024));
  // Compressed per 1 MiB message so each message decodes on its own.
  const gzipPerMessage = (b: Buffer) => {
    const parts: Buffer[] = [];
    for (let off = 0; off < b.length; off += 1024 * 1024) parts.push(zlib.gzipSync(b.subarray(off, off + 1024 * 1024)));
    return parts;
  };
  const rows: ScanBenchRow[] = [];
  const add = (
    corpus: string,
    direction: Direction,
    encoding: string,
    r: { mb: number; mbps: number; detections: number },
  ) =>
    rows.push({
      corpus,
      direction,
      encoding,
      mb: Math.round(r.mb),
      mb_per_s: Math.round(r.mbps),
      detections: r.detections,
    });

  add('benign JSON', 'outbound', 'identity', await measure(benign, 'outbound', undefined, benign.length));
  add('benign JSON', 'inbound', 'identity', await measure(benign, 'inbound', undefined, benign.length));
  add('secret-dense', 'outbound', 'identity', await measure(dense, 'outbound', undefined, dense.length));
  add('secret-dense', 'inbound', 'identity', await measure(dense, 'inbound', undefined, dense.length));
  for (const [name, body] of [['benign JSON', benign] as const, ['secret-dense', dense] as const]) {
    const parts = gzipPerMessage(body);
    const rules = rulesFor('outbound');
    let runs = 0;
    let detections = 0;
    const t0 = process.hrtime.bigint();
    let ms = 0;
    do {
      for (const p of parts) {
        const s = new MessageScanner({
          direction: 'outbound',
          rules,
          salt,
          maxScanBytes: 64 * 1024 * 1024,
          contentEncoding: 'gzip',
        });
        for (let i = 0; i < p.length; i += CHUNK) s.write(p.subarray(i, i + CHUNK));
        detections += (await s.end()).detections.length;
      }
      runs++;
      ms = Number(process.hrtime.bigint() - t0) / 1e6;
    } while (ms < 1500);
    const mb = (body.length * runs) / (1024 * 1024);
    add(name, 'outbound', 'gzip', { mb, mbps: mb / (ms / 1000), detections: Math.round(detections / runs) });
  }
  return rows;
}

export function printScanTable(rows: ScanBenchRow[]): void {
  console.log('scanner throughput (decoded MB/s, one core, all rules on)');
  console.log(
    `${'corpus'.padEnd(14)}${'direction'.padEnd(11)}${'encoding'.padEnd(10)}${'MB/s'.padStart(8)}${'detections/run'.padStart(16)}`,
  );
  for (const r of rows) {
    console.log(
      `${r.corpus.padEnd(14)}${r.direction.padEnd(11)}${r.encoding.padEnd(10)}${String(r.mb_per_s).padStart(8)}${String(r.detections).padStart(16)}`,
    );
  }
}

const isMain = import.meta.url === `file://${process.argv[1]}`;
if (isMain) {
  const rows = await runScanBench(Number(process.env.SCAN_BENCH_MIB ?? 8));
  printScanTable(rows);
  console.log(JSON.stringify({ scanner: rows }));
}
