# ringbank bank server. Multi-stage, and it works with the classic builder (no BuildKit needed):
#
# 1. skeleton: the build context reduced to every Cargo.toml, Cargo.lock, .cargo/config.toml and
#    rust-toolchain file, with every .rs file replaced by `fn main() {}`. Workspace members are
#    found, not listed, so adding a crate needs no change here.
# 2. build: compiles the dependencies against the skeleton (that layer stays cached while only
#    sources change, because COPY caches on content), then the real sources.
# 3. runtime: Debian slim with the one binary, run as a non-root user and configured entirely
#    through RINGBANK_* environment variables (RINGBANK_DATABASE_URL puts the ledger on
#    PostgreSQL; see the postgres profile of docker-compose.yml).
#
# Machines without a registry build the two base images locally: tests/docker/base-images.sh.
FROM rust:1-bookworm AS skeleton
WORKDIR /src
COPY . .
RUN find . -type f ! -name Cargo.toml ! -name Cargo.lock ! -name '*.rs' ! -name 'rust-toolchain*' \
        ! -path './.cargo/config*' -delete \
    && find . -type f -name '*.rs' | while IFS= read -r file; do echo 'fn main() {}' > "$file"; done \
    && find . -depth -type d -empty -delete

FROM rust:1-bookworm AS build
WORKDIR /src
# The image needs no debug info (the repository's release profile keeps it for profiling).
ENV CARGO_PROFILE_RELEASE_DEBUG=0
COPY --from=skeleton /src/ ./
RUN cargo build --release --locked \
    || echo "dependency pre-build failed; the full build below compiles everything"
COPY . .
# The sources may be older than the skeleton's build output: make cargo see them as changed.
RUN find . -path ./target -prune -o -name '*.rs' -exec touch {} + \
    && cargo build --release --locked --bin ringbank \
    && ./target/release/ringbank --version

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/ringbank --create-home ringbank
COPY --from=build /src/target/release/ringbank /usr/local/bin/ringbank
USER ringbank
ENV RINGBANK_LISTEN=0.0.0.0:8080 \
    RINGBANK_DATA_DIR=/var/lib/ringbank \
    RINGBANK_LOG_FORMAT=json
VOLUME /var/lib/ringbank
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=3 \
    CMD ["ringbank", "probe", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["ringbank"]
CMD ["serve"]
