// `traffic-guardian status [--json]`: asks the running guardian over its socket; reports stopped
// (and a stale pid file) when it is not running.
import { parseArgs } from 'node:util';
import { homePaths } from '../home.js';
import { readPidFile } from '../pid-file.js';
import { IpcClient } from '../../mcp-tools/ipc-client.js';
import { EXIT_FAIL, EXIT_OK } from '../cli-errors.js';

export const STATUS_HELP = `Usage: traffic-guardian status [--json] [--socket PATH]

Shows whether the guardian runs, its listener, HTTPS inspection mode, CA fingerprint, uptime,
counters and the last findings. Exit 0 when running, 1 when stopped.`;

export async function runStatus(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      socket: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${STATUS_HELP}\n`);
    return EXIT_OK;
  }
  const paths = homePaths();
  const pid = readPidFile(paths.pidFile);
  const socketPath = values.socket ?? (pid.state === 'running' ? pid.record.socket : paths.socket);
  const stopped = (why: string) => {
    if (values.json) process.stdout.write(`${JSON.stringify({ state: 'stopped', reason: why })}\n`);
    else process.stdout.write(`traffic-guardian: stopped (${why})\n`);
    return EXIT_FAIL;
  };
  if (pid.state === 'none' && !values.socket) return stopped('no pid file');
  if (pid.state === 'stale' && !values.socket) {
    return stopped(`stale pid file ${paths.pidFile}${pid.pid ? ` of pid ${pid.pid}` : ''}; the next start removes it`);
  }
  const client = new IpcClient({ socketPath });
  try {
    const st = await client.request('get_status');
    if (values.json) {
      process.stdout.write(`${JSON.stringify(st, null, 2)}\n`);
      return EXIT_OK;
    }
    const c = st.counters;
    const lines = [
      `traffic-guardian ${st.version}: ${st.state}${st.degraded_reasons.length ? ` (${st.degraded_reasons.join('; ')})` : ''}`,
      `  pid ${st.pid}, up ${st.uptime_secs} s, listening on ${st.listener.host}:${st.listener.port}`,
      `  HTTPS inspection: ${st.https_inspection ? 'on' : 'off (blind tunnels)'}${st.ca_fingerprint ? `, CA SHA-256 ${st.ca_fingerprint}` : ''}`,
      `  upstream proxy: ${st.upstream_proxy ? 'yes' : 'no'}`,
      `  requests ${c.requests}, CONNECTs ${c.connects} (${c.tunnels} blind), bytes scanned ${c.bytes_scanned}`,
      `  findings: EXFIL ${c.findings.EXFIL}, INJECTION ${c.findings.INJECTION}; suppressed duplicates ${c.suppressed_duplicates}`,
      `  truncated scans ${c.truncated_scans}, decode errors ${c.decode_errors}, upstream errors ${c.upstream_errors}, dropped writes ${c.dropped_writes}`,
      `  refused clients ${c.refused_clients}, proxy auth failures ${c.auth_failures}`,
      `  scan workers ${st.scan_workers}, scan backlog peak ${c.scan_backlog_peak_bytes} bytes` +
        (c.scan_skipped_bytes > 0
          ? `, scanner behind: ${c.scan_skipped_bytes} bytes in ${c.scan_skipped_messages} messages forwarded unscanned`
          : ''),
    ];
    if (st.recent_findings.length > 0) {
      lines.push('  last findings:');
      for (const f of st.recent_findings.slice(0, 5)) {
        lines.push(`    ${f.timestamp} ${f.severity.toUpperCase()} ${f.pattern} ${f.direction} ${f.dest}`);
      }
    }
    process.stdout.write(`${lines.join('\n')}\n`);
    return EXIT_OK;
  } catch (err) {
    return stopped((err as Error).message);
  } finally {
    client.close();
  }
}
