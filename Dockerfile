# The ddiag image: `docker run --rm -v /var/run/docker.sock:/var/run/docker.sock \
#   -v "$PWD:$PWD" -w "$PWD" IMAGE compose` diagnoses the compose project in the current
# directory. Build it with `bash scripts/build-image.sh` (see there for why the Python
# packages are prepared outside the image): it fills build/image/ with
#   site/         ddiag and its dependencies, the compose CLI (site/bin/docker-compose),
#                 installed for the base image's Python and platform;
#   entrypoint.sh the entry point (scripts/image-entrypoint.sh).
# The base only needs python3 >= 3.10 and util-linux's setpriv (every Debian-based image).
ARG BASE=python:3.12-slim
FROM ${BASE}
COPY site/ /opt/ddiag/site/
COPY entrypoint.sh /opt/ddiag/entrypoint.sh
RUN useradd --system --uid 10001 --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin ddiag \
    && chmod 0755 /opt/ddiag/entrypoint.sh
ENV PYTHONPATH=/opt/ddiag/site \
    PATH=/opt/ddiag/site/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PYTHONDONTWRITEBYTECODE=1 \
    DDIAG_IN_IMAGE=1
ENTRYPOINT ["/opt/ddiag/entrypoint.sh"]
CMD ["--help"]
