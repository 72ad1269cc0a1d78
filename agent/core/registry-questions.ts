// The one owner of the agent's registry questions and their answers: which repositories'
// visibility and which tenants' credentials to ask about, when an answer is due again, and the
// answers as detection reads them (NodeSnapshot.visibility and .verdicts). The registry port's
// own cache decides how often the network is used; this decides what is worth asking.
import { cachedImageOf } from '../detect/container-image.ts';
import { podCredentialsFor } from '../detect/access.ts';
import type { DetectionMemory } from '../detect/memory.ts';
import type { CredentialVerdict, NodeSnapshot, RepositoryVisibility } from '../model/snapshot.ts';
import { isSettledUnknown, verdictKey } from '../model/snapshot.ts';
import type { InventoryEntry } from '../image/inventory.ts';
import { parseDockerRef } from '../image/reference.ts';
import type { RegistryPort } from './ports.ts';

/** How long an answer stands before it is asked again. */
export const REGISTRY_ANSWER_REFRESH_MS = 10 * 60_000;
/**
 * How long an "unknown" answer stands (the registry or the controller could not answer: an
 * outage, a probe rate limit in a cold start). Asking again costs the answering side's cache,
 * not the registry, and a finding may wait on the answer: a minute, not ten.
 */
export const UNKNOWN_ANSWER_REFRESH_MS = 60_000;
/** How often every cached name is walked for questions due, when the cache did not change. */
const NAMES_REWALK_MS = 60_000;

export type RegistryAnswers = Pick<NodeSnapshot, 'visibility' | 'verdicts'>;

export interface RegistryQuestionsOptions {
  readonly registry: RegistryPort;
  readonly now: () => number;
  /** An answer arrived (or a question failed): the findings may change. */
  readonly onAnswer: () => void;
  readonly onError: (error: unknown) => void;
}

interface Answer<T> {
  readonly value: T;
  readonly at: number;
}

/** An "unknown" that may be known soon (an outage, a rate limit), not one that stays. */
const mayChangeSoon = (value: RepositoryVisibility | CredentialVerdict): boolean =>
  typeof value === 'string'
    ? value === 'unknown'
    : value.visibility === 'unknown' && !isSettledUnknown(value);

function sameAnswer(
  a: RepositoryVisibility | CredentialVerdict,
  b: RepositoryVisibility | CredentialVerdict,
): boolean {
  if (typeof a === 'string' || typeof b === 'string') return a === b;
  return (
    a.visibility === b.visibility && a.basis === b.basis && a.nodeCredentials === b.nodeCredentials
  );
}

export class RegistryQuestions {
  readonly #o: RegistryQuestionsOptions;
  readonly #visibility = new Map<string, Answer<RepositoryVisibility>>();
  readonly #verdicts = new Map<string, Answer<CredentialVerdict>>();
  readonly #pending = new Set<string>();
  /**
   * When each cached image name last led to a visibility question (by the name as listed), and
   * about which repository.
   */
  readonly #namesAskedAt = new Map<string, { readonly at: number; readonly repo: string }>();
  #namesWalkedAt: number | undefined;
  readonly #walkedEntries = new WeakSet<InventoryEntry>();
  /** The answers as the snapshot holds them; rebuilt only after a new answer. */
  #answers: RegistryAnswers | undefined;

  constructor(options: RegistryQuestionsOptions) {
    this.#o = options;
  }

