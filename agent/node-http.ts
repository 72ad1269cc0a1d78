// node:http for the agent's ES modules. An ES module's `import ... from 'node:http'` makes Node
// build the module's namespace from every export of node:http, and three of them (WebSocket,
// CloseEvent, MessageEvent) are getters that load Node's bundled undici, a 760 KB script the
// agent never runs (lib/http.js lazyWebSocket; nodejs/node#59686): 13.5 MiB resident in a bare
// process, about 2.5 MiB in the agent's module graph, which loads much of the rest undici needs
// anyway (three starts of the build each). process.getBuiltinModule hands over the CommonJS
// exports, whose getters run only when read. `import type` from 'node:http' is erased and free;
// eslint.config.js refuses value imports of it elsewhere in agent/.
import type * as NodeHttp from 'node:http';

export const http: typeof NodeHttp = process.getBuiltinModule('node:http');
