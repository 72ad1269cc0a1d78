// The environment the container image gives Node (the runtime stage's ENV in the Dockerfile:
// NODE_OPTIONS, MALLOC_ARENA_MAX...), so that a benchmark runs pullwatch as it is deployed:
// the agent's and the controller's pauses and memory depend on NODE_OPTIONS' heap settings.
import { readFile } from 'node:fs/promises';

const DOCKERFILE = new URL('../../Dockerfile', import.meta.url);

/** The ENV of a Dockerfile's last stage; values built from build arguments (`${REVISION}`) are left out. */
export function imageEnvironment(dockerfile: string): Record<string, string> {
  const runtimeStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const instructions = runtimeStage
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n');
  const env: Record<string, string> = {};
  for (const instruction of instructions.filter((i) => i.startsWith('ENV '))) {
    for (const [, key, quoted, bare] of instruction.matchAll(/(\w+)=(?:"([^"]*)"|(\S*))/g)) {
      const value = quoted ?? bare ?? '';
      if (key !== undefined && !value.includes('${')) env[key] = value;
    }
  }
  return env;
}

/** The repository's Dockerfile's runtime environment. */
export async function dockerfileEnvironment(): Promise<Record<string, string>> {
  return imageEnvironment(await readFile(DOCKERFILE, 'utf8'));
}
