// The streaming text engine: fed bytes piece by piece, it runs the rules over each decoded view of a
// sliding window. The window keeps a tail of the previous bytes, so a match split across two network
// chunks, SSE events or writes is still whole in one pass; memory stays bounded by the batch size plus
// the tail, whatever the message size. Views are latin1 bytes (one byte, one character): the keyword
// prefilter, the decoders and the run finder all work on bytes, and a view becomes a string only when
// the prefilter says some rule's regex has to run on it.
import type { Location } from '../finding-schema.js';
import type { Detection } from '../detection.js';
import type { Rule } from '../rules/rule.js';
import { findRuleHits, startsAfterKeywords, type RuleHit } from '../rules/match-rule.js';
import { decodeJsonEscapes } from '../decode/json-escapes.js';
import { decodePercent } from '../decode/percent.js';
import { decodeEncodedRuns, looksLikeText, type DecodedRun } from '../decode/encoded-runs.js';
import { stripInvisible } from '../decode/invisible.js';
import { findSeparatedHex } from '../decode/separated-hex.js';
import type { DecodeBudget } from '../decode/archive.js';
import { acquire, release } from '../decode/scratch.js';
import { buildSnippet, fingerprint } from '../redact.js';
import { KeywordPrefilter } from './keyword-automaton.js';
import { giveWindow, takeWindow } from './window-buffers.js';
import { runSourceOffset, sourceMapper } from './offset-map.js';
import { copyBytes } from '../copy-bytes.js';

/** Prefilters are built once per rule list and shared by every engine using that list. */
const prefilters = new WeakMap<readonly Rule[], KeywordPrefilter>();
function prefilterFor(rules: readonly Rule[]): KeywordPrefilter {
  let p = prefilters.get(rules);
  if (!p) {
    p = new KeywordPrefilter(rules);
    prefilters.set(rules, p);
  }
  return p;
}

/** Text is scanned in batches of at least this many bytes (or at the end of the message). */
export const SCAN_BATCH = 64 * 1024;
/** Tail of the previous window kept for matches that cross a boundary. */
export const SCAN_OVERLAP = 4 * 1024;
/** A tail may grow back to the start of an encoded run, up to this size, so the run decodes aligned. */
export const MAX_TAIL = 16 * 1024;
/** A pooled window (window-buffers.ts): a tail and a batch always fit. */
const WINDOW_BYTES = SCAN_BATCH + MAX_TAIL;
/**
 * Up to this many bytes a window of our own is allocated to size (doubling from 1 KiB), as before the
 * pool: a small message, or a long-lived stream of small events, holds a few KiB rather than a pooled
 * 80 KiB window for its whole life. Past it the window is a pooled one.
 */
const SMALL_WINDOW_MAX = 16 * 1024;
/** A hit this close to an open end may still grow; it is left for the next pass. */
export const SETTLE_GUARD = 1024;
/** Nested decoding depth (e.g. json > base64 > percent). */
export const MAX_DECODE_DEPTH = 3;

export interface EngineOptions {
  rules: readonly Rule[];
  salt: Buffer;
  destHost?: string;
  location: Location;
  /** Detections reported per message at most; further ones are counted in `overflow`. */
  maxDetections?: number;
  /** Decoding steps that produced this engine's text (e.g. `['sse']`), prefixed to every chain. */
  chainPrefix?: readonly string[];
  /** Shared with a sibling engine on the same message so one match is reported once. */
  seen?: Set<string>;
  /** Read `+` as a space when percent-decoding (form bodies, query strings). */
  plusAsSpace?: boolean;
  /** Bytes that inflating and unpacking encoded payloads may produce for this message (default 1 MiB). */
  decodeBudget?: number;
  onDetection: (d: Detection) => void;
}

interface PendingHit {
  rule: Rule;
  hit: RuleHit;
}

