# One image for every natplane process (api, worker, migrate), plus a host-agent variant with the
# kernel tools it drives. Build: `docker compose build`, or
#   docker build -t natplane .                          # api / worker / migrate
#   docker build -t natplane-host-agent --target host-agent .

# ---- build: install everything, compile, then drop the dev dependencies
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
COPY package.json package-lock.json ./
RUN npm ci
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY apps ./apps
COPY libs ./libs
COPY migrations ./migrations
COPY bench ./bench
RUN npx nest build api && npx vite build --config apps/console/vite.config.mts && npm prune --omit=dev

# ---- base: the compiled code and the production dependencies only
FROM node:20-bookworm-slim AS base
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist

# ---- host-agent: programs the host's nftables table (needs root and CAP_NET_ADMIN on the host's
# network namespace to do so for real; AGENT_BACKEND=dry-run needs neither)
FROM base AS host-agent
RUN apt-get update \
 && apt-get install -y --no-install-recommends nftables conntrack iproute2 \
 && rm -rf /var/lib/apt/lists/*
ENV AGENT_LISTEN=0.0.0.0:8081
EXPOSE 8081
CMD ["node", "dist/apps/host-agent/src/main.js"]

# ---- app (the default target): api by default; worker and migrate override the command
FROM base AS app
USER node
ENV PORT=8080 HOST=0.0.0.0
EXPOSE 8080
CMD ["node", "dist/apps/api/src/main.js"]
