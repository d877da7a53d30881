// EXFIL rules for cloud, platform and infrastructure credentials: Azure (storage connection strings,
// Entra client secrets, SAS tokens, DevOps PATs), Alibaba, Cloudflare, DigitalOcean, Heroku, Vercel,
// Supabase, Databricks, Terraform Cloud, Pulumi, Okta, PlanetScale, Docker Hub, PyPI, GitLab's other
// token kinds, Vault, Doppler, 1Password service accounts and age keys.
// AWS, GCP and GitHub/GitLab personal tokens are in exfil-credentials.ts.
import { textBefore } from './false-positive.js';
import { atLiterals } from './locate.js';
import type { Rule } from './rule.js';
import { tokenRule } from './token-rule.js';

/** Between a provider-named variable and its value: `NAME=`, `NAME: `, `"name": "`. */
const ASSIGN = String.raw`["']?[ \t]{0,3}[:=][ \t]{0,3}["']?`;

const azureStorageKey = tokenRule({
  id: 'azure_storage_key',
  startsBeforeKeyword: 0,
  description: 'Azure storage account key or Service Bus / Event Hubs shared access key (connection string)',
  severity: 'critical',
  keywords: ['accountkey=', 'sharedaccesskey='],
  pattern: /(?:AccountKey|SharedAccessKey)=(?<secret>[A-Za-z0-9+/]{40,100}={0,2})(?![A-Za-z0-9+/=])/g,
  boundary: false,
  minEntropy: 4,
  // The Azurite emulator's published development key is not a secret.
  check: (_m, secret) => !secret.startsWith('Eby8vdM02xNOcqFl'),
  examples: {
    positive: [
      'AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={{rand:b64:86}}==;EndpointSuffix=core.windows.net"',
      'Endpoint=sb://acme.servicebus.windows.net/;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey={{rand:b64:43}}=',
    ],
    negative: [
      'DefaultEndpointsProtocol=https;AccountName=acme;AccountKey=<account-key>;EndpointSuffix=core.windows.net',
      'AccountKey=${AZURE_STORAGE_KEY}',
    ],
  },
});

const entraClientSecret = tokenRule({
  id: 'azure_client_secret',
  startsBeforeKeyword: 4,
  description: 'Microsoft Entra ID (Azure AD) application client secret',
  severity: 'critical',
  keywords: ['q~'],
  pattern: /(?<secret>[A-Za-z0-9_~.-]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34})(?![A-Za-z0-9_~.-])/g,
  minEntropy: 3.5,
  issuers: ['login.microsoftonline.com', 'login.microsoft.com', 'login.windows.net'],
  examples: {
    positive: [
      'AZURE_CLIENT_SECRET={{rand:alnum:3}}8Q~{{rand:b64url:34}}',
      '{"clientSecret": "{{rand:alnum:3}}7Q~{{rand:alnum:31}}"}',
    ],
    negative: ['AZURE_CLIENT_SECRET=abc8Q~xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'the ~Q~ marker'],
    issuer: [
      {
        host: 'login.microsoftonline.com',
        text: 'client_id=x&client_secret={{rand:alnum:3}}8Q~{{rand:b64url:34}}&grant_type=client_credentials',
      },
    ],
  },
});