/** Characters of an encoded run (base64, URL-safe base64, hex), for keeping runs whole across trims. */
const TOKEN_CHAR = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-') TOKEN_CHAR[c.charCodeAt(0)] = 1;

const EMPTY = Buffer.alloc(0);

/**
 * Drops hits of catch-all rules (`Rule.fallback`, e.g. generic_secret) whose secret overlaps one a
 * specific rule found in the same view: one secret, one finding, from the rule that knows its kind.
 */
function dropFallbackHits(hits: PendingHit[]): void {
  if (!hits.some((h) => h.rule.fallback)) return;
  const specific = hits.filter((h) => !h.rule.fallback && h.rule.threat_type === 'EXFIL');
  for (let i = hits.length - 1; i >= 0; i--) {
    const h = hits[i]!;
    if (!h.rule.fallback) continue;
    const { secretStart: a, secretEnd: b } = h.hit;
    if (specific.some((s) => s.hit.secretStart < b && a < s.hit.secretEnd)) hits.splice(i, 1);
  }
}

/**
 * Maps a position in a decoded run to the body. Plain base64 and hex runs map exactly; a wrapped block,
 * base32, or a payload that was inflated, unpacked or read as UTF-16 maps to its run's start plus the
 * position in its decoded bytes (distinct per position, so two matches in one payload stay two).
 */
function runToBody(run: DecodedRun, outer: (p: number) => number): (p: number) => number {
  if ((run.kind === 'base64' || run.kind === 'hex') && !run.wrapped) {
    const kind = run.kind;
    return (p) => outer(run.start + runSourceOffset(kind, p));
  }
  return (p) => outer(run.start) + p;
}

export class TextEngine {
  /** The window: `win[0, len)` holds the kept tail and the bytes not yet scanned. */
  private win: Buffer = EMPTY;
  private len = 0;
  /**
   * False while `win` is the caller's own chunk (a message that arrives in one piece, the common case
   * for API requests, is scanned where it lies); it is copied before anything is appended or moved.
   */
  private owned = true;
  /** The pooled window we own (null while the window is the caller's chunk or a small one of our own). */
  private base: Buffer | null = null;
  /** Scans of this engine running (more than one when a detection callback feeds or ends the message). */
  private scanning = 0;
  /** Absolute offset (in decoded message bytes) of win[0]. */
  private bufStart = 0;
  private pending = 0;
  /** (rule, fingerprint) pairs reported; made on the first hit (most messages have none). */
  private seen: Set<string> | null;
  private readonly maxDetections: number;
  private readonly prefilter: KeywordPrefilter;
  private readonly budget: DecodeBudget;
  /** Read `+` as a space when percent-decoding; set by the message scanner once it sees a form body. */
  plusAsSpace: boolean;
  reported = 0;
  overflow = 0;
  /** The per-message cap was reached; later matches in this message were not evaluated. */
  capped = false;

  constructor(private readonly opts: EngineOptions) {
    this.maxDetections = opts.maxDetections ?? 32;
    this.seen = opts.seen ?? null;
    this.prefilter = prefilterFor(opts.rules);
    this.budget = { left: opts.decodeBudget ?? 1024 * 1024 };
    this.plusAsSpace = opts.plusAsSpace ?? false;
  }

  get seenSet(): Set<string> {
    return (this.seen ??= new Set<string>());
  }

  /**
   * Feeds bytes (read as latin1); they must not change until the next feed or finish. Scans whenever a
   * batch is full, so the window never exceeds a batch plus its tail.
   */
  feed(bytes: Buffer): void {
    let off = 0;
    while (off < bytes.length) {
      const take = Math.min(bytes.length - off, SCAN_BATCH - this.pending);
      this.append(bytes, off, take);
      off += take;
      if (this.pending >= SCAN_BATCH) this.scan(false);
    }
  }

