// The proxy's incremental HTTP/1.1 response parser (host-services/proxy/http1/response-parser.ts): body framing
// (Content-Length, chunked, until close, none for HEAD/204/304), interim responses, connection reuse,
// strictness (every malformed head refused before onHead), bounded memory, and a property that
// serializes random valid responses, feeds them cut at random points, and checks the parser against
// what was generated and against Node's own HTTP client reading the same bytes from a real socket.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import fc from 'fast-check';
import {
  MAX_RESPONSE_HEAD,
  ResponseParseError,
  ResponseParser,
  type ResponseHead,
} from '../host-services/proxy/http1/response-parser.js';

// ---------------------------------------------------------------------------------------------
// Helpers

interface Run {
  p: ResponseParser;
  heads: ResponseHead[];
  chunks: Buffer[];
  ends: number;
  /** Event order: 'head', 'body', 'end'. */
  order: string[];
  body: () => Buffer;
  text: () => string;
}

function parser(headRequest = false): Run {
  const run: Run = {
    p: undefined as unknown as ResponseParser,
    heads: [],
    chunks: [],
    ends: 0,
    order: [],
    body: () => Buffer.concat(run.chunks),
    text: () => Buffer.concat(run.chunks).toString('latin1'),
  };
  run.p = new ResponseParser(
    {
      onHead: (h) => {
        run.heads.push(h);
        run.order.push('head');
      },
      onBody: (b) => {
        // Copied: the parser may hand out views of the caller's buffer.
        run.chunks.push(Buffer.from(b));
        run.order.push('body');
      },
      onEnd: () => {
        run.ends++;
        run.order.push('end');
      },
    },
    headRequest,
  );
  return run;
}

const b = (s: string) => Buffer.from(s, 'latin1');

/** Feeds `data` to `p` in pieces of `size` bytes. */
function feedIn(p: ResponseParser, data: Buffer, size: number): void {
  for (let i = 0; i < data.length; i += size) p.feed(data.subarray(i, i + size));
}

/** Runs `fn`, which must throw a ResponseParseError; returns it. */
function parseError(fn: () => void): ResponseParseError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(ResponseParseError);
  expect(err).toBeInstanceOf(Error);
  expect((err as ResponseParseError).code).toBe('HPE_UPSTREAM_RESPONSE');
  return err as ResponseParseError;
}

/**
 * `raw` must be refused before onHead, whether it arrives in one piece, byte by byte, or in 7-byte
 * pieces. Returns the error message (the same for every split).
 */
function refusedBeforeHead(raw: string, headRequest = false): string {
  const messages = new Set<string>();
  for (const size of [raw.length, 1, 7]) {
    const r = parser(headRequest);
    const err = parseError(() => feedIn(r.p, b(raw), size));
    expect(r.heads, `onHead called for ${JSON.stringify(raw)}`).toHaveLength(0);
    expect(r.chunks).toHaveLength(0);
    expect(r.ends).toBe(0);
    expect(r.p.done).toBe(false);
    expect(r.p.reusable).toBe(false);
    messages.add(err.message);
  }
  expect(messages.size).toBe(1);
  return [...messages][0]!;
}

/** A fixed-length 200 response. */
const ok = (body: string, extra = '') => `HTTP/1.1 200 OK\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`;

// ---------------------------------------------------------------------------------------------
// Framing

describe('Content-Length bodies', () => {
  it('parses head and body in one piece', () => {
    const r = parser();
    expect(r.p.untouched).toBe(true);
    r.p.feed(b('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello'));
    expect(r.heads).toEqual([
      {
        version: '1.1',
        status: 200,
        reason: 'OK',
        rawHeaders: ['Content-Type', 'text/plain', 'Content-Length', '5'],
        contentLength: 5,
        chunked: false,
        contentType: 'text/plain',
        contentEncoding: undefined,
      },
    ]);
    expect(r.text()).toBe('hello');
    expect(r.ends).toBe(1);
    expect(r.order).toEqual(['head', 'body', 'end']);
    expect(r.p.done).toBe(true);
    expect(r.p.reusable).toBe(true);
    expect(r.p.untouched).toBe(false);
  });

  it('gives the same result for every split into two and three pieces', () => {
    const raw = b('HTTP/1.1 201 Created\r\nX-A: 1\r\nContent-Length: 11\r\n\r\nhello world');
    for (let i = 0; i <= raw.length; i++) {
      for (let j = i; j <= raw.length; j++) {
        const r = parser();
        r.p.feed(raw.subarray(0, i));
        r.p.feed(raw.subarray(i, j));
        if (j < raw.length) expect(r.p.done).toBe(false);
        r.p.feed(raw.subarray(j));
        expect(r.heads).toHaveLength(1);
        expect(r.heads[0]!.status).toBe(201);
        expect(r.heads[0]!.reason).toBe('Created');
        expect(r.text()).toBe('hello world');
        expect(r.ends).toBe(1);
        expect(r.p.reusable).toBe(true);
      }
    }
  });

  it('waits for the whole body, then ends exactly at its last byte', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234'));
    expect(r.heads).toHaveLength(1);
    expect(r.text()).toBe('01234');
    expect(r.ends).toBe(0);
    expect(r.p.done).toBe(false);
    expect(r.p.reusable).toBe(false);
    r.p.feed(b('5678'));
    expect(r.ends).toBe(0);
    r.p.feed(b('9'));
    expect(r.text()).toBe('0123456789');
    expect(r.ends).toBe(1);
    expect(r.p.done).toBe(true);
  });

  it('ends at once with Content-Length: 0, without calling onBody', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    expect(r.order).toEqual(['head', 'end']);
    expect(r.p.reusable).toBe(true);
  });

  it('accepts the same Content-Length twice, leading zeros, and any header-name case', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\ncontent-length: 3\r\nCONTENT-LENGTH: 003\r\n\r\nabc'));
    expect(r.heads[0]!.rawHeaders).toEqual(['content-length', '3', 'CONTENT-LENGTH', '003']);
    expect(r.text()).toBe('abc');
    expect(r.ends).toBe(1);
  });

  it('keeps binary body bytes intact', () => {
    const body = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const r = parser();
    r.p.feed(Buffer.concat([b(`HTTP/1.1 200 OK\r\nContent-Length: 256\r\n\r\n`), body]));
    expect(r.body().equals(body)).toBe(true);
    expect(r.ends).toBe(1);
  });

  it('reports version, status, reason and raw headers as received (values trimmed of OWS)', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.0 404 Not  Found here\r\nX-One:a\r\nx-two: \t b c \t\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n'));
    expect(r.heads).toMatchObject([
      {
        version: '1.0',
        status: 404,
        reason: 'Not  Found here',
        rawHeaders: ['X-One', 'a', 'x-two', 'b c', 'X-Empty', '', 'Content-Length', '0'],
      },
    ]);
  });

  it('accepts a status line without a reason phrase, and status codes up to 999', () => {
    for (const [line, status, reason] of [
      ['HTTP/1.1 200', 200, ''],
      ['HTTP/1.1 200 ', 200, ''],
      ['HTTP/1.1 999 Odd', 999, 'Odd'],
    ] as const) {
      const r = parser();
      r.p.feed(b(`${line}\r\nContent-Length: 1\r\n\r\nx`));
      expect(r.heads).toMatchObject([{ version: '1.1', status, reason, rawHeaders: ['Content-Length', '1'] }]);
      expect(r.ends).toBe(1);
    }
  });

  it('passes obs-text (bytes 0x80-0xff) inside a header value and the reason through as latin1', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 \xe9t\xe9\r\nX-A: caf\xe9 au lait\r\nX-B: \xa0nbsp\xa0 \r\nContent-Length: 0\r\n\r\n'));
    expect(r.heads[0]!.reason).toBe('\xe9t\xe9');
    // Only SP and HTAB are OWS: a no-break space (0xa0) at either end of a value is part of it.
    expect(r.heads[0]!.rawHeaders).toEqual(['X-A', 'caf\xe9 au lait', 'X-B', '\xa0nbsp\xa0', 'Content-Length', '0']);
  });
});

