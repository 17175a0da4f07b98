# The esup image for docker-compose: the CLI, the stream workers and the sinks (no servers inside).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 TZ=Asia/Shanghai
WORKDIR /app

COPY pyproject.toml README.md ./
COPY esup ./esup
COPY schemas ./schemas
COPY streams ./streams
COPY sinks ./sinks
COPY dashboards ./dashboards
COPY config ./config
COPY examples ./examples
RUN pip install . && useradd --create-home --uid 10001 esup && mkdir /data && chown esup /data
USER esup
# Workers keep their local table data in the working directory.
WORKDIR /data

ENTRYPOINT []
CMD ["esup", "--help"]
