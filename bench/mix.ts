// The mix row: what one agent's small requests wait while other agents upload whole conversations.
// Small GETs on one keep-alive connection are timed while `uploaders` other connections POST large
// bodies back to back; once everything direct, once everything through the guardian, taking turns in
// windows like runPair so a slow phase of the shared machine falls on both sides.
import { LoadSession, type Dial, type LoadResult } from './load.js';

export interface MixSide {
  /** The small requests on their single connection (latency is what matters here). */
  small: LoadResult;
  /** The uploads; MiB/s is completed uploads × body size over the measured time. */
  upload: LoadResult;
  upload_mib_per_s: number;
}

export interface MixTarget {
  dial: Dial;
  small: Buffer;
  upload: Buffer;
}

async function open(t: MixTarget, uploaders: number): Promise<{ small: LoadSession; upload: LoadSession }> {
  const upload = await LoadSession.open(t.dial, t.upload, uploaders);
  try {
    return { small: await LoadSession.open(t.dial, t.small, 1), upload };
  } catch (err) {
    upload.close();
    throw err;
  }
}

/** Both sessions of one side at once: the uploads and the small requests start and stop together. */
async function window(s: { small: LoadSession; upload: LoadSession }, ms: number, measure: boolean): Promise<void> {
  await Promise.all([s.upload.run(ms, measure), s.small.run(ms, measure)]);
}

export async function runMix(
  direct: MixTarget,
  guardian: MixTarget,
  o: { uploaders: number; uploadBytes: number; windowMs: number; warmupMs: number; slices: number },
): Promise<{ direct: MixSide; guardian: MixSide }> {
  const a = await open(direct, o.uploaders);
  let b: { small: LoadSession; upload: LoadSession } | null = null;
  try {
    b = await open(guardian, o.uploaders);
    await window(a, o.warmupMs, false);
    await window(b, o.warmupMs, false);
    for (let i = 0; i < o.slices; i++) {
      await window(a, o.windowMs / o.slices, true);
      await window(b, o.windowMs / o.slices, true);
    }
    const side = (s: { small: LoadSession; upload: LoadSession }): MixSide => {
      const upload = s.upload.result();
      return {
        small: s.small.result(),
        upload,
        upload_mib_per_s:
          upload.measured_ms > 0 ? (upload.requests * o.uploadBytes) / (1024 * 1024) / (upload.measured_ms / 1000) : 0,
      };
    };
    return { direct: side(a), guardian: side(b) };
  } finally {
    a.small.close();
    a.upload.close();
    b?.small.close();
    b?.upload.close();
  }
}
