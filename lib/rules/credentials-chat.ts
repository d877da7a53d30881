// EXFIL rules for chat platforms: incoming-webhook URLs (Slack, Discord, Teams / Power Automate),
// Slack app-level and refresh tokens, Telegram and Discord bot tokens. Slack bot/user tokens
// (`xoxb-`, `xoxp-`) are `slack_token` in exfil-credentials.ts.
import type { Rule } from './rule.js';
import { isTokenChar, tokenRule } from './token-rule.js';

const slackWebhook = tokenRule({
  id: 'slack_webhook',
  startsBeforeKeyword: 0,
  description: 'Slack incoming-webhook or workflow URL',
  severity: 'high',
  keywords: ['hooks.slack.com'],
  pattern:
    /hooks\.slack\.com\/(?:services|workflows|triggers)\/(?<secret>T[A-Z0-9]{8,12}\/[AB][A-Z0-9]{8,12}\/(?:[0-9]{6,20}\/)?[A-Za-z0-9]{24,40})(?![A-Za-z0-9])/g,
  boundary: false,
  issuers: ['hooks.slack.com'],
  examples: {
    positive: [
      'SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T{{rand:upper:10}}/B{{rand:upper:10}}/{{rand:alnum:24}}',
      '{"webhook":"https://hooks.slack.com/workflows/T{{rand:upper:9}}/A{{rand:upper:10}}/{{rand:digits:18}}/{{rand:alnum:32}}"}',
    ],
    negative: [
      'https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX',
      'Post to https://hooks.slack.com/services/... to send a message.',
    ],
    issuer: [
      {
        host: 'hooks.slack.com',
        text: 'https://hooks.slack.com/services/T{{rand:upper:10}}/B{{rand:upper:10}}/{{rand:alnum:24}}',
      },
    ],
  },
});

const discordWebhook = tokenRule({
  id: 'discord_webhook',
  startsBeforeKeyword: 0,
  description: 'Discord webhook URL',
  severity: 'high',
  keywords: ['/api/webhooks/'],
  pattern: /\/api\/webhooks\/(?<secret>[0-9]{17,20}\/[A-Za-z0-9_-]{60,68})(?![A-Za-z0-9_-])/g,
  boundary: false,
  check: (m) => /discord(?:app)?\.com$/i.test(m.input.slice(Math.max(0, m.index - 40), m.index)),
  issuers: ['discord.com', 'discordapp.com', 'ptb.discord.com', 'canary.discord.com'],
  examples: {
    positive: [
      'DISCORD_WEBHOOK=https://discord.com/api/webhooks/{{rand:digits:19}}/{{rand:b64url:68}}',
      '{"url":"https://discordapp.com/api/webhooks/{{rand:digits:18}}/{{rand:b64url:68}}"}',
    ],
    negative: [
      'https://discord.com/api/webhooks/123456789012345678/xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      'https://example.com/api/webhooks/{{rand:digits:19}}/{{rand:b64url:68}}',
    ],
    issuer: [
      {
        host: 'discord.com',
        text: 'https://discord.com/api/webhooks/{{rand:digits:19}}/{{rand:b64url:68}}',
      },
    ],
  },
});

