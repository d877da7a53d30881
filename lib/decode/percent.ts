// Percent-encoding (`%2D`, `%0A`) decoded over a latin1 view; `+` is left alone because in base64
// secrets it is data, and a space in prose changes no rule's outcome that matters.
const PCT = /%([0-9A-Fa-f]{2})/g;

/** Returns the decoded text, or null when there is no percent escape. */
export function decodePercent(text: string): string | null {
  if (text.indexOf('%') === -1) return null;
  let changed = false;
  const out = text.replace(PCT, (_m, h: string) => {
    changed = true;
    return String.fromCharCode(Number.parseInt(h, 16));
  });
  return changed ? out : null;
}
