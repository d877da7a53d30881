// EXFIL rules for credentials inside well-known config files: ~/.docker/config.json `auths`, .pypirc,
// legacy .npmrc `_authToken` / `_auth` / `_password`, .netrc, and bearer tokens in a kubeconfig `user:`.
import { isPlaceholder, looksLikePassword, looksLikeRealSecret, textBefore } from './false-positive.js';
import type { Rule } from './rule.js';
import { OUT } from './token-rule.js';

/** Base64 `user:password` with a real-looking password (Docker `auth`, npm `_auth`). */
function basicAuthValue(b64: string): boolean {
  let decoded: string;
  try {
    decoded = Buffer.from(b64, 'base64').toString('latin1');
  } catch {
    return false;
  }
  if (!/^[\x20-\x7e]+$/.test(decoded)) return false;
  const colon = decoded.indexOf(':');
  if (colon <= 0) return false;
  const user = decoded.slice(0, colon);
  const pw = decoded.slice(colon + 1);
  return looksLikePassword(pw, user) || looksLikeRealSecret(pw, 3);
}

const dockerConfigAuth: Rule = {
  id: 'docker_config_auth',
  startsBeforeKeyword: 0,
  threat_type: 'EXFIL',
  directions: OUT,
  severity: 'critical',
  description: 'Registry credentials from ~/.docker/config.json (auths: base64 user:password, identity token)',
  keywords: ['"auth"', '"identitytoken"'],
  pattern: /"(?:auth|identitytoken)"[ \t]{0,3}:[ \t]{0,3}"(?<secret>[A-Za-z0-9+/_.-]{12,2000}={0,2})"/g,
  accept: (m, secret) => {
    // Only inside an `auths` map (the field name `auth` alone is common in other JSON).
    if (!/"auths"[ \t]{0,3}:/.test(textBefore(m.input, m.index, 400))) return false;
    return m[0].startsWith('"identitytoken"') ? looksLikeRealSecret(secret, 3.5) : basicAuthValue(secret);
  },
  examples: {
    positive: [
      '{"auths":{"https://index.docker.io/v1/":{"auth":"{{b64pair:ci-bot:alnum:24}}"}}}',
      '{\n  "auths": {\n    "ghcr.io": {\n      "auth": "{{b64pair:octo:alnum:40}}"\n    }\n  }\n}',
      '{"auths":{"registry.example.com":{"identitytoken":"{{rand:b64url:64}}"}}}',
    ],
    negative: [
      '{"auths":{"https://index.docker.io/v1/":{}},"credsStore":"desktop"}',
      '{"auths":{"r.example.com":{"auth":"dXNlcjpwYXNzd29yZA=="}}}',
      '{"auth":"{{b64pair:user:alnum:24}}"}',
    ],
  },
};

