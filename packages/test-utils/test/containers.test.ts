import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { DEFAULT_MYSQL_URL, DEFAULT_PG_URL, TEST_SERVERS, chooseTestServers, detectContainerRuntime, startTestServers, type TestServerSpec } from '../src/index.js';

// Real servers answer (or not) for real; only the container runtime's presence is faked, because
// this machine has none and cannot pull images.
const dockerPresent = async () => 'Docker Engine (faked) at /var/run/docker.sock';
const noRuntime = async () => undefined;

/** A URL on a port of 127.0.0.1 that nothing listens on. */
async function deadUrl(scheme: 'postgres' | 'mysql'): Promise<string> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return `${scheme}://root@127.0.0.1:${port}/test`;
}

/** The real server specs with their defaults pointed elsewhere (a default that does not answer). */
function withDefault(kind: TestServerSpec['kind'], defaultUrl: string | undefined): TestServerSpec[] {
  return [{ ...TEST_SERVERS.find((s) => s.kind === kind)!, defaultUrl }];
}

describe('test server selection', () => {
  it('uses the local servers that answer at the default URLs, even with a container runtime', async () => {
    let runtimeAsked = 0;
    const choices = await chooseTestServers({ env: {}, servers: TEST_SERVERS.filter((s) => s.required), containerRuntime: async () => (runtimeAsked++, dockerPresent()) });
    expect(choices.map((c) => [c.spec.kind, c.source, c.source === 'server' ? c.url : undefined])).toEqual([
      ['postgres', 'server', DEFAULT_PG_URL],
      ['mariadb', 'server', DEFAULT_MYSQL_URL],
    ]);
    expect(choices[0]!.reason).toMatch(/answers at the default/);
    expect(runtimeAsked).toBe(0); // testcontainers is not even loaded when the servers answer
  }, 30_000);

  it('uses a server at an env URL that answers', async () => {
    const [choice] = await chooseTestServers({ env: { DAL_PG_URL: DEFAULT_PG_URL }, servers: withDefault('postgres', await deadUrl('postgres')), containerRuntime: dockerPresent });
    expect(choice).toMatchObject({ source: 'server', url: DEFAULT_PG_URL });
    expect(choice!.reason).toContain('DAL_PG_URL=');
  }, 30_000);

  it('never replaces an env URL that does not answer with a container', async () => {
    const dead = await deadUrl('mysql');
    const [choice] = await chooseTestServers({ env: { DAL_MYSQL_URL: dead }, servers: withDefault('mariadb', DEFAULT_MYSQL_URL), containerRuntime: dockerPresent });
    expect(choice!.source).toBe('none');
    expect(choice!.reason).toMatch(/nothing answers at DAL_MYSQL_URL=.*never replaced by a container/);
  }, 30_000);

  it('starts a container when nothing answers at the default URL and a runtime is present', async () => {
    const [pg] = await chooseTestServers({ env: {}, servers: withDefault('postgres', await deadUrl('postgres')), containerRuntime: dockerPresent });
    expect(pg!.source).toBe('container');
    expect(pg!.reason).toMatch(/nothing answers at the default .*starting postgres:16 with testcontainers on Docker Engine \(faked\)/);
    // MySQL 8 has no local default: a runtime is the only way to get one.
    const [mysql8] = await chooseTestServers({ env: {}, servers: TEST_SERVERS.filter((s) => s.kind === 'mysql8'), containerRuntime: dockerPresent });
    expect(mysql8).toMatchObject({ source: 'container' });
    expect(mysql8!.reason).toMatch(/DAL_MYSQL8_URL is unset.*starting mysql:8/);
  }, 30_000);

  it('chooses none, saying how to get a server, when nothing answers and there is no runtime', async () => {
    const [choice] = await chooseTestServers({ env: {}, servers: withDefault('mariadb', await deadUrl('mysql')), containerRuntime: noRuntime });
    expect(choice!.source).toBe('none');
    expect(choice!.spec.required).toBe(true);
    expect(choice!.reason).toMatch(/no container runtime was found either .*docker compose up -d --wait, or set DAL_MYSQL_URL/);
  }, 30_000);

  it('asks for the runtime once however many servers need it', async () => {
    let asked = 0;
    const servers = [...withDefault('postgres', await deadUrl('postgres')), ...withDefault('mariadb', await deadUrl('mysql'))];
    const choices = await chooseTestServers({ env: {}, servers, containerRuntime: async () => (asked++, undefined) });
    expect(choices.map((c) => c.source)).toEqual(['none', 'none']);
    expect(asked).toBe(1);
  }, 30_000);

  it('startTestServers passes answering servers through without starting containers', async () => {
    const choices = await chooseTestServers({ env: {}, servers: TEST_SERVERS.filter((s) => s.required), containerRuntime: noRuntime });
    const started = await startTestServers(choices);
    expect(started.env).toEqual({ DAL_PG_URL: DEFAULT_PG_URL, DAL_MYSQL_URL: DEFAULT_MYSQL_URL });
    await started.stop();
  }, 30_000);

  it('detectContainerRuntime answers (a runtime or none) within its bound and never throws', async () => {
    const started = Date.now();
    const runtime = await detectContainerRuntime();
    expect(runtime === undefined || typeof runtime === 'string').toBe(true);
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 30_000);
});
