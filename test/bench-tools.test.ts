// Small parts of the bench that decide what gets measured: BENCH_SCAN_WORKERS reaching the guardians'
// config (and only when set, since older guardians refuse the key), the profile's split of main-thread
// and worker-thread files, the merge of worker summaries (sums, not the last thread's numbers), the CPU
// time read from /proc, and the bare TCP relay the HTTP rows are compared with (a real process).
import { afterEach, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import path from 'node:path';
import { cpuMs, scanWorkersConfig, threadCpuMs } from '../bench/processes.js';
import { splitThreads } from '../bench/cpu-budget.js';
import { dialTcp, postRequest, runLoad } from '../bench/load.js';
import { mergeSummaries, summarise, threadOf } from '../bench/profile.js';

const saved = process.env.BENCH_SCAN_WORKERS;
afterEach(() => {
  if (saved === undefined) delete process.env.BENCH_SCAN_WORKERS;
  else process.env.BENCH_SCAN_WORKERS = saved;
});

describe('BENCH_SCAN_WORKERS', () => {
  it('adds scan_workers only when set, and refuses what the config would refuse', () => {
    delete process.env.BENCH_SCAN_WORKERS;
    expect(scanWorkersConfig()).toEqual({});
    process.env.BENCH_SCAN_WORKERS = '0';
    expect(scanWorkersConfig()).toEqual({ scan_workers: 0 });
    process.env.BENCH_SCAN_WORKERS = '3';
    expect(scanWorkersConfig()).toEqual({ scan_workers: 3 });
    for (const bad of ['17', '-1', '1.5', 'two'])
      expect(() => {
        process.env.BENCH_SCAN_WORKERS = bad;
        scanWorkersConfig();
      }).toThrow(/BENCH_SCAN_WORKERS/);
  });
});

describe('profile helpers', () => {
  it('tells the main thread profile from worker-thread ones by the thread id in the name', () => {
    expect(threadOf('CPU.20261201.105330.7732.0.001.cpuprofile')).toBe(0);
    expect(threadOf('CPU.20261201.105330.7732.1.002.cpuprofile')).toBe(1);
    expect(threadOf('CPU.20261201.105330.7732.12.014.cpuprofile')).toBe(12);
  });

  it('merges worker summaries by summing each function and area', () => {
    const frame = (functionName: string) => ({
      functionName,
      url: 'file:///x/dist/lib/scanner/a.js',
      lineNumber: 1,
      columnNumber: 0,
    });
    const profile = (fn: string, samples: number) => ({
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2] },
        { id: 2, callFrame: frame(fn) },
      ],
      startTime: 0,
      endTime: samples * 1000,
      samples: Array.from({ length: samples }, () => 2),
      timeDeltas: Array.from({ length: samples }, () => 1000),
    });
    const a = summarise(profile('scan', 10));
    const b = summarise(profile('scan', 30));
    const m = mergeSummaries([a, b]);
    expect(m.totalMs).toBeCloseTo(40);
    expect(m.functions).toHaveLength(1);
    expect(m.functions[0]!.us).toBe(40_000);
    expect(a.areas).toHaveLength(1);
    expect(m.areas).toEqual([[a.areas[0]![0], 40_000]]);
  });
});

describe('CPU time per process', () => {
  it('grows with work done and is NaN for a process that does not exist', () => {
    const before = cpuMs(process.pid);
    const until = Date.now() + 300;
    let x = 0;
    while (Date.now() < until) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    expect(cpuMs(process.pid) - before).toBeGreaterThanOrEqual(100);
    expect(cpuMs(2 ** 22 + 12345)).toBeNaN();
  });

  it('per thread: this process lists its main thread, whose time grows with work on it', () => {
    const before = threadCpuMs(process.pid);
    expect(before.has(process.pid)).toBe(true);
    const until = Date.now() + 300;
    let x = 0;
    while (Date.now() < until) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    const after = threadCpuMs(process.pid);
    expect(after.get(process.pid)! - before.get(process.pid)!).toBeGreaterThanOrEqual(100);
    expect(threadCpuMs(2 ** 22 + 12345).size).toBe(0);
  });

  it("splits a hop's CPU into its main thread, its busiest other thread and the rest, per request", () => {
    const before = new Map([
      [100, 1000],
      [101, 50],
      [102, 10],
      [103, 5],
    ]);
    // Thread 104 started during the window: all of its time counts.
    const after = new Map([
      [100, 1400],
      [101, 350],
      [102, 30],
      [103, 15],
      [104, 20],
    ]);
    expect(splitThreads(100, before, after, 1000)).toEqual({ main: 400, busiestOther: 300, rest: 50 });
    expect(splitThreads(100, before, after, 0).main).toBeNaN();
  });
});

describe('bench/tcp-relay.js', () => {
  const relayScript = path.resolve('dist/bench/tcp-relay.js');

  it('relays keep-alive 1 MiB uploads byte for byte, and their 1 MiB answers', async () => {
    const server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const body = Buffer.concat(parts);
        res.writeHead(body.equals(upload) ? 200 : 400, { 'content-length': body.length });
        res.end(body);
      });
    });
    const upload = Buffer.alloc(1024 * 1024, 'x');
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as net.AddressInfo).port;
    const relay = spawn(process.execPath, [relayScript, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const [line] = (await once(relay.stdout, 'data')) as [Buffer];
      const relayPort = (JSON.parse(line.toString()) as { port: number }).port;
      const r = await runLoad(dialTcp(relayPort), postRequest('/', `127.0.0.1:${port}`, upload), 2, 300, 0);
      expect(r.errors).toBe(0);
      expect(r.requests).toBeGreaterThan(0);
    } finally {
      relay.kill();
      server.closeAllConnections();
      server.close();
    }
  });

  it('refuses a missing or bad upstream port with its usage', () => {
    for (const args of [[], ['0'], ['http']]) {
      const r = spawnSync(process.execPath, [relayScript, ...args], { encoding: 'utf8', timeout: 10_000 });
      expect(r.status).toBe(2);
      expect(r.stderr).toMatch(/usage: tcp-relay\.js <upstream port>/);
    }
  });
});
