# syntax=docker/dockerfile:1
#
# One image for the gateway and the demo subgraphs.
#   gateway (default):  docker run -p 4000:4000 IMAGE
#   a subgraph:         docker run -e HOST=0.0.0.0 IMAGE node dist/subgraphs/users/index.js
# docker-compose.yml runs all of them plus Redis.

# ---- build: all dependencies, compile TypeScript to dist/ ------------------------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gateway ./gateway
COPY subgraphs ./subgraphs
COPY schema ./schema
COPY scripts ./scripts
RUN npm run build
# Files read at run time that tsc does not emit: everything under schema/ except TypeScript
# (supergraph.graphql, and e.g. costs.yaml, fallbacks/), and each subgraph's schema.graphql.
RUN mkdir -p /runtime-data \
 && cp -r schema /runtime-data/schema \
 && find /runtime-data -name '*.ts' -delete \
 && find subgraphs -name '*.graphql' -exec cp --parents {} /runtime-data/ \;

# ---- runtime: production dependencies, compiled code, data files; non-root ---------------------------
FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /runtime-data/ ./
USER node
EXPOSE 4000
# Liveness only (readiness is GET /ready). Slim images have no curl: use Node's fetch.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/health', { signal: AbortSignal.timeout(2500) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "dist/gateway/src/main.js"]
