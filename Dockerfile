# Images for docker-compose.yml. MinIO is built from the same pinned Go module as the native
# stack (stack/versions.ts), the project from this repository; Temporal, its Web UI and
# PostgreSQL use the published images of the same versions (temporalio/server:1.29.1,
# temporalio/ui:2.42.1, postgres:15).

# --- MinIO server: the pseudo-version `@latest` resolves to (repository in maintenance mode) ---
FROM golang:1.26-bookworm AS minio-build
RUN CGO_ENABLED=0 go install github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
FROM debian:bookworm-slim AS minio
RUN apt-get update && apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*
COPY --from=minio-build /go/bin/minio /usr/local/bin/minio
ENTRYPOINT ["minio"]

# --- The replication engine: worker, populator and the `replication` CLI ---
FROM node:20-bookworm-slim AS app-build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
RUN npm run build && npm prune --omit=dev
FROM node:20-bookworm-slim AS app
WORKDIR /app
ENV NODE_ENV=production
COPY --from=app-build /app/node_modules ./node_modules
COPY --from=app-build /app/dist ./dist
COPY --from=app-build /app/package.json ./
USER node
CMD ["node", "--max-semi-space-size=4", "dist/workers/main.js"]