  /** The answers so far: the same object until an answer changes. */
  answers(): RegistryAnswers {
    this.#answers ??= {
      visibility: new Map([...this.#visibility].map(([k, v]) => [k, v.value])),
      verdicts: new Map([...this.#verdicts].map(([k, v]) => [k, v.value])),
    };
    return this.#answers;
  }

  /** No question is outstanding. */
  settled(): boolean {
    return this.#pending.size === 0;
  }

  /**
   * Asks what the snapshot needs and is not fresh: the visibility of every cached repository
   * and, for every container that uses a cached image, the verdict on each matching credential.
   */
  askFor(snapshot: NodeSnapshot, memory: DetectionMemory): void {
    const now = this.#o.now();
    const fresh = (answer: Answer<RepositoryVisibility | CredentialVerdict> | undefined) =>
      answer !== undefined &&
      now - answer.at <
        (mayChangeSoon(answer.value) ? UNKNOWN_ANSWER_REFRESH_MS : REGISTRY_ANSWER_REFRESH_MS);
    // Every cached name is walked once a minute; in between, only the entries a new listing
    // brought (a listing reuses the entries it repeats).
    const walkAll =
      this.#namesWalkedAt === undefined || now - this.#namesWalkedAt >= NAMES_REWALK_MS;
    if (walkAll) this.#namesWalkedAt = now;
    const due = walkAll
      ? snapshot.inventory.entries()
      : snapshot.inventory.entries().filter((e) => !this.#walkedEntries.has(e));
    for (const entry of due) {
      this.#walkedEntries.add(entry);
      for (const name of [...entry.repoDigests, ...entry.repoTags]) {
        // Most names were asked about recently: skip them before paying for a parse.
        const asked = this.#namesAskedAt.get(name);
        if (
          asked !== undefined &&
          now - asked.at < REGISTRY_ANSWER_REFRESH_MS &&
          fresh(this.#visibility.get(asked.repo))
        )
          continue;
        const ref = parseDockerRef(name);
        if (!ref.ok) continue;
        const repo = ref.value.name;
        this.#namesAskedAt.set(name, { at: now, repo });
        if (fresh(this.#visibility.get(repo))) continue;
        const reference = ref.value.digest ?? ref.value.tag ?? 'latest';
        this.#ask(`v|${repo}`, async () => {
          this.#set(
            this.#visibility,
            repo,
            await this.#o.registry.repositoryVisibility(repo, reference),
          );
        });
      }
    }
    // Containers with Always are asked about too: a running one may be the only evidence of
    // who owns an image found at start, and its verdict decides whether it is an owner.
    for (const pod of snapshot.pods) {
      for (const container of pod.containers) {
        const cached = cachedImageOf(snapshot, container, memory);
        if (cached === undefined) continue;
        const { reference, entry } = cached;
        const asked =
          cached.repoDigest?.split('@')[1] ?? reference.digest ?? reference.tag ?? 'latest';
        for (const held of podCredentialsFor(snapshot.secrets, pod, reference, memory).matching) {
          const check = held.credential.check;
          if (check === undefined) continue;
          const key = verdictKey(held.credential.fingerprint, reference.name, entry.id);
          if (fresh(this.#verdicts.get(key))) continue;
          this.#ask(
            `c|${key}`,
            async () => {
              const verdict = await this.#o.registry.verifyCredential(check, reference.name, asked);
              this.#set(this.#verdicts, key, verdict);
            },
            // A question that failed is answered "unknown": what waits for it stops waiting.
            () => {
              this.#set(this.#verdicts, key, 'unknown');
            },
          );
        }
      }
    }
  }

  /** Keeps the answer maps bounded by what is cached now: answers not renewed are dropped. */
  forgetOld(): void {
    const cutoff = this.#o.now() - 2 * REGISTRY_ANSWER_REFRESH_MS;
    for (const map of [this.#visibility, this.#verdicts] as Map<string, Answer<unknown>>[]) {
      for (const [key, answer] of map) {
        if (answer.at >= cutoff) continue;
        map.delete(key);
        this.#answers = undefined;
      }
    }
    for (const [name, asked] of this.#namesAskedAt)
      if (asked.at < cutoff) this.#namesAskedAt.delete(name);
  }

  #set<T extends RepositoryVisibility | CredentialVerdict>(
    map: Map<string, Answer<T>>,
    key: string,
    value: T,
  ): void {
    const before = map.get(key);
    map.set(key, { value, at: this.#o.now() });
    // The same answer again keeps the answers object, and so detection's memory of them.
    if (before === undefined || !sameAnswer(before.value, value)) this.#answers = undefined;
  }

  #ask(key: string, work: () => Promise<void>, onFailure?: () => void): void {
    if (this.#pending.has(key)) return;
    this.#pending.add(key);
    work()
      .catch((error: unknown) => {
        onFailure?.();
        this.#o.onError(error);
      })
      .finally(() => {
        this.#pending.delete(key);
        this.#o.onAnswer();
      });
  }
}
