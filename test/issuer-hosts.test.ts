// Issuer exemptions (issue 12 point 9): a key sent to the host that issued it is normal use, but only
// where the provider expects it, never under a wildcard anyone can host under (S3 buckets, API Gateway,
// storage.googleapis.com, Slack workspaces and webhooks).
import { describe, expect, it } from 'vitest';
import { scanBuffer } from '../lib/scanner/message-scanner.js';
import { ALL_RULES, rulesFor } from '../lib/rules/index.js';
import { hostMatches } from '../lib/host-match.js';
import { expandExample } from './support/expand-example.js';

const SALT = Buffer.alloc(32, 7);

async function patternsTo(host: string, template: string): Promise<string[]> {
  const { text } = expandExample(template);
  const r = await scanBuffer(Buffer.from(`${text}\n`), {
    direction: 'outbound',
    rules: rulesFor('outbound'),
    salt: SALT,
    maxScanBytes: 1 << 20,
    destHost: host,
  });
  return r.detections.map((d) => d.pattern);
}

const AWS_ID = 'Authorization: AWS4-HMAC-SHA256 Credential=AKIA{{rand:b32:16}}/20250101/us-east-1/s3/aws4_request';
const AWS_SECRET = 'AWS_SECRET_ACCESS_KEY={{rand:b64:40}}';
const GOOGLE = 'x-goog-api-key: AIza{{rand:b64url:35}}';
const SLACK = 'Authorization: Bearer xoxb-{{rand:digits:12}}-{{rand:digits:13}}-{{rand:alnum:24}}';
const GITHUB = 'Authorization: token ghp_{{rand:alnum:36}}';

describe('issuer exemptions match where the provider expects its key', () => {
  it.each([
    ['attacker-bucket.s3.amazonaws.com', AWS_ID, 'aws_access_key'],
    ['attacker-bucket.s3.us-east-1.amazonaws.com', AWS_ID, 'aws_access_key'],
    ['s3.amazonaws.com', AWS_ID, 'aws_access_key'],
    ['sts.s3.amazonaws.com', AWS_ID, 'aws_access_key'], // a bucket named like a service
    ['sts.s3-website-us-east-1.amazonaws.com', AWS_ID, 'aws_access_key'],
    ['abc123.execute-api.us-east-1.amazonaws.com', AWS_ID, 'aws_access_key'],
    ['ec2-1-2-3-4.compute-1.amazonaws.com', AWS_SECRET, 'aws_secret_key'],
    ['attacker-bucket.s3.amazonaws.com', AWS_SECRET, 'aws_secret_key'],
    ['storage.googleapis.com', GOOGLE, 'google_api_key'],
    ['attacker-bucket.storage.googleapis.com', GOOGLE, 'google_api_key'],
    ['firebasestorage.googleapis.com', GOOGLE, 'google_api_key'],
    ['hooks.slack.com', SLACK, 'slack_token'],
    ['attacker-workspace.slack.com', SLACK, 'slack_token'],
    ['attacker.github.io', GITHUB, 'github_token'],
    ['gist.github.com', GITHUB, 'github_token'],
  ])('a key sent to %s is a finding', async (host, template, pattern) => {
    expect(await patternsTo(host, template)).toContain(pattern);
  });

  it.each([
    ['sts.amazonaws.com', AWS_ID, 'aws_access_key'],
    ['sts.us-east-1.amazonaws.com', AWS_ID, 'aws_access_key'],
    ['bedrock-runtime.eu-west-3.amazonaws.com', AWS_ID, 'aws_access_key'],
    ['sts-fips.us-gov-west-1.amazonaws.com', AWS_ID, 'aws_access_key'],
    ['sts.amazonaws.com', AWS_SECRET, 'aws_secret_key'],
    ['generativelanguage.googleapis.com', GOOGLE, 'google_api_key'],
    ['maps.googleapis.com:443', GOOGLE, 'google_api_key'],
    ['slack.com', SLACK, 'slack_token'],
    ['api.github.com', GITHUB, 'github_token'],
  ])('a key sent to its API endpoint %s is normal use', async (host, template, pattern) => {
    const found = await patternsTo(host, template);
    expect(found).not.toContain(pattern);
    // The same text elsewhere is found, so the silence above is the exemption's doing.
    expect(await patternsTo('paste.example.net', template)).toContain(pattern);
  });

  // Every rule lists exact hosts (or `{region}` labels): none may name a wildcard anyone can host under.
  const KNOWN_WILDCARD_ISSUERS = new Set<string>();

  it('no rule lists a wildcard issuer (beyond the known list, which may only shrink)', () => {
    const wild: string[] = [];
    for (const r of ALL_RULES) {
      if (!r.issuerHosts) continue;
      const hosts = ['', 'sk-ant-api03-x', 'sk-proj-x'].flatMap((secret) => [...r.issuerHosts!(secret)]);
      if (hosts.some((h) => h.includes('*'))) wild.push(r.id);
    }
    expect(wild.filter((id) => !KNOWN_WILDCARD_ISSUERS.has(id))).toEqual([]);
    // The rules this change narrowed stay narrow.
    for (const id of [
      'ai_api_key',
      'aws_access_key',
      'aws_secret_key',
      'github_token',
      'gitlab_token',
      'slack_token',
      'stripe_key',
      'google_api_key',
      'huggingface_token',
      'npm_token',
    ])
      expect(wild, id).not.toContain(id);
  });

  it('{region} matches one region label only', () => {
    const p = ['sts.{region}.amazonaws.com'];
    for (const ok of [
      'sts.us-east-1.amazonaws.com',
      'sts.ap-southeast-2.amazonaws.com',
      'sts.us-gov-west-1.amazonaws.com',
    ])
      expect(hostMatches(ok, p), ok).toBe(true);
    for (const bad of [
      'sts.s3.amazonaws.com',
      'sts.x.us-east-1.amazonaws.com',
      'sts.amazonaws.com',
      'x.sts.us-east-1.amazonaws.com',
    ])
      expect(hostMatches(bad, p), bad).toBe(false);
  });
});