  /**
   * The window stops referring to the caller's chunk: its unscanned bytes move into a buffer of our own,
   * so the chunk may change as soon as this returns (a view of the scan workers' shared ring).
   */
  detach(): void {
    if (this.owned || this.len === 0) return;
    // Not owned: the window is one chunk's view of at most SCAN_BATCH bytes (`append`).
    const own = this.ownFor(this.len);
    copyBytes(this.win.subarray(0, this.len), own, 0);
    this.win = own;
  }

  /** A window of our own for `need` bytes: sized to them while small, else a pooled one (`takeOwn`). */
  private ownFor(need: number): Buffer {
    if (need > SMALL_WINDOW_MAX) return this.takeOwn();
    this.owned = true;
    return Buffer.allocUnsafe(Math.max(1024, need, Math.min(SMALL_WINDOW_MAX, this.win.length * 2)));
  }

  /** A pooled window, given back when the message ends (`dropWindow`). */
  private takeOwn(): Buffer {
    this.base = takeWindow(WINDOW_BYTES);
    this.owned = true;
    return this.base;
  }

  /** Feeds a latin1 string (SSE event text, a header block). */
  feedText(latin1: string): void {
    if (latin1.length > 0) this.feed(Buffer.from(latin1, 'latin1'));
  }

  finish(): void {
    if (this.pending > 0) this.scan(true);
    this.dropWindow();
  }

  /**
   * Empties the window, giving a buffer of our own back for the next message. Not while a scan of this
   * engine is still running further up the stack (a detection callback that ended the message): that
   * scan still reads the buffer, so it is left to the garbage collector instead of being reused.
   */
  private dropWindow(): void {
    if (this.base !== null && this.scanning === 0) giveWindow(this.base);
    this.base = null;
    this.win = EMPTY;
    this.len = 0;
    this.owned = true;
  }

  /**
   * A hole of `n` bytes in the message (bytes forwarded unscanned because the scanner was behind): what
   * came before is scanned as an end, and later bytes keep their true offsets. A match across the hole
   * is not found (its bytes were never seen).
   */
  gap(n: number): void {
    if (n <= 0) return;
    if (this.pending > 0) this.scan(true);
    this.bufStart += this.len + n;
    this.dropWindow();
    this.pending = 0;
  }

  private append(bytes: Buffer, off: number, n: number): void {
    if (this.len === 0) {
      if (this.base !== null) this.dropWindow();
      this.win = off === 0 && n === bytes.length ? bytes : bytes.subarray(off, off + n);
      this.len = n;
      this.pending += n;
      this.owned = false;
      return;
    }
    // A tail (at most MAX_TAIL) plus less than a batch: always fits a pooled window.
    const need = this.len + n;
    if (!this.owned || need > this.win.length) {
      const own = this.ownFor(need);
      copyBytes(this.win.subarray(0, this.len), own, 0);
      this.win = own;
    }
    copyBytes(bytes.subarray(off, off + n), this.win, this.len);
    this.len = need;
    this.pending += n;
  }

  private scan(final: boolean): void {
    const start = this.bufStart;
    this.scanning++;
    try {
      this.scanView(this.win.subarray(0, this.len), this.opts.chainPrefix ?? [], !final, (p) => start + p, 0, null);
    } finally {
      this.scanning--;
    }
    this.pending = 0;
    if (!final) this.trim();
  }

  private trim(): void {
    const win = this.win;
    const len = this.len;
    if (len <= SCAN_OVERLAP) return;
    let cut = len - SCAN_OVERLAP;
    // Keep an encoded run whole (up to MAX_TAIL) so base64 decodes from its real start.
    const floor = Math.max(0, len - MAX_TAIL);
    while (cut > floor && TOKEN_CHAR[win[cut - 1]!] === 1) cut--;
    if (cut === floor && floor > 0) cut = len - SCAN_OVERLAP;
    if (this.owned) {
      win.copyWithin(0, cut, len);
    } else {
      // The caller's chunk is never written to: the tail moves into a buffer of our own.
      this.win = this.takeOwn();
      copyBytes(win.subarray(cut, len), this.win, 0);
    }
    this.len = len - cut;
    this.bufStart += cut;
  }