const azureSas = tokenRule({
  id: 'azure_sas_token',
  startsBeforeKeyword: 1,
  description: 'Azure shared access signature (SAS) token',
  severity: 'high',
  keywords: ['sig='],
  pattern: /[?&;]sig=(?<secret>[A-Za-z0-9%+/_-]{40,160})/g,
  boundary: false,
  minEntropy: 3.5,
  // A SAS carries a signed version (`sv=2022-11-02`); Power Automate URLs are teams_webhook.
  check: (m) => {
    const around = textBefore(m.input, m.index, 600) + m.input.slice(m.index, m.index + 800);
    const query = around.slice(Math.max(around.lastIndexOf('?'), around.lastIndexOf(' '), 0));
    return /[?&;]sv=20[0-9]{2}-[0-9]{2}-[0-9]{2}/.test(around) && !/logic\.azure\.com/.test(query + around);
  },
  // No wildcard: anyone can create a storage account, registry or vault host under these domains.
  issuers: ['management.azure.com'],
  examples: {
    positive: [
      'https://acme.blob.core.windows.net/backups/db.bak?sv=2022-11-02&ss=b&srt=sco&sp=rwdlac&se=2030-01-01T00:00:00Z&st=2024-01-01T00:00:00Z&spr=https&sig={{rand:b64url:40}}%3D',
      'AZURE_SAS="?sv=2021-06-08&se=2031-01-01&sr=c&sp=rl&sig={{rand:alnum:43}}%3D"',
    ],
    negative: [
      'https://acme.blob.core.windows.net/c/f?sv=2022-11-02&sig=<signature>',
      'https://api.example.com/hook?sig={{rand:alnum:43}}',
    ],
    issuer: [
      {
        host: 'management.azure.com',
        text: 'GET /backups/db.bak?sv=2022-11-02&sp=r&se=2030-01-01&sig={{rand:b64url:43}}%3D HTTP/1.1',
      },
    ],
  },
});

const azureDevopsPat = tokenRule({
  id: 'azure_devops_pat',
  description: 'Azure DevOps personal access token',
  severity: 'critical',
  keywords: ['azdo', 'azure_devops', 'azuredevops', 'ado_pat', 'system_accesstoken'],
  pattern: new RegExp(
    String.raw`\b(?<secret>[A-Za-z0-9]{76}AZDO[A-Za-z0-9]{4})(?![A-Za-z0-9])|(?:AZURE_DEVOPS(?:_EXT)?_(?:PAT|TOKEN)|AZUREDEVOPS_(?:PAT|TOKEN)|AZDO_(?:PAT|TOKEN)|ADO_PAT|SYSTEM_ACCESSTOKEN)${ASSIGN}(?<secret2>[a-z2-7]{52}|[A-Za-z0-9]{84})(?![A-Za-z0-9])`,
    'g',
  ),
  // The first alternative starts 76 characters before `AZDO`: tried at every word boundary, it cost
  // 18 ms per MB of any view with `azdo` in it (base64 images have some).
  locate: atLiterals([
    { lit: 'AZDO', back: 76 },
    'AZURE_DEVOPS',
    'AZUREDEVOPS_',
    'AZDO_',
    'ADO_PAT',
    'SYSTEM_ACCESSTOKEN',
  ]),
  boundary: false,
  // Organisation hosts (*.visualstudio.com) can be created by anyone: only Azure DevOps' own API hosts.
  issuers: ['dev.azure.com', 'vssps.dev.azure.com', 'vsrm.dev.azure.com', 'feeds.dev.azure.com'],
  examples: {
    positive: ['AZURE_DEVOPS_EXT_PAT={{rand:lower:52}}', 'pat: {{rand:alnum:76}}AZDO{{rand:alnum:4}}'],
    negative: ['AZURE_DEVOPS_EXT_PAT=$(System.AccessToken)', 'AZDO is short for Azure DevOps'],
    issuer: [{ host: 'dev.azure.com', text: 'pat: {{rand:alnum:76}}AZDO{{rand:alnum:4}}' }],
  },
});

const alibaba = tokenRule({
  id: 'alibaba_access_key',
  startsBeforeKeyword: 0,
  description: 'Alibaba Cloud AccessKey id',
  severity: 'high',
  keywords: ['ltai'],
  pattern: /(?<secret>LTAI[A-Za-z0-9]{12,20})(?![A-Za-z0-9])/g,
  prefixes: ['LTAI'],
  // No wildcard: OSS buckets live under aliyuncs.com too.
  issuers: ['ecs.aliyuncs.com', 'sts.aliyuncs.com', 'ram.aliyuncs.com'],
  examples: {
    positive: ['ALIBABA_CLOUD_ACCESS_KEY_ID=LTAI{{rand:alnum:20}}', 'accessKeyId: "LTAI{{rand:alnum:16}}"'],
    negative: ['ALIBABA_CLOUD_ACCESS_KEY_ID=LTAIxxxxxxxxxxxxxxxx', 'SALTAIR restaurant', 'LTAI{{rand:alnum:8}}'],
    issuer: [{ host: 'ecs.aliyuncs.com', text: 'AccessKeyId=LTAI{{rand:alnum:20}}' }],
  },
});

