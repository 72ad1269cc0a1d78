# syntax=docker/dockerfile:1
#
# The pullwatch node agent (DaemonSet image).
#
#   docker build \
#     --build-arg VERSION=$(node -p "require('./package.json').version") \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg CREATED=$(date -u +%Y-%m-%dT%H:%M:%SZ) \
#     -t pullwatch:dev .
#
# Three stages: `build` compiles TypeScript to dist/, `prod-deps` installs the production
# dependencies into a clean directory, `runtime` holds only what `pullwatch run` reads:
# dist/agent, production node_modules, package.json (version), proto/ (CRI subset loaded at
# start) and docs/openapi.yaml (served as /openapi.json). test/deploy/dockerfile.test.ts
# checks this file and replays its COPY steps into a directory to run the result.

ARG BUILD_IMAGE=node:24-bookworm-slim
# Pin by digest in release builds: --build-arg RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12@sha256:...
ARG RUNTIME_IMAGE=gcr.io/distroless/nodejs24-debian12

FROM ${BUILD_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the devDependency `node` would download a second Node binary in its install
# script; this image's Node 24 compiles the same. (protobufjs' postinstall only prints warnings.)
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY agent/ agent/
# tsconfig.build.json leaves out the unit tests beside the code, and with them the test kit
# they import: dist/agent is the agent only (test/deploy/dist-contents.test.ts checks it).
RUN npm run build

FROM ${BUILD_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only: no TypeScript, no tap, and no `node` package (the runtime image
# brings its own Node). No dependency needs an install script to work.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

# Distroless: no shell, no package manager, no npm; Node at /nodejs/bin/node. The `:nonroot`
# variant cannot be used: the agent connects to the container runtime's socket, and connect()
# on a unix socket needs write permission on the socket file, which containerd and CRI-O create
# as root:root 0660; the kubelet's KEP-2535 records it reads are root-only (0600 in 0700 dirs).
# So the process runs as uid 0 - with every capability dropped, a read-only root filesystem and
# no privilege escalation, set in the DaemonSet (manifests/base/daemonset.yaml). docs/security.md
# explains what root can and cannot do here.
FROM ${RUNTIME_IMAGE} AS runtime

# Re-declared to read the global value inside this stage.
ARG RUNTIME_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="pullwatch" \
      org.opencontainers.image.description="Node agent that finds private images one tenant pulled and another runs from a shared node's image cache" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/pullwatch/pullwatch" \
      org.opencontainers.image.documentation="https://github.com/pullwatch/pullwatch/blob/main/docs/install.md" \
      org.opencontainers.image.base.name="${RUNTIME_IMAGE}"

# `pullwatch version` and pullwatch_build_info report the revision from here.
#
# Memory settings, measured with `npm run bench -- footprint` (BENCHMARKS.md section 3), which
# starts the build with this ENV (bench/footprint.ts reads it from here):
# --max-semi-space-size=2 (MiB): V8 sizes the young generation from the memory it sees, up to
#   64 MiB per semi-space on a large node, and the agent's bursts (a listing, a reconcile) grew
#   it to 128 MiB resident, kept while idle. With 2 MiB, idle RSS at 5,000 images went from
#   ~300 to ~190 MiB, for ~3% more CPU through 10,000 pod events.
# --max-old-space-size=384 (MiB): the same heap limit on every node rather than one derived from
#   the node's RAM or the container's limit (4 GiB on a 24 GiB node), and a heap that grows less
#   past its live size in bursts: RSS after 10,000 pod events ~550 -> ~260 MiB with all three
#   settings, for ~12% more CPU through them. 20,000 cached images need ~120 MiB of live heap.
# MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (V8's compiler and GC workers) an
#   arena of its own, which keeps what was freed in it; two shared arenas: ~10 MiB less RSS.
# --expose-gc: the agent runs a memory-reducing collection once it is ready and once each burst
#   of work is over (agent/heap-reducer.ts), which gives back the slack V8 keeps: 5,000 images
#   ~155 -> ~127 MiB at ready, ~135 -> ~120 MiB after 1,000 pod updates, for a 60-90 ms pause
#   each. Node offers that collection only through the `gc` global this flag defines.
# No --enable-source-maps: it keeps the parsed source map of every module loaded that has one
#   (most of them @kubernetes/client-node's), ~11 MiB of heap, for stack traces that point at
#   TypeScript lines. To debug, set NODE_OPTIONS in the DaemonSet to the value below plus
#   --enable-source-maps (a NODE_OPTIONS there replaces this one).
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-semi-space-size=2 --max-old-space-size=384 --expose-gc" \
    MALLOC_ARENA_MAX=2 \
    PULLWATCH_REVISION=${REVISION}

WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /src/dist/agent ./dist/agent
COPY package.json ./
COPY proto/ ./proto/
COPY docs/openapi.yaml ./docs/openapi.yaml

# Root on purpose (see above); written out so nobody has to guess the base image's default.
USER 0:0
EXPOSE 9746

# Node runs as PID 1 without an init. The kernel gives PID 1 no default signal actions: a signal
# it has no handler for is ignored, so a plain Node process would sit through SIGTERM until the
# kubelet's SIGKILL. `pullwatch run` installs its own SIGTERM/SIGINT handlers
# (agent/cli/run-command.ts) for this reason: it stops serving, flushes its state and exits within
# 8 s. The agent starts no child processes, so there are no zombies to reap.
ENTRYPOINT ["/nodejs/bin/node", "dist/agent/cli.js"]
CMD ["run"]
