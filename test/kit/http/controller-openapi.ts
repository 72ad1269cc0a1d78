// The controller's findings API is described in docs/controller-openapi.yaml, whose schemas
// refer to the agent's docs/openapi.yaml (one Finding schema for both): the checker loads both,
// under URIs that resolve the relative $refs as a reader of the files would.
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { OpenApiDocument } from '../../../agent/http/openapi.ts';
import { OpenApiChecker } from './openapi-checker.ts';

const DOCS = new URL('../../../docs/', import.meta.url);

function load(name: string): OpenApiDocument {
  return parse(readFileSync(new URL(name, DOCS), 'utf8')) as OpenApiDocument;
}

let checker: OpenApiChecker | undefined;

/** One per test process: compiling the documents' schemas takes a while. */
export function controllerOpenApiChecker(): OpenApiChecker {
  checker ??= new OpenApiChecker(load('controller-openapi.yaml'), {
    id: new URL('controller-openapi.yaml', DOCS).href,
    referenced: { [new URL('openapi.yaml', DOCS).href]: load('openapi.yaml') },
  });
  return checker;
}
