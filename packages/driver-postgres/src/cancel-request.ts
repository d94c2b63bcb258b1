import { connect, type Socket } from 'node:net';

/** What the server needs to find the backend to cancel: its address and the key pg got at startup. */
export interface CancelTarget {
  /** Host name, IP address, or a Unix socket directory (starting with '/'). */
  readonly host: string;
  readonly port: number;
  readonly processId: number;
  readonly secretKey: number;
}

const CANCEL_REQUEST_LENGTH = 16;
/** Protocol code of a CancelRequest: 1234 in the high half, 5678 in the low half. */
const CANCEL_REQUEST_CODE = 80877102;

/**
 * Send a PostgreSQL CancelRequest over a fresh socket and resolve once the server closed it,
 * i.e. after the server signalled the backend. Needs no authentication and no side connection.
 *
 * ```ts
 * await sendCancelRequest({ host: '127.0.0.1', port: 5432, processId, secretKey }, 5_000);
 * ```
 * @throws {Error} the socket error, or a timeout after `timeoutMs`.
 */
export function sendCancelRequest(target: CancelTarget, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket: Socket = target.host.startsWith('/')
      ? connect(`${target.host}/.s.PGSQL.${target.port}`)
      : connect(target.port, target.host);
    let failure: Error | undefined;
    const timer = setTimeout(() => {
      failure = new Error(`cancel request got no answer within ${timeoutMs} ms`);
      socket.destroy();
    }, timeoutMs);
    socket.setNoDelay(true);
    socket.once('connect', () => {
      const packet = Buffer.allocUnsafe(CANCEL_REQUEST_LENGTH);
      packet.writeInt32BE(CANCEL_REQUEST_LENGTH, 0);
      packet.writeInt32BE(CANCEL_REQUEST_CODE, 4);
      packet.writeInt32BE(target.processId, 8);
      packet.writeInt32BE(target.secretKey, 12);
      socket.write(packet);
    });
    socket.on('error', (error) => {
      failure ??= error;
    });
    // The server answers nothing; it closes the socket once it has handled the request.
    socket.resume();
    socket.once('close', () => {
      clearTimeout(timer);
      if (failure === undefined) resolve();
      else reject(failure);
    });
  });
}
