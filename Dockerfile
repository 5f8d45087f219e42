# Bisect Bot GitHub App. Works with Docker, Podman and buildah (no BuildKit-only syntax).
#   docker build -t bisect-bot .
#   docker run --rm --env-file app.env bisect-bot migrate            # apply migrations, exit
#   docker run -d -p 3000:3000 --env-file app.env bisect-bot         # the App
# app.env: APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, DATABASE_URL (and MIGRATION_DATABASE_URL when
# DATABASE_URL is a transaction pooler). See docs/operations.md.
ARG NODE_IMAGE=node:24-bookworm-slim

# ---- build: production dependencies, and the App bundled into app/dist/main.js -------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only; esbuild, which bundles the App, is one of them (tsx's).
# No install scripts: none of these needs one (esbuild's only checks its binary).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY scripts/build-app.js scripts/
COPY action/src action/src
COPY app/src app/src
RUN node scripts/build-app.js

# ---- runtime ----------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000 MIGRATIONS_DIR=/app/supabase/migrations
WORKDIR /app
# Owned by root, read-only to the App's user.
COPY --from=build /app/node_modules node_modules
COPY package.json ./
COPY supabase/migrations supabase/migrations
COPY --from=build /app/app/dist app/dist
# The official image's unprivileged user (uid 1000).
USER node
# 3000: webhooks and the API; 9464: /metrics for Prometheus (METRICS_PORT, 0 turns it off).
EXPOSE 3000 9464
# Ready: the database answers and the instance is not draining. node itself: no curl in the image.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/health/ready').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is the first process (exec form, no shell), so SIGTERM from `docker stop` or
# Kubernetes reaches the App, which drains and exits 0. `migrate` as the argument applies the
# migrations and exits.
ENTRYPOINT ["node", "--enable-source-maps", "app/dist/main.js"]
CMD []
