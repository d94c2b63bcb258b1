import { it } from 'vitest';
import type { ConformanceTarget } from './target.js';

/** `it`, unless the target declared this title skipped (then it shows as skipped, with the reason). */
export function conformanceTest(target: ConformanceTarget, title: string, fn: () => Promise<void>, timeoutMs = 15_000): void {
  const reason = target.skip?.[title];
  if (reason !== undefined) {
    it.skip(`${title} [skipped for ${target.name}: ${reason}]`, fn, timeoutMs);
  } else {
    it(title, fn, timeoutMs);
  }
}

let counter = 0;
/** A table name unique to this run and backend. */
export function tableName(target: ConformanceTarget, purpose: string): string {
  counter++;
  return `dal_conf_${target.name}_${purpose}_${process.pid}_${counter}`;
}

/** Unique marker to find a statement on the server. */
export function marker(purpose: string): string {
  return `dal_marker_${purpose}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
}

/** Wait until `check` is true or `timeoutMs` passed; returns the last result. */
export async function eventually(check: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
