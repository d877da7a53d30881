// `traffic-guardian findings`: reads the findings log directly (works whether or not the service
// runs), newest first, with filters; `--follow` then prints new findings as they are written.
import { existsSync, openSync, readSync, closeSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { FindingsQuerySchema, matchesQuery, type FindingsQuery } from '../../lib/findings-query.js';
import type { Finding } from '../../lib/finding-schema.js';
import { homePaths } from '../home.js';
import { parseFindingLine, readFindings } from '../findings-store.js';
import { formatFinding } from '../format-finding.js';
import { EXIT_OK, UsageError } from '../cli-errors.js';

export const FINDINGS_HELP = `Usage: traffic-guardian findings [--limit N] [--json] [--follow] [filters]

Prints findings newest first (with --follow: the last N oldest first, then new ones as they come).

Filters:
  --since ISO            only findings at or after this time (e.g. 2026-11-25T08:00:00Z)
  --severity S           minimum severity: low, medium, high, critical
  --type T               EXFIL or INJECTION
  --direction D          outbound or inbound
  --pattern ID           one rule id (e.g. ai_api_key)
  --group G              one NanoClaw agent group
Options:
  --limit N              at most N findings (default 50, max 500)
  --json                 one JSON object per line
  --follow               keep printing new findings until Ctrl-C`;

function buildQuery(v: Record<string, string | boolean | undefined>): FindingsQuery {
  const raw: Record<string, unknown> = {};
  if (v.limit !== undefined) {
    if (!/^\d+$/.test(String(v.limit))) throw new UsageError('--limit must be a whole number from 1 to 500');
    raw.limit = Number(v.limit);
  }
  const map: [string, string][] = [
    ['since', 'since'],
    ['severity', 'severity'],
    ['type', 'threat_type'],
    ['direction', 'direction'],
    ['pattern', 'pattern'],
    ['group', 'group'],
  ];
  for (const [opt, key] of map) if (v[opt] !== undefined) raw[key] = v[opt];
  const q = FindingsQuerySchema.safeParse(raw);
  if (!q.success) {
    const issue = q.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const opt = map.find(([, k]) => k === key)?.[0] ?? key;
    throw new UsageError(`--${opt}: ${issue.message}`);
  }
  return q.data;
}

export async function runFindings(
  argv: string[],
  signal?: AbortSignal,
  out: NodeJS.WritableStream = process.stdout,
): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      follow: { type: 'boolean', default: false },
      since: { type: 'string' },
      severity: { type: 'string' },
      type: { type: 'string' },
      direction: { type: 'string' },
      pattern: { type: 'string' },
      group: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    out.write(`${FINDINGS_HELP}\n`);
    return EXIT_OK;
  }
  const q = buildQuery(values);
  const file = homePaths().findings;
  const print = (f: Finding) => out.write(values.json ? `${JSON.stringify(f)}\n` : `${formatFinding(f)}\n`);
  if (!existsSync(file) && !values.follow) {
    out.write(`no findings yet (${file})\n`);
    return EXIT_OK;
  }
  const found = existsSync(file) ? await readFindings(file, q) : [];
  if (!values.follow) {
    if (found.length === 0 && !values.json) out.write('no matching findings\n');
    for (const f of found) print(f);
    return EXIT_OK;
  }
  for (const f of [...found].reverse()) print(f);
  await follow(file, (f) => matchesQuery(f, q) && print(f), signal);
  return EXIT_OK;
}

/** Tails the log: polls for growth, reopens from the start when it was rotated or truncated. */
async function follow(file: string, onFinding: (f: Finding) => unknown, signal?: AbortSignal): Promise<void> {
  const stop = new AbortController();
  const onSig = () => stop.abort();
  process.once('SIGINT', onSig);
  process.once('SIGTERM', onSig);
  signal?.addEventListener('abort', onSig);
  let ino = existsSync(file) ? statSync(file).ino : -1;
  let pos = existsSync(file) ? statSync(file).size : 0;
  let carry = '';
  try {
    while (!stop.signal.aborted) {
      if (existsSync(file)) {
        const st = statSync(file);
        if (st.ino !== ino || st.size < pos) {
          ino = st.ino;
          pos = 0;
          carry = '';
        }
        if (st.size > pos) {
          const fd = openSync(file, 'r');
          try {
            const buf = Buffer.alloc(Math.min(st.size - pos, 4 * 1024 * 1024));
            const n = readSync(fd, buf, 0, buf.length, pos);
            pos += n;
            const text = carry + buf.subarray(0, n).toString('utf8');
            const lines = text.split('\n');
            carry = lines.pop() ?? '';
            for (const line of lines) {
              const f = parseFindingLine(line);
              if (f) onFinding(f);
            }
          } finally {
            closeSync(fd);
          }
        }
      }
      await sleep(200, undefined, { signal: stop.signal }).catch(() => undefined);
    }
  } finally {
    process.off('SIGINT', onSig);
    process.off('SIGTERM', onSig);
  }
}
