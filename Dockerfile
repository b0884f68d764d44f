# syntax=docker/dockerfile:1
# VTS Number Masking: the service (HTTP API, SIP edge, RTP relay, event worker) in one
# image. See docs/operations.md#docker-and-compose; deploy/compose.yaml runs it beside PostgreSQL.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim-bookworm
# Every dependency ships as a wheel (soundfile bundles libsndfile, lameenc is pure
# wheel), so the image needs nothing from apt.
RUN useradd --system --uid 10001 --create-home --home-dir /var/lib/vts vts
COPY --from=build /wheels /wheels
# --no-index: only the wheels built above, so versions are those the build resolved.
RUN pip install --no-cache-dir --no-index --find-links=/wheels /wheels/*.whl && rm -rf /wheels
USER 10001
WORKDIR /var/lib/vts
# Listen on every interface of the container; the data dir is the volume below.
ENV VTS_HOST=0.0.0.0 \
    VTS_PORT=8080 \
    VTS_SIP_LISTEN=0.0.0.0:5060 \
    VTS_RTP_ADDRESS=0.0.0.0 \
    VTS_DATA_DIR=/var/lib/vts/data \
    PYTHONUNBUFFERED=1
EXPOSE 8080/tcp 5060/udp 5060/tcp
VOLUME ["/var/lib/vts/data"]
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)"]
ENTRYPOINT ["vts-masking"]
CMD ["serve"]