const cloudflare = tokenRule({
  id: 'cloudflare_api_token',
  description: 'Cloudflare API token, global API key or Origin CA key',
  severity: 'high',
  keywords: ['cloudflare', 'cf_api', 'x-auth-key', 'v1.0-'],
  pattern: new RegExp(
    String.raw`(?:CLOUDFLARE_(?:API_TOKEN|API_KEY|TOKEN)|CF_API_(?:TOKEN|KEY)|cloudflare[_-]?api[_-]?(?:token|key))${ASSIGN}(?<secret>[A-Za-z0-9_-]{40}|[a-f0-9]{37})(?![A-Za-z0-9_-])` +
      String.raw`|X-Auth-Key:[ \t]{0,3}(?<secret2>[a-f0-9]{37})(?![A-Za-z0-9])` +
      String.raw`|(?<secret3>v1\.0-[a-f0-9]{24}-[a-f0-9]{146})(?![A-Za-z0-9])`,
    'gi',
  ),
  boundary: false,
  issuers: ['api.cloudflare.com'],
  examples: {
    positive: [
      'CLOUDFLARE_API_TOKEN={{rand:b64url:40}}',
      'X-Auth-Key: {{rand:hex:37}}',
      'CF_ORIGIN_CA_KEY=v1.0-{{rand:hex:24}}-{{rand:hex:146}}',
    ],
    negative: ['CLOUDFLARE_API_TOKEN=${CF_TOKEN}', 'X-Auth-Key: <global-api-key>', 'cloudflare is a CDN'],
    issuer: [{ host: 'api.cloudflare.com', text: 'X-Auth-Key: {{rand:hex:37}}' }],
  },
});

const digitalocean = tokenRule({
  id: 'digitalocean_token',
  startsBeforeKeyword: 0,
  description: 'DigitalOcean personal access, OAuth or refresh token',
  severity: 'critical',
  keywords: ['dop_v1_', 'doo_v1_', 'dor_v1_'],
  pattern: /(?<secret>do[opr]_v1_[a-f0-9]{64})(?![A-Za-z0-9])/g,
  prefixes: ['dop_v1_', 'doo_v1_', 'dor_v1_'],
  issuers: ['api.digitalocean.com', 'cloud.digitalocean.com'],
  examples: {
    positive: ['DIGITALOCEAN_TOKEN=dop_v1_{{rand:hex:64}}', '{"token":"doo_v1_{{rand:hex:64}}"}'],
    negative: ['DIGITALOCEAN_TOKEN=dop_v1_...', 'dop_v1_{{rand:hex:20}}'],
    issuer: [{ host: 'api.digitalocean.com', text: 'Authorization: Bearer dop_v1_{{rand:hex:64}}' }],
  },
});

const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';

const heroku = tokenRule({
  id: 'heroku_api_key',
  description: 'Heroku API key',
  severity: 'high',
  keywords: ['hrku-', 'heroku'],
  pattern: new RegExp(
    String.raw`(?<secret>HRKU-[A-Za-z0-9_-]{60})(?![A-Za-z0-9_-])|HEROKU_API_(?:KEY|TOKEN)${ASSIGN}(?<secret2>${UUID})(?![A-Za-z0-9-])`,
    'gi',
  ),
  boundary: false,
  issuers: ['api.heroku.com'],
  examples: {
    positive: [
      'HEROKU_API_KEY=HRKU-{{rand:b64url:60}}',
      'HEROKU_API_KEY={{rand:hex:8}}-{{rand:hex:4}}-{{rand:hex:4}}-{{rand:hex:4}}-{{rand:hex:12}}',
    ],
    negative: ['HEROKU_API_KEY=${HEROKU_API_KEY}', 'heroku login'],
    issuer: [{ host: 'api.heroku.com', text: 'Authorization: Bearer HRKU-{{rand:b64url:60}}' }],
  },
});

