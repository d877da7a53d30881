// The path field masks the detected secret span itself (issue 12 point 1): a secret holding `/` spans
// several path segments, and per-segment masking by token length let its short tail survive
// (`/creds/[…]/[…]/SvyRuVpPuZ`).
import { describe, expect, it } from 'vitest';
import { redactPath } from '../lib/redact.js';
import { buildFinding } from '../lib/finding-builder.js';
import { randomString } from './support/expand-example.js';
import { leakedRuns } from './support/leak-check.js';

/** A 40-character AWS-style secret with `/` placed so its last piece is ten letters (the case that leaked). */
function slashySecret(): { secret: string; parts: string[] } {
  const a = randomString('alnum', 14);
  const b = randomString('alnum', 14);
  const c = randomString('upper', 5) + randomString('lower', 5);
  const secret = `${a}/${b}/${c}`;
  return { secret, parts: [a + b + c, a, b, c, secret] };
}

function pct(s: string): string {
  return [...Buffer.from(s)].map((x) => `%${x.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

describe('redactPath masks detected secrets across segments', () => {
  it('leaves no piece of a secret that contains `/`', () => {
    for (let i = 0; i < 50; i++) {
      const { secret, parts } = slashySecret();
      const out = redactPath(`/creds/aws_secret_access_key=${secret}`);
      expect(out).toBe('/creds/aws_secret_access_key=[REDACTED]');
      // Every 5-character run of the tail is gone, not only the 8-character ones.
      expect(out).not.toContain(parts[3]!.slice(0, 5));
      expect(leakedRuns(out, parts)).toEqual([]);
    }
  });

  it('masks a percent-encoded and a double percent-encoded secret in the path', () => {
    const { secret, parts } = slashySecret();
    for (const p of [
      `/u/AWS_SECRET_ACCESS_KEY=${secret.replace(/\//g, '%2F')}`,
      `/u/AWS_SECRET_ACCESS_KEY%3D${pct(secret)}`,
      `/u/AWS_SECRET_ACCESS_KEY%253D${pct(secret).replace(/%/g, '%25')}`,
    ]) {
      const out = redactPath(p);
      expect(out, p).toContain('[REDACTED]');
      expect(out).not.toContain(parts[3]!.slice(0, 5));
      expect(leakedRuns(out, parts)).toEqual([]);
    }
  });

  it('masks a token-shaped secret with a short tail in the next segment', () => {
    const tail = randomString('lower', 6);
    const tok = `ghp_${randomString('alnum', 36)}`;
    const out = redactPath(`/x/${tok}/${tail}`);
    expect(out).toBe(`/x/[REDACTED]/${tail}`);
  });

  it('keeps ordinary paths readable and never keeps a partial token of an over-long path', () => {
    expect(redactPath('/v1/messages?key=sk-secret-value&beta=true')).toBe('/v1/messages?key=…&beta=…');
    // A token cut by a length bound must not show its head: 40 letters starting at offset 500.
    const tok = randomString('lower', 40);
    const out = redactPath(`/${'a/'.repeat(249)}x${tok}/end`);
    expect(leakedRuns(out, [tok])).toEqual([]);
  });

  it('the finding built for the request carries the masked path', () => {
    const { secret, parts } = slashySecret();
    const f = buildFinding(
      {
        pattern: 'aws_secret_key',
        threat_type: 'EXFIL',
        severity: 'critical',
        description: 'd',
        snippet: 's',
        fingerprint: '0123456789abcdef',
        encoding: '',
        offset: 0,
        location: 'headers',
        untrusted: false,
      },
      {
        direction: 'outbound',
        protocol: 'http',
        source: '127.0.0.1',
        dest: 'e.test:80',
        method: 'GET',
        path: `/creds/aws_secret_access_key=${secret}?x=1`,
      },
    );
    expect(f.path).toBe('/creds/aws_secret_access_key=[REDACTED]?x=…');
    expect(leakedRuns(f, parts)).toEqual([]);
  });
});
