// The bench's model call: the request an agent uploads for one turn (the whole conversation as a
// model-API messages array) and the answer a model API streams back (server-sent events). The upstream
// (POST /model) writes the 30 events (message_start, content_block_start, a ping, 24 text deltas, the
// closing three), each its own chunk, all in one go once the whole request body has arrived: the
// model's think time is not what the bench measures.
import { benignJson } from '../test/support/benign-corpus.js';

/**
 * A model-API request body (messages array from the benign corpus) of exactly `bytes` bytes: the corpus
 * stops after the message that reaches its size, so it is asked for a little less and the rest is filled
 * with JSON whitespace. Exact, so a 1 MiB body stays within the default max_scan_bytes (1 MiB) and is
 * scanned whole rather than cut.
 */
export function modelRequestBody(bytes = 256 * 1024, seed = 11): Buffer {
  for (let less = 1024; less < bytes; less *= 2) {
    const json = benignJson(bytes - less, seed);
    const pad = bytes - Buffer.byteLength(json);
    if (pad >= 0) return Buffer.from(`${json.slice(0, -1)}${' '.repeat(pad)}}`);
  }
  throw new Error(`cannot build a ${bytes} B model request`);
}

const ANSWER =
  'Here is what I changed. The config loader now validates every key with the schema before the ' +
  'proxy starts, so a typo in `max_scan_bytes` fails fast with the key named instead of being ignored. ' +
  'I added a test that writes a bad config to a temp home and checks the error message, and I ran the ' +
  'whole suite: 412 tests pass. Next, I would look at the retry in the upstream pool, which still ' +
  'retries a POST after a reset; that is unsafe for non-idempotent requests and should be limited to GET.';
export const MODEL_EVENTS = 30;
const DELTAS = MODEL_EVENTS - 6;
export function modelEvents(inputBytes: number): Buffer[] {
  const ev = (name: string, data: unknown) => Buffer.from(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
  const words = ANSWER.split(' ');
  const out = [
    ev('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_01BenchStreamingAnswer0001',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: Math.round(inputBytes / 4), output_tokens: 1 },
      },
    }),
    ev('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
    ev('ping', { type: 'ping' }),
  ];
  for (let i = 0; i < DELTAS; i++) {
    const text = `${words.slice(Math.floor((i * words.length) / DELTAS), Math.floor(((i + 1) * words.length) / DELTAS)).join(' ')}${i < DELTAS - 1 ? ' ' : ''}`;
    out.push(ev('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }));
  }
  out.push(
    ev('content_block_stop', { type: 'content_block_stop', index: 0 }),
    ev('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: Math.round(ANSWER.length / 4) },
    }),
    ev('message_stop', { type: 'message_stop' }),
  );
  return out;
}