const vercel = tokenRule({
  id: 'vercel_token',
  description: 'Vercel access token',
  severity: 'high',
  keywords: ['vercel'],
  pattern: new RegExp(
    String.raw`(?:VERCEL_(?:API_)?TOKEN|vercel[_-]?(?:api[_-]?)?token)${ASSIGN}(?<secret>[A-Za-z0-9]{24,60})(?![A-Za-z0-9_-])`,
    'gi',
  ),
  boundary: false,
  minEntropy: 3.5,
  issuers: ['api.vercel.com'],
  examples: {
    positive: ['VERCEL_TOKEN={{rand:alnum:24}}', '{"vercelToken": "{{rand:alnum:24}}"}'],
    negative: ['VERCEL_TOKEN=${{ secrets.VERCEL_TOKEN }}', 'deploy to vercel'],
    issuer: [{ host: 'api.vercel.com', text: 'VERCEL_TOKEN={{rand:alnum:24}}' }],
  },
});

const supabase = tokenRule({
  id: 'supabase_token',
  startsBeforeKeyword: 0,
  description: 'Supabase personal access token or secret API key',
  severity: 'critical',
  keywords: ['sbp_', 'sb_secret_'],
  pattern: /(?<secret>sbp_[a-f0-9]{40}|sb_secret_[A-Za-z0-9_-]{31,64})(?![A-Za-z0-9_-])/g,
  prefixes: ['sbp_', 'sb_secret_'],
  // Project hosts (*.supabase.co) can be created by anyone.
  issuers: ['api.supabase.com'],
  examples: {
    positive: ['SUPABASE_ACCESS_TOKEN=sbp_{{rand:hex:40}}', 'SUPABASE_SECRET_KEY=sb_secret_{{rand:b64url:32}}'],
    negative: ['SUPABASE_ACCESS_TOKEN=sbp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', 'sbp_{{rand:hex:10}}'],
    issuer: [{ host: 'api.supabase.com', text: 'Authorization: Bearer sbp_{{rand:hex:40}}' }],
  },
});

const databricks = tokenRule({
  id: 'databricks_token',
  description: 'Databricks personal access token',
  severity: 'critical',
  keywords: ['dapi'],
  startsBeforeKeyword: 0,
  pattern: /(?<secret>dapi[a-f0-9]{32}(?:-[0-9])?)(?![A-Za-z0-9])/g,
  prefixes: ['dapi'],
  // Workspace hosts can be created by anyone: a token sent to any of them is reported.
  issuers: ['accounts.cloud.databricks.com'],
  examples: {
    positive: ['DATABRICKS_TOKEN=dapi{{rand:hex:32}}', 'token = "dapi{{rand:hex:32}}-2"'],
    negative: ['the dapi{{rand:hex:10}} prefix', 'DATABRICKS_TOKEN=dapi' + '0'.repeat(32)],
    issuer: [{ host: 'accounts.cloud.databricks.com', text: 'Authorization: Bearer dapi{{rand:hex:32}}' }],
  },
});

const terraform = tokenRule({
  id: 'terraform_cloud_token',
  startsBeforeKeyword: 14,
  description: 'Terraform Cloud / Enterprise API token',
  severity: 'critical',
  keywords: ['.atlasv1.'],
  pattern: /\b(?<secret>[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70})(?![A-Za-z0-9_=-])/g,
  issuers: ['app.terraform.io'],
  examples: {
    positive: [
      'credentials "app.terraform.io" {\n  token = "{{rand:alnum:14}}.atlasv1.{{rand:b64url:67}}"\n}',
      'TF_TOKEN_app_terraform_io={{rand:alnum:14}}.atlasv1.{{rand:b64url:67}}',
    ],
    negative: ['token = "xxxxxxxxxxxxxx.atlasv1.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"'],
    issuer: [{ host: 'app.terraform.io', text: 'Authorization: Bearer {{rand:alnum:14}}.atlasv1.{{rand:b64url:67}}' }],
  },
});

