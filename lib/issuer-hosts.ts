// Where each provider expects its own credentials: a key sent to one of these hosts is normal use
// and produces no finding. Only hosts the provider itself answers on are listed. No wildcard over a
// domain where anyone can host content: `*.amazonaws.com` holds S3 buckets, API Gateway, load
// balancers and EC2 hosts anyone can create, `*.googleapis.com` holds storage.googleapis.com buckets,
// `*.slack.com` holds anyone's workspace and hooks.slack.com anyone's webhook. A key sent there is
// exfiltration and is reported. Patterns: exact host names, plus `{region}` for one AWS region label
// (`us-east-1`, `us-gov-west-1`), so `sts.{region}.amazonaws.com` matches a regional API endpoint but
// never `<bucket>.s3.amazonaws.com`: the leftmost label, the one a customer can choose, must be a
// service name, and the label after it must be a region.

/**
 * AWS API services whose endpoints are `<service>.amazonaws.com` or `<service>.<region>.amazonaws.com`.
 * S3 is deliberately absent: the bucket, which anyone can own, decides who reads a request to any S3
 * endpoint (virtual-hosted `<bucket>.s3...` and path-style `s3.../<bucket>` alike).
 */
const AWS_SERVICES = [
  'sts',
  'iam',
  'ec2',
  'lambda',
  'dynamodb',
  'sqs',
  'sns',
  'kms',
  'ssm',
  'secretsmanager',
  'logs',
  'monitoring',
  'cloudformation',
  'cloudtrail',
  'ecr',
  'ecs',
  'eks',
  'rds',
  'bedrock',
  'bedrock-runtime',
  'bedrock-agent',
  'bedrock-agent-runtime',
  'sagemaker',
  'route53',
  'organizations',
  'sso',
  'oidc',
  'elasticloadbalancing',
  'autoscaling',
  'glue',
  'athena',
  'kinesis',
  'firehose',
  'events',
  'states',
  'cognito-idp',
  'cognito-identity',
  'apigateway',
  'acm',
  'config',
  'codebuild',
  'codepipeline',
  'elasticache',
  'translate',
  'comprehend',
  'textract',
  'rekognition',
  'polly',
  'transcribe',
];

export const AWS_API_HOSTS: readonly string[] = AWS_SERVICES.flatMap((s) =>
  [s, `${s}-fips`].flatMap((l) => [
    `${l}.amazonaws.com`,
    `${l}.{region}.amazonaws.com`,
    `${l}.{region}.amazonaws.com.cn`,
  ]),
);

/** Google APIs commonly called with an API key (`AIza...`); storage and upload hosts are not among them. */
export const GOOGLE_API_KEY_HOSTS: readonly string[] = [
  'generativelanguage',
  'maps',
  'places',
  'routes',
  'roads',
  'geocoding-backend',
  'addressvalidation',
  'translation',
  'youtube',
  'customsearch',
  'kgsearch',
  'vision',
  'language',
  'speech',
  'texttospeech',
  'aiplatform',
  'firebase',
  'firebaseinstallations',
  'firebaseremoteconfig',
  'identitytoolkit',
  'securetoken',
  'fcm',
  'fcmregistrations',
  'firestore',
  'safebrowsing',
  'pagespeedonline',
  'civicinfo',
  'books',
  'sheets',
  'calendar',
].map((s) => `${s}.googleapis.com`);

export const ANTHROPIC_HOSTS: readonly string[] = ['api.anthropic.com'];
export const OPENAI_HOSTS: readonly string[] = ['api.openai.com'];
export const GITHUB_HOSTS: readonly string[] = ['github.com', 'api.github.com', 'uploads.github.com'];
export const GITLAB_HOSTS: readonly string[] = ['gitlab.com', 'registry.gitlab.com'];
/** Not `<workspace>.slack.com` (anyone's workspace) nor hooks.slack.com (anyone's webhook). */
export const SLACK_HOSTS: readonly string[] = ['slack.com', 'api.slack.com', 'files.slack.com'];
export const STRIPE_HOSTS: readonly string[] = ['api.stripe.com'];
export const HUGGINGFACE_HOSTS: readonly string[] = [
  'huggingface.co',
  'api-inference.huggingface.co',
  'router.huggingface.co',
];
export const NPM_HOSTS: readonly string[] = ['registry.npmjs.org'];
