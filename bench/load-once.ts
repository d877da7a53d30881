// Opens `conns` connections at once, sends one request on each and waits for every complete body
// (bodies are counted, never buffered). Used for the memory run.
import type { Dial } from './load.js';

export async function runOnce(dial: Dial, request: Buffer, conns: number): Promise<number> {
  const results = await Promise.all(
    Array.from({ length: conns }, async () => {
      const s = await dial();
      return new Promise<boolean>((resolve) => {
        let head = '';
        let remaining = -1;
        s.on('data', (d: Buffer) => {
          let chunk = d;
          if (remaining < 0) {
            head += d.toString('latin1');
            const i = head.indexOf('\r\n\r\n');
            if (i < 0) return;
            remaining = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head.slice(0, i))?.[1] ?? 0);
            chunk = Buffer.from(head.slice(i + 4), 'latin1');
          }
          remaining -= chunk.length;
          if (remaining <= 0) {
            s.destroy();
            resolve(true);
          }
        });
        s.on('error', () => resolve(false));
        s.on('close', () => resolve(remaining === 0));
        s.write(request);
      });
    }),
  );
  return results.filter(Boolean).length;
}
