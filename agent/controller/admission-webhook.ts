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
import express from 'express';
import type { NextFunction, Request, Response, Router } from 'express';
import type { Logger } from 'pino';
import { Counter, Histogram, type Registry } from 'prom-client';
import { readAdmittedPod } from '../admission/admitted-pod.ts';
import type { ImageAllowlist } from '../admission/allowlist.ts';
import { decide, imagesToProve, type OnRegistryError, type Proof } from '../admission/decide.ts';
import { namespaceMode, type ModeSettings } from '../admission/prevention-mode.ts';
import { readReview, responseFor, reviewResponse } from '../admission/review.ts';
import type { ImageProofs } from './image-proofs.ts';
import type { Labels } from './namespace-labels.ts';

export const ADMISSION_PATH = '/admission/pods';
/**
 * The API server takes request bodies up to 3 MiB; a review of a pod UPDATE holds the object
 * twice (object, oldObject), plus the request's envelope.
 */
export const MAX_ADMISSION_REVIEW_BYTES = 8 * 1024 * 1024;
/** Below the manifests' timeoutSeconds (5): the answer must reach the API server in time. */
export const DEFAULT_ADMISSION_DEADLINE_MS = 4_000;

export interface AdmissionWebhookOptions {
  readonly proofs: Pick<ImageProofs, 'prove'>;
  readonly namespaceLabels: (namespace: string) => Promise<Labels | undefined>;
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

export function createAdmissionWebhook(options: AdmissionWebhookOptions): Router {
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

  const router = express.Router();
  const json = express.json({
    limit: MAX_ADMISSION_REVIEW_BYTES,
    strict: true,
    type: () => true,
  });
  const refuseBadBody = (error: unknown, _req: Request, res: Response, next: NextFunction) => {
    const type = (error as { type?: unknown } | null)?.type;
    if (type === 'entity.too.large') {
      refused.inc({ reason: 'too-large' });
      res
        .status(413)
        .json({ error: `AdmissionReview larger than ${MAX_ADMISSION_REVIEW_BYTES} bytes` });
    } else if (typeof type === 'string' && type.startsWith('entity.')) {
      refused.inc({ reason: 'malformed' });
      res.status(400).json({ error: 'request body is not JSON' });
    } else {
      next(error);
    }
  };

  const handle = async (req: Request, res: Response): Promise<void> => {
    const stopTimer = duration.startTimer();
    const review = readReview(req.body as unknown);
    if (!review.ok) {
      refused.inc({ reason: 'malformed' });
      res.status(400).json({ error: review.error });
      stopTimer();
      return;
    }
    const send = (answer: unknown): void => {
      res.status(200).json(answer);
      stopTimer();
    };
    const request = review.value;
    if (request.kind === 'not-ours') {
      send(reviewResponse({ uid: request.uid, allowed: true }));
      return;
    }
    const pod = readAdmittedPod(request.admission);
    if (!pod.ok) {
      decisions.inc({ mode: 'unknown', outcome: 'unreadable' });
      send(
        reviewResponse({
          uid: request.uid,
          allowed: true,
          warnings: [`pullwatch: could not read the pod (${pod.error}); admitted unchanged.`],
        }),
      );
      return;
    }
    const mode = namespaceMode(
      options.modes,
      await within(options.namespaceLabels(pod.value.namespace), deadlineMs / 4, undefined),
    );
    let proofs: ReadonlyMap<string, Proof> = new Map();
    if (mode !== 'off') {
      const images = imagesToProve(pod.value, options.allowlist).map((c) => c.image);
      if (images.length > 0)
        proofs = await within(options.proofs.prove(pod.value, images), deadlineMs, new Map());
    }
    const decision = decide({
      pod: pod.value,
      mode,
      onRegistryError: options.onRegistryError,
      allowlist: options.allowlist,
      proofs,
    });
    decisions.inc({ mode, outcome: decision.outcome });
    if (decision.registryErrors > 0) {
      registryErrors.inc(decision.registryErrors);
      logger.warn(
        {
          namespace: pod.value.namespace,
          images: decision.registryErrors,
          onRegistryError: options.onRegistryError,
        },
        'admission: the registry could not answer whether a pod may read its images',
      );
    }
    send(reviewResponse(responseFor(request.uid, decision)));
  };

  // Express 5 passes a rejected handler's error on to the app's error handler (a 500).
  router.post(ADMISSION_PATH, json, refuseBadBody, handle);
  return router;
}