const teamsWebhook = tokenRule({
  id: 'teams_webhook',
  startsBeforeKeyword: 0,
  description: 'Microsoft Teams incoming webhook or Power Automate workflow URL',
  severity: 'high',
  keywords: ['/incomingwebhook/', 'logic.azure.com'],
  pattern:
    /\/IncomingWebhook\/(?<secret>[0-9a-f]{32}\/[0-9a-f-]{36}(?:\/[A-Za-z0-9_-]{20,80})?)|logic\.azure\.com(?::443)?\/workflows\/[0-9a-f]{32}\/triggers\/[^\s"'?]{1,120}\?[^\s"']{0,300}?\bsig=(?<secret2>[A-Za-z0-9_-]{40,50})/g,
  boundary: false,
  // No wildcard: anyone can own a tenant under webhook.office.com or a Logic App under logic.azure.com and
  // receive a victim's URL there. A post to a tenant's own webhook host is therefore reported too.
  issuers: ['outlook.office.com'],
  examples: {
    positive: [
      'TEAMS_WEBHOOK=https://contoso.webhook.office.com/webhookb2/0c6f2a1e-1111-4222-8333-9d0e4b7a6c51@5b2d7e90-4444-4555-8666-a1c3e5f70b2d/IncomingWebhook/{{rand:hex:32}}/{{rand:hex:8}}-7777-8888-9999-{{rand:hex:12}}/V2{{rand:b64url:40}}',
      'https://prod-12.westus.logic.azure.com:443/workflows/5c2f8e1a9b3d4e7f8a0b1c2d3e4f5a6b/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={{rand:b64url:43}}',
    ],
    negative: [
      'Create an Incoming Webhook connector in the channel settings.',
      'https://prod-12.westus.logic.azure.com:443/workflows/{{rand:hex:32}}/triggers/manual/paths/invoke?api-version=2016-06-01',
    ],
    issuer: [
      {
        host: 'outlook.office.com',
        text: 'https://outlook.office.com/webhook/0c6f2a1e-1111-4222-8333-9d0e4b7a6c51@5b2d7e90-4444-4555-8666-a1c3e5f70b2d/IncomingWebhook/{{rand:hex:32}}/{{rand:hex:8}}-7777-8888-9999-{{rand:hex:12}}',
      },
    ],
  },
});

const slackAppToken = tokenRule({
  id: 'slack_app_token',
  startsBeforeKeyword: 0,
  description: 'Slack app-level, configuration or refresh token',
  severity: 'high',
  keywords: ['xapp-', 'xoxe.', 'xoxe-'],
  pattern:
    /(?<secret>xapp-[0-9]-[A-Z0-9]{9,12}-[0-9]{10,15}-[a-f0-9]{64}|xoxe\.xox[bp]-[0-9]-[A-Za-z0-9]{100,200}|xoxe-[0-9]-[A-Za-z0-9]{100,200})(?![A-Za-z0-9])/g,
  prefixes: ['xapp-', 'xoxe.xoxp-', 'xoxe.xoxb-', 'xoxe-'],
  issuers: ['slack.com', 'api.slack.com'],
  examples: {
    positive: [
      'SLACK_APP_TOKEN=xapp-1-A{{rand:upper:10}}-{{rand:digits:13}}-{{rand:hex:64}}',
      '{"refresh_token":"xoxe-1-{{rand:alnum:140}}"}',
      'config token xoxe.xoxp-1-{{rand:alnum:150}}',
    ],
    negative: ['SLACK_APP_TOKEN=xapp-your-app-token', 'App-level tokens start with xapp-.'],
    issuer: [
      { host: 'slack.com', text: 'Authorization: Bearer xapp-1-A{{rand:upper:10}}-{{rand:digits:13}}-{{rand:hex:64}}' },
    ],
  },
});

const telegramBot = tokenRule({
  id: 'telegram_bot_token',
  startsBeforeKeyword: 10,
  description: 'Telegram bot token',
  severity: 'high',
  keywords: [':aa'],
  pattern: /(?<secret>[0-9]{8,10}:AA[A-Za-z0-9_-]{33})(?![A-Za-z0-9_-])/g,
  minEntropy: 3.5,
  // In the Bot API's URL the token follows `/bot` directly.
  boundary: false,
  check: (m) => !isTokenChar(m.input, m.index - 1) || m.input.slice(m.index - 4, m.index) === '/bot',
  issuers: ['api.telegram.org'],
  examples: {
    positive: [
      'TELEGRAM_BOT_TOKEN={{rand:digits:10}}:AA{{rand:b64url:33}}',
      'bot = Bot(token="{{rand:digits:9}}:AA{{rand:b64url:33}}")',
    ],
    negative: [
      'TELEGRAM_BOT_TOKEN=123456789:AAxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx',
      'at 10:AA the meeting',
      'mac 00:aa:bb:cc',
    ],
    issuer: [
      {
        host: 'api.telegram.org',
        text: 'GET /bot{{rand:digits:10}}:AA{{rand:b64url:33}}/getMe HTTP/1.1',
      },
    ],
  },
});

const discordBot = tokenRule({
  id: 'discord_bot_token',
  description: 'Discord bot token (in an Authorization: Bot header or a discord-named field)',
  severity: 'high',
  keywords: ['bot ', 'discord'],
  pattern:
    /(?:\bBot[ \t]{1,3}|discord[A-Za-z_]{0,20}["']?[ \t]{0,3}[:=][ \t]{0,3}["']?)(?<secret>[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6,7}\.[A-Za-z0-9_-]{27,40})(?![A-Za-z0-9_-])/gi,
  boundary: false,
  issuers: ['discord.com', 'discordapp.com'],
  examples: {
    positive: [
      'Authorization: Bot M{{rand:b64url:25}}.{{rand:b64url:6}}.{{rand:b64url:38}}',
      'DISCORD_TOKEN=N{{rand:b64url:25}}.{{rand:b64url:6}}.{{rand:b64url:38}}',
      '{"discordBotToken": "O{{rand:b64url:25}}.{{rand:b64url:6}}.{{rand:b64url:27}}"}',
    ],
    negative: ['DISCORD_TOKEN=your-bot-token', 'the bot M.x.y', 'Bot M{{rand:b64url:10}}.{{rand:b64url:6}}'],
    issuer: [
      { host: 'discord.com', text: 'Authorization: Bot M{{rand:b64url:25}}.{{rand:b64url:6}}.{{rand:b64url:38}}' },
    ],
  },
});

export const CHAT_RULES: readonly Rule[] = [
  slackWebhook,
  discordWebhook,
  teamsWebhook,
  slackAppToken,
  telegramBot,
  discordBot,
];
