/** Writes the API's OpenAPI document (docs/openapi.json): `npm run -s openapi`. */
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { Registry } from 'prom-client';
import { parseEngineConfig } from '../config/engine-config';
import { buildApiServer } from './server';

/** The document as the server generates it from its route schemas. */
export async function openApiDocument(): Promise<unknown> {
  const config = parseEngineConfig(
    { sourceSite: 'source', sites: { source: { endpoint: 'http://127.0.0.1:9000' } } },
    {},
  );
  // Never connects: the routes are only described.
  const connection = Connection.lazy({ address: '127.0.0.1:1' });
  const app = await buildApiServer({
    config,
    temporal: new Client({ connection }),
    token: () => 'x'.repeat(32),
    readiness: async () => [],
    registry: new Registry(),
  });
  const document = app.swagger();
  await app.close();
  await connection.close();
  return document;
}

export const OPENAPI_FILE = path.resolve(__dirname, '..', 'docs', 'openapi.json');

if (require.main === module) {
  void openApiDocument().then((doc) => {
    fs.writeFileSync(OPENAPI_FILE, `${JSON.stringify(doc, null, 2)}\n`);
    console.log(`wrote ${OPENAPI_FILE}`);
  });
}
