#!/usr/bin/env bash
# Builds ringbank:latest, the image docker-compose.yml runs.
#   tests/docker/build-image.sh                 the Dockerfile as users build it (multi-stage: the
#                                               release build happens inside the rust image)
#   tests/docker/build-image.sh BINARY          only the Dockerfile's runtime stage, around a
#                                               release binary built on this machine (debug info
#                                               stripped): the same image, minutes faster
# The base images must exist (tests/docker/base-images.sh where no registry is reachable).
set -euo pipefail
cd "$(dirname "$0")/../.."
tag=${RINGBANK_IMAGE:-ringbank:latest}
if [ "$#" -eq 0 ]; then
  docker build -t "$tag" .
else
  binary=$1
  context=$(mktemp -d "${TMPDIR:-/tmp}/ringbank-image.XXXXXX")
  trap 'rm -rf "$context"' EXIT
  objcopy --strip-debug "$binary" "$context/ringbank"
  # The runtime stage of the Dockerfile, its binary taken from the context instead of the build stage.
  awk '/^FROM /{stage=$0} stage ~ /^FROM debian:bookworm-slim/' Dockerfile |
    sed 's|^COPY --from=build /src/target/release/ringbank |COPY ringbank |' >"$context/Dockerfile"
  grep -q '^COPY ringbank ' "$context/Dockerfile" || { echo "no runtime stage found in Dockerfile" >&2; exit 1; }
  docker build -t "$tag" "$context"
fi
docker image ls --format '{{.Repository}}:{{.Tag}} {{.Size}}' "$tag"
