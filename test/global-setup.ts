// Tests that spawn the CLI or the MCP bundle need dist/. `npm test` builds before vitest and sets
// TG_BUILT=1; a bare `npx vitest` builds here instead so those tests never run stale code.
import { execFileSync } from 'node:child_process';

export default function setup(): void {
  if (process.env.TG_BUILT === '1') return;
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
}
