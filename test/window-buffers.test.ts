// The text engines reuse their window buffers across messages (lib/scanner/window-buffers.ts). A reused
// buffer still holds the last message's bytes: these tests plant a key in one message, then send a
// second message whose bytes stop exactly where that key's prefix lies in the shared buffer, so an
// engine reading past its own bytes would complete the old key and report it in the wrong message.
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { MessageScanner } from '../lib/scanner/message-scanner.js';
import { rulesFor } from '../lib/rules/index.js';
import { idleWindows } from '../lib/scanner/window-buffers.js';
import { expandExample } from './support/expand-example.js';

const salt = randomBytes(32);
const filler = (n: number) => Buffer.from('lorem ipsum dolor sit amet, '.repeat(Math.ceil(n / 28)).slice(0, n));

function scanner() {
  return new MessageScanner({ direction: 'outbound', rules: rulesFor('outbound'), salt, maxScanBytes: 1 << 22 });
}

type Feed = 'write' | 'writeTransient';

async function scan(chunks: Buffer[], how: Feed) {
  const s = scanner();
  for (const c of chunks) {
    if (how === 'write') s.write(c);
    else s.writeTransient(Buffer.from(c));
  }
  return s.end();
}

describe('window buffers reused across messages', () => {
  for (const how of ['write', 'writeTransient'] as const) {
    it(`a message never sees the previous message's bytes (${how})`, async () => {
      const key = expandExample('ghp_{{rand:alnum:36}}').text;
      // Two chunks: the window is a buffer of its own from the second chunk on (or from the first
      // call's end, when fed as views).
      const first = filler(1000);
      const a = await scan([first, Buffer.concat([filler(500), Buffer.from(` ${key} `), filler(300)])], how);
      expect(a.detections.map((d) => d.pattern)).toContain('github_token');

      // The same layout, cut right after the key's prefix: the old key's tail sits next in the buffer.
      const b = await scan([first, Buffer.concat([filler(500), Buffer.from(` ${key.slice(0, 8)}`)])], how);
      expect(b.detections).toEqual([]);
      expect(b.bytesScanned).toBe(1000 + 500 + 9);
    });
  }

  it('a window goes back when its message ends, and the next message takes it', async () => {
    await scan([filler(2000), filler(2000)], 'write');
    const idle = idleWindows();
    expect(idle).toBeGreaterThan(0);
    const s = scanner();
    s.write(filler(2000));
    s.write(filler(2000));
    expect(idleWindows()).toBe(idle - 1);
    await s.end();
    expect(idleWindows()).toBe(idle);
  });

  it('a message larger than one window still finds keys on both sides of every trim', async () => {
    const keys = [0, 1, 2, 3].map(() => expandExample('ghp_{{rand:alnum:36}}').text);
    const parts: Buffer[] = [];
    for (const k of keys) parts.push(filler(70_000), Buffer.from(` ${k} `));
    const body = Buffer.concat(parts);
    const chunks: Buffer[] = [];
    for (let off = 0; off < body.length; off += 16 * 1024) chunks.push(body.subarray(off, off + 16 * 1024));
    for (let round = 0; round < 3; round++) {
      const r = await scan(chunks, round === 1 ? 'writeTransient' : 'write');
      expect(r.detections.filter((d) => d.pattern === 'github_token')).toHaveLength(4);
    }
  });
});
