// Small parts of the bench that decide what gets measured: BENCH_SCAN_WORKERS reaching the guardians'
// config (and only when set, since older guardians refuse the key), the profile's split of main-thread
// and worker-thread files, and the merge of worker summaries (sums, not the last thread's numbers).
import { afterEach, describe, expect, it } from 'vitest';
import { scanWorkersConfig } from '../bench/processes.js';
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