const pypirc: Rule = {
  id: 'pypirc_password',
  threat_type: 'EXFIL',
  directions: OUT,
  severity: 'critical',
  description: '.pypirc repository password',
  keywords: ['[pypi]', '[testpypi]'],
  pattern: /\[(?:test)?pypi\][^[]{0,400}?(?<=^|\s|\\n)password[ \t]{0,3}[:=][ \t]{0,3}(?<secret>[^\s"'\\]{6,400})/g,
  // A `pypi-` upload token is reported by pypi_token; this rule covers plain passwords.
  accept: (_m, secret) => !secret.startsWith('pypi-') && !secret.startsWith('%(') && looksLikePassword(secret),
  examples: {
    positive: [
      '[distutils]\nindex-servers =\n    pypi\n\n[pypi]\nusername = alice\npassword = {{rand:alnum:16}}\n',
      '{"content":"[testpypi]\\nrepository = https://test.pypi.org/legacy/\\nusername = bob\\npassword = {{rand:b64url:20}}\\n"}',
    ],
    negative: [
      '[pypi]\nusername = __token__\npassword = <your-token>\n',
      '[pypi]\nusername = alice\npassword = %(PYPI_PASSWORD)s\n',
      '[pypi]\nrepository = https://upload.pypi.org/legacy/\n',
    ],
  },
};

const npmrcAuth: Rule = {
  id: 'npmrc_auth',
  startsBeforeKeyword: 0,
  threat_type: 'EXFIL',
  directions: OUT,
  severity: 'critical',
  description: '.npmrc registry credential (_authToken, legacy _auth or _password)',
  keywords: ['_authtoken', '_auth', '_password'],
  pattern:
    /(?<key>_authToken|_auth|_password)[ \t]{0,3}=[ \t]{0,3}["']?(?<secret>[A-Za-z0-9+/=._~-]{8,512})(?![A-Za-z0-9+/=._~-])/g,
  accept: (m, secret) => {
    const before = m.input.charAt(m.index - 1);
    // `//host/:_authToken=`, a line start, or a field holding the file's text (`content=_auth=...`).
    if (before !== ':' && before !== '' && !/[\s"'=&]/.test(before)) return false;
    if (secret.startsWith('npm_') || isPlaceholder(secret)) return false; // npm_ tokens: npm_token
    const key = m.groups?.key;
    if (key === '_auth') return basicAuthValue(secret);
    if (key === '_password') {
      try {
        return looksLikePassword(Buffer.from(secret, 'base64').toString('latin1')) || looksLikeRealSecret(secret, 3);
      } catch {
        return false;
      }
    }
    return looksLikeRealSecret(secret, 3);
  },
  examples: {
    positive: [
      '//npm.pkg.example.com/:_authToken={{rand:hex:8}}-{{rand:hex:4}}-{{rand:hex:4}}-{{rand:hex:4}}-{{rand:hex:12}}',
      '_auth={{b64pair:builder:alnum:20}}\nemail=builder@example.com',
      '//registry.example.org/:_password={{rand:b64:24}}',
      '{"npmrc":"registry=https://r.example.org/\\n//r.example.org/:_authToken={{rand:b64url:40}}\\n"}',
    ],
    negative: [
      '//registry.npmjs.org/:_authToken=${NPM_TOKEN}',
      '//registry.npmjs.org/:_authToken=<token>',
      'always-auth=true',
      'const _auth = require("./auth");',
      'config._password = null',
    ],
  },
};

const netrc: Rule = {
  id: 'netrc_credentials',
  threat_type: 'EXFIL',
  directions: OUT,
  severity: 'critical',
  description: '.netrc machine entry with a password',
  keywords: ['machine '],
  pattern:
    /\bmachine[ \t]+[A-Za-z0-9.:-]{1,253}(?:[ \t\r\n]+|\\n)+(?:(?:login|account)[ \t]+[^\s\\]{1,128}(?:[ \t\r\n]+|\\n)+){1,2}password[ \t]+(?<secret>[^\s\\"'{}]{1,256})/g,
  accept: (_m, secret) => looksLikePassword(secret) || looksLikeRealSecret(secret, 3),
  examples: {
    positive: [
      'machine api.example.com\n  login deploy\n  password {{rand:alnum:20}}\n',
      'machine ftp.example.org login anonymous password {{rand:b64url:16}}',
      '{"path":"/root/.netrc","content":"machine git.example.com\\nlogin bot\\npassword {{rand:alnum:40}}\\n"}',
    ],
    negative: [
      'machine api.example.com login deploy password <password>',
      'machine example.com login user password secret',
      'The machine learning model has a password field.',
    ],
  },
};

/** The kubeconfig `user:` block a `token:` sits in (a few keys of the same block may come between). */
const KUBE_USER_BEFORE = /\buser:[ \t]*(?:\r?\n|\\n)(?:[ \t]+[A-Za-z-]+:[^\r\n\\]{0,300}(?:\r?\n|\\n)){0,6}[ \t]+$/;

const kubeconfigToken: Rule = {
  id: 'kubeconfig_token',
  threat_type: 'EXFIL',
  directions: OUT,
  severity: 'critical',
  description: 'Bearer token of a kubeconfig user',
  // A kubeconfig `token:` is indented under `user:` (the keyword is the indent and the key).
  keywords: ['  token:', '\ttoken:'],
  pattern: /token:[ \t]{1,4}["']?(?<secret>[A-Za-z0-9._~+/=-]{20,4000})/g,
  accept: (m, secret) =>
    KUBE_USER_BEFORE.test(textBefore(m.input, m.index, 600)) &&
    /\busers:/.test(textBefore(m.input, m.index, 2000)) &&
    looksLikeRealSecret(secret.slice(secret.lastIndexOf('.') + 1), 3),
  examples: {
    positive: [
      'apiVersion: v1\nkind: Config\nusers:\n- name: ci\n  user:\n    token: {{rand:alnum:6}}.{{rand:alnum:16}}\n',
      'users:\n- name: admin\n  user:\n    client-certificate-data: LS0tLS1CRUdJTg\n    token: eyJ{{rand:b64url:30}}.eyJ{{rand:b64url:80}}.{{rand:b64url:43}}\n',
      '{"content":"users:\\n- name: sa\\n  user:\\n    token: {{rand:b64url:64}}\\n"}',
    ],
    negative: [
      'users:\n- name: dev\n  user:\n    exec:\n      command: aws\n',
      'auth:\n  token: {{rand:alnum:40}}\n',
      'users:\n- name: x\n  user:\n    token: <your-token>\n',
    ],
  },
};

export const CONFIG_FILE_RULES: readonly Rule[] = [dockerConfigAuth, pypirc, npmrcAuth, netrc, kubeconfigToken];
