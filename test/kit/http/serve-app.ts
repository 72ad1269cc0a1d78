// Starts the app on a free loopback port for a test and requests it, checking every answer
// against docs/openapi.yaml.
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Test } from 'tap';
import { createMetricsRegistry } from '../../../agent/metrics/registry.ts';
import type { AgentView } from '../../../agent/view.ts';
import { createHttpApp } from '../../../agent/http/app.ts';
import type { RequestAuthorizer } from '../../../agent/http/auth.ts';
import { allowAll } from '../../../agent/http/auth.ts';
import type { OutputsStatusJson } from '../../../agent/http/outputs-status.ts';
import { loadOpenApiDocument } from '../../../agent/http/openapi.ts';
import { OpenApiChecker } from './openapi-checker.ts';
import { startHttpServer } from '../../../agent/http/server.ts';
import { fakeView } from './fake-view.ts';

/** The part of a tap test these helpers use. */
export type TestHost = Pick<Test, 'teardown' | 'same'>;

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly text: string;
  /** The body parsed as JSON; the type is the test's claim, checked by the OpenAPI document. */
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
  json<T = unknown>(): T;
}

export interface CapturedLog {
  readonly logger: Logger;
  /** Every line logged so far, as written (JSON). */
  readonly lines: string[];
}

/** A debug-level pino logger whose output the test can read. */
export function capturedLogger(): CapturedLog {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

let checker: OpenApiChecker | undefined;

/** One checker per test process: compiling the document's schemas takes a while. */
export function openApiChecker(): OpenApiChecker {
  checker ??= new OpenApiChecker(loadOpenApiDocument());
  return checker;
}

export interface ServeOptions {
  readonly view?: AgentView;
  readonly registry?: Registry;
  readonly auth?: RequestAuthorizer;
  readonly logger?: Logger;
  readonly outputs?: () => OutputsStatusJson;
}

export interface ServedApp {
  readonly base: string;
  readonly log: CapturedLog;
  /** Requests `target` and checks the answer against the OpenAPI document. */
  request(target: string, init?: RequestInit): Promise<Answer>;
}

export async function serveApp(t: TestHost, options: ServeOptions = {}): Promise<ServedApp> {
  const view = options.view ?? fakeView();
  const log = capturedLogger();
  const app = createHttpApp({
    view,
    registry: options.registry ?? createMetricsRegistry(view),
    auth: options.auth ?? allowAll(),
    logger: options.logger ?? log.logger,
    buildInfo: { version: '1.2.3', revision: 'abc1234', nodejsVersion: 'v24.0.0' },
    ...(options.outputs === undefined ? {} : { outputs: options.outputs }),
  });
  const server = await startHttpServer({ app, listen: '127.0.0.1:0' });
  t.teardown(() => server.stop());
  const base = `http://${server.address}`;
  return {
    base,
    log,
    async request(target, init = {}) {
      const response = await fetch(`${base}${target}`, init);
      const text = await response.text();
      const method = (init.method ?? 'GET').toUpperCase();
      const problems = openApiChecker().check({
        method,
        path: new URL(target, base).pathname,
        status: response.status,
        contentType: response.headers.get('content-type'),
        body: text,
      });
      t.same(problems, [], `${method} ${target} answers as docs/openapi.yaml says`);
      return {
        status: response.status,
        headers: response.headers,
        text,
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters
        json: <T>() => JSON.parse(text) as T,
      };
    },
  };
}
