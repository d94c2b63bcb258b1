import type { DriverConnection } from '../driver/driver.js';
import { timeoutSignal } from '../timeout-signal.js';

/**
 * Can a server answer? Open a connection with `connect`, ping it and close it, all within
 * `timeoutMs` (and until `stop` aborts). Resolves when it answered; rejects with why not. Shared
 * by the circuit breaker's probe (connection-gate.ts) and the failback check (host-selector.ts).
 */
export async function probeServer(connect: (signal: AbortSignal) => Promise<DriverConnection>, timeoutMs: number, stop?: AbortSignal): Promise<void> {
  const deadline = timeoutSignal(timeoutMs, () => new DOMException('the server did not answer the probe in time', 'TimeoutError'), stop);
  try {
    const conn = await connect(deadline.signal);
    try {
      await conn.ping({ signal: deadline.signal });
    } finally {
      await conn.close().catch(() => conn.destroy());
    }
  } finally {
    deadline.clear();
  }
}
