# The Temporal server tierflow runs on (deploy/temporal-server): `temporal-server start`
# with the production config file (PostgreSQL, SQL visibility), and `temporal-server sql-tool`
# for the schema. The build context is deploy/temporal-server:
#   docker build -f deploy/docker/temporal-server.Dockerfile -t tierflow-temporal-server:dev \
#     deploy/temporal-server
# The build flags are those of tierflow_dev.devstack.temporal_server.BUILD_FLAGS, so the image
# runs the binary the tests run.

FROM golang:1.26-bookworm AS build
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY *.go ./
RUN go build -trimpath -mod=readonly -ldflags='-s -w' -o /out/temporal-server .

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10002 --home-dir /etc/temporal temporal
COPY --from=build /out/temporal-server /usr/local/bin/temporal-server
COPY config/ /etc/temporal/config/
USER 10002
# frontend gRPC 7233 and HTTP 7243; history, matching, worker 7234, 7235, 7239; membership
# 6933-6939; Prometheus 9090
EXPOSE 7233 7243 7234 7235 7239 6933 6934 6935 6939 9090
ENTRYPOINT ["temporal-server"]
CMD ["start", "--config-file", "/etc/temporal/config/postgres.yaml"]
