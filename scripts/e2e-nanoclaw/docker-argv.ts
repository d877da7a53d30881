// Reads a recorded `docker run` argument vector the way Docker would: the environment (in order, so
// "who set it last" is visible), the bind mounts with their read-only flag, and the image. Pure, so
// the e2e's checks and its container simulation rest on a tested parser.

export interface EnvEntry {
  key: string;
  value: string;
  /** Position of this `-e` among all `-e` args (0-based): later entries win in Docker. */
  index: number;
}

export interface BindMount {
  hostPath: string;
  containerPath: string;
  readonly: boolean;
  /** How it was written: `-v a:b:ro` or `--mount type=bind,...`. */
  form: 'volume' | 'mount';
}

export interface RunArgs {
  name: string | null;
  image: string | null;
  entrypoint: string | null;
  user: string | null;
  labels: string[];
  addHosts: string[];
  env: EnvEntry[];
  mounts: BindMount[];
  /** Arguments after the image (the container command). */
  command: string[];
}

// Options of `docker run` that take a value (the ones NanoClaw and OneCLI use, plus common ones), so
// the parser knows where the image starts.
const WITH_VALUE = new Set([
  '--name',
  '--label',
  '-l',
  '-e',
  '--env',
  '-v',
  '--volume',
  '--mount',
  '--entrypoint',
  '--user',
  '-u',
  '--add-host',
  '--network',
  '--net',
  '-w',
  '--workdir',
  '--cpus',
  '--memory',
  '-m',
  '--env-file',
  '--hostname',
  '-h',
  '--platform',
  '--pull',
  '--stop-timeout',
]);

export class DockerArgvError extends Error {}

/** Splits `--opt=value` into its parts; other args come back unchanged. */
function splitInline(arg: string): [string, string | undefined] {
  if (arg.startsWith('--')) {
    const eq = arg.indexOf('=');
    if (eq > 0) return [arg.slice(0, eq), arg.slice(eq + 1)];
  }
  return [arg, undefined];
}

function parseVolume(spec: string): BindMount {
  // host:container[:opts]; NanoClaw always passes absolute host paths.
  const parts = spec.split(':');
  if (parts.length < 2) throw new DockerArgvError(`-v ${spec}: expected host:container[:options]`);
  const opts = parts.length > 2 ? parts[parts.length - 1]!.split(',') : [];
  const hasOpts = parts.length > 2;
  const hostPath = hasOpts ? parts.slice(0, -2).join(':') : parts[0]!;
  const containerPath = hasOpts ? parts[parts.length - 2]! : parts.slice(1).join(':');
  return { hostPath, containerPath, readonly: opts.includes('ro'), form: 'volume' };
}

function parseMount(spec: string): BindMount {
  const kv = new Map<string, string>();
  let readonly = false;
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    if (eq < 0) {
      if (part === 'readonly' || part === 'ro') readonly = true;
      continue;
    }
    const k = part.slice(0, eq);
    const v = part.slice(eq + 1);
    if ((k === 'readonly' || k === 'ro') && v !== 'false' && v !== '0') readonly = true;
    kv.set(k, v);
  }
  const hostPath = kv.get('source') ?? kv.get('src');
  const containerPath = kv.get('target') ?? kv.get('destination') ?? kv.get('dst');
  if (!hostPath || !containerPath) throw new DockerArgvError(`--mount ${spec}: needs source and target`);
  return { hostPath, containerPath, readonly, form: 'mount' };
}

/** Parses the argv of `docker run ...` (with or without the leading `run`). */
export function parseDockerRun(argv: readonly string[]): RunArgs {
  const args = argv[0] === 'run' ? argv.slice(1) : [...argv];
  const out: RunArgs = {
    name: null,
    image: null,
    entrypoint: null,
    user: null,
    labels: [],
    addHosts: [],
    env: [],
    mounts: [],
    command: [],
  };
  let i = 0;
  while (i < args.length) {
    const raw = args[i]!;
    if (!raw.startsWith('-') || raw === '-') break;
    if (raw === '--') {
      i++;
      break;
    }
    const [opt, inline] = splitInline(raw);
    let value: string | undefined = inline;
    if (WITH_VALUE.has(opt) && value === undefined) {
      value = args[i + 1];
      if (value === undefined) throw new DockerArgvError(`${opt} needs a value`);
      i += 2;
    } else {
      i += 1;
    }
    if (value === undefined) continue; // a flag: --rm, -d, -i, -t ...
    switch (opt) {
      case '--name':
        out.name = value;
        break;
      case '--label':
      case '-l':
        out.labels.push(value);
        break;
      case '-e':
      case '--env': {
        const eq = value.indexOf('=');
        // `-e KEY` (no value) passes the caller's variable through; record it with an empty value.
        const key = eq < 0 ? value : value.slice(0, eq);
        out.env.push({ key, value: eq < 0 ? '' : value.slice(eq + 1), index: out.env.length });
        break;
      }
      case '-v':
      case '--volume':
        out.mounts.push(parseVolume(value));
        break;
      case '--mount':
        out.mounts.push(parseMount(value));
        break;
      case '--entrypoint':
        out.entrypoint = value;
        break;
      case '--user':
      case '-u':
        out.user = value;
        break;
      case '--add-host':
        out.addHosts.push(value);
        break;
      default:
        break;
    }
  }
  out.image = args[i] ?? null;
  out.command = args.slice(i + 1);
  return out;
}

/** The environment the container ends up with: later `-e` wins, as in Docker. */
export function effectiveEnv(run: RunArgs): Map<string, string> {
  const env = new Map<string, string>();
  for (const e of run.env) env.set(e.key, e.value);
  return env;
}

/** Index of the last `-e KEY=...` (or -1). */
export function lastEnvIndex(run: RunArgs, key: string): number {
  let at = -1;
  for (const e of run.env) if (e.key === key) at = e.index;
  return at;
}

/** The mount that serves a container path (the last one wins, as in Docker). */
export function mountFor(run: RunArgs, containerPath: string): BindMount | undefined {
  let found: BindMount | undefined;
  for (const m of run.mounts) if (m.containerPath === containerPath) found = m;
  return found;
}

/**
 * Which host file a container path reads from, following bind mounts of a file or of one of its
 * parent directories (deepest mount wins). Null when no mount covers it.
 */
export function hostPathFor(run: RunArgs, containerPath: string): string | null {
  let best: BindMount | undefined;
  for (const m of run.mounts) {
    const c = m.containerPath.replace(/\/+$/, '');
    if (containerPath === c || containerPath.startsWith(`${c}/`)) {
      if (!best || c.length >= best.containerPath.replace(/\/+$/, '').length) best = m;
    }
  }
  if (!best) return null;
  const c = best.containerPath.replace(/\/+$/, '');
  return best.hostPath.replace(/\/+$/, '') + containerPath.slice(c.length);
}
