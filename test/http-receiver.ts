/** A small HTTP server on 127.0.0.1 that records what it receives and answers as a test tells it to. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface Reply {
  status: number;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Wait this long before answering. */
  delayMs?: number;
}

/** `null`: never answer (a hung remote). */
export type Responder = (req: ReceivedRequest, index: number) => Reply | null;

export interface Receiver {
  port: number;
  url: string;
  /** Every request, answered or not, in arrival order. */
  requests: ReceivedRequest[];
  /** Requests answered with a 2xx. */
  accepted: ReceivedRequest[];
  close(): Promise<void>;
}

export async function startReceiver(respond: Responder, port = 0): Promise<Receiver> {
  const requests: ReceivedRequest[] = [];
  const accepted: ReceivedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const got: ReceivedRequest = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      const reply = respond(got, requests.length);
      requests.push(got);
      if (reply === null) return;
      const answer = () => {
        if (reply.status >= 200 && reply.status < 300) accepted.push(got);
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.body ?? '');
      };
      if (reply.delayMs) setTimeout(answer, reply.delayMs);
      else answer();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    requests,
    accepted,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A loopback port that nothing listens on (bound, then released). */
export async function freePort(): Promise<number> {
  const r = await startReceiver(() => ({ status: 204 }));
  await r.close();
  return r.port;
}