describe('chunked bodies', () => {
  const chunked =
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
    '5;name=value\r\nhello\r\n' +
    '1 ; ext ; other="q;x"\r\n \r\n' +
    'A\r\n0123456789\r\n' +
    'a\r\nabcdefghij\r\n' +
    '000\r\n' +
    'Trailer-One: 1\r\nTrailer-Two: two\r\n\r\n';

  it('removes the framing, extensions and trailers', () => {
    const r = parser();
    r.p.feed(b(chunked));
    expect(r.heads[0]!.rawHeaders).toEqual(['Transfer-Encoding', 'chunked']);
    expect(r.heads[0]).toMatchObject({ chunked: true, contentLength: -1 });
    expect(r.text()).toBe('hello 0123456789abcdefghij');
    expect(r.ends).toBe(1);
    expect(r.p.done).toBe(true);
    expect(r.p.reusable).toBe(true);
    expect(r.order[0]).toBe('head');
    expect(r.order.at(-1)).toBe('end');
  });

  it('gives the same result for every split into two and three pieces', () => {
    const raw = b(chunked);
    for (let i = 0; i <= raw.length; i++) {
      for (let j = i; j <= raw.length; j += 3) {
        const r = parser();
        r.p.feed(raw.subarray(0, i));
        r.p.feed(raw.subarray(i, j));
        if (j < raw.length) expect(r.ends).toBe(0);
        r.p.feed(raw.subarray(j));
        expect(r.text()).toBe('hello 0123456789abcdefghij');
        expect(r.ends).toBe(1);
        expect(r.p.reusable).toBe(true);
      }
    }
  });

  it('does not end until the blank line after the last chunk (and its trailers)', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n'));
    expect(r.text()).toBe('abc');
    expect(r.ends).toBe(0);
    r.p.feed(b('X-T: 1\r\n'));
    expect(r.ends).toBe(0);
    expect(r.p.done).toBe(false);
    r.p.feed(b('\r\n'));
    expect(r.ends).toBe(1);
    expect(r.p.done).toBe(true);
  });

  it('handles an empty chunked body', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'));
    expect(r.order).toEqual(['head', 'end']);
    expect(r.p.reusable).toBe(true);
  });

  it('uses chunked framing when chunked is the last coding, in any case', () => {
    for (const te of ['gzip, chunked', 'CHUNKED', 'Chunked', 'gzip,chunked']) {
      const r = parser();
      r.p.feed(b(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\n\r\n2\r\nhi\r\n0\r\n\r\n`));
      expect(r.text(), te).toBe('hi');
      expect(r.ends, te).toBe(1);
    }
  });

  it('reads until close when chunked is not the last coding', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n2\r\nhi\r\n0\r\n\r\n'));
    expect(r.text()).toBe('2\r\nhi\r\n0\r\n\r\n');
    expect(r.ends).toBe(0);
    r.p.eof();
    expect(r.ends).toBe(1);
    expect(r.p.reusable).toBe(false);
  });

  it('takes the codings of several Transfer-Encoding headers as one list', () => {
    const last = parser();
    last.p.feed(
      b('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n'),
    );
    expect(last.text()).toBe('x');
    expect(last.ends).toBe(1);
    const notLast = parser();
    notLast.p.feed(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n1\r\nx'));
    expect(notLast.text()).toBe('1\r\nx');
    notLast.p.eof();
    expect(notLast.ends).toBe(1);
  });

  it('accepts chunk data that looks like framing', () => {
    const data = '0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n';
    const r = parser();
    r.p.feed(
      b(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${data.length.toString(16)}\r\n${data}\r\n0\r\n\r\n`),
    );
    expect(r.text()).toBe(data);
    expect(r.ends).toBe(1);
    expect(r.p.reusable).toBe(true);
  });

  describe('errors throw during feed, after the (valid) head', () => {
    const head = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n';
    for (const [name, framing] of [
      ['non-hex chunk size', 'zz\r\nhi\r\n0\r\n\r\n'],
      ['negative chunk size', '-1\r\nhi\r\n0\r\n\r\n'],
      ['0x-prefixed chunk size', '0x2\r\nhi\r\n0\r\n\r\n'],
      ['empty chunk-size line', '\r\nhi\r\n0\r\n\r\n'],
      ['leading space before the chunk size', ' 2\r\nhi\r\n0\r\n\r\n'],
      ['junk after the chunk size', '2 x\r\nhi\r\n0\r\n\r\n'],
      ['chunk size of 13 hex digits', '0000000000002\r\nhi\r\n0\r\n\r\n'],
      ['chunk size ended by a bare LF', '2\nhi\r\n0\r\n\r\n'],
      ['chunk size ended by a bare CR', '2\rhi\r\n0\r\n\r\n'],
      ['CR inside a chunk extension', '2;a\rb\r\nhi\r\n0\r\n\r\n'],
      ['chunk data longer than the size', '2\r\nhix\r\n0\r\n\r\n'],
      ['missing CRLF after chunk data', '2\r\nhi0\r\n\r\n'],
      ['bare LF after chunk data', '2\r\nhi\n0\r\n\r\n'],
      ['bare LF ending a trailer', '2\r\nhi\r\n0\r\nX-T: 1\n\r\n'],
    ] as const) {
      it(name, () => {
        for (const size of [1000, 1]) {
          const r = parser();
          parseError(() => feedIn(r.p, b(head + framing), size));
          expect(r.heads).toHaveLength(1);
          expect(r.ends).toBe(0);
          expect(r.p.done).toBe(false);
          expect(r.p.reusable).toBe(false);
        }
      });
    }

    it('a chunk-size line that never ends, once past 4096 bytes', () => {
      const r = parser();
      r.p.feed(b(head + '2;'));
      let fed = 0;
      const err = parseError(() => {
        for (; fed < 100; fed++) r.p.feed(Buffer.alloc(512, 0x61));
      });
      expect(err.message).toMatch(/too long/);
      expect(fed).toBeLessThanOrEqual(8);
    });
  });
});