const pulumi = tokenRule({
  id: 'pulumi_token',
  startsBeforeKeyword: 0,
  description: 'Pulumi access token',
  severity: 'critical',
  keywords: ['pul-'],
  pattern: /(?<secret>pul-[a-f0-9]{40})(?![A-Za-z0-9])/g,
  prefixes: ['pul-'],
  issuers: ['api.pulumi.com'],
  examples: {
    positive: ['PULUMI_ACCESS_TOKEN=pul-{{rand:hex:40}}'],
    negative: ['PULUMI_ACCESS_TOKEN=pul-xxxxxxxx', 'a pul-{{rand:hex:12}} value'],
    issuer: [{ host: 'api.pulumi.com', text: 'Authorization: token pul-{{rand:hex:40}}' }],
  },
});

const okta = tokenRule({
  id: 'okta_api_token',
  description: 'Okta API token (SSWS header or an okta-named variable)',
  severity: 'critical',
  keywords: ['ssws', 'okta'],
  pattern: new RegExp(
    String.raw`(?:\bSSWS[ \t]{1,3}|OKTA_(?:API_)?(?:TOKEN|KEY)${ASSIGN}|okta[_-]?api[_-]?token${ASSIGN})(?<secret>00[A-Za-z0-9_-]{40})(?![A-Za-z0-9_-])`,
    'gi',
  ),
  boundary: false,
  // No issuer: tenant hosts (*.okta.com) can be created by anyone (developer tenants), so a token sent to
  // any of them is reported.
  examples: {
    positive: ['Authorization: SSWS 00{{rand:b64url:40}}', 'OKTA_API_TOKEN=00{{rand:b64url:40}}'],
    negative: ['Authorization: SSWS ${OKTA_TOKEN}', 'okta org url'],
  },
});

const planetscale = tokenRule({
  id: 'planetscale_token',
  startsBeforeKeyword: 0,
  description: 'PlanetScale service token, OAuth token or database password',
  severity: 'critical',
  keywords: ['pscale_'],
  pattern: /(?<secret>pscale_(?:tkn|pw|oauth)_[A-Za-z0-9_.=-]{32,64})(?![A-Za-z0-9_.=-])/g,
  prefixes: ['pscale_tkn_', 'pscale_pw_', 'pscale_oauth_'],
  issuers: ['api.planetscale.com'],
  examples: {
    positive: ['PLANETSCALE_SERVICE_TOKEN=pscale_tkn_{{rand:b64url:43}}', 'password: pscale_pw_{{rand:b64url:43}}'],
    negative: ['PLANETSCALE_SERVICE_TOKEN=pscale_tkn_...', 'pscale_pw_{{rand:alnum:10}}'],
    issuer: [{ host: 'api.planetscale.com', text: 'Authorization: x:pscale_tkn_{{rand:b64url:43}}' }],
  },
});

const dockerHub = tokenRule({
  id: 'docker_hub_token',
  startsBeforeKeyword: 0,
  description: 'Docker Hub personal or organization access token',
  severity: 'critical',
  keywords: ['dckr_pat_', 'dckr_oat_'],
  pattern: /(?<secret>dckr_(?:pat|oat)_[A-Za-z0-9_-]{27,32})(?![A-Za-z0-9_-])/g,
  prefixes: ['dckr_pat_', 'dckr_oat_'],
  minEntropy: 3.5,
  issuers: ['hub.docker.com', 'registry-1.docker.io', 'auth.docker.io', 'index.docker.io', 'login.docker.com'],
  examples: {
    positive: [
      'DOCKERHUB_TOKEN=dckr_pat_{{rand:b64url:27}}',
      'echo dckr_oat_{{rand:b64url:32}} | docker login -u acme --password-stdin',
    ],
    negative: ['DOCKERHUB_TOKEN=dckr_pat_xxxxxxxxxxxxxxxxxxxxxxxxxxx', 'Tokens start with dckr_pat_.'],
    issuer: [{ host: 'auth.docker.io', text: 'password=dckr_pat_{{rand:b64url:27}}' }],
  },
});

