// The one source change NanoClaw needs: NanoClaw v2 has no supported per-group container env, so
// `src/container-runner.ts` gets a marked import and a marked one-line call (after the OneCLI gateway has
// added its proxy env, so ours takes precedence; it is handed the args so far to read OneCLI's gateway and
// CA from them) and a new file `src/traffic-guardian.ts` (helper-source.ts) that reads each group's wiring
// file. A group without a wiring file gets no extra arguments at all. Both blocks are Prettier-clean.

export const BEGIN = '// >>> nanoclaw-traffic-guardian';
export const END = '// <<< nanoclaw-traffic-guardian';
export const HELPER_FILE = 'src/traffic-guardian.ts';
export const RUNNER_FILE = 'src/container-runner.ts';

const IMPORT_BLOCK = `${BEGIN}\nimport { trafficGuardianArgs } from './traffic-guardian.js';\n${END}\n`;
const CALL_BLOCK = (indent: string) =>
  `${indent}${BEGIN}\n${indent}args.push(...trafficGuardianArgs(agentGroup.folder, args));\n${indent}${END}\n`;

export class PatchError extends Error {}

/** Inserts the marked blocks. Returns the text unchanged if they are already there. */
export function applyRunnerPatch(src: string): string {
  if (src.includes(BEGIN)) return src;
  if (!/buildContainerArgs/.test(src) || !/applyContainerConfig/.test(src)) {
    throw new PatchError(
      `${RUNNER_FILE} has no buildContainerArgs with the OneCLI applyContainerConfig call: not a NanoClaw v2 runner this version knows`,
    );
  }
  const lines = src.split('\n');
  // Import after the last top-level import statement (imports may span lines: find the last `from '...';`).
  let lastImport = -1;
  for (let i = 0; i < lines.length; i++) {
    if (/^import\s/.test(lines[i]!)) {
      let j = i;
      while (j < lines.length && !/;\s*$/.test(lines[j]!)) j++;
      lastImport = j;
      i = j;
    } else if (lastImport >= 0 && /^(export|const|function|async|let|class)\b/.test(lines[i]!)) {
      break;
    }
  }
  if (lastImport < 0) throw new PatchError(`${RUNNER_FILE}: no import statements found`);
  // The call goes after OneCLI has pushed its env: before the volume mounts (or the entrypoint).
  const onecli = lines.findIndex((l) => l.includes('applyContainerConfig'));
  let at = lines.findIndex((l, i) => i > onecli && /^\s*\/\/ Volume mounts\s*$/.test(l));
  if (at < 0) at = lines.findIndex((l, i) => i > onecli && /args\.push\('--entrypoint'/.test(l));
  if (at < 0)
    throw new PatchError(`${RUNNER_FILE}: found no "// Volume mounts" or --entrypoint line after the OneCLI call`);
  const indent = /^(\s*)/.exec(lines[at]!)![1]!;
  const out = [...lines];
  out.splice(at, 0, ...CALL_BLOCK(indent).slice(0, -1).split('\n'));
  out.splice(lastImport + 1, 0, ...IMPORT_BLOCK.slice(0, -1).split('\n'));
  return out.join('\n');
}

/** Removes exactly the marked blocks (used when the file changed after install and no backup applies). */
export function removeRunnerPatch(src: string): string {
  const lines = src.split('\n');
  const out: string[] = [];
  let inside = false;
  for (const l of lines) {
    if (l.trim().startsWith(BEGIN)) inside = true;
    else if (inside && l.trim().startsWith(END)) inside = false;
    else if (!inside) out.push(l);
  }
  return out.join('\n');
}
