// Where the demo's story happens: a container runtime with a registry behind it. The embedded
// world (embedded-world.ts) needs nothing installed; the real one (test/helpers/real-world.ts)
// uses containerd, docker-registry and skopeo, as root.
import { findTool } from '../../helpers/real-parts.ts';
import { REAL_WORLD_TOOLS, startRealWorld } from '../../helpers/real-world.ts';
import type { StoryWorld } from '../story.ts';

export interface DemoWorld extends StoryWorld {
  /** Extra agent flags this world needs (e.g. --registry-probe off when the registry is fictional). */
  readonly agentArgs: readonly string[];
  /** The same for the controller, which asks the registries for the agent. */
  readonly controllerArgs: readonly string[];
  readonly description: string;
  stop(): Promise<void>;
}

/** `npm run demo -- --real`: the real world, with its parts stopped by `stop()`. */
export async function startRealDemoWorld(dir: string): Promise<DemoWorld> {
  const missing = REAL_WORLD_TOOLS.filter((tool) => findTool(tool) === undefined);
  if (missing.length > 0) {
    throw new Error(
      `--real needs ${missing.join(', ')} (Debian: containerd docker-registry skopeo apache2-utils)`,
    );
  }
  if (process.getuid?.() !== 0) throw new Error('--real starts containerd, which needs root');
  const teardowns: (() => unknown)[] = [];
  const stop = async () => {
    for (const fn of teardowns.reverse()) await fn();
  };
  try {
    const world = await startRealWorld({ teardown: (fn) => teardowns.push(fn) }, dir, {
      credentials: { username: 'admin1', password: `demo-${process.pid}-${Date.now()}` },
    });
    return {
      ...world,
      agentArgs: [],
      controllerArgs: [],
      description: `real containerd at ${world.criEndpoint}, real private registry at ${world.registry}`,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
