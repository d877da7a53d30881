// `traffic-guardian scan [FILE|-] --direction outbound|inbound`: scans a captured body offline with the
// same engine the proxy uses. Streams the file; prints redacted findings only.
import { createReadStream } from 'node:fs';
import { parseArgs } from 'node:util';
import { DirectionSchema, type Finding } from '../../lib/finding-schema.js';
import { MessageScanner } from '../../lib/scanner/message-scanner.js';
import { rulesFor } from '../../lib/rules/index.js';
import { buildFinding } from '../../lib/finding-builder.js';
import { parseContentEncoding } from '../../lib/decode/content-decoder.js';
import { MAX_SCAN_BYTES, MIN_SCAN_BYTES } from '../../lib/config-schema.js';
import { homePaths } from '../home.js';
import { existingSaltOrEphemeral } from '../salt.js';
import { EXIT_FINDINGS, EXIT_OK, UsageError } from '../cli-errors.js';
import { formatFinding } from '../format-finding.js';

export const SCAN_HELP = `Usage: traffic-guardian scan [FILE|-] --direction outbound|inbound [options]

Scans a captured request or response body offline with the proxy's engine and prints
redacted findings. Reads standard input when FILE is - or absent.

Options:
  --direction D          outbound (agent to internet: exfiltration rules) or inbound
                         (internet to agent: injection rules). Required.
  --content-encoding E   the body's Content-Encoding: gzip, deflate, br (stacked: "gzip, br")
  --dest HOST[:PORT]     destination the body was sent to (a key sent to its issuer is normal use)
  --max-bytes N          decoded bytes to scan (default 1048576, ${MIN_SCAN_BYTES}..${MAX_SCAN_BYTES})
  --json                 print {"findings": [...], "summary": {...}} as JSON
  -h, --help             this help

Exit status: 0 no findings, 3 findings, 2 usage error, 1 the file could not be read.`;

export async function runScan(
  argv: string[],
  out: NodeJS.WritableStream,
  stdin: NodeJS.ReadableStream,
): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      direction: { type: 'string' },
      'content-encoding': { type: 'string' },
      dest: { type: 'string' },
      'max-bytes': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    out.write(`${SCAN_HELP}\n`);
    return EXIT_OK;
  }
  const dir = DirectionSchema.safeParse(values.direction);
  if (!dir.success) throw new UsageError('--direction must be outbound or inbound');
  if (positionals.length > 1) throw new UsageError(`scan takes one FILE, got ${positionals.length}`);
  const enc = parseContentEncoding(values['content-encoding']);
  if (enc.unsupported)
    throw new UsageError(`--content-encoding: unsupported coding "${enc.unsupported}" (gzip, deflate, br)`);
  let maxBytes = 1024 * 1024;
  if (values['max-bytes'] !== undefined) {
    maxBytes = Number(values['max-bytes']);
    if (!Number.isInteger(maxBytes) || maxBytes < MIN_SCAN_BYTES || maxBytes > MAX_SCAN_BYTES) {
      throw new UsageError(`--max-bytes must be an integer from ${MIN_SCAN_BYTES} to ${MAX_SCAN_BYTES}`);
    }
  }
  const file = positionals[0];
  const input = file === undefined || file === '-' ? stdin : createReadStream(file);
  const dest = values.dest ?? '(offline)';
  const destHost = values.dest ? values.dest : undefined;
  const { salt } = existingSaltOrEphemeral(homePaths().salt);

  const scanner = new MessageScanner({
    direction: dir.data,
    rules: rulesFor(dir.data),
    salt,
    maxScanBytes: maxBytes,
    destHost,
    contentEncoding: values['content-encoding'],
    maxDetections: 256,
  });
  for await (const chunk of input) scanner.write(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  const summary = await scanner.end();

  const source = file && file !== '-' ? `file:${file}` : 'stdin';
  const findings: Finding[] = summary.detections.map((d) =>
    buildFinding(d, { direction: dir.data, protocol: 'http', source, dest }),
  );
  const info = {
    bytes_in: summary.bytesIn,
    bytes_scanned: summary.bytesScanned,
    truncated: summary.truncated,
    content_coding: summary.contentCoding,
    decode_error: summary.decodeError ?? null,
    findings: findings.length,
    overflow: summary.overflow,
  };
  if (values.json) {
    out.write(`${JSON.stringify({ findings, summary: info }, null, 2)}\n`);
  } else {
    for (const f of findings) out.write(`${formatFinding(f)}\n`);
    const notes = [
      `${findings.length} finding${findings.length === 1 ? '' : 's'}`,
      `${summary.bytesScanned} bytes scanned`,
      summary.contentCoding ? `decoded ${summary.contentCoding}` : '',
      summary.truncated ? `TRUNCATED at ${maxBytes} bytes` : '',
      summary.decodeError ? `decode error: ${summary.decodeError}` : '',
    ].filter(Boolean);
    out.write(`${notes.join(', ')}\n`);
  }
  return findings.length > 0 ? EXIT_FINDINGS : EXIT_OK;
}
