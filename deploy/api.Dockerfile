# The api service (Express 5), run from its TypeScript sources with tsx.
FROM node:20-bookworm-slim
WORKDIR /app
ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0 NODE_ENV=production
RUN corepack enable
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc tsconfig.base.json ./
COPY db/package.json db/
COPY client/package.json client/
COPY api/package.json api/
# Production dependencies only: no Postgres binaries (production has its DATABASE_URL), no
# workspace tooling; tsx and esbuild's binary for the platform come from the lockfile.
RUN pnpm install --frozen-lockfile --prod --filter "@org-credits/api..."
COPY db db
COPY client client
COPY api api
USER node
EXPOSE 3001
# tsx itself, not `pnpm start`: pnpm does not pass SIGTERM on to what it started, so a `docker stop`
# would kill the api at the end of stop_grace_period instead of letting it finish the requests in
# flight (docs/operations.md, "Deploys and shutdown"). tsx passes the signal to the api's node.
CMD ["api/node_modules/.bin/tsx", "--tsconfig", "api/tsconfig.json", "api/src/main.ts"]
