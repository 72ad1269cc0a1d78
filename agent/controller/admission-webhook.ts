// POST /admission/pods on the controller's HTTPS port: the mutating admission webhook that
// forces a pull only where a pod's own credentials do not prove it may read its image
// (agent/admission/ decides; this file reads the review, asks, answers and counts).
//
// The API server calls it without client credentials (as it calls any webhook by default), so
// it requires none, and its answer carries nothing beyond the decision about the pod it was
// sent: the requester's own containers, images and what to do.
//
// Every input gets an answer within the webhook's timeout: registry questions that have not
// been answered by the deadline count as registry errors (--on-registry-error decides), a body
// over the limit is refused with 413 and one that is no AdmissionReview with 400; for those
// two the API server applies the webhook's failurePolicy (Ignore in the manifests: the pod is
// admitted unchanged). A review it can read but whose pod it cannot is allowed unchanged,
// with a warning, as Ignore would: the API server's own validation then judges the pod.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import getRawBody from 'raw-body';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { readAdmittedPod, type AdmittedPod } from '../admission/admitted-pod.ts';
import type { ImageAllowlist } from '../admission/allowlist.ts';
import { decide, imagesToProve, type OnRegistryError, type Proof } from '../admission/decide.ts';
import { namespaceMode, type ModeSettings } from '../admission/prevention-mode.ts';
import { readReview, responseFor, reviewResponse } from '../admission/review.ts';
import type { ImageProofs } from './image-proofs.ts';
import type { Labels, NamespaceLabels } from './namespace-labels.ts';

export const ADMISSION_PATH = '/admission/pods';
/**
 * The API server takes request bodies up to 3 MiB; a review of a pod UPDATE holds the object
 * twice (object, oldObject), plus the request's envelope.
 */
export const MAX_ADMISSION_REVIEW_BYTES = 8 * 1024 * 1024;
/** Below the manifests' timeoutSeconds (5): the answer must reach the API server in time. */
export const DEFAULT_ADMISSION_DEADLINE_MS = 4_000;

export interface AdmissionWebhookOptions {
  readonly proofs: Pick<ImageProofs, 'prove' | 'provenNow'>;
  readonly namespaceLabels: Pick<NamespaceLabels, 'labels' | 'labelsNow'>;
  readonly modes: ModeSettings;
  readonly allowlist: ImageAllowlist;
  readonly onRegistryError: OnRegistryError;
  readonly registry: Registry;
  readonly logger: Logger;
  readonly deadlineMs?: number;
}

/** Resolves to `fallback` once `ms` have passed, unless `work` settled first. */
async function within<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => {
      resolve(fallback);
    }, ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

