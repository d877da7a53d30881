// makeFinding(overrides): a valid `clawsec-traffic-finding/v1` record (FindingSchema) for store and CLI
// tests. The project keeps one finding factory (./findings.ts); this module names it for the tests that
// import it from here, and checks every record it hands out against the schema.
import { FindingSchema, type Finding } from '../../lib/finding-schema.js';
import { makeFinding as baseFinding } from './findings.js';

/** A fresh, schema-valid finding (new id, current timestamp) with `over` applied; throws if the result is invalid. */
export function makeFinding(over: Partial<Finding> = {}): Finding {
  return FindingSchema.parse(baseFinding(over));
}

/** `n` findings one millisecond apart ending now (oldest first), ids `${prefix}0..n-1`. */
export function makeFindings(n: number, prefix = 'f', over: Partial<Finding> = {}): Finding[] {
  const t0 = Date.now() - n;
  return Array.from({ length: n }, (_, i) =>
    makeFinding({ id: `${prefix}${i}`, timestamp: new Date(t0 + i).toISOString(), ...over }),
  );
}
