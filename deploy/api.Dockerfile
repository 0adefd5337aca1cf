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
CMD ["pnpm", "--filter", "@org-credits/api", "start"]
