# The esup image for docker-compose: the CLI, the stream workers, the sinks and the simulator (no servers
# inside). Installed as a wheel (not from the source tree): config defaults, templates, migrations and
# dashboards come with the package, so `esup` runs from any folder.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 TZ=Asia/Shanghai
WORKDIR /src

COPY pyproject.toml README.md ./
# Every package of pyproject's [tool.setuptools.packages.find] (tests/unit/test_cli_layout.py keeps them equal).
COPY esup ./esup
COPY schemas ./schemas
COPY streams ./streams
COPY sinks ./sinks
COPY dashboards ./dashboards
COPY sim ./sim
COPY directory ./directory
COPY notifier ./notifier
COPY loop ./loop
COPY api ./api
COPY bulletin ./bulletin
COPY whatif ./whatif
COPY gateway ./gateway
COPY console ./console
COPY complaints ./complaints
# The sample catalog (docker-compose's default CATALOG_FILE) and events, outside the working folder.
COPY examples /opt/esup/examples
RUN pip install . && rm -rf /src \
    && useradd --create-home --uid 10001 esup && mkdir -p /data/.esup && chown -R esup /data
USER esup
# The working folder is the non-root user's: workers keep their local table data here and ESUP_HOME
# (state written by esup commands) is inside it, never inside site-packages.
WORKDIR /data
ENV ESUP_HOME=/data/.esup

ENTRYPOINT []
CMD ["esup", "--help"]
