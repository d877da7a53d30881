// Nothing prints credentials from config (issue 12 point 1): check-config shows the upstream proxy with
// its userinfo masked, in text and JSON, and a config that fails to parse is reported without quoting
// the text around the error (JSON.parse's message does, and the text may be the proxy URL).
import { afterAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';
import { runCli } from './support/cli.js';
import { tempHome } from './support/service.js';
import { randomString } from './support/expand-example.js';
import { maskUrlUserinfo } from '../host-services/config-file.js';

const home = tempHome('tg-cfg-');
afterAll(() => rmSync(home, { recursive: true, force: true }));

const user = `agent${randomString('lower', 10)}`;
const pass = randomString('alnum', 24);
const url = `http://${user}:${pass}@127.0.0.1:3128`;

function write(name: string, text: string): string {
  const f = path.join(home, name);
  writeFileSync(f, text);
  return f;
}

function expectNoCredential(s: string): void {
  expect(s).not.toContain(pass);
  expect(s).not.toContain(pass.slice(0, 8));
  expect(s).not.toContain(user);
}

describe('check-config never prints proxy credentials', () => {
  const env = { NANOCLAW_TRAFFIC_GUARDIAN_HOME: home };

  it('masks upstream_proxy userinfo in text and JSON output', async () => {
    const f = write('ok.json', JSON.stringify({ upstream_proxy: url }));
    for (const args of [
      ['check-config', f],
      ['check-config', f, '--json'],
    ]) {
      const r = await runCli(args, { env });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain('http://[REDACTED]@127.0.0.1:3128');
      expectNoCredential(r.stdout + r.stderr);
    }
  });

  it('does not quote the config text when it is not valid JSON', async () => {
    const f = write('bad.json', `{"upstream_proxy": "${url}" x}`);
    // Unquoted by mistake: JSON.parse quotes the ten characters after the error, the password's head.
    const g = write('bad2.json', `{"upstream_proxy": ${pass}@127.0.0.1:3128}`);
    for (const file of [f, g]) {
      for (const args of [
        ['check-config', file],
        ['check-config', file, '--json'],
      ]) {
        const r = await runCli(args, { env });
        expect(r.code).toBe(1);
        expect(r.stdout + r.stderr).toMatch(/not valid JSON/);
        expectNoCredential(r.stdout + r.stderr);
      }
    }
  });

  it('maskUrlUserinfo keeps host and port, masks user and password', () => {
    expect(maskUrlUserinfo('http://u:p@proxy.test:8080')).toBe('http://[REDACTED]@proxy.test:8080');
    expect(maskUrlUserinfo('http://proxy.test:8080')).toBe('http://proxy.test:8080');
    expect(maskUrlUserinfo('http://proxy.test:8080/a@b')).toBe('http://proxy.test:8080/a@b');
  });
});
