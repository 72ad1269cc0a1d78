// Checks an HTTP answer against docs/openapi.yaml: the path and method are documented, the
// status is documented for the operation, the content type is one it declares, and a JSON body
// validates against the declared schema (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses).
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { OpenApiDocument } from '../../../agent/http/openapi.ts';

const DOCUMENT_ID = 'urn:pullwatch:openapi';

export interface OpenApiCheckerOptions {
  /** The document's URI, against which its relative $refs resolve (default: a URN of its own). */
  readonly id?: string;
  /** Other documents its $refs point into, by URI (the controller's refers to the agent's). */
  readonly referenced?: Readonly<Record<string, OpenApiDocument>>;
}

// OpenAPI's own top-level fields are not schema keywords; ajv's strict mode must know them.
const OPENAPI_FIELDS = ['openapi', 'info', 'paths', 'components', 'security', 'tags', 'servers'];

// ajv-formats is CommonJS: under Node's ESM loader its default export is module.exports.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => void;

export interface AnswerToCheck {
  readonly method: string;
  /** The request path without the query. */
  readonly path: string;
  readonly status: number;
  readonly contentType: string | null;
  readonly body: string;
}

interface ResponseObject {
  readonly $ref?: string;
  readonly content?: Readonly<Record<string, unknown>>;
}

const escapePointer = (s: string): string => s.replaceAll('~', '~0').replaceAll('/', '~1');

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export class OpenApiChecker {
  readonly #ajv: Ajv2020;
  readonly #doc: OpenApiDocument;
  readonly #id: string;
  readonly #validators = new Map<string, ValidateFunction>();
  readonly #templates: readonly { readonly template: string; readonly pattern: RegExp }[];

  constructor(doc: OpenApiDocument, options: OpenApiCheckerOptions = {}) {
    this.#doc = doc;
    this.#id = options.id ?? DOCUMENT_ID;
    this.#ajv = new Ajv2020({ strict: true, allErrors: true, allowUnionTypes: true });
    addFormats(this.#ajv);
    this.#ajv.addVocabulary(OPENAPI_FIELDS);
    for (const [id, referenced] of Object.entries(options.referenced ?? {}))
      this.#ajv.addSchema({ ...referenced, $id: id });
    this.#ajv.addSchema({ ...doc, $id: this.#id });
    const paths = isRecord(doc['paths']) ? doc['paths'] : {};
    this.#templates = Object.keys(paths).map((template) => ({
      template,
      pattern: new RegExp(
        `^${template
          .split(/\{[^}]+\}/)
          .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
          .join('[^/]+')}$`,
      ),
    }));
  }

  /** The documented path template a request path falls under, if any. */
  templateOf(path: string): string | undefined {
    return this.#templates.find((t) => t.pattern.test(path))?.template;
  }

  /** The documented query parameter names of a GET operation. */
  queryParameters(template: string): string[] {
    const operation = this.#operation(template);
    const parameters = Array.isArray(operation?.['parameters']) ? operation['parameters'] : [];
    return parameters
      .filter((p): p is Record<string, unknown> => isRecord(p) && p['in'] === 'query')
      .map((p) => String(p['name']));
  }

  #operation(template: string): Record<string, unknown> | undefined {
    const paths = this.#doc['paths'];
    if (!isRecord(paths)) return undefined;
    const item = paths[template];
    return isRecord(item) && isRecord(item['get']) ? item['get'] : undefined;
  }

  #resolve(pointer: string): unknown {
    let node: unknown = this.#doc;
    for (const part of pointer.replace(/^#\//, '').split('/')) {
      const key = part.replaceAll('~1', '/').replaceAll('~0', '~');
      node = isRecord(node) ? node[key] : undefined;
    }
    return node;
  }

  #validator(pointer: string): ValidateFunction {
    let validate = this.#validators.get(pointer);
    if (validate === undefined) {
      validate = this.#ajv.compile({ $ref: `${this.#id}${pointer}` });
      this.#validators.set(pointer, validate);
    }
    return validate;
  }

  /** Where the answer's documented response object is, or why there is none. */
  #responsePointer(answer: AnswerToCheck): string | { readonly problem: string } {
    const template = this.templateOf(answer.path);
    const status = String(answer.status);
    if (answer.method !== 'GET' && answer.method !== 'HEAD') {
      return answer.status === 405
        ? '#/components/responses/MethodNotAllowed'
        : { problem: `${answer.method} answered ${status}, not 405` };
    }
    if (template === undefined) {
      // Unknown paths pass authentication first, then get 404.
      const generic: Readonly<Record<string, string>> = {
        '401': 'Unauthorized',
        '403': 'Forbidden',
        '404': 'NotFound',
        '429': 'TooManyReviews',
        '503': 'AuthUnavailable',
      };
      const name = generic[status];
      return name === undefined
        ? { problem: `undocumented path ${answer.path} answered ${status}` }
        : `#/components/responses/${name}`;
    }
    const operation = this.#operation(template);
    const responses = isRecord(operation?.['responses']) ? operation['responses'] : {};
    if (!(status in responses)) {
      return { problem: `GET ${template} does not document status ${status}` };
    }
    const pointer = `#/paths/${escapePointer(template)}/get/responses/${status}`;
    const response = this.#resolve(pointer) as ResponseObject;
    return response.$ref ?? pointer;
  }

  /** Problems with the answer; empty when it is what the document says. */
  check(answer: AnswerToCheck): string[] {
    const found = this.#responsePointer(answer);
    if (typeof found !== 'string') return [found.problem];
    const response = this.#resolve(found) as ResponseObject | undefined;
    if (response === undefined) return [`the document has nothing at ${found}`];
    const mediaType = (answer.contentType ?? '').split(';')[0]?.trim() ?? '';
    const content = response.content ?? {};
    if (!(mediaType in content)) {
      return [
        `${answer.status} answer has content type "${mediaType}"; documented: ${Object.keys(content).join(', ')}`,
      ];
    }
    if (answer.method === 'HEAD') {
      return answer.body === '' ? [] : ['a HEAD answer has a body'];
    }
    let body: unknown = answer.body;
    if (mediaType === 'application/json') {
      try {
        body = JSON.parse(answer.body);
      } catch {
        return [`${answer.status} answer is not JSON: ${answer.body.slice(0, 80)}`];
      }
    }
    const validate = this.#validator(`${found}/content/${escapePointer(mediaType)}/schema`);
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) => `${answer.method} ${answer.path} ${answer.status}: ${e.instancePath} ${e.message}`,
    );
  }
}
