# packyard's container image; docs/docker.md describes it.
#
#   docker build -t packyard .
#   docker run -p 8080:8080 -v packages:/data/packages packyard
#
# Stage 1 builds the packyard wheel and wheels of everything it depends on; stage 2
# installs those wheels offline (--no-index) into a venv on a clean runtime image.
#
# BASE_IMAGE is any Debian bookworm image with python3 and its venv module: the
# official python image (the default, python in /usr/local/bin) or one made from
# Debian's packages (python3 in /usr/bin), as CI does with scripts/docker-test.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# Lets scripts/docker-test remove this stage's old untagged images.
LABEL org.packyard.stage=build

# pip settings for this stage only (a mirror, a private index, a CA bundle);
# nothing of them reaches the final image.
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_NO_INPUT=1

WORKDIR /src
RUN python3 -m venv /opt/build

# Dependencies first, in a layer of their own: editing the source does not
# download them again.
COPY pyproject.toml ./
RUN /opt/build/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]))' > requirements.txt \
    && /opt/build/bin/pip wheel --wheel-dir /wheels --requirement requirements.txt

COPY README.md LICENSE ./
COPY src ./src
RUN /opt/build/bin/pip wheel --no-deps --wheel-dir /wheels .


FROM ${BASE_IMAGE}

LABEL org.opencontainers.image.title="packyard" \
      org.opencontainers.image.description="A private Python package index; a drop-in for pypiserver" \
      org.opencontainers.image.licenses="MIT"

# The user, group, uid/gid and home of pypiserver's image, so that volumes made
# for it keep working.
RUN groupadd --gid 9898 pypiserver \
    && useradd --uid 9898 --gid 9898 --home-dir /data --no-create-home \
        --shell /usr/sbin/nologin pypiserver \
    && mkdir -p /data/packages \
    && chown -R 9898:9898 /data

COPY --from=build /wheels /tmp/wheels
# Offline: exactly the wheels stage 1 built, nothing from an index.
RUN python3 -m venv /opt/packyard \
    && /opt/packyard/bin/pip install --no-cache-dir --no-index --find-links /tmp/wheels \
        --disable-pip-version-check packyard \
    && rm -rf /tmp/wheels

COPY docker/entrypoint.sh /entrypoint.sh
COPY docker/healthcheck.py /usr/local/bin/packyard-healthcheck

# HOME=/data: pypi-server's default packages directory (~/packages) is then
# /data/packages whatever uid runs it. Every option can also be given as an
# environment variable, PYPISERVER_<OPTION> (docs/configuration.md).
ENV PATH=/opt/packyard/bin:$PATH \
    HOME=/data \
    PYPISERVER_PORT=8080 \
    PYTHONUNBUFFERED=1

WORKDIR /data
VOLUME /data/packages
EXPOSE 8080

# Reads PYPISERVER_PORT and PYPISERVER_HEALTH_ENDPOINT: set the port with
# -e PYPISERVER_PORT, not with -p in the arguments, for this check to follow it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/opt/packyard/bin/python", "/usr/local/bin/packyard-healthcheck"]

# No arguments: serve /data/packages on $PYPISERVER_PORT. Arguments replace that
# command, as with pypiserver's image (docs/docker.md).
ENTRYPOINT ["/entrypoint.sh"]
