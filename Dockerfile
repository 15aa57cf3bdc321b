# syntax=docker/dockerfile:1
# Build stage: install the project and its dependencies into a virtual environment.
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN /opt/venv/bin/pip install .

# Run stage: the virtual environment, the content, a non-root user, a volume for SQLite.
FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    MPLBACKEND=Agg \
    MPLCONFIGDIR=/tmp/matplotlib \
    CONTENT_DIR=/app/content \
    DATABASE_URL=sqlite:////data/tutor.sqlite3
RUN groupadd --system tutor && useradd --system --gid tutor --home-dir /app --shell /usr/sbin/nologin tutor \
    && mkdir -p /data && chown tutor:tutor /data
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
COPY content ./content
USER tutor
# The writable volume is also the working directory (the shell's chart files, an optional .env).
WORKDIR /data
VOLUME ["/data"]
# Webhook mode listens here when WEBHOOK_URL is set; long polling needs no port.
EXPOSE 8443
CMD ["python", "-m", "bot", "run"]
