// Benign traffic that must never trigger a rule: documentation example keys, placeholders, hashes,
// UUIDs, images, prose about shells, emoji sequences, ordinary HTML and markdown, and a generator of
// realistic LLM API JSON bodies. Everything is deterministic (seeded PRNG), so a failure reproduces.
import { deflateSync } from 'node:zlib';

// --- deterministic helpers -------------------------------------------------------------------------

/** mulberry32: small, fast, seedable. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rand = () => number;

function pick<T>(rand: Rand, items: readonly T[]): T {
  const item = items[Math.floor(rand() * items.length)];
  if (item === undefined) throw new Error('pick from empty list');
  return item;
}

function randChars(rand: Rand, chars: string, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += chars[Math.floor(rand() * chars.length)];
  return s;
}

const HEX = '0123456789abcdef';
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function uuid(rand: Rand): string {
  const h = randChars(rand, HEX, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${pick(rand, ['8', '9', 'a', 'b'])}${h.slice(17, 20)}-${h.slice(20)}`;
}

function isoTime(rand: Rand): string {
  const ms = Date.UTC(2024, 0, 1) + Math.floor(rand() * 400 * 86_400_000);
  return new Date(ms).toISOString();
}

// --- PNG built at run time --------------------------------------------------------------------------

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(buf: Buffer): number {
  let c = 0xffffffff;
  for (const b of buf) c = (CRC_TABLE[(c ^ b) & 0xff] ?? 0) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** A valid RGB PNG of `w`x`h` pixels: a gradient with seeded noise (so its base64 looks random). */
