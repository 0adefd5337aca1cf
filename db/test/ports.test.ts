// Ports for the servers a test stack starts (Postgres, the engine, the api, Vite): a stack whose
// engine and web server were handed the same port failed to start.
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePorts } from '../src/index.ts';

const bindable = (port: number) =>
  new Promise<boolean>((done) => {
    const server = net.createServer();
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)));
  });

describe('freePorts', () => {
  it('gives distinct ports below the ephemeral range, each free once it answers', async () => {
    const ports = await freePorts(40);
    expect(new Set(ports).size).toBe(40);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(32_000);
    }
    expect(await Promise.all(ports.map(bindable))).toEqual(ports.map(() => true));
  });

  it('passes over a port in use', async () => {
    // 300 ports of the range are held here: none of the ports it gives is one of them.
    const held: net.Server[] = [];
    const heldPorts = new Set<number>();
    for (let port = 20_000; held.length < 300; port += 40) {
      const server = await new Promise<net.Server | null>((done) => {
        const s = net.createServer();
        s.once('error', () => done(null));
        s.listen(port, '127.0.0.1', () => done(s));
      });
      if (server) {
        held.push(server);
        heldPorts.add(port);
      }
    }
    try {
      const ports = await freePorts(100);
      expect(ports.filter((p) => heldPorts.has(p))).toEqual([]);
    } finally {
      await Promise.all(held.map((s) => new Promise<void>((done) => s.close(() => done()))));
    }
  });
});