describe('close-delimited bodies', () => {
  it('reads until eof(), which ends the body', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst '));
    r.p.feed(b('second'));
    expect(r.text()).toBe('first second');
    expect(r.ends).toBe(0);
    expect(r.p.done).toBe(false);
    r.p.eof();
    expect(r.ends).toBe(1);
    expect(r.p.done).toBe(true);
    expect(r.p.reusable).toBe(false);
    r.p.eof();
    expect(r.ends).toBe(1);
  });

  it('ends an empty close-delimited body', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\n\r\n'));
    expect(r.order).toEqual(['head']);
    r.p.eof();
    expect(r.order).toEqual(['head', 'end']);
  });

  it('is never reusable, even with keep-alive', () => {
    for (const head of [
      'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n',
      'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n',
    ]) {
      const r = parser();
      r.p.feed(b(head + 'x'));
      r.p.eof();
      expect(r.ends).toBe(1);
      expect(r.p.reusable).toBe(false);
    }
  });

  it('passes bytes that look like another response through as body', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    r.p.eof();
    expect(r.heads).toHaveLength(1);
    expect(r.text()).toBe('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
  });
});

describe('responses without a body', () => {
  it('HEAD: no body even with Content-Length, and reusable', () => {
    const r = parser(true);
    r.p.feed(b('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n'));
    expect(r.order).toEqual(['head', 'end']);
    expect(r.heads[0]!.rawHeaders).toEqual(['Content-Length', '1234']);
    expect(r.p.done).toBe(true);
    expect(r.p.reusable).toBe(true);
  });

  it('HEAD: no body with Transfer-Encoding: chunked, nor without any framing header', () => {
    for (const framing of ['Transfer-Encoding: chunked\r\n', '']) {
      const r = parser(true);
      r.p.feed(b(`HTTP/1.1 200 OK\r\n${framing}\r\n`));
      expect(r.order).toEqual(['head', 'end']);
      expect(r.p.reusable).toBe(true);
    }
  });

  it('HEAD: bytes after the head are a second answer, so the connection is not reused', () => {
    const r = parser(true);
    r.p.feed(b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'));
    expect(r.order).toEqual(['head', 'end']);
    expect(r.p.done).toBe(true);
    expect(r.p.reusable).toBe(false);
  });

  for (const status of [204, 304]) {
    it(`${status}: no body whatever the headers say`, () => {
      for (const framing of ['Content-Length: 10\r\n', 'Transfer-Encoding: chunked\r\n', '']) {
        const r = parser();
        r.p.feed(b(`HTTP/1.1 ${status} X\r\n${framing}\r\n`));
        expect(r.order).toEqual(['head', 'end']);
        expect(r.heads[0]!.status).toBe(status);
        expect(r.p.done).toBe(true);
        expect(r.p.reusable).toBe(true);
        // eof() after the end is harmless.
        r.p.eof();
        expect(r.ends).toBe(1);
      }
    });
  }

  it('a 205 is not special-cased: its Content-Length body is read', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 205 Reset Content\r\nContent-Length: 2\r\n\r\nhi'));
    expect(r.text()).toBe('hi');
    expect(r.ends).toBe(1);
  });
});

describe('interim (1xx) responses', () => {
  const interim = 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n';
  const final = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi';

  it('skips 100 and 103 and reports only the final response', () => {
    const r = parser();
    r.p.feed(b(interim + final));
    expect(r.heads).toMatchObject([{ version: '1.1', status: 200, reason: 'OK', rawHeaders: ['Content-Length', '2'] }]);
    expect(r.text()).toBe('hi');
    expect(r.ends).toBe(1);
    expect(r.p.reusable).toBe(true);
  });

  it('skips them at every split point, and is no longer untouched once one was read', () => {
    const raw = b(interim + final);
    for (let i = 0; i <= raw.length; i++) {
      const r = parser();
      r.p.feed(raw.subarray(0, i));
      expect(r.p.untouched).toBe(i === 0);
      r.p.feed(raw.subarray(i));
      expect(r.heads.map((h) => h.status)).toEqual([200]);
      expect(r.text()).toBe('hi');
      expect(r.ends).toBe(1);
    }
  });

  it('ignores the framing headers of an interim response', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\n' + final));
    expect(r.heads.map((h) => h.status)).toEqual([200]);
    expect(r.text()).toBe('hi');
  });

  it('does not count an interim response as the head for eof()', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 100 Continue\r\n\r\n'));
    expect(r.heads).toHaveLength(0);
    expect(r.p.untouched).toBe(false);
    parseError(() => r.p.eof());
  });

  it('accepts 16 interim responses but not 17', () => {
    const one = 'HTTP/1.1 102 Processing\r\n\r\n';
    const r16 = parser();
    r16.p.feed(b(one.repeat(16) + final));
    expect(r16.heads.map((h) => h.status)).toEqual([200]);
    expect(r16.ends).toBe(1);
    const r17 = parser();
    parseError(() => r17.p.feed(b(one.repeat(17) + final)));
    expect(r17.heads).toHaveLength(0);
  });

  it('rejects a 101 Switching Protocols (never asked for), before onHead', () => {
    const msg = refusedBeforeHead(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
    );
    expect(msg).toMatch(/101/);
    // Also after a legitimate interim response.
    refusedBeforeHead('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 101 Switching Protocols\r\n\r\n');
  });
});

