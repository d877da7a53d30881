// Service log lines on stderr: timestamp, level, message. Messages never carry bodies or secrets:
// callers pass only destinations, counts and error codes.
export type LogLevel = 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, msg: string) => void;

export function stderrLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  return (level, msg) => {
    stream.write(`${new Date().toISOString()} traffic-guardian ${level}: ${msg.replace(/[\r\n]+/g, ' ')}\n`);
  };
}

export const silentLogger: Logger = () => undefined;
