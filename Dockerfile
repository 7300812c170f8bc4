# rulestream image: `docker build -t rulestream .` then `docker run rulestream run --help`.
# Two stages: a full Rust toolchain builds the binary (librdkafka is compiled from source by the
# rdkafka crate, which needs gcc, make and zlib headers); the runtime image only has the binary.
FROM rust:1.95-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential zlib1g-dev pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin rulestream \
    && cp target/release/rulestream /usr/local/bin/rulestream

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates zlib1g \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home rulestream \
    && mkdir -p /var/lib/rulestream/state \
    && chown rulestream /var/lib/rulestream/state
COPY --from=build /usr/local/bin/rulestream /usr/local/bin/rulestream
COPY config/rulestream.toml /etc/rulestream/rulestream.toml
# A volume mounted here (--state-dir) keeps stateful-rule snapshots; a fresh named volume takes
# this directory's owner, so the unprivileged user can write it.
VOLUME /var/lib/rulestream/state
USER rulestream
# Prometheus /metrics, /health, /ready (set --metrics-addr 0.0.0.0:9898 inside a container).
EXPOSE 9898
ENTRYPOINT ["/usr/local/bin/rulestream"]
CMD ["run", "--config", "/etc/rulestream/rulestream.toml", "--metrics-addr", "0.0.0.0:9898"]