// ---------------------------------------------------------------------------------------------
// Connection reuse

describe('reusable', () => {
  const reusable = (raw: string, headRequest = false) => {
    const r = parser(headRequest);
    r.p.feed(b(raw));
    expect(r.p.done).toBe(true);
    return r.p.reusable;
  };

  it('is false until the response is done', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nh'));
    expect(r.p.reusable).toBe(false);
    r.p.feed(b('i'));
    expect(r.p.reusable).toBe(true);
  });

  it('HTTP/1.1 defaults to keep-alive', () => {
    expect(reusable(ok('hi'))).toBe(true);
    expect(reusable(ok('hi', 'Connection: keep-alive\r\n'))).toBe(true);
  });

  it('Connection: close (any case, any position in the list, any of several headers) makes it false', () => {
    expect(reusable(ok('hi', 'Connection: close\r\n'))).toBe(false);
    expect(reusable(ok('hi', 'connection: CLOSE\r\n'))).toBe(false);
    expect(reusable(ok('hi', 'Connection: keep-alive, close\r\n'))).toBe(false);
    expect(reusable(ok('hi', 'Connection: foo ,close , bar\r\n'))).toBe(false);
    expect(reusable(ok('hi', 'Connection: keep-alive\r\nConnection: close\r\n'))).toBe(false);
    expect(reusable('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n')).toBe(false);
    expect(reusable('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 9\r\n\r\n', true)).toBe(false);
    expect(
      reusable('HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n'),
    ).toBe(false);
  });

  it('a token merely containing "close" does not', () => {
    expect(reusable(ok('hi', 'Connection: closed\r\n'))).toBe(true);
    expect(reusable(ok('hi', 'X-Connection: close\r\n'))).toBe(true);
  });

  it('HTTP/1.0 is reusable only with Connection: keep-alive', () => {
    expect(reusable('HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi')).toBe(false);
    expect(reusable('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nhi')).toBe(true);
    expect(reusable('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi')).toBe(true);
    expect(reusable('HTTP/1.0 304 Not Modified\r\n\r\n')).toBe(false);
    expect(reusable('HTTP/1.0 304 Not Modified\r\nConnection: keep-alive\r\n\r\n')).toBe(true);
  });

  it('bytes after a complete response (same piece or later) make it false', () => {
    const same = parser();
    same.p.feed(b(ok('hi') + 'HTTP/1.1 200 OK\r\n'));
    expect(same.text()).toBe('hi');
    expect(same.ends).toBe(1);
    expect(same.heads).toHaveLength(1);
    expect(same.p.done).toBe(true);
    expect(same.p.reusable).toBe(false);

    const later = parser();
    later.p.feed(b(ok('hi')));
    expect(later.p.reusable).toBe(true);
    later.p.feed(b('x'));
    expect(later.p.reusable).toBe(false);
    expect(later.text()).toBe('hi');
    expect(later.ends).toBe(1);
    // An empty piece is not "more bytes".
    const empty = parser();
    empty.p.feed(b(ok('hi')));
    empty.p.feed(Buffer.alloc(0));
    expect(empty.p.reusable).toBe(true);
  });

  it('bytes after a chunked response or a 204 make it false too', () => {
    const ch = parser();
    ch.p.feed(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n\r\n'));
    expect(ch.text()).toBe('x');
    expect(ch.ends).toBe(1);
    expect(ch.p.reusable).toBe(false);
    const nc = parser();
    nc.p.feed(b('HTTP/1.1 204 No Content\r\n\r\nstray'));
    expect(nc.order).toEqual(['head', 'end']);
    expect(nc.p.reusable).toBe(false);
  });
});