const pypiToken = tokenRule({
  id: 'pypi_token',
  startsBeforeKeyword: 0,
  description: 'PyPI or TestPyPI upload token',
  severity: 'critical',
  keywords: ['pypi-ageichlwas5vcmc', 'pypi-agendgvzdc5wexbplm9yzw'],
  pattern: /(?<secret>pypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,300})(?![A-Za-z0-9_-])/g,
  prefixes: ['pypi-AgEIcHlwaS5vcmc', 'pypi-AgENdGVzdC5weXBpLm9yZw'].map((p) => p.slice(0, 16)),
  issuers: ['upload.pypi.org', 'pypi.org', 'test.pypi.org'],
  examples: {
    positive: [
      '[pypi]\nusername = __token__\npassword = pypi-AgEIcHlwaS5vcmc{{rand:b64url:70}}\n',
      'TWINE_PASSWORD=pypi-AgENdGVzdC5weXBpLm9yZw{{rand:b64url:70}}',
    ],
    negative: ['password = pypi-AgEIcHlwaS5vcmc...', 'password = pypi-<token>'],
    issuer: [{ host: 'upload.pypi.org', text: 'password=pypi-AgEIcHlwaS5vcmc{{rand:b64url:70}}' }],
  },
});

const GITLAB_PREFIXES = [
  'glrt-',
  'glptt-',
  'gldt-',
  'glft-',
  'glsoat-',
  'glcbt-',
  'glimt-',
  'glagent-',
  'gloas-',
  'glffct-',
  'GR1348941',
];

const gitlabOther = tokenRule({
  id: 'gitlab_other_token',
  startsBeforeKeyword: 0,
  description: 'GitLab runner, pipeline trigger, deploy, feed, agent, OAuth or other non-personal token',
  severity: 'critical',
  keywords: GITLAB_PREFIXES.map((p) => p.toLowerCase()),
  pattern:
    /(?<secret>(?:glrt-|glptt-|gldt-|glft-|glsoat-|glimt-|glagent-|gloas-|glffct-|glcbt-[0-9a-f]{1,5}_|GR1348941)[A-Za-z0-9_-]{20,300}(?:\.[0-9a-z]{2}[0-9a-z]{7})?)(?![A-Za-z0-9_.-])/g,
  prefixes: GITLAB_PREFIXES,
  issuers: ['gitlab.com', 'registry.gitlab.com'],
  examples: {
    positive: [
      'CI_RUNNER_TOKEN=glrt-{{rand:b64url:20}}',
      'curl -X POST -F token=glptt-{{rand:hex:40}} -F ref=main https://git.example.org/api/v4/projects/1/trigger/pipeline',
      'registration-token: GR1348941{{rand:b64url:20}}',
      'deploy token gldt-{{rand:b64url:20}}',
      '{"agent_token":"glagent-{{rand:b64url:50}}"}',
    ],
    negative: ['Runner tokens start with glrt-.', 'glrt-xxxxxxxxxxxxxxxxxxxx', 'glft-{{rand:alnum:8}}'],
    issuer: [{ host: 'gitlab.com', text: 'token=glptt-{{rand:hex:40}}' }],
  },
});