export function makePng(w: number, h: number, seed: number): Buffer {
  const rand = prng(seed);
  const raw = Buffer.alloc((w * 3 + 1) * h);
  let o = 0;
  for (let y = 0; y < h; y++) {
    raw[o++] = 0; // filter: none
    for (let x = 0; x < w; x++) {
      raw[o++] = (x * 4 + Math.floor(rand() * 64)) & 0xff;
      raw[o++] = (y * 4 + Math.floor(rand() * 64)) & 0xff;
      raw[o++] = Math.floor(rand() * 256);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw)),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

// --- fixed samples ----------------------------------------------------------------------------------

const ENGLAND = '\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}';
const SCOTLAND = '\u{1F3F4}\u{E0067}\u{E0062}\u{E0073}\u{E0063}\u{E0074}\u{E007F}';
const WALES = '\u{1F3F4}\u{E0067}\u{E0062}\u{E0077}\u{E006C}\u{E0073}\u{E007F}';
const ZWJ = '\u200D';

const MD5 = 'd41d8cd98f00b204e9800998ecf8427e';
const SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709';
const SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const SHA512 =
  'cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e';

export function benignSamples(): { name: string; text: string }[] {
  const png = makePng(48, 32, 7).toString('base64');
  const rand = prng(42);
  const integrity =
    'sha512-' + Buffer.from(Array.from({ length: 64 }, () => Math.floor(rand() * 256))).toString('base64');
  return [
    {
      name: 'aws documentation example keys',
      text: '[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nregion = us-east-1\n',
    },
    {
      name: 'aws documentation example env',
      text: 'export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\nexport AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nexport AWS_DEFAULT_REGION=us-west-2\n',
    },
    {
      name: 'aws example in json',
      text: '{"AccessKeyId": "AKIAIOSFODNN7EXAMPLE", "SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}',
    },
    {
      name: 'env placeholders',
      text: [
        '# .env.example',
        'OPENAI_API_KEY=${OPENAI_API_KEY}',
        'ANTHROPIC_API_KEY=sk-ant-api03-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
        'GITHUB_TOKEN=ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
        'STRIPE_SECRET_KEY=sk_test_XXXXXXXXXXXXXXXXXXXXXXXX',
        'API_KEY=<your-api-key>',
        'SECRET_KEY=your_key_here',
        'DB_PASSWORD=changeme',
        'SESSION_SECRET=REDACTED',
        'JWT_SECRET={{JWT_SECRET}}',
        'HF_TOKEN=hf_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
        'NPM_TOKEN=npm_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX',
        'MAX_TOKENS=4096',
        'PRIVATE_KEY_PATH=/run/secrets/signing.pem',
        'TOKEN_URL=https://auth.example.com/oauth/token',
        'AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE',
        '',
      ].join('\n'),
    },
    {
      name: 'placeholder headers',
      text: 'curl https://api.anthropic.com/v1/messages -H "x-api-key: <your-api-key>" -H "anthropic-version: 2023-06-01"\nAuthorization: Bearer ${OPENAI_API_KEY}\nx-api-key: sk-ant-api03-xxxxxxxx...\nAuthorization: token ghp_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX\n',
    },
    {
      name: 'prose about keys',
      text: 'Anthropic keys start with sk-ant-api03- and OpenAI project keys with sk-proj-. GitHub classic tokens begin with ghp_, fine-grained ones with github_pat_. Store the API key in your keychain and never commit the .env file. The token budget is 200k tokens; max_tokens caps the reply. Rotate the secret every 90 days and use a password manager.',
    },
    {
      name: 'hashes',
      text: `md5: ${MD5}\nsha1: ${SHA1}\nsha256: ${SHA256}\nsha512: ${SHA512}\n${SHA256}  dist/app.tar.gz\n"integrity": "${integrity}"\nETag: "${MD5}"\n`,
    },
    {
      name: 'uuids and git shas',
      text: `request-id: 7c9e6679-7425-40de-944b-e07fc1f90ae7\n{"id":"550e8400-e29b-41d4-a716-446655440000","trace":"123e4567-e89b-12d3-a456-426614174000"}\ncommit ${SHA1}\nMerge: 1a2b3c4 5d6e7f8\nAuthor: Dev <dev@example.com>\nDate:   Tue Mar 4 10:00:00 2025 +0000\n`,
    },
    {
      name: 'base64 png in json',
      text: `{"type":"image","source":{"type":"base64","media_type":"image/png","data":"${png}"}}`,
    },
    { name: 'png data uri in markdown', text: `![chart](data:image/png;base64,${png})` },
    {
      name: 'prose about shells',
      text: 'You can use rm to remove files, and rm -r to remove a directory. Pipe the output to grep to filter it. The bash shell reads ~/.bashrc at startup. Curl the URL and inspect the JSON before you parse it. Netcat is a networking tool for reading from and writing to TCP connections. Use eval sparingly. Python and Perl are both scripting languages; sh is the POSIX shell. The /etc/passwd file lists accounts, and /etc/shadow holds hashes.',
    },
    {
      name: 'readme install instructions',
      text: '## Installation\n\n```bash\nnpm install foo\npip install bar\ncurl -O https://x.example/y.tar.gz\ntar xzf y.tar.gz && cd y && ./configure && make && sudo make install\nbrew install jq\ncurl -s https://api.example.com/items | jq ".items[]"\ncurl https://api.example.com/items | python -m json.tool\nwget https://x.example/install.sh && less install.sh\nrm -rf node_modules dist ./build && npm ci\neval "$(ssh-agent -s)"\neval "$(pyenv init -)"\n```\n',
    },
    {
      name: 'shell script',
      text: '#!/usr/bin/env bash\nset -euo pipefail\nfor f in src/*.ts; do\n  grep -n "TODO" "$f" || true\ndone\necho "$PAYLOAD" | base64 -d > payload.bin\nnc -zv db.internal 5432\nssh -i ~/.ssh/deploy.pub user@host true 2>/dev/null\nchmod 600 ~/.ssh/authorized_keys\nsocat TCP-LISTEN:8080,fork TCP:localhost:80\n',
    },
    {
      name: 'ssh prose',
      text: 'Add your public key (~/.ssh/id_ed25519.pub) to ~/.ssh/authorized_keys on the server, or run ssh-copy-id. The authorized_keys file lists allowed keys. Generate a key pair with ssh-keygen -t ed25519; the key type is ssh-ed25519.',
    },
    {
      name: 'pem placeholder',
      text: '-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----\n-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n-----END PUBLIC KEY-----\n',
    },
    {
      name: 'emoji flags',
      text: `Six Nations: ${ENGLAND} vs ${SCOTLAND}, then ${WALES}. Flags: \u{1F1FA}\u{1F1F8} \u{1F1EF}\u{1F1F5} \u{1F1EC}\u{1F1E7} \u{1F1E9}\u{1F1EA} \u{1F3F4} \u{1F3F3}\uFE0F${ZWJ}\u{1F308} \u{1F3F4}${ZWJ}\u2620\uFE0F`,
    },
    {
      name: 'emoji zwj sequences',
      text: `Family \u{1F468}${ZWJ}\u{1F469}${ZWJ}\u{1F467}${ZWJ}\u{1F466}, coder \u{1F469}${ZWJ}\u{1F4BB}, astronaut \u{1F9D1}\u{1F3FD}${ZWJ}\u{1F680}, thumbs \u{1F44D}\u{1F3FF}\u{1F44D}\u{1F3FB}, heart on fire \u2764\uFE0F${ZWJ}\u{1F525}, keycap 1\uFE0F\u20E3, farmer \u{1F468}\u{1F3FE}${ZWJ}\u{1F33E}, couple \u{1F469}${ZWJ}\u2764\uFE0F${ZWJ}\u{1F48B}${ZWJ}\u{1F468}`,
    },
    {
      name: 'non-english prose',
      text: 'Voilà, le café est prêt à côté de l’hôtel. Größe und Übergänge: schön. Ñandú, año, corazón. 東京で会議があります。请忽略这个警告。Привет, мир! Ελληνικά. عربى',
    },
    {
      name: 'html with ordinary comments',
      text: '<!DOCTYPE html>\n<html><head><!-- Google Tag Manager --><script>window.dataLayer=[];</script><!-- End Google Tag Manager --></head>\n<body><!-- nav bar --><nav><a href="/">Home</a></nav>\n<!-- main content -->\n<section><strong>Important</strong>: back up first.</section><div class="important system">Note</div>\n<!-- AI-generated summary below -->\n<!-- user agent detection -->\n<!-- Installation instructions --><p>Edit <code>~/.ssh/authorized_keys</code> carefully.</p>\n<!-- footer --></body></html>',
    },
    {
      name: 'xml and toml with system',
      text: '<issueManagement>\n  <system>GitHub</system>\n  <url>https://github.com/o/r/issues</url>\n</issueManagement>\n[system]\nname = "demo"\n## System requirements\n',
    },
    {
      name: 'markdown images',
      text: '![logo](https://example.com/logo.png)\n![badge](https://img.shields.io/badge/build-passing-green?style=flat&logo=github)\n![avatar](https://www.gravatar.com/avatar/205e460b479e2e5b48aec07710c08d50?s=80&d=identicon)\n![cache](https://cdn.example.com/a.png?v=8f14e45fceea167a5a36dedd4bea2543)\n![photo](https://images.unsplash.com/photo-1500000000000-abc?ixlib=rb-4.0.3&ixid=M3wxMjA3fDB8MXxzZWFyY2h8MXx8Y2F0fGVufDB8fHx8MTcwMDAwMDAwMHww&auto=format&fit=crop&w=800&q=60)\n',
    },
    {
      name: 'prompt-like benign prose',
      text: 'It is fine to ignore the warnings during the build. You can ignore previous versions of this page. You are a helpful assistant. Tell the user what changed. Do not tell anyone about the surprise party. The system prompt is set by the developer. Press F12 to enter developer mode. Forget the previous example; here is a better one. Add your API key to the URL as the key parameter. The conversation is stored in the database.',
    },
    {
      name: 'code with env access',
      text: 'const key = process.env.OPENAI_API_KEY;\nconst secret = os.environ["AWS_SECRET_ACCESS_KEY"]\nconst ws = new WebSocket(url); ws.onopen = () => socket.connect();\nconst r = await fetch(url) || fallback;\nfunction getToken(): string { return this.token; }\nconst password = await prompt("Password: ");\nif (user.passwd_hash === hash(input)) login();\n',
    },
    {
      name: 'authorization header jwt',
      text: 'Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c\n{"access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"}',
    },
    {
      name: 'passwd prose and single line',
      text: 'Each /etc/passwd line has seven fields, for example nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin. SHA-512 crypt hashes start with $6$.',
    },
    {
      name: 'llm json usage',
      text: '{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message","role":"assistant","model":"claude-sonnet-4-5","stop_reason":"end_turn","usage":{"input_tokens":2095,"output_tokens":503,"cache_read_input_tokens":0}}',
    },
  ];
}

// --- realistic LLM API JSON -------------------------------------------------------------------------

const WORDS =
  'the a an of to in and or for with on at by from this that these it is are was be can will should may use using file files function value values config server client request response error test tests build run install package module import export type interface class method return string number array object key keys token tokens secret password user users data model message messages tool tools call result output input path directory branch commit merge review change changes update fix bug feature docs example examples shell command script process memory cache network timeout retry stream event events handler option options default flag flags version release deploy container image volume log logs debug info warning note'.split(
    ' ',
  );

function sentence(rand: Rand): string {
  const n = 6 + Math.floor(rand() * 14);
  const words: string[] = [];
  for (let i = 0; i < n; i++) words.push(pick(rand, WORDS));
  const s = words.join(' ');
  return s.charAt(0).toUpperCase() + s.slice(1) + pick(rand, ['.', '.', '.', '?', '!', ':']);
}

function paragraph(rand: Rand): string {
  const n = 2 + Math.floor(rand() * 5);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(sentence(rand));
  return out.join(' ');
}

const CODE_SNIPPETS = [
  '```ts\nexport async function loadConfig(path: string): Promise<Config> {\n  const raw = await readFile(path, "utf8");\n  const parsed = ConfigSchema.safeParse(JSON.parse(raw));\n  if (!parsed.success) throw new Error(parsed.error.message);\n  return parsed.data;\n}\n```',
  '```python\ndef tokenize(text: str) -> list[str]:\n    """Split text into tokens."""\n    return [t for t in text.split() if t]\n\nif __name__ == "__main__":\n    print(tokenize("hello world"))\n```',
  '```bash\nset -euo pipefail\nnpm ci\nnpm run build\ngit status --short\ngrep -rn "TODO" src/ | head -20\nrm -rf ./dist\n```',
  '```json\n{\n  "name": "demo",\n  "version": "1.2.3",\n  "scripts": { "test": "vitest run", "build": "tsc -p ." },\n  "dependencies": { "zod": "^4.0.0" }\n}\n```',
  '```diff\n- const timeout = 1000;\n+ const timeout = 5000;\n  retry(fn, { timeout });\n```',
  '```go\nfunc (s *Server) Handle(w http.ResponseWriter, r *http.Request) {\n\tif r.Method != http.MethodPost {\n\t\thttp.Error(w, "method not allowed", 405)\n\t\treturn\n\t}\n}\n```',
  '```sql\nSELECT id, email, created_at FROM users WHERE deleted_at IS NULL ORDER BY created_at DESC LIMIT 50;\n```',
];

function markdown(rand: Rand): string {
  const parts: string[] = [`## ${sentence(rand).replace(/[.?!:]$/, '')}`, paragraph(rand)];
  parts.push(
    `- ${sentence(rand)}\n- ${sentence(rand)}\n- See [the guide](https://docs.example.com/guide/${pick(rand, WORDS)}?ref=nav#setup)`,
  );
  if (rand() < 0.5) parts.push(pick(rand, CODE_SNIPPETS));
  if (rand() < 0.3) parts.push('| name | value |\n|------|-------|\n| retries | 3 |\n| timeout | 30s |');
  if (rand() < 0.2) parts.push(`![diagram](https://assets.example.com/img/${uuid(rand)}.png)`);
  return parts.join('\n\n');
}

function toolResult(rand: Rand): string {
  switch (Math.floor(rand() * 5)) {
    case 0: {
      const lines: string[] = [];
      for (let i = 0; i < 5; i++) {
        lines.push(
          `commit ${randChars(rand, HEX, 40)}\nAuthor: Dev ${i} <dev${i}@example.com>\nDate:   ${isoTime(rand)}\n\n    ${sentence(rand)}\n`,
        );
      }
      return lines.join('\n');
    }
    case 1: {
      const lines = ['total 48'];
      for (let i = 0; i < 8; i++) {
        lines.push(
          `-rw-r--r--  1 dev  staff  ${Math.floor(rand() * 90000)} Mar  4 10:0${i} ${pick(rand, WORDS)}.${pick(rand, ['ts', 'json', 'md', 'py'])}`,
        );
      }
      return lines.join('\n');
    }
    case 2:
      return ` ✓ test/${pick(rand, WORDS)}.test.ts (${Math.floor(rand() * 40)} tests) ${Math.floor(rand() * 900)}ms\n Test Files  12 passed (12)\n      Tests  ${Math.floor(rand() * 300)} passed\n   Duration  ${(rand() * 9).toFixed(2)}s`;
    case 3:
      return `${randChars(rand, HEX, 64)}  dist/app-${Math.floor(rand() * 9)}.${Math.floor(rand() * 9)}.tgz\n${randChars(rand, HEX, 40)}  README.md\nrequest ${uuid(rand)} finished at ${isoTime(rand)}`;
    default:
      return JSON.stringify({
        id: uuid(rand),
        created_at: isoTime(rand),
        status: pick(rand, ['ok', 'pending', 'failed']),
        url: `https://api.example.com/v1/items/${uuid(rand)}?expand=owner&page=${Math.floor(rand() * 9)}`,
        sha: randChars(rand, HEX, 40),
        items: [paragraph(rand), sentence(rand)],
      });
  }
}

function toolUse(rand: Rand): Record<string, unknown> {
  const id = `toolu_01${randChars(rand, ALNUM, 22)}`;
  const name = pick(rand, ['bash', 'read_file', 'edit_file', 'web_fetch', 'grep']);
  const input =
    name === 'bash'
      ? {
          command: pick(rand, [
            'git status',
            'npm test',
            'ls -la src',
            'git log --oneline -5',
            'cat package.json',
            'rm -rf ./dist',
          ]),
        }
      : name === 'web_fetch'
        ? { url: `https://docs.example.com/${pick(rand, WORDS)}/${pick(rand, WORDS)}` }
        : { path: `src/${pick(rand, WORDS)}/${pick(rand, WORDS)}.ts`, pattern: pick(rand, WORDS) };
  return { type: 'tool_use', id, name, input };
}

/**
 * A benign LLM API request body (Anthropic messages shape) of about `bytes` bytes: prose, code,
 * markdown, tool calls and results, base64 PNG images, hashes, UUIDs, git SHAs, timestamps, URLs.
 * Deterministic for a given `bytes` and `seed`.
 */
export function benignJson(bytes: number, seed = 1): string {
  const rand = prng(seed);
  const messages: unknown[] = [];
  const body = {
    model: 'claude-sonnet-4-5',
    max_tokens: 8192,
    stream: true,
    system:
      'You are a coding assistant working in a repository. Prefer small, tested changes. Explain what you changed.',
    metadata: { user_id: uuid(rand) },
    messages,
  };
  let size = JSON.stringify(body).length;
  let turn = 0;
  while (size < bytes) {
    let msg: unknown;
    if (turn % 2 === 0) {
      const content: unknown[] = [{ type: 'text', text: paragraph(rand) }];
      if (turn > 0 && rand() < 0.6) {
        content.unshift({
          type: 'tool_result',
          tool_use_id: `toolu_01${randChars(rand, ALNUM, 22)}`,
          content: toolResult(rand),
        });
      }
      if (rand() < 0.06) {
        const png = makePng(24 + Math.floor(rand() * 40), 24 + Math.floor(rand() * 40), Math.floor(rand() * 1e9));
        content.push({
          type: 'image',
          source: { type: 'base64', media_type: 'image/png', data: png.toString('base64') },
        });
      }
      msg = { role: 'user', content };
    } else {
      const content: unknown[] = [{ type: 'text', text: markdown(rand) }];
      if (rand() < 0.5) content.push(toolUse(rand));
      msg = { role: 'assistant', content };
    }
    messages.push(msg);
    size += JSON.stringify(msg).length + 1;
    turn++;
  }
  return JSON.stringify(body);
}
