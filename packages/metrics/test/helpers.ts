import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PoolStatus } from '@dal/core';
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { chromium, type BrowserContext } from 'playwright-core';
import { registerOtelMetrics } from '../src/index.js';

export const PG_URL = process.env['DAL_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh temp directory, removed by the returned cleanup. */
export function tempDir(prefix: string): { dir: string; file: (name: string) => string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, file: (name) => join(dir, name), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface Sample {
  labels: Record<string, string>;
  value: number;
}

/**
 * Parse an exposition with parse-prometheus-text-format. That parser folds every series of a
 * labelled histogram into one, so histogram families are parsed a second time as untyped
 * `_bucket` / `_sum` / `_count` series, which keeps their labels.
 */
export function parseExposition(text: string): { types: Map<string, string>; samples: Map<string, Sample[]> } {
  const types = new Map<string, string>();
  for (const family of parsePrometheusTextFormat(text)) types.set(family.name, family.type);
  const untyped = text
    .split('\n')
    .filter((line) => !/^# TYPE \S+ histogram$/.test(line))
    .join('\n');
  const samples = new Map<string, Sample[]>();
  for (const family of parsePrometheusTextFormat(untyped)) {
    const list = samples.get(family.name) ?? [];
    for (const m of family.metrics) list.push({ labels: m.labels ?? {}, value: Number(m.value) });
    samples.set(family.name, list);
  }
  return { types, samples };
}

/** The one sample of `name` whose labels include `labels`; fails when there is not exactly one. */
export function sampleOf(samples: Map<string, Sample[]>, name: string, labels: Record<string, string>): number {
  const found = (samples.get(name) ?? []).filter((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length !== 1) throw new Error(`expected one ${name} sample with ${JSON.stringify(labels)}, found ${found.length}`);
  return found[0]!.value;
}

/** A MeterProvider with the SDK's in-memory exporter and `registerOtelMetrics` applied. */
export function otelHarness(): { collect: () => Promise<MetricData[]>; shutdown: () => Promise<void> } {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ readers: [reader] });
  registerOtelMetrics(provider);
  return {
    async collect() {
      exporter.reset();
      await reader.forceFlush();
      return exporter.getMetrics().flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics));
    },
    shutdown: () => provider.shutdown(),
  };
}

/** The data points of one OTel metric whose attributes include `attributes`. */
export function otelPoints(metrics: MetricData[], name: string, attributes: Record<string, string>): MetricData['dataPoints'] {
  const metric = metrics.find((m) => m.descriptor.name === name);
  if (metric === undefined) throw new Error(`no OTel metric ${name}`);
  return metric.dataPoints.filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v)) as MetricData['dataPoints'];
}

/** The single numeric value of an OTel counter/gauge series. */
export function otelValue(metrics: MetricData[], name: string, attributes: Record<string, string>): number {
  const points = otelPoints(metrics, name, attributes);
  if (points.length !== 1) throw new Error(`expected one ${name} point with ${JSON.stringify(attributes)}, found ${points.length}`);
  return points[0]!.value as number;
}

/** The single histogram of an OTel histogram series. */
export function otelHistogram(metrics: MetricData[], name: string, attributes: Record<string, string>): { boundaries: number[]; counts: number[]; sum: number; count: number } {
  const points = otelPoints(metrics, name, attributes);
  if (points.length !== 1) throw new Error(`expected one ${name} point with ${JSON.stringify(attributes)}, found ${points.length}`);
  const value = points[0]!.value as { buckets: { boundaries: number[]; counts: number[] }; sum?: number; count: number };
  return { boundaries: value.buckets.boundaries, counts: value.buckets.counts, sum: value.sum ?? Number.NaN, count: value.count };
}

/** Cumulative Prometheus buckets of a core histogram, keyed by the `le` text prom-client writes. */
export function cumulativeBuckets(h: PoolStatus['metrics']['waitTime']): Map<string, number> {
  const out = new Map<string, number>();
  let total = 0;
  h.boundsMs.forEach((bound, i) => {
    total += h.counts[i]!;
    out.set(String(bound / 1000), total);
  });
  out.set('+Inf', h.count);
  return out;
}

/** Debian's chromium through playwright-core, headless, with a fresh profile (never a downloaded browser). */
export async function launchChromium(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  const profile = tempDir('metrics-chromium-');
  const context = await chromium.launchPersistentContext(profile.dir, {
    executablePath: process.env['DAL_CHROMIUM_PATH'] ?? '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1100, height: 470 },
  });
  return {
    context,
    async close() {
      await context.close();
      profile.cleanup();
    },
  };
}

/** Poll `check` every 25 ms until it returns true, at most `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return check();
}