describe('untouched', () => {
  it('is true only before any byte of a response head', () => {
    const r = parser();
    expect(r.p.untouched).toBe(true);
    r.p.feed(Buffer.alloc(0));
    expect(r.p.untouched).toBe(true);
    r.p.feed(b('H'));
    expect(r.p.untouched).toBe(false);
    r.p.feed(b('TTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n'));
    expect(r.p.untouched).toBe(false);
    r.p.feed(b('x'));
    expect(r.p.untouched).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// eof()

describe('eof()', () => {
  it('before any byte throws', () => {
    const r = parser();
    expect(parseError(() => r.p.eof()).message).toMatch(/before a response/);
    expect(r.ends).toBe(0);
  });

  it('in the middle of the head throws, without onHead', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n'));
    parseError(() => r.p.eof());
    expect(r.heads).toHaveLength(0);
    expect(r.ends).toBe(0);
  });

  it('in the middle of a Content-Length body throws', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel'));
    expect(parseError(() => r.p.eof()).message).toMatch(/mid-body/);
    expect(r.ends).toBe(0);
    expect(r.p.done).toBe(false);
    expect(r.p.reusable).toBe(false);
  });

  it('anywhere inside a chunked body throws', () => {
    const raw = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nX-T: 1\r\n\r\n';
    const headEnd = raw.indexOf('\r\n\r\n') + 4;
    for (let i = headEnd; i < raw.length; i++) {
      const r = parser();
      r.p.feed(b(raw.slice(0, i)));
      expect(r.heads).toHaveLength(1);
      parseError(() => r.p.eof());
      expect(r.ends).toBe(0);
    }
  });

  it('after a complete response does nothing', () => {
    const r = parser();
    r.p.feed(b(ok('hi')));
    r.p.eof();
    r.p.eof();
    expect(r.ends).toBe(1);
    expect(r.p.done).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// Strictness: malformed heads are refused before onHead

describe('strictness: refused before onHead', () => {
  const body = 'Content-Length: 2\r\n\r\nhi';

  describe('malformed status line', () => {
    for (const line of [
      'HTTP/1.1 20 OK',
      'HTTP/1.1 2000 OK',
      'HTTP/1.1 2x0 OK',
      'HTTP/1.1 200OK',
      'HTTP/1.1  200 OK',
      'HTTP/1.1\t200 OK',
      'HTTP/1.2 200 OK',
      'HTTP/2 200 OK',
      'HTTP/2.0 200 OK',
      'HTTP/0.9 200 OK',
      'HTTP/1 200 OK',
      'http/1.1 200 OK',
      ' HTTP/1.1 200 OK',
      'HTTP/1.1 -20 OK',
      'ICY 200 OK',
      'HTTP/1.1 200 O\0K',
      'HTTP/1.1',
      '',
      'X-Header: value',
    ]) {
      it(JSON.stringify(line), () => {
        expect(refusedBeforeHead(`${line}\r\n${body}`)).toMatch(/status line/);
      });
    }

    it('garbage instead of a response', () => {
      refusedBeforeHead('\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n');
      refusedBeforeHead('<html><body>hi</body></html>\r\n\r\n');
    });
  });

  describe('bad Content-Length', () => {
    for (const value of ['abc', '-1', '+5', '1.5', '0x10', '1e3', '1 2', '2,2', '', '1234567890123456']) {
      it(JSON.stringify(value), () => {
        expect(refusedBeforeHead(`HTTP/1.1 200 OK\r\nContent-Length: ${value}\r\n\r\nhi`)).toMatch(/content-length/);
      });
    }

    it('two different values', () => {
      expect(refusedBeforeHead('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!')).toMatch(
        /conflicting/,
      );
      refusedBeforeHead('HTTP/1.1 200 OK\r\ncontent-length: 3\r\nX: y\r\nCONTENT-LENGTH: 2\r\n\r\nhi!');
    });

    it('is refused even on a HEAD response or a 204', () => {
      refusedBeforeHead('HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n', true);
      refusedBeforeHead('HTTP/1.1 204 No Content\r\nContent-Length: -1\r\n\r\n');
    });
  });

  it('Transfer-Encoding together with Content-Length, in either order', () => {
    for (const te of ['chunked', 'gzip']) {
      expect(
        refusedBeforeHead(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${te}\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`),
      ).toMatch(/transfer-encoding and content-length/);
      refusedBeforeHead(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\ntransfer-encoding: ${te}\r\n\r\n0\r\n\r\n`);
    }
  });

  describe('malformed header line', () => {
    for (const line of [
      'X Foo: bar',
      'X-Foo : bar',
      'X-Foo\t: bar',
      'NoColonHere',
      ': value',
      'X@Foo: bar',
      'X(Foo): bar',
      'X"Foo": bar',
      'X/Foo: bar',
      'X\x01Foo: bar',
      'X\xe9: bar',
      ' X-Foo: bar',
    ]) {
      it(JSON.stringify(line), () => {
        refusedBeforeHead(`HTTP/1.1 200 OK\r\n${line}\r\n${body}`);
      });
    }
  });

  describe('obs-fold (a header line starting with whitespace)', () => {
    for (const fold of [' continued', '\tcontinued', ' continued: too', '\t']) {
      it(JSON.stringify(fold), () => {
        refusedBeforeHead(`HTTP/1.1 200 OK\r\nX-A: first\r\n${fold}\r\n${body}`);
      });
    }
  });

  describe('control characters in a header value', () => {
    for (const c of ['\x00', '\x7f', '\x01', '\x08', '\x1b', '\x1f', '\n', '\r']) {
      it(JSON.stringify(c), () => {
        expect(refusedBeforeHead(`HTTP/1.1 200 OK\r\nX-A: a${c}b\r\n${body}`)).toMatch(/header value/);
      });
    }

    it('a control character in a framing header value too', () => {
      refusedBeforeHead(`HTTP/1.1 200 OK\r\nConnection: keep\x00alive\r\n${body}`);
    });

    it('HTAB inside a value is allowed', () => {
      const r = parser();
      r.p.feed(b(`HTTP/1.1 200 OK\r\nX-A: a\tb\r\n${body}`));
      expect(r.heads[0]!.rawHeaders).toEqual(['X-A', 'a\tb', 'Content-Length', '2']);
    });
  });

  it('a malformed head is refused even for a HEAD request and after an interim response', () => {
    refusedBeforeHead('HTTP/1.1 200 OK\r\nBad Header: x\r\n\r\n', true);
    refusedBeforeHead(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-A: \x01\r\n${body}`);
    // A malformed interim response is refused too.
    refusedBeforeHead(`HTTP/1.1 100 Continue\r\nBad Header\r\n\r\nHTTP/1.1 200 OK\r\n${body}`);
  });

  describe('head size', () => {
    const headOf = (len: number) => {
      const pre = 'HTTP/1.1 200 OK\r\nX-Pad: ';
      return pre + 'a'.repeat(len - pre.length);
    };

    it('a head of exactly MAX_RESPONSE_HEAD bytes (before the blank line) is accepted in one piece', () => {
      const r = parser();
      r.p.feed(b(`${headOf(MAX_RESPONSE_HEAD)}\r\n\r\n`));
      expect(r.heads).toHaveLength(1);
      expect(r.heads[0]!.rawHeaders[1]).toHaveLength(MAX_RESPONSE_HEAD - 'HTTP/1.1 200 OK\r\nX-Pad: '.length);
    });

    it('one byte more is refused, even when the blank line arrives with it', () => {
      expect(refusedBeforeHead(`${headOf(MAX_RESPONSE_HEAD + 1)}\r\n\r\n`)).toMatch(/too large/);
    });

    it('a head larger than MAX_RESPONSE_HEAD without the blank line is refused in one piece', () => {
      const r = parser();
      expect(parseError(() => r.p.feed(b(headOf(MAX_RESPONSE_HEAD + 1)))).message).toMatch(/too large/);
      expect(r.heads).toHaveLength(0);
    });
  });
});

// ---------------------------------------------------------------------------------------------
// Memory bound

describe('memory bound', () => {
  it('a head that never ends, fed in 1 KiB pieces, throws once past MAX_RESPONSE_HEAD', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\nX-Never-Ends: '));
    let fedBytes = 'HTTP/1.1 200 OK\r\nX-Never-Ends: '.length;
    const piece = Buffer.alloc(1024, 0x61);
    let pieces = 0;
    let err: unknown;
    try {
      // Four times the limit if never refused (more would only make a broken parser slow to fail).
      for (; pieces < (4 * MAX_RESPONSE_HEAD) / 1024; pieces++) {
        r.p.feed(piece);
        fedBytes += piece.length;
      }
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ResponseParseError);
    expect((err as Error).message).toMatch(/too large/);
    // Refused by the first piece that takes it past the limit, not later.
    expect(fedBytes).toBeLessThanOrEqual(MAX_RESPONSE_HEAD);
    expect(fedBytes + piece.length).toBeGreaterThan(MAX_RESPONSE_HEAD);
    expect(r.heads).toHaveLength(0);
  });

  it('a stream of CR LF pairs that never form a blank line is bounded too', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\nX: '));
    let pieces = 0;
    parseError(() => {
      for (; pieces < 250; pieces++) r.p.feed(b('a\r\nX: '.repeat(200)));
    });
    expect(pieces * 1200).toBeLessThanOrEqual(MAX_RESPONSE_HEAD);
  });

  it('thousands of trailer lines are dropped one by one, and the body still ends', () => {
    const r = parser();
    r.p.feed(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n'));
    // Many trailer lines, each short: fine, they are dropped.
    for (let i = 0; i < 2000; i++) r.p.feed(b(`X-T-${i}: ${'v'.repeat(100)}\r\n`));
    r.p.feed(b('\r\n'));
    expect(r.text()).toBe('x');
    expect(r.ends).toBe(1);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: random valid responses, random cuts, against the generator and against Node

type Framing = 'length' | 'chunked' | 'close';

interface Spec {
  status: number;
  reason: string;
  headers: [string, string][];
  ows: [string, string][];
  body: Uint8Array;
  framing: Framing;
  framingName: string;
  teValue: string;
  framingAt: number;
  connClose: string | null;
  connAt: number;
  chunkSizes: number[];
  upperHex: boolean;
  extensions: boolean;
  trailers: [string, string][];
}

const TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RESERVED = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'proxy-connection',
  'upgrade',
  'trailer',
  'te',
]);
const tokenArb = fc
  .string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 20 })
  .filter((n) => !RESERVED.has(n.toLowerCase()));
const printable = fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c));
const valueArb = fc.string({ unit: printable, maxLength: 40, size: 'max' }).map((v) => v.trim());
const owsArb = fc.constantFrom('', ' ', '  ', '\t', ' \t ');

const specArb: fc.Arbitrary<Spec> = fc.record({
  status: fc.integer({ min: 200, max: 599 }).filter((s) => s !== 204 && s !== 304),
  reason: fc.string({ unit: printable, maxLength: 20, size: 'max' }),
  headers: fc.array(fc.tuple(tokenArb, valueArb), { maxLength: 8, size: 'max' }),
  ows: fc.array(fc.tuple(owsArb, owsArb), { minLength: 10, maxLength: 10 }),
  // size 'max': without it fast-check keeps arrays to about ten elements.
  body: fc.uint8Array({ maxLength: 5000, size: 'max' }),
  framing: fc.constantFrom<Framing>('length', 'chunked', 'close'),
  framingName: fc.constantFrom('lower', 'Title', 'UPPER'),
  teValue: fc.constantFrom('chunked', 'Chunked', 'gzip, chunked'),
  framingAt: fc.nat(),
  connClose: fc.option(fc.constantFrom('close', 'Close', 'keep-alive, close'), { freq: 3 }),
  connAt: fc.nat(),
  chunkSizes: fc.array(fc.integer({ min: 1, max: 1500 }), { minLength: 1, maxLength: 8, size: 'max' }),
  upperHex: fc.boolean(),
  extensions: fc.boolean(),
  trailers: fc.array(fc.tuple(tokenArb, valueArb), { maxLength: 3, size: 'max' }),
});

const caseName = (name: string, style: string) =>
  style === 'lower' ? name.toLowerCase() : style === 'UPPER' ? name.toUpperCase() : name;

/** The response bytes, and the rawHeaders the parser should report. */
function serialize(s: Spec): { bytes: Buffer; rawHeaders: string[]; reusable: boolean } {
  const headers = s.headers.map(([n, v]) => [n, v] as [string, string]);
  const body = Buffer.from(s.body);
  if (s.framing === 'length') {
    headers.splice(s.framingAt % (headers.length + 1), 0, [
      caseName('Content-Length', s.framingName),
      String(body.length),
    ]);
  } else if (s.framing === 'chunked') {
    headers.splice(s.framingAt % (headers.length + 1), 0, [caseName('Transfer-Encoding', s.framingName), s.teValue]);
  }
  if (s.connClose !== null) headers.splice(s.connAt % (headers.length + 1), 0, ['Connection', s.connClose]);

  let head = `HTTP/1.1 ${s.status} ${s.reason}\r\n`;
  headers.forEach(([n, v], i) => {
    const [pre, post] = s.ows[i % s.ows.length]!;
    head += `${n}:${pre}${v}${post}\r\n`;
  });
  head += '\r\n';
  const parts: Buffer[] = [b(head)];
  if (s.framing === 'chunked') {
    let at = 0;
    let k = 0;
    while (at < body.length) {
      const size = Math.min(s.chunkSizes[k++ % s.chunkSizes.length]!, body.length - at);
      const hex = size.toString(16);
      parts.push(b(`${s.upperHex ? hex.toUpperCase() : hex}${s.extensions ? `;ext${k}=v` : ''}\r\n`));
      parts.push(body.subarray(at, at + size), b('\r\n'));
      at += size;
    }
    parts.push(b(`0${s.extensions ? ';last' : ''}\r\n`));
    for (const [n, v] of s.trailers) parts.push(b(`${n}: ${v}\r\n`));
    parts.push(b('\r\n'));
  } else {
    parts.push(body);
  }
  return {
    bytes: Buffer.concat(parts),
    rawHeaders: headers.flat(),
    reusable: s.framing !== 'close' && s.connClose === null,
  };
}

/** Splits `bytes` at the given cut positions (taken modulo length + 1; empty pieces allowed). */
function cutAt(bytes: Buffer, cuts: number[] | 'bytes'): Buffer[] {
  if (cuts === 'bytes') return Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
  const at = cuts.map((c) => c % (bytes.length + 1)).sort((x, y) => x - y);
  const pieces: Buffer[] = [];
  let prev = 0;
  for (const c of at) {
    pieces.push(bytes.subarray(prev, c));
    prev = c;
  }
  pieces.push(bytes.subarray(prev));
  return pieces;
}

const cutsArb = (maxCuts: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.array(fc.nat(), { maxLength: maxCuts, size: 'max' }) },
    { weight: 1, arbitrary: fc.constant('bytes' as const) },
  );

interface Outcome {
  head: ResponseHead;
  body: Buffer;
  reusable: boolean;
}

/** Feeds the pieces, checking the invariants that hold at every step; returns what was parsed. */
function parsePieces(s: Spec, pieces: Buffer[]): Outcome {
  const r = parser();
  let lastWithBytes = -1;
  pieces.forEach((piece, i) => {
    if (piece.length > 0) lastWithBytes = i;
  });
  // Checked after every piece, asserted once (an expect per piece makes byte-by-byte runs slow).
  const endsAfter: number[] = [];
  let maxHeads = 0;
  for (const piece of pieces) {
    r.p.feed(piece);
    endsAfter.push(r.ends);
    maxHeads = Math.max(maxHeads, r.heads.length);
  }
  // A message with its own framing ends on its very last byte, not before; one closed by eof() not at all.
  expect(endsAfter).toEqual(pieces.map((_, i) => (s.framing !== 'close' && i >= lastWithBytes ? 1 : 0)));
  expect(maxHeads).toBe(1);
  expect(r.heads).toHaveLength(1);
  expect(r.p.untouched).toBe(false);
  if (s.framing === 'close') {
    expect(r.p.done).toBe(false);
    expect(r.p.reusable).toBe(false);
    r.p.eof();
  }
  expect(r.ends).toBe(1);
  expect(r.p.done).toBe(true);
  const reusable = r.p.reusable;
  r.p.eof(); // harmless once done
  expect(r.ends).toBe(1);
  // No empty onBody calls; body events strictly between head and end.
  expect(r.chunks.every((c) => c.length > 0)).toBe(true);
  expect(r.order[0]).toBe('head');
  expect(r.order.at(-1)).toBe('end');
  expect(r.order.filter((e) => e === 'head' || e === 'end')).toHaveLength(2);
  return { head: r.heads[0]!, body: r.body(), reusable };
}

// interruptAfterTimeLimit bounds a run (these properties are synchronous, so vitest's timeout cannot
// stop them): a counterexample already found still fails the test, only its shrinking is cut short.
describe('property: random valid responses cut at random points', () => {
  it('the generator reaches large bodies, every framing, many chunks, and byte-by-byte feeding', () => {
    const specs = fc.sample(specArb, { numRuns: 300, seed: 1 });
    expect(specs.some((s) => s.body.length > 4000)).toBe(true);
    expect(specs.filter((s) => s.body.length > 1000).length).toBeGreaterThan(100);
    for (const f of ['length', 'chunked', 'close'] as const) expect(specs.some((s) => s.framing === f)).toBe(true);
    expect(specs.some((s) => s.headers.length >= 6)).toBe(true);
    expect(specs.some((s) => s.connClose !== null)).toBe(true);
    const chunked = specs.filter((s) => s.framing === 'chunked').map((s) => serialize(s).bytes.toString('latin1'));
    expect(chunked.some((t) => t.split('\r\n').length > 20)).toBe(true);
    const cuts = fc.sample(cutsArb(30), { numRuns: 300, seed: 1 });
    expect(cuts.some((c) => c === 'bytes')).toBe(true);
    expect(cuts.some((c) => c !== 'bytes' && c.length > 15)).toBe(true);
  });

  it('parse to the generated status, headers and body, with the right reusability', () => {
    fc.assert(
      fc.property(specArb, cutsArb(30), (s, cuts) => {
        const { bytes, rawHeaders, reusable } = serialize(s);
        const out = parsePieces(s, cutAt(bytes, cuts));
        expect(out.head.version).toBe('1.1');
        expect(out.head.status).toBe(s.status);
        expect(out.head.reason).toBe(s.reason);
        expect(out.head.rawHeaders).toEqual(rawHeaders);
        expect(out.body.equals(Buffer.from(s.body))).toBe(true);
        expect(out.reusable).toBe(reusable);
      }),
      { numRuns: 600, interruptAfterTimeLimit: 20_000 },
    );
  }, 60_000);

  it('a HEAD request never reads a body, and any bytes past the head make it non-reusable', () => {
    fc.assert(
      fc.property(specArb, cutsArb(10), (s, cuts) => {
        const { bytes, rawHeaders } = serialize(s);
        const headLen = bytes.indexOf('\r\n\r\n') + 4;
        const r = parser(true);
        for (const piece of cutAt(bytes, cuts)) r.p.feed(piece);
        expect(r.heads).toHaveLength(1);
        expect(r.heads[0]!.rawHeaders).toEqual(rawHeaders);
        expect(r.chunks).toHaveLength(0);
        expect(r.ends).toBe(1);
        expect(r.p.done).toBe(true);
        const expectReusable = bytes.length === headLen && s.connClose === null;
        expect(r.p.reusable).toBe(expectReusable);
      }),
      { numRuns: 200, interruptAfterTimeLimit: 20_000 },
    );
  }, 60_000);

  it('trailing bytes after any complete framed response make it non-reusable, and are not body', () => {
    fc.assert(
      fc.property(
        specArb.filter((s) => s.framing !== 'close'),
        fc.uint8Array({ minLength: 1, maxLength: 50 }),
        cutsArb(10),
        (s, extra, cuts) => {
          const { bytes } = serialize(s);
          const r = parser();
          for (const piece of cutAt(Buffer.concat([bytes, extra]), cuts)) r.p.feed(piece);
          expect(r.ends).toBe(1);
          expect(r.body().equals(Buffer.from(s.body))).toBe(true);
          expect(r.p.done).toBe(true);
          expect(r.p.reusable).toBe(false);
        },
      ),
      { numRuns: 200, interruptAfterTimeLimit: 20_000 },
    );
  }, 60_000);
});

describe('property: agrees with Node’s HTTP client on the same bytes', () => {
  let server: net.Server;
  let port = 0;
  /** What the next connection is answered with. */
  let pieces: Buffer[] = [];

  beforeAll(async () => {
    server = net.createServer((sock) => {
      sock.on('error', () => undefined);
      const mine = pieces;
      let req = Buffer.alloc(0);
      let answered = false;
      sock.on('data', (d: Buffer) => {
        if (answered) return;
        req = Buffer.concat([req, d]);
        // Answer once the whole request head is read, so closing never resets unread bytes.
        if (req.indexOf('\r\n\r\n') === -1) return;
        answered = true;
        void (async () => {
          for (const piece of mine) {
            if (piece.length > 0) sock.write(piece);
            await new Promise((r) => setImmediate(r));
          }
          sock.end();
        })();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((r) => server.close(r));
  });

  // Node 20's llhttp refuses a Content-Length followed by a trailing HTAB ("Invalid character in
  // Content-Length") and reads "Transfer-Encoding: chunked<HTAB>" as not chunked, although HTAB is
  // OWS (RFC 9110 5.6.3). Our parser trims it, as the RFC says; the comparison uses spaces there.
  const nodeSpecArb = specArb.map((s) => ({
    ...s,
    ows: s.ows.map(([pre, post]) => [pre, post.replace(/\t/g, ' ')] as [string, string]),
  }));

  function nodeGet(): Promise<{ status: number; rawHeaders: string[]; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode!, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    });
  }

  it('status, headers and body agree', async () => {
    await fc.assert(
      fc.asyncProperty(nodeSpecArb, fc.array(fc.nat(), { maxLength: 6, size: 'max' }), async (s, cuts) => {
        const { bytes, rawHeaders } = serialize(s);
        pieces = cutAt(bytes, cuts);
        const node = await nodeGet();
        const ours = parsePieces(s, pieces);
        expect(node.status).toBe(s.status);
        expect(ours.head.status).toBe(node.status);
        expect(node.body.equals(Buffer.from(s.body))).toBe(true);
        expect(ours.body.equals(node.body)).toBe(true);
        expect(ours.head.rawHeaders).toEqual(node.rawHeaders);
        expect(ours.head.rawHeaders).toEqual(rawHeaders);
      }),
      { numRuns: 50, interruptAfterTimeLimit: 40_000 },
    );
  }, 60_000);
});

// ---------------------------------------------------------------------------------------------
// Known parser bugs. Each of these FAILS against the current host-services/proxy/http1/response-parser.ts; they
// describe the behaviour the parser should have and are left failing on purpose until it is fixed.

describe('bugs found by this suite, now fixed', () => {
  it('a bare LF in the status line is refused (it would swallow the next header into the reason)', () => {
    // Lines are split on CRLF only; when the reason phrase allowed any byte but NUL, the reason here
    // became "OK\nContent-Length: 2", no headers are seen, and the body runs until close ("hiXYZ").
    // Node refuses these bytes (HPE_CR_EXPECTED); a lenient parser would read a 2-byte body "hi".
    // Two readings of the same bytes is what the parser's strictness promises to refuse.
    refusedBeforeHead('HTTP/1.1 200 OK\nContent-Length: 2\r\n\r\nhiXYZ');
  });

  it('control characters at the edges of a header value are refused, not trimmed away', () => {
    // String.prototype.trim() used to run before the CONTROL check, stripping \v, \f, \r, \n (and \xa0) at
    // either end, so these were accepted with value "foo". Node refuses every one of them. The
    // "\n\r\n" case is framing-relevant: a parser taking bare LF as a line end sees the head end there.
    for (const value of ['\x0bfoo', 'foo\x0c', 'foo\r', '\rfoo', 'foo\n']) {
      refusedBeforeHead(`HTTP/1.1 200 OK\r\nX-A: ${value}\r\nContent-Length: 2\r\n\r\nhi`);
    }
  });

  it('HTTP/1.0 with "Connection: keep-alive, close" is not reusable (close wins)', () => {
    // For HTTP/1.0 the parser used to ask only whether keep-alive is listed, so this response was reported
    // reusable although the upstream said it will close (RFC 9112 9.3: the close option means the
    // connection does not persist, whatever the version). Node's llhttp has the same quirk.
    const r = parser();
    r.p.feed(b('HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 2\r\n\r\nhi'));
    expect(r.p.done).toBe(true);
    expect(r.p.reusable).toBe(false);
  });

  it('a status code below 100 is not silently skipped as an interim response', () => {
    // `status < 200` used to treat 000-099 as 1xx: "HTTP/1.1 099 ..." is dropped and the parser waits for
    // another head (here "hi" becomes the start of one). Node reads it as a final response with body
    // "hi". Either refusing it or reporting it is acceptable; swallowing it is not.
    const r = parser();
    let threw = false;
    try {
      r.p.feed(b('HTTP/1.1 099 Weird\r\nContent-Length: 2\r\n\r\nhi'));
    } catch (e) {
      expect(e).toBeInstanceOf(ResponseParseError);
      threw = true;
    }
    expect(threw || r.heads.length === 1).toBe(true);
  });

  it('whether a head at the size limit is accepted does not depend on how it was split', () => {
    // readHead used to refuse a pending head once it held more than MAX_RESPONSE_HEAD bytes without a
    // blank line, but accepted a blank line found at offset <= MAX_RESPONSE_HEAD. A head whose blank
    // line starts at offset MAX-2..MAX was therefore accepted in one piece but refused when the
    // "\r\n\r\n" arrives split (pending = head + "\r", "\r\n" or "\r\n\r" is already over the limit).
    const pre = 'HTTP/1.1 200 OK\r\nX-Pad: ';
    for (const len of [MAX_RESPONSE_HEAD - 2, MAX_RESPONSE_HEAD - 1, MAX_RESPONSE_HEAD]) {
      const raw = b(`${pre}${'a'.repeat(len - pre.length)}\r\n\r\n`);
      const whole = parser();
      whole.p.feed(raw);
      expect(whole.heads).toHaveLength(1);
      const split = parser();
      split.p.feed(raw.subarray(0, raw.length - 1));
      split.p.feed(raw.subarray(raw.length - 1));
      expect(split.heads, `head of ${len} bytes split before its last byte`).toHaveLength(1);
    }
  });
});
