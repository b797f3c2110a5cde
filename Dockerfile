# ringbank bank server. Multi-stage: dependencies are built in their own layer (cached while
# only src/ changes), the runtime image is Debian slim with the one binary, run as a non-root
# user and configured entirely through RINGBANK_* environment variables (RINGBANK_DATABASE_URL
# puts the ledger on PostgreSQL; see the postgres profile of docker-compose.yml).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY ring/Cargo.toml ring/Cargo.toml
RUN mkdir -p src ring/src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs ring/src/lib.rs \
    && cargo build --release --locked || true
COPY . .
RUN touch src/main.rs src/lib.rs ring/src/lib.rs && cargo build --release --locked --bin ringbank

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/ringbank --create-home ringbank
COPY --from=build /src/target/release/ringbank /usr/local/bin/ringbank
USER ringbank
ENV RINGBANK_LISTEN=0.0.0.0:8080 \
    RINGBANK_DATA_DIR=/var/lib/ringbank \
    RINGBANK_LOG_FORMAT=json
VOLUME /var/lib/ringbank
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["ringbank", "probe", "--url", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["ringbank"]
CMD ["serve"]