  /**
   * Scans one view and the views decoded from it. `chain` is the decoding path so far; `parent` is the
   * view this one was decoded from (used to drop a `json` label when the match was already plain).
   * `toBody` maps a position in `view` to its offset in the (content-decoded) body; each decoded view
   * gets a mapper through the bytes it came from, used only when a rule matches.
   */
  private scanView(
    view: Buffer,
    chain: readonly string[],
    openEnd: boolean,
    toBody: (pos: number) => number,
    depth: number,
    parent: Buffer | null,
  ): void {
    // The unescaped view lives only while this view is scanned: its buffer is reused for the next one.
    const scratch = view.indexOf(0x5c) === -1 ? null : acquire(view.length);
    try {
      this.scanDecoded(view, scratch, chain, openEnd, toBody, depth, parent);
    } finally {
      if (scratch !== null) release(scratch);
    }
  }

  private scanDecoded(
    view: Buffer,
    scratch: Buffer | null,
    chain: readonly string[],
    openEnd: boolean,
    toBody: (pos: number) => number,
    depth: number,
    parent: Buffer | null,
  ): void {
    const json = scratch === null ? null : decodeJsonEscapes(view, scratch);
    let primary = json ?? view;
    let primaryChain = json ? [...chain, 'json'] : chain;
    let jsonMap: ((p: number) => number) | null = null;
    const primaryToBody = json ? (p: number) => toBody((jsonMap ??= sourceMapper('json', view))(p)) : toBody;
    this.runRules(primary, primaryChain, openEnd, primaryToBody, json ? view : parent);

    // Zero-width characters and soft hyphens inside a token: the rules and decoders below read the text
    // without them (null, at the cost of a few native searches, when there are none). Offsets in the
    // stripped view are taken as they are (off by the characters removed before the match).
    const visible = stripInvisible(primary);
    if (visible !== null) {
      primary = visible;
      primaryChain = [...primaryChain, 'invisible'];
      this.runRules(primary, primaryChain, openEnd, primaryToBody, null);
    }

    const pctInfo = { base64Chars: false };
    const pct = decodePercent(primary, this.plusAsSpace, pctInfo);
    if (pct !== null) {
      const pctChain = [...primaryChain, 'percent'];
      const pctSource = primary;
      const outer = primaryToBody;
      let pctMap: ((p: number) => number) | null = null;
      const pctToBody = (p: number) => outer((pctMap ??= sourceMapper('percent', pctSource))(p));
      this.runRules(pct, pctChain, openEnd, pctToBody, primary);
      // Double encoding (`%252D`): decoded again only when the first pass left escapes.
      const pct2 = decodePercent(pct);
      if (pct2 !== null) {
        let pct2Map: ((p: number) => number) | null = null;
        const pct2ToBody = (p: number) => pctToBody((pct2Map ??= sourceMapper('percent', pct))(p));
        this.runRules(pct2, [...pctChain, 'percent'], openEnd, pct2ToBody, null);
      }
      // Base64 in a form or query value has its `+`, `/` and `=` escaped: find runs after decoding.
      if (pctInfo.base64Chars && depth < MAX_DECODE_DEPTH) {
        for (const run of decodeEncodedRuns(pct, openEnd, 64, this.budget)) {
          this.scanView(
            run.bytes,
            [...pctChain, run.kind],
            run.partial ?? false,
            runToBody(run, pctToBody),
            depth + 1,
            null,
          );
        }
      }
    }

    if (depth >= MAX_DECODE_DEPTH) return;
    for (const run of decodeEncodedRuns(primary, openEnd, 64, this.budget)) {
      this.scanView(
        run.bytes,
        [...primaryChain, run.kind],
        run.partial ?? false,
        runToBody(run, primaryToBody),
        depth + 1,
        null,
      );
    }
    // Hex with separators (`\x41\x42`, `0x41,0x42`, `41:42`, `od` output).
    for (const run of findSeparatedHex(primary)) {
      if (openEnd && run.end >= primary.length - 2) continue; // may go on: next pass
      if (looksLikeText(run.bytes)) {
        const start = primaryToBody(run.start);
        this.scanView(run.bytes, [...primaryChain, 'hex'], false, (p) => start + p, depth + 1, null);
      }
    }
  }