export function createAdmissionWebhook(options: AdmissionWebhookOptions): RequestListener {
  const { logger } = options;
  const deadlineMs = options.deadlineMs ?? DEFAULT_ADMISSION_DEADLINE_MS;
  const decisions = new Counter({
    name: 'pullwatch_controller_admission_decisions_total',
    help: "Pods admitted by the webhook, by the namespace's mode and the outcome.",
    labelNames: ['mode', 'outcome'] as const,
    registers: [options.registry],
  });
  const registryErrors = new Counter({
    name: 'pullwatch_controller_admission_registry_errors_total',
    help: 'Images the webhook could not get an answer about from the registry in time.',
    registers: [options.registry],
  });
  const refused = new Counter({
    name: 'pullwatch_controller_admission_refused_requests_total',
    help: 'Webhook requests answered with an HTTP error (the failurePolicy applies), by reason.',
    labelNames: ['reason'] as const,
    registers: [options.registry],
  });
  const duration = new Histogram({
    name: 'pullwatch_controller_admission_duration_seconds',
    help: 'Time from reading an AdmissionReview to answering it.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [options.registry],
  });
  for (const reason of ['too-large', 'malformed'] as const) refused.inc({ reason }, 0);

  const answer = (res: ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': Buffer.byteLength(text),
    });
    res.end(text);
  };

  const judge = (
    uid: string,
    pod: AdmittedPod,
    labels: Labels | undefined,
    proofs: ReadonlyMap<string, Proof>,
  ): unknown => {
    const mode = namespaceMode(options.modes, labels);
    const decision = decide({
      pod,
      mode,
      onRegistryError: options.onRegistryError,
      allowlist: options.allowlist,
      proofs: mode === 'off' ? new Map() : proofs,
    });
    decisions.inc({ mode, outcome: decision.outcome });
    if (decision.registryErrors > 0) {
      registryErrors.inc(decision.registryErrors);
      logger.warn(
        {
          namespace: pod.namespace,
          images: decision.registryErrors,
          onRegistryError: options.onRegistryError,
        },
        'admission: the registry could not answer whether a pod may read its images',
      );
    }
    return reviewResponse(responseFor(uid, decision));
  };

  // The namespace's labels and the images' proofs: at once from the caches when both are
  // there (a team's next pod), else asked, each within its share of the deadline.
  const review = async (uid: string, pod: AdmittedPod): Promise<unknown> => {
    const images = imagesToProve(pod, options.allowlist).map((c) => c.image);
    const labelsNow = options.namespaceLabels.labelsNow(pod.namespace);
    const proofsNow = images.length === 0 ? new Map() : options.proofs.provenNow(pod, images);
    if (labelsNow !== undefined && proofsNow !== undefined)
      return judge(uid, pod, labelsNow, proofsNow);
    const labels =
      labelsNow ??
      (await within(options.namespaceLabels.labels(pod.namespace), deadlineMs / 4, undefined));
    const proofs =
      namespaceMode(options.modes, labels) === 'off' || images.length === 0
        ? new Map<string, Proof>()
        : (proofsNow ?? (await within(options.proofs.prove(pod, images), deadlineMs, new Map())));
    return judge(uid, pod, labels, proofs);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const stopTimer = duration.startTimer();
    let text: string;
    try {
      text = await getRawBody(req, {
        limit: MAX_ADMISSION_REVIEW_BYTES,
        length: req.headers['content-length'] ?? null,
        encoding: 'utf8',
      });
    } catch (error) {
      // The rest of a refused body is not read: the connection cannot be reused.
      res.shouldKeepAlive = false;
      const type = (error as { type?: unknown } | null)?.type;
      if (type === 'entity.too.large') {
        refused.inc({ reason: 'too-large' });
        answer(res, 413, {
          error: `AdmissionReview larger than ${MAX_ADMISSION_REVIEW_BYTES} bytes`,
        });
      } else {
        refused.inc({ reason: 'malformed' });
        answer(res, 400, { error: 'request body could not be read' });
      }
      return;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      refused.inc({ reason: 'malformed' });
      answer(res, 400, { error: 'request body is not JSON' });
      return;
    }
    const read = readReview(body);
    if (!read.ok) {
      refused.inc({ reason: 'malformed' });
      answer(res, 400, { error: read.error });
      stopTimer();
      return;
    }
    const request = read.value;
    if (request.kind === 'not-ours') {
      answer(res, 200, reviewResponse({ uid: request.uid, allowed: true }));
      stopTimer();
      return;
    }
    const pod = readAdmittedPod(request.admission);
    if (!pod.ok) {
      decisions.inc({ mode: 'unknown', outcome: 'unreadable' });
      answer(
        res,
        200,
        reviewResponse({
          uid: request.uid,
          allowed: true,
          warnings: [`pullwatch: could not read the pod (${pod.error}); admitted unchanged.`],
        }),
      );
      stopTimer();
      return;
    }
    answer(res, 200, await review(request.uid, pod.value));
    stopTimer();
  };

  return (req, res) => {
    handle(req, res).catch((error: unknown) => {
      logger.error({ err: String(error) }, 'admission review failed');
      if (!res.headersSent) answer(res, 500, { error: 'internal error' });
    });
  };
}

/**
 * The server's one listener: AdmissionReviews go straight to the webhook, before Express's
 * routing and body parsing, which cost more than the decision itself when the decision is
 * cached (BENCHMARKS.md, the webhook section); everything else goes to the app. The API
 * server appends `?timeout=…` to the webhook's path.
 */
export function withAdmissionWebhook(
  app: RequestListener,
  webhook: RequestListener | undefined,
): RequestListener {
  if (webhook === undefined) return app;
  return (req, res) => {
    const url = req.url ?? '';
    const path = url.includes('?') ? url.slice(0, url.indexOf('?')) : url;
    if (req.method === 'POST' && path === ADMISSION_PATH) webhook(req, res);
    else app(req, res);
  };
}
