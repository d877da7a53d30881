// The text engines reuse their window buffers across messages (lib/scanner/window-buffers.ts) once a
// window outgrows 16 KiB (smaller ones are sized to their bytes): messages here are that large. A reused
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
      // Two chunks: the window is a pooled buffer of its own from the second chunk on (or from the first
      // call's end, when fed as views).
      const first = filler(20_000);
      const a = await scan([first, Buffer.concat([filler(500), Buffer.from(` ${key} `), filler(300)])], how);
      expect(a.detections.map((d) => d.pattern)).toContain('github_token');

      // The same layout, cut right after the key's prefix: the old key's tail sits next in the buffer.
      const b = await scan([first, Buffer.concat([filler(500), Buffer.from(` ${key.slice(0, 8)}`)])], how);
      expect(b.detections).toEqual([]);
      expect(b.bytesScanned).toBe(20_000 + 500 + 9);
    });
  }

  it('a window goes back when its message ends, and the next message takes it', async () => {
    await scan([filler(20_000), filler(20_000)], 'write');
    const idle = idleWindows();
    expect(idle).toBeGreaterThan(0);
    const s = scanner();
    s.write(filler(20_000));
    s.write(filler(20_000));
    expect(idleWindows()).toBe(idle - 1);
    await s.end();
    expect(idleWindows()).toBe(idle);
  });

  it('a small message fed in pieces takes no pooled window and still finds a key split across them', async () => {
    const key = expandExample('ghp_{{rand:alnum:36}}').text;
    await scan([filler(20_000), filler(20_000)], 'write');
    const idle = idleWindows();
    const text = Buffer.from(`${filler(3000).toString()} ${key} ${filler(3000).toString()}`);
    const s = scanner();
    const cut = 3000 + 1 + 10;
    for (const piece of [text.subarray(0, 1500), text.subarray(1500, cut), text.subarray(cut)]) {
      s.writeTransient(Buffer.from(piece));
      expect(idleWindows()).toBe(idle);
    }
    const r = await s.end();
    expect(r.detections.map((d) => d.pattern)).toContain('github_token');
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

describe('window buffers under attack', () => {
  // Several messages in flight on one thread, fed in random interleaved chunks (some as ring views that
  // are overwritten after each call), after messages that ended in every way a window can go back
  // (two holes in a row, a hole then the end, endNow then end). Two live messages sharing one buffer,
  // or a buffer given back twice, would make some message's findings differ from scanning it alone.
  it('messages in flight never share a window, whatever way earlier ones gave theirs back', async () => {
    let seed = 12345;
    const rnd = (n: number) => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) % n;
    const body = (size: number) => {
      const parts: Buffer[] = [];
      let len = 0;
      while (len < size) {
        const key = expandExample('ghp_{{rand:alnum:36}}').text;
        const text = rnd(2) === 0 ? key : Buffer.from(`export GITHUB_TOKEN=${key}\n`).toString('base64');
        const p = Buffer.concat([filler(500 + rnd(20_000)), Buffer.from(` ${text} `)]);
        parts.push(p);
        len += p.length;
      }
      return Buffer.concat(parts);
    };
    const idle = Math.max(idleWindows(), 1);
    for (const ending of ['gap,gap,end', 'gap,end', 'endNow,end'] as const) {
      const s = scanner();
      s.write(filler(20_000));
      s.write(filler(20_000));
      for (const step of ending.split(',')) {
        if (step === 'gap') s.gap(10);
        else if (step === 'endNow') s.endNow();
        else await s.end();
      }
      // It held one window and gave it back once.
      expect(idleWindows()).toBe(idle);
    }

    const bodies = [3000, 90_000, 200_000, 70_000, 150_000].map(body);
    const alone = await Promise.all(bodies.map((b) => scan([b], 'write')));
    const ring = Buffer.alloc(40_000);
    const live = bodies.map((b) => ({ s: scanner(), b, off: 0 }));
    while (live.some((m) => m.off < m.b.length)) {
      const m = live[rnd(live.length)]!;
      if (m.off >= m.b.length) continue;
      const c = m.b.subarray(m.off, m.off + 1 + rnd(40_000));
      m.off += c.length;
      if (rnd(2) === 0) m.s.write(c);
      else {
        c.copy(ring);
        m.s.writeTransient(ring.subarray(0, c.length));
        ring.fill(0x41);
      }
    }
    const mixed = await Promise.all(live.map((m) => m.s.end()));
    for (let i = 0; i < bodies.length; i++) {
      expect(alone[i]!.detections.length).toBeGreaterThan(0);
      expect(mixed[i]!.detections).toEqual(alone[i]!.detections);
    }
  });

  it('a detection callback that scans another message leaves the message being scanned alone', async () => {
    const keysA = [0, 1].map(() => expandExample('ghp_{{rand:alnum:36}}').text);
    const keyB = expandExample('ghp_{{rand:alnum:36}}').text;
    const bodyA = Buffer.concat([
      filler(1000),
      Buffer.from(` ${keysA[0]} `),
      filler(2000),
      Buffer.from(` ${Buffer.from(`export GITHUB_TOKEN=${keysA[1]}\n`).toString('base64')} `),
      filler(70_000),
    ]);
    const alone = await scan([bodyA.subarray(0, 500), bodyA.subarray(500)], 'write');
    const others: Promise<unknown>[] = [];
    const a = new MessageScanner({
      direction: 'outbound',
      rules: rulesFor('outbound'),
      salt,
      maxScanBytes: 1 << 22,
      onDetection: () => {
        // Takes windows and gives them back while the first message's window is being read.
        others.push(
          scan([filler(1000), Buffer.concat([filler(60_000), Buffer.from(` ${keyB} `), filler(300)])], 'write'),
        );
      },
    });
    a.write(bodyA.subarray(0, 500));
    a.write(bodyA.subarray(500));
    const r = await a.end();
    await Promise.all(others);
    expect(others.length).toBeGreaterThan(0);
    expect(r.detections).toEqual(alone.detections);
  });

  it('a detection callback that ends its own message and scans another: the first reads none of its bytes', async () => {
    // Fails with d5bab00: endNow() inside the callback runs TextEngine.finish() while the outer scan() is
    // still in scanDecoded; finish() gives the window back, the second message takes it and writes its
    // bytes there, and the first message's outer scan goes on decoding the same buffer (base64 runs),
    // reporting the second message's key as its own. Before the pool, the outer scan kept its own buffer.
    const keyA = expandExample('ghp_{{rand:alnum:36}}').text;
    const keyB = expandExample('ghp_{{rand:alnum:36}}').text;
    const encodedB = Buffer.from(`export GITHUB_TOKEN=${keyB}\n`).toString('base64');
    let b: Awaited<ReturnType<typeof scan>> | null = null;
    let a: MessageScanner | null = null;
    a = new MessageScanner({
      direction: 'outbound',
      rules: rulesFor('outbound'),
      salt,
      maxScanBytes: 1 << 22,
      onDetection: () => {
        if (b !== null || a === null) return;
        // A policy that stops a message at its first finding, then goes on with other work.
        a.endNow();
        const s = scanner();
        s.write(filler(20_000));
        s.write(Buffer.concat([filler(300), Buffer.from(` ${encodedB} `), filler(300)]));
        b = s.endNow();
      },
    });
    a.write(filler(1000));
    // A full batch: scanned while being written, the key well before the batch's open end.
    a.write(Buffer.concat([filler(200), Buffer.from(` ${keyA} `), filler(70_000)]));
    const sumA = await a.end();
    expect(b).not.toBeNull();
    const fpB = b!.detections.find((d) => d.pattern === 'github_token')?.fingerprint;
    expect(fpB).toBeDefined();
    expect(sumA.detections.map((d) => d.fingerprint)).not.toContain(fpB);
  });
});
