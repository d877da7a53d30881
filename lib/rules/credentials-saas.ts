// EXFIL rules for SaaS API credentials: email and messaging (SendGrid, Twilio, Mailgun, Mailchimp),
// observability (Datadog, New Relic, Sentry, Grafana), work tools (Atlassian, Linear, Notion, Figma,
// Postman), maps and files (Mapbox, Dropbox), commerce and payments (Shopify, Square, Stripe webhook
// secrets). Stripe API keys are `stripe_key` in exfil-credentials.ts.
import { atLiterals } from './locate.js';
import type { Rule } from './rule.js';
import { isTokenChar, tokenRule } from './token-rule.js';

const ASSIGN = String.raw`["']?[ \t]{0,3}[:=][ \t]{0,3}["']?`;

const sendgrid = tokenRule({
  id: 'sendgrid_api_key',
  startsBeforeKeyword: 0,
  description: 'SendGrid API key',
  severity: 'critical',
  keywords: ['sg.'],
  pattern: /(?<secret>SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/g,
  prefixes: ['SG.'],
  minEntropy: 3.5,
  issuers: ['api.sendgrid.com'],
  examples: {
    positive: ['SENDGRID_API_KEY=SG.{{rand:b64url:22}}.{{rand:b64url:43}}'],
    negative: ['SENDGRID_API_KEY=SG.xxxxxxxxxxxxxxxxxxxxxx.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'msg.send(x)'],
    issuer: [{ host: 'api.sendgrid.com', text: 'Authorization: Bearer SG.{{rand:b64url:22}}.{{rand:b64url:43}}' }],
  },
});

const twilio = tokenRule({
  id: 'twilio_credential',
  description: 'Twilio auth token or API key secret (twilio-named variable)',
  severity: 'critical',
  keywords: ['twilio'],
  pattern: new RegExp(
    String.raw`twilio[A-Za-z_]{0,12}(?:auth[_-]?token|api[_-]?secret|secret)${ASSIGN}(?<secret>[a-f0-9]{32}|[A-Za-z0-9]{32})(?![A-Za-z0-9])`,
    'gi',
  ),
  boundary: false,
  issuers: [
    'api.twilio.com',
    'verify.twilio.com',
    'video.twilio.com',
    'conversations.twilio.com',
    'messaging.twilio.com',
  ],
  examples: {
    positive: ['TWILIO_AUTH_TOKEN={{rand:hex:32}}', '{"twilioApiSecret": "{{rand:alnum:32}}"}'],
    negative: ['TWILIO_AUTH_TOKEN=your_auth_token', 'TWILIO_ACCOUNT_SID=AC{{rand:hex:32}}'],
    issuer: [{ host: 'api.twilio.com', text: 'TWILIO_AUTH_TOKEN={{rand:hex:32}}' }],
  },
});

const mailgun = tokenRule({
  id: 'mailgun_api_key',
  startsBeforeKeyword: 0,
  description: 'Mailgun API or webhook signing key',
  severity: 'high',
  keywords: ['key-', 'mailgun'],
  pattern: new RegExp(
    String.raw`(?<secret>key-[a-f0-9]{32})(?![A-Za-z0-9])|mailgun[A-Za-z_]{0,20}(?:key|secret)${ASSIGN}(?<secret2>[a-f0-9]{32}-[a-f0-9]{8}-[a-f0-9]{8})(?![A-Za-z0-9])`,
    'gi',
  ),
  prefixes: ['key-'],
  boundary: false,
  // `key-` must start a token (not `api-key-...`); the named form starts at the variable name.
  check: (m, secret) => !secret.startsWith('key-') || !isTokenChar(m.input, m.index - 1),
  issuers: ['api.mailgun.net', 'api.eu.mailgun.net'],
  examples: {
    positive: ['MAILGUN_API_KEY=key-{{rand:hex:32}}', 'MAILGUN_API_KEY={{rand:hex:32}}-{{rand:hex:8}}-{{rand:hex:8}}'],
    negative: ['api-key-{{rand:hex:32}}', 'MAILGUN_API_KEY=key-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'],
    issuer: [{ host: 'api.mailgun.net', text: 'MAILGUN_API_KEY=key-{{rand:hex:32}}' }],
  },
});

const mailchimp = tokenRule({
  id: 'mailchimp_api_key',
  startsBeforeKeyword: 32,
  description: 'Mailchimp API key',
  severity: 'high',
  keywords: ['-us1', '-us2', '-us3', '-us4', '-us5', '-us6', '-us7', '-us8', '-us9'],
  pattern: /\b(?<secret>[a-f0-9]{32}-us[1-9][0-9]?)(?![A-Za-z0-9])/g,
  // One host per Mailchimp data centre (us1..us21), never a wildcard.
  issuers: [
    'us1.api.mailchimp.com',
    'us2.api.mailchimp.com',
    'us3.api.mailchimp.com',
    'us4.api.mailchimp.com',
    'us5.api.mailchimp.com',
    'us6.api.mailchimp.com',
    'us7.api.mailchimp.com',
    'us8.api.mailchimp.com',
    'us9.api.mailchimp.com',
    'us10.api.mailchimp.com',
    'us11.api.mailchimp.com',
    'us12.api.mailchimp.com',
    'us13.api.mailchimp.com',
    'us14.api.mailchimp.com',
    'us15.api.mailchimp.com',
    'us16.api.mailchimp.com',
    'us17.api.mailchimp.com',
    'us18.api.mailchimp.com',
    'us19.api.mailchimp.com',
    'us20.api.mailchimp.com',
    'us21.api.mailchimp.com',
  ],
  examples: {
    positive: ['MAILCHIMP_API_KEY={{rand:hex:32}}-us21', 'apikey: "{{rand:hex:32}}-us6"'],
    negative: ['lang=en-us1', 'MAILCHIMP_API_KEY=xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-us21'],
    issuer: [{ host: 'us21.api.mailchimp.com', text: 'apikey {{rand:hex:32}}-us21' }],
  },
});

const datadog = tokenRule({
  id: 'datadog_api_key',
  description: 'Datadog API or application key',
  severity: 'high',
  keywords: ['dd_api_key', 'dd_app_key', 'dd_application_key', 'dd-api-key', 'dd-application-key', 'datadog'],
  pattern: new RegExp(
    String.raw`(?:(?:DD|DATADOG)_(?:API|APP|APPLICATION)_KEY|DD-(?:API|APPLICATION)-KEY|datadog[_-]?(?:api|app|application)[_-]?key)${ASSIGN}(?<secret>[a-f0-9]{40}|[a-f0-9]{32})(?![A-Za-z0-9])`,
    'gi',
  ),
  boundary: false,
  // Organisations can have their own subdomains: only Datadog's API and intake hosts.
  issuers: [
    'api.datadoghq.com',
    'api.us3.datadoghq.com',
    'api.us5.datadoghq.com',
    'api.ap1.datadoghq.com',
    'api.datadoghq.eu',
    'api.ddog-gov.com',
    'http-intake.logs.datadoghq.com',
    'http-intake.logs.datadoghq.eu',
  ],
  examples: {
    positive: [
      'DD_API_KEY={{rand:hex:32}}',
      'DD-APPLICATION-KEY: {{rand:hex:40}}',
      '{"datadogApiKey": "{{rand:hex:32}}"}',
    ],
    negative: ['DD_API_KEY=<DATADOG_API_KEY>', 'DD_API_KEY=${DD_API_KEY}'],
    issuer: [{ host: 'api.datadoghq.com', text: 'DD-API-KEY: {{rand:hex:32}}' }],
  },
});

const newRelic = tokenRule({
  id: 'newrelic_key',
  description: 'New Relic user API, browser, insights insert or license key',
  severity: 'high',
  keywords: ['nrak-', 'nrjs-', 'nrii-', 'nral'],
  // The `nral` form has 36 hex digits before it.
  startsBeforeKeyword: 36,
  pattern: /(?<secret>NRAK-[A-Z0-9]{27}|NRJS-[a-f0-9]{19}|NRII-[A-Za-z0-9_-]{32}|\b[a-f0-9]{36}NRAL)(?![A-Za-z0-9_-])/g,
  prefixes: ['NRAK-', 'NRJS-', 'NRII-'],
  issuers: [
    'api.newrelic.com',
    'api.eu.newrelic.com',
    'insights-collector.newrelic.com',
    'log-api.newrelic.com',
    'metric-api.newrelic.com',
    'collector.newrelic.com',
    'otlp.nr-data.net',
  ],
  examples: {
    positive: [
      'NEW_RELIC_API_KEY=NRAK-{{rand:upper:14}}{{rand:digits:13}}',
      'NEW_RELIC_LICENSE_KEY={{rand:hex:36}}NRAL',
      'X-Insert-Key: NRII-{{rand:b64url:32}}',
    ],
    negative: ['NEW_RELIC_API_KEY=NRAK-XXXXXXXXXXXXXXXXXXXXXXXXXXX', 'Keys start with NRAK-.'],
    issuer: [{ host: 'api.newrelic.com', text: 'Api-Key: NRAK-{{rand:upper:14}}{{rand:digits:13}}' }],
  },
});

const sentryDsn = tokenRule({
  id: 'sentry_dsn',
  description: 'Sentry DSN (project ingest key)',
  severity: 'medium',
  keywords: ['sentry.io', 'sentry_dsn'],
  pattern: new RegExp(
    String.raw`https?://(?<secret>[a-f0-9]{32})(?::[a-f0-9]{32})?@(?:o[0-9]{1,12}\.ingest(?:\.[a-z]{2})?\.sentry\.io|sentry\.io)/[0-9]{1,12}` +
      String.raw`|SENTRY_DSN${ASSIGN}https?://(?<secret2>[a-f0-9]{32})(?::[a-f0-9]{32})?@[A-Za-z0-9.-]{1,253}(?::[0-9]{1,5})?/[0-9]{1,12}`,
    'gi',
  ),
  boundary: false,
  // Organisation and ingest hosts (*.sentry.io) belong to whoever made the org: only sentry.io itself.
  issuers: ['sentry.io'],
  examples: {
    positive: [
      'Sentry.init({ dsn: "https://{{rand:hex:32}}@o4504321.ingest.sentry.io/4505123" })',
      'SENTRY_DSN=https://{{rand:hex:32}}@sentry.internal.example:9000/3',
    ],
    negative: ['SENTRY_DSN=https://examplePublicKey@o0.ingest.sentry.io/0', 'dsn: "https://<key>@sentry.io/<project>"'],
    issuer: [{ host: 'sentry.io', text: 'dsn=https://{{rand:hex:32}}@o123.ingest.sentry.io/456' }],
  },
});

const sentryToken = tokenRule({
  id: 'sentry_token',
  startsBeforeKeyword: 0,
  description: 'Sentry organization auth token or user token',
  severity: 'critical',
  keywords: ['sntrys_', 'sntryu_'],
  pattern: /(?<secret>sntrys_eyJ[A-Za-z0-9+/=]{60,400}_[A-Za-z0-9+/]{40,50}|sntryu_[a-f0-9]{64})(?![A-Za-z0-9+/=_-])/g,
  prefixes: ['sntrys_eyJ', 'sntryu_'],
  issuers: ['sentry.io'],
  examples: {
    positive: [
      'SENTRY_AUTH_TOKEN=sntrys_eyJ{{rand:b64:120}}_{{rand:b64:43}}',
      'SENTRY_AUTH_TOKEN=sntryu_{{rand:hex:64}}',
    ],
    negative: ['SENTRY_AUTH_TOKEN=sntrys_...', 'sntryu_{{rand:hex:20}}'],
    issuer: [{ host: 'sentry.io', text: 'Authorization: Bearer sntryu_{{rand:hex:64}}' }],
  },
});

const grafana = tokenRule({
  id: 'grafana_token',
  startsBeforeKeyword: 0,
  description: 'Grafana service account or Grafana Cloud access token',
  severity: 'high',
  keywords: ['glsa_', 'glc_'],
  pattern: /(?<secret>glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}|glc_[A-Za-z0-9+/]{32,400}={0,2})(?![A-Za-z0-9+/=_-])/g,
  prefixes: ['glsa_', 'glc_'],
  minEntropy: 3.5,
  // Stack hosts (*.grafana.net) can be created by anyone.
  issuers: ['grafana.com'],
  examples: {
    positive: ['GRAFANA_TOKEN=glsa_{{rand:alnum:32}}_{{rand:hex:8}}', 'GRAFANA_CLOUD_TOKEN=glc_eyJ{{rand:b64:120}}'],
    negative: ['GRAFANA_TOKEN=glsa_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx_xxxxxxxx', 'glc_{{rand:alnum:10}}'],
    issuer: [{ host: 'grafana.com', text: 'Authorization: Bearer glsa_{{rand:alnum:32}}_{{rand:hex:8}}' }],
  },
});

const atlassian = tokenRule({
  id: 'atlassian_api_token',
  description: 'Atlassian (Jira, Confluence) API token or Bitbucket app password',
  severity: 'high',
  keywords: ['atatt', 'atctt', 'atbb'],
  startsBeforeKeyword: 0,
  pattern: /(?<secret>AT(?:ATT|CTT)[A-Za-z0-9_=-]{150,300}|ATBB[A-Za-z0-9_=.-]{28,40})(?![A-Za-z0-9_=.-])/g,
  prefixes: ['ATATT', 'ATCTT', 'ATBB'],
  minEntropy: 3.5,
  // Site hosts (*.atlassian.net) can be created by anyone.
  issuers: ['api.atlassian.com', 'api.bitbucket.org', 'bitbucket.org'],
  examples: {
    positive: ['JIRA_API_TOKEN=ATATT3xFfGF0{{rand:b64url:180}}', 'BITBUCKET_APP_PASSWORD=ATBB{{rand:alnum:32}}'],
    negative: ['JIRA_API_TOKEN=ATATT...', 'ATBB{{rand:alnum:10}}'],
    issuer: [{ host: 'api.atlassian.com', text: 'JIRA_API_TOKEN=ATATT3xFfGF0{{rand:b64url:180}}' }],
  },
});

const linear = tokenRule({
  id: 'linear_api_key',
  startsBeforeKeyword: 0,
  description: 'Linear API key or OAuth token',
  severity: 'high',
  keywords: ['lin_api_', 'lin_oauth_'],
  pattern: /(?<secret>lin_api_[A-Za-z0-9]{40}|lin_oauth_[a-f0-9]{64})(?![A-Za-z0-9])/g,
  prefixes: ['lin_api_', 'lin_oauth_'],
  issuers: ['api.linear.app'],
  examples: {
    positive: ['LINEAR_API_KEY=lin_api_{{rand:alnum:40}}'],
    negative: ['LINEAR_API_KEY=lin_api_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'lin_api_{{rand:alnum:12}}'],
    issuer: [{ host: 'api.linear.app', text: 'Authorization: lin_api_{{rand:alnum:40}}' }],
  },
});

const notion = tokenRule({
  id: 'notion_token',
  startsBeforeKeyword: 0,
  description: 'Notion integration token',
  severity: 'high',
  keywords: ['ntn_', 'secret_'],
  pattern: /(?<secret>ntn_[0-9]{11}[A-Za-z0-9]{35}|secret_[A-Za-z0-9]{43})(?![A-Za-z0-9_-])/g,
  prefixes: ['ntn_', 'secret_'],
  minEntropy: 3.5,
  issuers: ['api.notion.com'],
  examples: {
    positive: ['NOTION_TOKEN=ntn_{{rand:digits:11}}{{rand:alnum:35}}', 'NOTION_API_KEY=secret_{{rand:alnum:43}}'],
    negative: ['client_secret_{{rand:alnum:43}}', 'NOTION_TOKEN=ntn_xxxxxxxxxxx', 'secret_key_base'],
    issuer: [{ host: 'api.notion.com', text: 'Authorization: Bearer ntn_{{rand:digits:11}}{{rand:alnum:35}}' }],
  },
});

const figma = tokenRule({
  id: 'figma_token',
  startsBeforeKeyword: 0,
  description: 'Figma personal access token',
  severity: 'high',
  keywords: ['figd_'],
  pattern: /(?<secret>figd_[A-Za-z0-9_-]{38,43})(?![A-Za-z0-9_-])/g,
  prefixes: ['figd_'],
  minEntropy: 3.5,
  issuers: ['api.figma.com'],
  examples: {
    positive: ['FIGMA_TOKEN=figd_{{rand:b64url:40}}'],
    negative: ['FIGMA_TOKEN=figd_...', 'figd_{{rand:b64url:12}}'],
    issuer: [{ host: 'api.figma.com', text: 'X-Figma-Token: figd_{{rand:b64url:40}}' }],
  },
});

const postman = tokenRule({
  id: 'postman_api_key',
  startsBeforeKeyword: 0,
  description: 'Postman API key',
  severity: 'high',
  keywords: ['pmak-'],
  pattern: /(?<secret>PMAK-[a-f0-9]{24}-[a-f0-9]{34})(?![A-Za-z0-9])/g,
  prefixes: ['PMAK-'],
  issuers: ['api.getpostman.com', 'api.postman.com'],
  examples: {
    positive: ['POSTMAN_API_KEY=PMAK-{{rand:hex:24}}-{{rand:hex:34}}'],
    negative: ['POSTMAN_API_KEY=PMAK-xxxxxxxx', 'PMAK-{{rand:hex:24}}'],
    issuer: [{ host: 'api.getpostman.com', text: 'X-Api-Key: PMAK-{{rand:hex:24}}-{{rand:hex:34}}' }],
  },
});

const mapbox = tokenRule({
  id: 'mapbox_secret_token',
  startsBeforeKeyword: 0,
  description: 'Mapbox secret access token',
  severity: 'high',
  keywords: ['sk.eyj'],
  pattern: /(?<secret>sk\.eyJ[A-Za-z0-9_-]{50,400}\.[A-Za-z0-9_-]{20,100})(?![A-Za-z0-9_-])/g,
  prefixes: ['sk.eyJ'],
  minEntropy: 3.5,
  issuers: ['api.mapbox.com'],
  examples: {
    positive: ['MAPBOX_SECRET_TOKEN=sk.eyJ{{rand:b64url:60}}.{{rand:b64url:22}}'],
    negative: ['MAPBOX_TOKEN=pk.eyJ{{rand:b64url:60}}.{{rand:b64url:22}}', 'sk.eyJ...'],
    issuer: [{ host: 'api.mapbox.com', text: 'access_token=sk.eyJ{{rand:b64url:60}}.{{rand:b64url:22}}' }],
  },
});

const dropbox = tokenRule({
  id: 'dropbox_token',
  startsBeforeKeyword: 0,
  description: 'Dropbox short-lived access token',
  severity: 'high',
  keywords: ['sl.'],
  pattern: /(?<secret>sl\.(?:u\.)?[A-Za-z0-9_-]{130,1400})(?![A-Za-z0-9_-])/g,
  prefixes: ['sl.u.', 'sl.'],
  minEntropy: 4,
  issuers: ['api.dropboxapi.com', 'content.dropboxapi.com', 'notify.dropboxapi.com'],
  examples: {
    positive: ['DROPBOX_TOKEN=sl.{{rand:b64url:140}}', '{"access_token": "sl.u.{{rand:b64url:300}}"}'],
    negative: ['ssl.{{rand:b64url:140}}', 'sl.{{rand:b64url:40}}'],
    issuer: [{ host: 'api.dropboxapi.com', text: 'Authorization: Bearer sl.{{rand:b64url:140}}' }],
  },
});

const shopify = tokenRule({
  id: 'shopify_token',
  startsBeforeKeyword: 0,
  description: 'Shopify access token, shared secret, custom-app or private-app token',
  severity: 'critical',
  keywords: ['shpat_', 'shpss_', 'shpca_', 'shppa_'],
  pattern: /(?<secret>shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32})(?![A-Za-z0-9])/g,
  prefixes: ['shpat_', 'shpss_', 'shpca_', 'shppa_'],
  // No issuer: store hosts (*.myshopify.com) can be created by anyone, so a token sent to one is reported.
  examples: {
    positive: ['SHOPIFY_ACCESS_TOKEN=shpat_{{rand:hex:32}}', 'SHOPIFY_API_SECRET=shpss_{{rand:hex:32}}'],
    negative: ['SHOPIFY_ACCESS_TOKEN=shpat_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'shpat_{{rand:hex:12}}'],
  },
});

const square = tokenRule({
  id: 'square_token',
  description: 'Square access token or application secret',
  severity: 'critical',
  keywords: ['eaaa', 'sq0atp-', 'sq0csp-'],
  pattern: /(?<secret>EAAA[A-Za-z0-9_-]{60}|sq0atp-[A-Za-z0-9_-]{22}|sq0csp-[A-Za-z0-9_-]{43})(?![A-Za-z0-9_-])/g,
  // The keyword `eaaa` is common in base64 images; the exact-case literals are not. `sq0` prefixes are
  // found by their `q0` (indexOf on a literal led by a common letter like `s` stops at every one).
  locate: atLiterals(['EAAA', { lit: 'q0', back: 1 }]),
  startsBeforeKeyword: 0,
  prefixes: ['EAAA', 'sq0atp-', 'sq0csp-'],
  minEntropy: 3.5,
  issuers: ['connect.squareup.com', 'connect.squareupsandbox.com'],
  examples: {
    positive: ['SQUARE_ACCESS_TOKEN=EAAA{{rand:b64url:60}}', 'SQUARE_APP_SECRET=sq0csp-{{rand:b64url:43}}'],
    negative: ['SQUARE_ACCESS_TOKEN=EAAAxxxxxxxx', 'iVBORw0KGgoAAAANSUhEUgAAAEAAAA{{rand:b64:80}}'],
    issuer: [{ host: 'connect.squareup.com', text: 'Authorization: Bearer EAAA{{rand:b64url:60}}' }],
  },
});

const stripeWebhook = tokenRule({
  id: 'stripe_webhook_secret',
  startsBeforeKeyword: 0,
  description: 'Stripe webhook signing secret',
  severity: 'high',
  keywords: ['whsec_'],
  pattern: /(?<secret>whsec_[A-Za-z0-9+/]{32,64}={0,2})(?![A-Za-z0-9+/=_-])/g,
  prefixes: ['whsec_'],
  minEntropy: 3.5,
  examples: {
    positive: ['STRIPE_WEBHOOK_SECRET=whsec_{{rand:alnum:32}}'],
    negative: ['STRIPE_WEBHOOK_SECRET=whsec_...', 'whsec_{{rand:alnum:12}}'],
  },
});

export const SAAS_RULES: readonly Rule[] = [
  sendgrid,
  twilio,
  mailgun,
  mailchimp,
  datadog,
  newRelic,
  sentryDsn,
  sentryToken,
  grafana,
  atlassian,
  linear,
  notion,
  figma,
  postman,
  mapbox,
  dropbox,
  shopify,
  square,
  stripeWebhook,
];
