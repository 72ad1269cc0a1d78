// Why a string is not an image reference, as a value the caller can branch on
// (`kind`) and a sentence a user can read (`message`, which quotes the input).

/** What go-digest's Digest.Validate objects to. */
export type DigestProblem = 'format' | 'length' | 'unsupported-algorithm';

export type ReferenceError =
  | { readonly kind: 'empty'; readonly message: string }
  | { readonly kind: 'image-id-not-reference'; readonly message: string }
  | { readonly kind: 'uppercase-repository'; readonly message: string }
  | { readonly kind: 'invalid-format'; readonly message: string }
  | {
      readonly kind: 'name-too-long';
      readonly length: number;
      readonly limit: number;
      readonly message: string;
    }
  | { readonly kind: 'invalid-tag'; readonly message: string }
  | { readonly kind: 'invalid-digest'; readonly problem: DigestProblem; readonly message: string }
  | { readonly kind: 'not-a-repo-tag'; readonly message: string }
  | { readonly kind: 'not-a-repo-digest'; readonly message: string };

export type ReferenceErrorKind = ReferenceError['kind'];

const quotedInputLimit = 128;

/** JSON-quotes input for a message, cut short so that hostile input cannot flood logs. */
export function quoteInput(input: string): string {
  if (input.length <= quotedInputLimit) {
    return JSON.stringify(input);
  }
  const omitted = input.length - quotedInputLimit;
  return `${JSON.stringify(input.slice(0, quotedInputLimit))}... (${omitted} more characters)`;
}

export function emptyReference(): ReferenceError {
  return { kind: 'empty', message: 'image reference is empty' };
}

export function imageIdNotReference(input: string): ReferenceError {
  return {
    kind: 'image-id-not-reference',
    message: `invalid repository name ${quoteInput(input)}: cannot specify 64-byte hexadecimal strings (this is an image ID, not a reference)`,
  };
}

export function uppercaseRepository(input: string): ReferenceError {
  return {
    kind: 'uppercase-repository',
    message: `invalid reference format ${quoteInput(input)}: repository name must be lowercase`,
  };
}

export function invalidFormat(input: string): ReferenceError {
  return { kind: 'invalid-format', message: `invalid reference format ${quoteInput(input)}` };
}

export function nameTooLong(input: string, length: number, limit: number): ReferenceError {
  return {
    kind: 'name-too-long',
    length,
    limit,
    message: `invalid reference ${quoteInput(input)}: repository name is ${length} characters, more than ${limit}`,
  };
}

export function invalidTag(input: string): ReferenceError {
  return {
    kind: 'invalid-tag',
    message: `invalid tag in ${quoteInput(input)}: a tag is 1 to 128 of [A-Za-z0-9_.-], not starting with '.' or '-'`,
  };
}

const digestProblemText: Readonly<Record<DigestProblem, string>> = {
  format: 'invalid digest format',
  length: 'invalid checksum digest length',
  'unsupported-algorithm': 'unsupported digest algorithm (sha256, sha384 and sha512 are)',
};

export function invalidDigest(input: string, problem: DigestProblem): ReferenceError {
  return {
    kind: 'invalid-digest',
    problem,
    message: `${digestProblemText[problem]} in ${quoteInput(input)}`,
  };
}

export function notARepoTag(input: string): ReferenceError {
  return {
    kind: 'not-a-repo-tag',
    message: `${quoteInput(input)} is not a repo tag (expected name:tag without a digest)`,
  };
}

export function notARepoDigest(input: string): ReferenceError {
  return {
    kind: 'not-a-repo-digest',
    message: `${quoteInput(input)} is not a repo digest (expected name@digest without a tag)`,
  };
}