const vault = tokenRule({
  id: 'vault_token',
  startsBeforeKeyword: 0,
  description: 'HashiCorp Vault service, batch or recovery token',
  severity: 'critical',
  keywords: ['hvs.', 'hvb.', 'hvr.'],
  pattern: /(?<secret>hv[sbr]\.[A-Za-z0-9_-]{24,400})(?![A-Za-z0-9_-])/g,
  prefixes: ['hvs.', 'hvb.', 'hvr.'],
  minEntropy: 3.5,
  examples: {
    positive: [
      'VAULT_TOKEN=hvs.{{rand:b64url:90}}',
      'X-Vault-Token: hvb.{{rand:b64url:140}}',
      'token: hvs.{{rand:alnum:24}}',
    ],
    negative: ['VAULT_TOKEN=hvs.xxxxxxxxxxxxxxxxxxxxxxxx', 'vault tokens start with hvs.'],
  },
});

const doppler = tokenRule({
  id: 'doppler_token',
  startsBeforeKeyword: 0,
  description: 'Doppler personal, service, service-account, CLI, SCIM or audit token',
  severity: 'critical',
  keywords: ['dp.pt.', 'dp.st.', 'dp.sa.', 'dp.ct.', 'dp.scim.', 'dp.audit.'],
  pattern: /(?<secret>dp\.(?:pt|st|sa|ct|scim|audit)\.(?:[a-z0-9_-]{1,40}\.)?[A-Za-z0-9]{40,44})(?![A-Za-z0-9])/g,
  prefixes: ['dp.pt.', 'dp.st.', 'dp.sa.', 'dp.ct.', 'dp.scim.', 'dp.audit.'],
  minEntropy: 3.5,
  issuers: ['api.doppler.com'],
  examples: {
    positive: ['DOPPLER_TOKEN=dp.st.prd.{{rand:alnum:43}}', 'DOPPLER_TOKEN=dp.pt.{{rand:alnum:43}}'],
    negative: ['DOPPLER_TOKEN=dp.st.xxxx', 'dp.pt.{{rand:alnum:10}}'],
    issuer: [{ host: 'api.doppler.com', text: 'Authorization: Bearer dp.pt.{{rand:alnum:43}}' }],
  },
});

const onePassword = tokenRule({
  id: 'onepassword_service_token',
  startsBeforeKeyword: 0,
  description: '1Password service account token',
  severity: 'critical',
  keywords: ['ops_eyj'],
  pattern: /(?<secret>ops_eyJ[A-Za-z0-9+/_-]{100,2000}={0,2})(?![A-Za-z0-9+/_=-])/g,
  prefixes: ['ops_eyJ'],
  minEntropy: 3.5,
  // Team hosts (*.1password.com) can be created by anyone.
  issuers: ['my.1password.com', 'events.1password.com', 'my.1password.eu', 'my.1password.ca'],
  examples: {
    positive: ['OP_SERVICE_ACCOUNT_TOKEN=ops_eyJ{{rand:b64:300}}'],
    negative: ['OP_SERVICE_ACCOUNT_TOKEN=ops_eyJ...', 'ops_eyJ{{rand:b64:20}}'],
    issuer: [{ host: 'my.1password.com', text: 'Authorization: Bearer ops_eyJ{{rand:b64:300}}' }],
  },
});

const ageKey = tokenRule({
  id: 'age_secret_key',
  startsBeforeKeyword: 0,
  description: 'age encryption secret key',
  severity: 'critical',
  keywords: ['age-secret-key-1'],
  pattern: /(?<secret>AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58})(?![A-Z0-9])/g,
  prefixes: ['AGE-SECRET-KEY-1'],
  examples: {
    positive: ['# created: 2024-01-01\nAGE-SECRET-KEY-1{{rand:bech32:58}}'],
    negative: ['AGE-SECRET-KEY-1...', 'Secret keys start with AGE-SECRET-KEY-1.'],
  },
});

export const CLOUD_RULES: readonly Rule[] = [
  azureStorageKey,
  entraClientSecret,
  azureSas,
  azureDevopsPat,
  alibaba,
  cloudflare,
  digitalocean,
  heroku,
  vercel,
  supabase,
  databricks,
  terraform,
  pulumi,
  okta,
  planetscale,
  dockerHub,
  pypiToken,
  gitlabOther,
  vault,
  doppler,
  onePassword,
  ageKey,
];
