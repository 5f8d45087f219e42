/**
 * Test support: a TCP hop between a client and a server (PostgreSQL), to break the network the
 * ways real networks break: connections reset at once (a killed peer, a restarted proxy), or left
 * open with every packet dropped (a half-open socket: a failed-over host, a NAT that forgot the
 * flow), which neither end notices until it times out.
 */
import { createServer, connect, type Socket } from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** Connections open through the proxy now. */
  readonly open: number;
  /** Drops every byte both ways, on the open connections and on new ones, without closing anything. */
  blackhole(): void;
  /** New connections are forwarded again; those blackholed stay dead (their peers were lost). */
  heal(): void;
  /** Resets every open connection at once, as a crashed peer does. */
  resetAll(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const pairs = new Set<{ client: Socket; server: Socket; dead: boolean }>();
  let dropping = false;
  const proxy = createServer((client) => {
    const server = connect(targetPort, targetHost);
    const pair = { client, server, dead: dropping };
    pairs.add(pair);
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on("data", (chunk) => void (pair.dead || server.write(chunk)));
    server.on("data", (chunk) => void (pair.dead || client.write(chunk)));
    // A blackholed connection never hears of the other end closing either.
    client.on("close", () => void (pair.dead || end()));
    server.on("close", () => void (pair.dead || end()));
    client.on("error", () => undefined);
    server.on("error", () => undefined);
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  const address = proxy.address();
  if (address === null || typeof address === "string") throw new Error("the proxy listens on no TCP port");
  return {
    port: address.port,
    get open() {
      return pairs.size;
    },
    blackhole() {
      dropping = true;
      for (const pair of pairs) pair.dead = true;
    },
    heal() {
      dropping = false;
    },
    resetAll() {
      for (const pair of pairs) {
        pair.client.resetAndDestroy();
        pair.server.destroy();
      }
      pairs.clear();
    },
    async close() {
      for (const pair of pairs) {
        pair.client.destroy();
        pair.server.destroy();
      }
      pairs.clear();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    },
  };
}
