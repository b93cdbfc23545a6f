// An HTTP server of the generated models on 127.0.0.1 (hub layout under /models/), for tests of
// URL loading; `intercept` may answer a request itself (a failure, a refusal) before the file is served.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { MODELS_DIR } from './models.js';

export interface ModelServer {
  /** URL of the models folder, e.g. http://127.0.0.1:PORT/models */
  base: string;
  close(): Promise<void>;
}

/** Starts the server; `intercept` returns true when it has answered the request. */
export async function startModelServer(intercept?: (path: string, req: IncomingMessage, res: ServerResponse) => boolean): Promise<ModelServer> {
  const server = createServer(async (req, res) => {
    const path = decodeURIComponent(req.url!.replace(/^\/models\//, ''));
    if (intercept?.(path, req, res)) return;
    try {
      res.end(await readFile(join(MODELS_DIR, path)));
    } catch {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}/models`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
