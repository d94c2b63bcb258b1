/** Samples kept: enough for an hour at the default recheck interval, bounded whatever the interval. */
const MAX_SAMPLES = 2_000;

/**
 * Turns replication positions into time. The servers' own lag figures are unreliable (PostgreSQL's
 * `replay_lag` is NULL on an idle primary, replay timestamps stand still on an idle server), so at
 * each check the primary's position is recorded with the time it was first seen; a replica is
 * as far behind as the time since the primary was first seen past what the replica has replayed
 * (to within one recheck interval).
 */
export class LagClock {
  readonly #samples: Array<{ at: number; position: string }> = [];

  /** Record the primary's position now (only when it moved, so an idle primary keeps its first sample). */
  primaryAt(position: string, now = performance.now()): void {
    if (this.#samples.at(-1)?.position === position) return;
    this.#samples.push({ at: now, position });
    if (this.#samples.length > MAX_SAMPLES) this.#samples.shift();
  }

  /**
   * How far behind a replica at `replayed` is: 0 when it covers the primary's latest position,
   * else the time since the primary was first seen at a position it does not cover.
   */
  lagMs(replayed: string, covers: (target: string, replayed: string) => boolean, now = performance.now()): number | undefined {
    const samples = this.#samples;
    if (samples.length === 0) return undefined;
    for (let i = samples.length - 1; i >= 0; i--) {
      if (!covers(samples[i]!.position, replayed)) continue;
      // It covers sample i; sample i + 1 is the first it lacks.
      const next = samples[i + 1];
      return next === undefined ? 0 : Math.max(0, now - next.at);
    }
    return Math.max(0, now - samples[0]!.at);
  }
}
