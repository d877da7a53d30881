// EXFIL rules for AI provider keys beyond Anthropic and OpenAI (those are `ai_api_key` in
// exfil-credentials.ts). Prefixed formats are matched on their prefix; providers whose keys have no
// prefix (Mistral, Cohere, DeepSeek, Together) only where a variable or field names the provider.
import type { Rule } from './rule.js';
import { tokenRule } from './token-rule.js';

/** `NAME = "value"`, `NAME: value`, `"name": "value"` between a provider-named key and its value. */
const ASSIGN = String.raw`["']?[ \t]{0,3}[:=][ \t]{0,3}["']?`;

const groq = tokenRule({
  id: 'groq_api_key',
  startsBeforeKeyword: 0,
  description: 'Groq API key',
  severity: 'high',
  keywords: ['gsk_'],
  pattern: /(?<secret>gsk_[A-Za-z0-9]{52})(?![A-Za-z0-9_-])/g,
  prefixes: ['gsk_'],
  minEntropy: 3.5,
  issuers: ['api.groq.com'],
  examples: {
    positive: ['GROQ_API_KEY=gsk_{{rand:alnum:52}}', '{"groqKey":"gsk_{{rand:alnum:52}}"}'],
    negative: ['GROQ_API_KEY=gsk_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'Groq keys start with gsk_.'],
    issuer: [{ host: 'api.groq.com', text: 'Authorization: Bearer gsk_{{rand:alnum:52}}' }],
  },
});

const xai = tokenRule({
  id: 'xai_api_key',
  startsBeforeKeyword: 0,
  description: 'xAI (Grok) API key',
  severity: 'high',
  keywords: ['xai-'],
  pattern: /(?<secret>xai-[A-Za-z0-9]{80})(?![A-Za-z0-9_-])/g,
  prefixes: ['xai-'],
  minEntropy: 3.5,
  issuers: ['api.x.ai'],
  examples: {
    positive: ['XAI_API_KEY=xai-{{rand:alnum:80}}'],
    negative: ['XAI_API_KEY=xai-{{rand:alnum:40}}', 'the xai-sdk package'],
    issuer: [{ host: 'api.x.ai', text: 'Authorization: Bearer xai-{{rand:alnum:80}}' }],
  },
});

const perplexity = tokenRule({
  id: 'perplexity_api_key',
  startsBeforeKeyword: 0,
  description: 'Perplexity API key',
  severity: 'high',
  keywords: ['pplx-'],
  pattern: /(?<secret>pplx-[A-Za-z0-9]{48})(?![A-Za-z0-9_-])/g,
  prefixes: ['pplx-'],
  minEntropy: 3.5,
  issuers: ['api.perplexity.ai'],
  examples: {
    positive: ['PERPLEXITY_API_KEY=pplx-{{rand:alnum:48}}'],
    negative: ['model: pplx-70b-online', 'pplx-{{rand:alnum:20}}'],
    issuer: [{ host: 'api.perplexity.ai', text: 'Authorization: Bearer pplx-{{rand:alnum:48}}' }],
  },
});

const replicate = tokenRule({
  id: 'replicate_api_token',
  startsBeforeKeyword: 0,
  description: 'Replicate API token',
  severity: 'high',
  keywords: ['r8_'],
  pattern: /(?<secret>r8_[A-Za-z0-9]{37})(?![A-Za-z0-9_-])/g,
  prefixes: ['r8_'],
  minEntropy: 3.5,
  issuers: ['api.replicate.com'],
  examples: {
    positive: ['REPLICATE_API_TOKEN=r8_{{rand:alnum:37}}'],
    negative: ['REPLICATE_API_TOKEN=r8_XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX', 'var r8_count = 3'],
    issuer: [{ host: 'api.replicate.com', text: 'Authorization: Token r8_{{rand:alnum:37}}' }],
  },
});

const openrouter = tokenRule({
  id: 'openrouter_api_key',
  startsBeforeKeyword: 0,
  description: 'OpenRouter API key',
  severity: 'high',
  keywords: ['sk-or-v1-'],
  pattern: /(?<secret>sk-or-v1-[a-f0-9]{64})(?![A-Za-z0-9_-])/g,
  prefixes: ['sk-or-v1-'],
  issuers: ['openrouter.ai'],
  examples: {
    positive: ['OPENROUTER_API_KEY=sk-or-v1-{{rand:hex:64}}'],
    negative: ['OPENROUTER_API_KEY=sk-or-v1-...', 'sk-or-v1-{{rand:hex:32}}'],
    issuer: [{ host: 'openrouter.ai', text: 'Authorization: Bearer sk-or-v1-{{rand:hex:64}}' }],
  },
});

const fireworks = tokenRule({
  id: 'fireworks_api_key',
  startsBeforeKeyword: 0,
  description: 'Fireworks AI API key',
  severity: 'high',
  keywords: ['fw_'],
  pattern: /(?<secret>fw_[A-Za-z0-9]{24})(?![A-Za-z0-9_-])/g,
  prefixes: ['fw_'],
  minEntropy: 3.5,
  issuers: ['api.fireworks.ai'],
  examples: {
    positive: ['FIREWORKS_API_KEY=fw_{{rand:alnum:24}}'],
    negative: ['fw_version = 3', 'fw_{{rand:alnum:10}}'],
    issuer: [{ host: 'api.fireworks.ai', text: 'Authorization: Bearer fw_{{rand:alnum:24}}' }],
  },
});

// Keys without a prefix: the variable or field must name the provider.
const namedAiKey = tokenRule({
  id: 'ai_provider_named_key',
  description: 'Mistral, Cohere, DeepSeek or Together AI key in a variable or field named after the provider',
  severity: 'high',
  keywords: ['mistral', 'cohere', 'co_api_key', 'deepseek', 'together'],
  pattern: new RegExp(
    String.raw`(?:mistral|cohere|co|deepseek|together(?:_ai)?)[_-]?api[_-]?key${ASSIGN}(?<secret>sk-[a-f0-9]{32}|[A-Za-z0-9]{32,64})(?![A-Za-z0-9_-])`,
    'gi',
  ),
  issuers: ['api.mistral.ai', 'api.cohere.com', 'api.cohere.ai', 'api.deepseek.com', 'api.together.xyz'],
  examples: {
    positive: [
      'MISTRAL_API_KEY={{rand:alnum:32}}',
      'export COHERE_API_KEY="{{rand:alnum:40}}"',
      'CO_API_KEY={{rand:alnum:40}}',
      '{"deepseek_api_key": "sk-{{rand:hex:32}}"}',
      'TOGETHER_API_KEY={{rand:hex:64}}',
    ],
    negative: ['MISTRAL_API_KEY=${MISTRAL_API_KEY}', 'cohere_api_key: your-cohere-key-here', 'MISTRAL_API_KEY=short'],
    issuer: [{ host: 'api.mistral.ai', text: 'MISTRAL_API_KEY={{rand:alnum:32}}' }],
  },
});

export const AI_RULES: readonly Rule[] = [groq, xai, perplexity, replicate, openrouter, fireworks, namedAiKey];
