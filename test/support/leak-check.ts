// The redaction check every test shares: which 8-character runs of a secret's random parts appear
// in some output. An empty answer means nothing leaked.
export function leakedRuns(output: unknown, randomParts: readonly string[]): string[] {
  const s = typeof output === 'string' ? output : JSON.stringify(output);
  const out: string[] = [];
  for (const p of randomParts) {
    for (let i = 0; i + 8 <= p.length; i++) if (s.includes(p.slice(i, i + 8))) out.push(p.slice(i, i + 8));
  }
  return out;
}
