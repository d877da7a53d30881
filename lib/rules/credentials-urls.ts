// EXFIL rules for passwords carried in URLs: database and message-broker connection strings, and
// `scheme://user:password@host` URLs of any other kind (HTTP, FTP, SMTP, ...). The password is the
// secret; placeholders (`user:password@`, `${DB_PASS}`) and tutorial defaults (`postgres:postgres@`)
// stay silent.
import { looksLikePassword } from './false-positive.js';
import { atUserinfo } from './locate.js';
import type { Rule } from './rule.js';
import { OUT } from './token-rule.js';

const DB_SCHEMES = [
  'postgres',
  'postgresql',
  'mysql',
  'mariadb',
  'mongodb',
  'mongodb+srv',
  'redis',
  'rediss',
  'amqp',
  'amqps',
  'mssql',
  'sqlserver',
  'cockroachdb',
  'clickhouse',
  'nats',
  'kafka',
] as const;

/** userinfo characters (RFC 3986 unreserved, sub-delims, percent escapes); no `:`, `/`, `@`, quotes, space. */
const USERINFO = String.raw`[A-Za-z0-9._~%!$&*+,;=-]`;

function userOf(m: RegExpExecArray): string {
  return m.groups?.user ?? '';
}

const databaseUrl: Rule = {
  id: 'database_url_password',
  threat_type: 'EXFIL',
  directions: OUT,
  severity: 'critical',
  description: 'Database or message-broker URL with a password (postgres, mysql, mongodb+srv, redis, amqp, ...)',
  keywords: DB_SCHEMES.map((s) => `${s}://`),
  // Anchored on the `@` (rare in text); the scheme, user and password are a lookbehind, and the `d`
  // flag gives the password's position.
  pattern: new RegExp(
    String.raw`@(?<=\b(?:postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?|rediss?|amqps?|mssql|sqlserver|cockroachdb|clickhouse|nats|kafka)://(?<user>${USERINFO}{0,64}):(?<secret>${USERINFO}{1,128})@)[A-Za-z0-9.\[\]-]{1,253}`,
    'dg',
  ),
  locate: atUserinfo(64, 128),
  accept: (m, secret) => !secret.startsWith('$') && (secret.length >= 6 ? looksLikePassword(secret, userOf(m)) : false),
  examples: {
    positive: [
      'DATABASE_URL=postgres://app:{{rand:alnum:24}}@db.internal:5432/app',
      '{"uri":"mongodb+srv://admin:{{rand:alnum:16}}@cluster0.abcde.mongodb.net/?retryWrites=true"}',
      'REDIS_URL=redis://default:{{rand:alnum:32}}@redis-12345.c1.cloud.example:12345',
      'amqp://guest:{{rand:alnum:20}}@rabbit:5672/',
      'mysql://root:{{rand:alnum:12}}@127.0.0.1:3306/shop',
      'postgresql://u:{{rand:b64url:30}}@[::1]:5432/db',
    ],
    negative: [
      'DATABASE_URL=postgres://postgres:postgres@localhost:5432/app',
      'postgresql://user:password@localhost/db',
      'mysql://scott:tiger@localhost/test',
      'mongodb://${MONGO_USER}:${MONGO_PASSWORD}@mongo:27017',
      'amqp://guest:guest@localhost:5672/',
      'redis://localhost:6379/0',
      'postgres://app@db.internal/app',
      'postgresql://<user>:<password>@<host>/<db>',
      'mongodb+srv://USERNAME:PASSWORD@cluster0.example.mongodb.net/',
    ],
  },
};

const URL_SCHEMES = [
  'http',
  'https',
  'ftp',
  'ftps',
  'sftp',
  'smtp',
  'smtps',
  'imap',
  'imaps',
  'ldap',
  'ldaps',
  'ssh',
  'git',
  'svn',
  'socks5',
  'socks5h',
  'socks4',
] as const;

/** User names of documentation examples (`https://user:he%2F%2Fo@pypi.company.com`). */
const DOC_USERS =
  /^(?:user(?:name)?|usr|login|name|me|someone|foo|john|jdoe|alice|bob|myuser|your[-_]?user(?:name)?)$/i;

const urlCredentials: Rule = {
  id: 'url_credentials',
  threat_type: 'EXFIL',
  directions: OUT,
  severity: 'high',
  description: 'URL with an embedded user name and password (https://user:pass@host)',
  keywords: URL_SCHEMES.map((s) => `${s}://`),
  pattern: new RegExp(
    String.raw`@(?<=\b(?:https?|ftps?|sftp|smtps?|imaps?|ldaps?|ssh|git|svn|socks[45]h?)://(?<user>${USERINFO}{1,64}):(?<secret>${USERINFO}{1,256})@)[A-Za-z0-9.\[\]-]{1,253}`,
    'dg',
  ),
  // Every view holds `https://`, and many an `@` (e-mail addresses): the regex runs only at an `@`
  // with the `://user:password` shape before it.
  locate: atUserinfo(64, 256),
  accept: (m, secret) => !secret.startsWith('$') && !DOC_USERS.test(userOf(m)) && looksLikePassword(secret, userOf(m)),
  // A token a specific rule knows (github_pat_ in a clone URL) is reported by that rule instead.
  fallback: true,
  examples: {
    positive: [
      'git clone https://deploy:{{rand:alnum:20}}@git.example.org/team/repo.git',
      'https://jenkins:{{rand:alnum:16}}@ci.example.org/job/x',
      'HTTPS_PROXY=http://proxyuser:{{rand:alnum:16}}@proxy.corp.example:3128',
      '{"feed":"ftp://backup:{{rand:alnum:14}}@files.example.net/drop/"}',
      'smtp://mailer:{{rand:b64url:24}}@smtp.example.com:587',
    ],
    negative: [
      'https://user:password@example.com/',
      'http://username:pass@proxy:8080',
      'https://USER:PASSWORD@host/path',
      'https://${USER}:${TOKEN}@github.com/o/r.git',
      'https://example.com/a:b@c',
      'https://john.doe@example.com/',
      'http://localhost:8080/',
      'https://<user>:<token>@host/',
      // pip's authentication docs (a percent-encoded example password).
      'https://user:he%2F%2Fo@pypi.company.com/simple',
    ],
  },
};

export const URL_RULES: readonly Rule[] = [databaseUrl, urlCredentials];
