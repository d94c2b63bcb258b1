import net from 'node:net';
import { once } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../src/index.js';

let echo: net.Server;
let echoPort: number;
const echoSockets = new Set<net.Socket>();
let proxy: FaultProxy | undefined;

beforeAll(async () => {
  echo = net.createServer((socket) => {
    echoSockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => echoSockets.delete(socket));
    socket.pipe(socket);
  });
  echo.listen(0, '127.0.0.1');
  await once(echo, 'listening');
  echoPort = (echo.address() as net.AddressInfo).port;
});

afterEach(async () => {
  await proxy?.close();
  proxy = undefined;
});

afterAll(async () => {
  for (const socket of echoSockets) socket.destroy();
  await new Promise((resolve) => echo.close(resolve));
});

async function startProxy(): Promise<FaultProxy> {
  proxy = await FaultProxy.start({ targetHost: '127.0.0.1', targetPort: echoPort });
  return proxy;
}

async function connect(p: FaultProxy): Promise<net.Socket> {
  const socket = net.connect(p.port, p.host);
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  return socket;
}

/** Collect what the socket receives until `bytes` arrived; rejects after `timeoutMs`. */
function receive(socket: net.Socket, bytes: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const timer = setTimeout(() => {
      socket.off('data', onData);
      reject(new Error(`received ${total} of ${bytes} bytes within ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      total += chunk.length;
      if (total >= bytes) {
        clearTimeout(timer);
        socket.off('data', onData);
        resolve(Buffer.concat(chunks));
      }
    };
    socket.on('data', onData);
  });
}

/** How the socket ended: 'reset' (ECONNRESET), 'closed' or 'open' (still open after `waitMs`). */
function ending(socket: net.Socket, waitMs: number): Promise<'reset' | 'closed' | 'open'> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve('open'), waitMs);
    socket.once('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(error.code === 'ECONNRESET' ? 'reset' : 'closed');
    });
    socket.once('close', () => {
      clearTimeout(timer);
      setImmediate(() => resolve('closed'));
    });
  });
}

describe('FaultProxy', () => {
  it('passes data both ways and counts connections', async () => {
    const p = await startProxy();
    const a = await connect(p);
    const b = await connect(p);
    a.write('hello');
    expect((await receive(a, 5, 2_000)).toString()).toBe('hello');
    b.write('world!');
    expect((await receive(b, 6, 2_000)).toString()).toBe('world!');
    expect(p.connectionCount).toBe(2);
    expect(p.openConnections).toBe(2);
    a.destroy();
    b.destroy();
  });

  it('reset sends an RST on open sockets and resets new ones', async () => {
    const p = await startProxy();
    const a = await connect(p);
    a.write('x');
    await receive(a, 1, 2_000);
    const ended = ending(a, 2_000);
    await p.setMode('reset');
    expect(await ended).toBe('reset');
    const b = net.connect(p.port, p.host);
    expect(await ending(b, 2_000)).not.toBe('open');
    expect(p.openConnections).toBe(0);
  });

  it('blackhole drops data both ways but keeps sockets open, and accepts silent new ones', async () => {
    const p = await startProxy();
    const a = await connect(p);
    await p.setMode('blackhole');
    a.write('lost');
    await expect(receive(a, 1, 500)).rejects.toThrow(/received 0/);
    expect(a.destroyed).toBe(false);
    const b = await connect(p);
    b.write('also lost');
    await expect(receive(b, 1, 300)).rejects.toThrow(/received 0/);
    expect(p.openConnections).toBe(2);
    // Back to pass: an open pair forwards again.
    await p.setMode('pass');
    a.write('back');
    expect((await receive(a, 4, 2_000)).toString()).toBe('back');
    a.destroy();
    b.destroy();
  });

  it('slow adds latency per chunk', async () => {
    const p = await startProxy();
    const a = await connect(p);
    await p.setMode('slow', { latencyMs: 200 });
    const started = performance.now();
    a.write('ping');
    await receive(a, 4, 3_000);
    // 200 ms each way.
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
    a.destroy();
  });

  it('slow throttles to the given bytes per second, keeping order', async () => {
    const p = await startProxy();
    const a = await connect(p);
    await p.setMode('slow', { bytesPerSecond: 20_000 });
    const payload = Buffer.alloc(10_000);
    for (let i = 0; i < payload.length; i += 1) payload[i] = i % 251;
    const started = performance.now();
    a.write(payload);
    const back = await receive(a, payload.length, 5_000);
    // 10 kB at 20 kB/s takes 0.5 s; the way back is throttled too but overlaps (pipelined).
    expect(performance.now() - started).toBeGreaterThanOrEqual(480);
    expect(back.equals(payload)).toBe(true);
    a.destroy();
  });

  it('refuse closes the listener (ECONNREFUSED) and pass listens again on the same port', async () => {
    const p = await startProxy();
    const kept = await connect(p);
    const port = p.port;
    await p.setMode('refuse');
    const refused = net.connect(port, '127.0.0.1');
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => refused.once('error', resolve));
    expect(error.code).toBe('ECONNREFUSED');
    kept.write('still here');
    expect((await receive(kept, 10, 2_000)).toString()).toBe('still here');
    await p.setMode('refuse', { cutExisting: true });
    expect(await ending(kept, 1_000)).not.toBe('open');
    await p.setMode('pass');
    expect(p.port).toBe(port);
    const again = await connect(p);
    again.write('ok');
    expect((await receive(again, 2, 2_000)).toString()).toBe('ok');
    again.destroy();
  });

  it('close() cuts everything and stops listening', async () => {
    const p = await startProxy();
    const a = await connect(p);
    const ended = ending(a, 2_000);
    await p.close();
    expect(await ended).not.toBe('open');
    const refused = net.connect(p.port, '127.0.0.1');
    const error = await new Promise<NodeJS.ErrnoException>((resolve) => refused.once('error', resolve));
    expect(error.code).toBe('ECONNREFUSED');
  });
});
