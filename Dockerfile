# syntax=docker/dockerfile:1
#
# The authsvc image, for people with a Docker daemon:
#
#   docker build -t authsvc:dev \
#     --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) .
#
# `make image` builds the same image without a daemon (tools/image): a static
# binary built the same way, user 65532:65532, entrypoint /authsvc, ports
# 8443/8080/9090, no shell, the same OCI labels. There, the base is empty plus
# the CA bundle and the nonroot passwd/group entries; here distroless
# static:nonroot provides those. This file is not built in CI (there is no
# Docker daemon there); the image test (deploy/image) checks that it keeps the
# user, entrypoint, ports, labels and build flags of `make image`.

ARG GO_VERSION=1.26

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
ARG TARGETOS=linux
ARG TARGETARCH
ARG VERSION=dev
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X main.version=${VERSION}" -o /out/authsvc ./cmd/authsvc

FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG REVISION=
LABEL org.opencontainers.image.title="authsvc" \
      org.opencontainers.image.description="Step-up customer verification for social customer care: gRPC API, customer pages, JWKS" \
      org.opencontainers.image.source="https://github.com/authsvc/authsvc" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build --chmod=0555 /out/authsvc /authsvc
USER 65532:65532
WORKDIR /
EXPOSE 8443 8080 9090
STOPSIGNAL SIGTERM
ENTRYPOINT ["/authsvc"]
