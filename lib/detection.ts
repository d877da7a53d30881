// What the scanner emits: a detection that is already redacted. The raw matched text never
// leaves the scanner; only these fields do, so nothing downstream can leak a secret by accident.
import type { Location, Severity, ThreatType } from './finding-schema.js';

export interface Detection {
  pattern: string;
  threat_type: ThreatType;
  severity: Severity;
  description: string;
  /** Redacted context around the match (secrets masked, control characters escaped). */
  snippet: string;
  /** Keyed fingerprint (HMAC with the host salt) of the secret or matched text, for correlation. */
  fingerprint: string;
  /** Decoding chain that led to it, outermost first (`gzip>json>base64`); '' for raw bytes. */
  encoding: string;
  /** Byte offset in the content-decoded message. */
  offset: number;
  location: Location;
  untrusted: boolean;
}
