// The OpenAPI 3.1 description of this API lives in the repository as docs/openapi.yaml and is
// served as /openapi.json; the tests check every answer of the app against it.
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';

// From the sources (agent/http/) and from the build (dist/agent/http/).
const candidates = ['../../docs/openapi.yaml', '../../../docs/openapi.yaml'];

export type OpenApiDocument = Readonly<Record<string, unknown>>;

let loaded: OpenApiDocument | undefined;

/** Where docs/openapi.yaml is; throws when it is missing (a packaging bug). */
export function openApiDocumentPath(): URL {
  const tried: string[] = [];
  for (const rel of candidates) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return url;
    tried.push(url.pathname);
  }
  throw new Error(`docs/openapi.yaml not found (looked at ${tried.join(', ')})`);
}

/** docs/openapi.yaml, parsed once; throws when it is missing or not a document. */
export function loadOpenApiDocument(): OpenApiDocument {
  if (loaded !== undefined) return loaded;
  const url = openApiDocumentPath();
  const doc: unknown = parse(readFileSync(url, 'utf8'));
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new Error(`${url.pathname} is not an OpenAPI document`);
  }
  loaded = doc as OpenApiDocument;
  return loaded;
}

/** The document as served: its info.version names the running build. */
export function servedOpenApiDocument(doc: OpenApiDocument, version: string): OpenApiDocument {
  const info = typeof doc['info'] === 'object' && doc['info'] !== null ? doc['info'] : {};
  return { ...doc, info: { ...info, version } };
}
