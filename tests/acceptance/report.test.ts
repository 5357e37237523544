// `rugo report`: a small sweep writes index.html and at least four SVG
// charts, each a well-formed SVG with labelled axes (cycles and µs); two runs
// give identical bytes; --compare draws both configurations; the CLI refuses
// bad input with one line.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { D3Node } from 'd3-node';
import { buildReport, writeReport, parseCompare, ReportError } from '../../reports/report.ts';
import { main } from '../../cli/main.ts';

/** Parses `text` as XML; returns the parser's error, or null when well-formed. */
function xmlError(text: string): string | null {
  const w = new D3Node().window;
  const doc = new w.DOMParser().parseFromString(text, 'image/svg+xml');
  const err = doc.getElementsByTagName('parsererror')[0];
  if (err !== undefined) return err.textContent;
  return doc.documentElement.nodeName === 'svg' ? null : `root is ${doc.documentElement.nodeName}`;
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'rugo-report-'));
}

describe('rugo report', () => {
  it('a small sweep writes index.html and >= 4 well-formed SVG charts with labelled axes; a second run gives identical bytes', () => {
    const a = tmp();
    const b = tmp();
    try {
      writeReport({ scenarios: ['two-threads'], seeds: 3 }, a);
      writeReport({ scenarios: ['two-threads'], seeds: 3 }, b);
      const files = readdirSync(a).sort();
      expect(readdirSync(b).sort()).toEqual(files);
      expect(files).toContain('index.html');
      expect(files).toContain('summary.json');
      const svgs = files.filter((f) => f.endsWith('.svg'));
      expect(svgs.length).toBeGreaterThanOrEqual(4);
      for (const k of ['timeline-two-threads.svg', 'cdf-sched-latency.svg', 'box-workload-cycles.svg', 'fairness.svg']) expect(svgs).toContain(k);
      for (const f of files) {
        const text = readFileSync(join(a, f), 'utf8');
        expect(readFileSync(join(b, f), 'utf8'), `${f} differs between two runs`).toBe(text);
        expect(text).not.toContain(a);
        expect(text).not.toContain(hostname());
        expect(text).not.toMatch(/20\d\d-\d\d-\d\dT/); // no timestamps
      }
      for (const f of svgs) {
        const text = readFileSync(join(a, f), 'utf8');
        expect(xmlError(text), f).toBeNull();
        expect(text, `${f}: an axis in cycles`).toMatch(/\(cycles\)/);
        expect(text, `${f}: an axis in µs`).toMatch(/µs at 1 GHz/);
        expect(text, `${f}: has axis ticks`).toContain('class="tick"');
      }
      const html = readFileSync(join(a, 'index.html'), 'utf8');
      for (const f of svgs) expect(html).toContain(`<img src="${f}"`);
      expect(html).toContain('rugo report two-threads --seeds 3');
      expect(html).toMatch(/<td class="l">two-threads<\/td><td>1<\/td><td>3<\/td><td>3<\/td>/); // 1 CPU, 3 runs, 3 pass
      const summary = JSON.parse(readFileSync(join(a, 'summary.json'), 'utf8'));
      expect(summary.series[0]).toMatchObject({ scenario: 'two-threads', runs: 3, pass: 3 });
      expect(summary.series[0].latency.sched.count).toBeGreaterThan(0);
    } finally {
      rmSync(a, { recursive: true, force: true });
      rmSync(b, { recursive: true, force: true });
    }
  });

  it('--compare draws two configurations in every chart and a comparison table', () => {
    const rep = buildReport({ scenarios: ['two-threads', 'ping-pong'], seeds: 2, compare: 'cpus=1,2' });
    expect(rep.series.map((s) => s.label)).toEqual(['two-threads · cpus=1', 'two-threads · cpus=2', 'ping-pong · cpus=1', 'ping-pong · cpus=2']);
    expect(rep.series.map((s) => s.cpus)).toEqual([1, 2, 1, 2]);
    for (const f of ['timeline-two-threads-cpus-1.svg', 'timeline-two-threads-cpus-2.svg', 'timeline-ping-pong-cpus-1.svg', 'timeline-ping-pong-cpus-2.svg', 'cdf-ipc-round-trip.svg']) expect(rep.files.has(f), f).toBe(true);
    expect(rep.files.get('cdf-sched-latency.svg')).toContain('ping-pong · cpus=2');
    expect(rep.files.get('index.html')).toContain('cpus=2 vs cpus=1');
    for (const [f, text] of rep.files) if (f.endsWith('.svg')) expect(xmlError(text), f).toBeNull();
    const sched = buildReport({ scenarios: ['two-threads'], seeds: 1, compare: 'sched=rr,stride' });
    expect(sched.series.map((s) => [s.config, s.pass])).toEqual([
      ['sched=rr', 1],
      ['sched=stride', 1],
    ]);
  });

  it('refuses bad --compare specs with a message', () => {
    expect(() => parseCompare('sched')).toThrow(ReportError);
    expect(() => parseCompare('sched=rr')).toThrow(/KEY=A,B/);
    expect(() => parseCompare('nosuch=a,b')).toThrow(/not a kernel option/);
    expect(() => parseCompare('cpus=1,9')).toThrow(/1\.\.8/);
    expect(parseCompare('quantum=1,5').map((c) => c.extra)).toEqual([['quantum=1'], ['quantum=5']]);
  });

  it('the CLI writes the report and exits 0; a bad option exits 2', () => {
    const out = tmp();
    const writes: string[] = [];
    const orig = process.stdout.write.bind(process.stdout);
    (process.stdout as { write: unknown }).write = (s: string) => {
      writes.push(String(s));
      return true;
    };
    try {
      expect(main(['report', 'two-threads', '--seeds', '2', '--no-progress', '--out', out])).toBe(0);
      expect(main(['report', 'two-threads', '--seeds', '2', '--compare', 'bogus', '--out', out])).toBe(2);
    } finally {
      (process.stdout as { write: unknown }).write = orig;
      process.exitCode = 0;
    }
    expect(writes.join('')).toMatch(/wrote \d+ files: \d+ SVG charts/);
    expect(readdirSync(out)).toContain('index.html');
    rmSync(out, { recursive: true, force: true });
  });
});
