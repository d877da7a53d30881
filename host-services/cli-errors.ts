// Exit codes and the usage error every command throws for bad arguments.
export const EXIT_OK = 0;
export const EXIT_FAIL = 1;
export const EXIT_USAGE = 2;
/** `scan`: findings were reported. */
export const EXIT_FINDINGS = 3;

export class UsageError extends Error {}
