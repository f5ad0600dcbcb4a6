# The credits server: the installed package in a virtualenv, run as a non-root user.
#   docker build -t credits-server .
#   docker run credits-server migrate        # any `credits` command; `serve` by default
# Listening on 0.0.0.0, the server refuses to start until an API key exists
# (docs/operations.md, "The container").

FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY app ./app
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.12-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --disable-pip-version-check /wheels/*.whl && rm -rf /wheels
RUN useradd --create-home --uid 10001 credits && mkdir /data && chown credits /data
USER credits
WORKDIR /home/credits
ENV CREDITS_HOST=0.0.0.0 \
    CREDITS_PORT=8000 \
    CREDITS_DATABASE_URL=sqlite:////data/credits.db
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('CREDITS_PORT', '8000'), timeout=2)"]
ENTRYPOINT ["credits"]
CMD ["serve"]
