# The web app: built with Vite, served by nginx, which also forwards GraphQL to Hasura and Stripe's
# webhook to the api (the api's one public route), so the browser sees one origin.
FROM node:20-bookworm-slim AS build
WORKDIR /app
ENV COREPACK_ENABLE_DOWNLOAD_PROMPT=0
RUN corepack enable
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc tsconfig.base.json ./
COPY client/package.json client/
COPY web/package.json web/
RUN pnpm install --frozen-lockfile --filter "@org-credits/web..."
# The app's money formatting (Stripe's minor units) comes from @org-credits/client/money.
COPY client client
COPY web web
ARG VITE_GRAPHQL_HTTP_URL
ARG VITE_GRAPHQL_WS_URL
ARG VITE_API_URL
RUN pnpm --filter @org-credits/web exec vite build
# The build's manifest (for the bundle-size check) names the source files: not served.
RUN rm -rf web/dist/.vite

FROM nginx:1.27-alpine
COPY deploy/nginx.conf /etc/nginx/conf.d/default.conf
COPY deploy/nginx-security-headers.conf /etc/nginx/snippets/security-headers.conf
COPY --from=build /app/web/dist /usr/share/nginx/html