  private runRules(
    bytes: Buffer,
    chain: readonly string[],
    openEnd: boolean,
    toBody: (pos: number) => number,
    plain: Buffer | null,
  ): void {
    // Past the per-message cap nothing more can be reported: stop paying for rule evaluation.
    if (this.reported >= this.maxDetections) {
      this.capped = true;
      return;
    }
    const candidates = this.prefilter.candidates(bytes);
    if (candidates.length === 0) return;
    const view = bytes.toString('latin1');

    const hits: PendingHit[] = [];
    const prefilter = this.prefilter;
    for (const rule of candidates) {
      // Rules whose match starts at one of their keywords run only where the prefilter saw one.
      const starts =
        rule.startsBeforeKeyword !== undefined
          ? prefilter.starts(rule)
          : rule.startAfterKeyword !== undefined
            ? startsAfterKeywords(rule, bytes, prefilter.keywordEndsOf(rule))
            : null;
      for (const hit of findRuleHits(rule, view, this.opts.destHost, 64, starts)) {
        // Near an open end the match may continue in the next chunk: wait for the next pass.
        if (openEnd && hit.end > view.length - SETTLE_GUARD) continue;
        hits.push({ rule, hit });
      }
    }
    if (hits.length === 0) return;
    dropFallbackHits(hits);

    const secretSpans = hits
      .filter((h) => h.rule.threat_type === 'EXFIL')
      .map((h) => ({ start: h.hit.secretStart, end: h.hit.secretEnd }));

    for (const { rule, hit } of hits) {
      const exfil = rule.threat_type === 'EXFIL';
      const matched = view.slice(hit.secretStart, hit.secretEnd);
      const fpInput = exfil ? matched : matched.toLowerCase().replace(/\s+/g, ' ');
      const fp = fingerprint(this.opts.salt, fpInput);
      const key = `${rule.id}\u0000${fp}`;
      // The same match seen again in a decoded view (a badge URL raw and percent-decoded) maps to the
      // same body offset: one finding.
      const offset = toBody(hit.start);
      const at = `${rule.id}@${this.opts.chainPrefix?.join('>') ?? ''}@${offset}`;
      const seen = this.seenSet;
      if (seen.has(key) || seen.has(at)) continue;
      if (seen.size < 4096) seen.add(key).add(at);
      if (this.reported >= this.maxDetections) {
        this.overflow++;
        continue;
      }
      this.reported++;
      // A match that is also in the text before JSON unescaping was not hidden by JSON: don't claim it was.
      let shownChain = chain;
      if (chain[chain.length - 1] === 'json' && plain !== null && plain.includes(matched, 0, 'latin1')) {
        shownChain = chain.slice(0, -1);
      }
      const snippet = buildSnippet({
        text: view,
        match: { start: hit.start, end: hit.end },
        secret: exfil
          ? { start: hit.secretStart, end: hit.secretEnd, publicPrefix: rule.publicPrefix?.(matched) ?? '' }
          : undefined,
        otherSecrets: secretSpans,
      });
      this.opts.onDetection({
        pattern: rule.id,
        threat_type: rule.threat_type,
        severity: rule.severity,
        description: rule.description,
        snippet,
        fingerprint: fp,
        encoding: shownChain.join('>'),
        offset,
        location: this.opts.location,
        untrusted: rule.threat_type === 'INJECTION',
      });
    }
  }
}
