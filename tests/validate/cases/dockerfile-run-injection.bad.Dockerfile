# What `revops generate` wrote before issue #12 for `User=revflow;touch${IFS}pwned|sh;$(id)`
FROM revflow/python-base:bookworm@sha256:0000000000000000000000000000000000000000000000000000000000000000 AS revops-venv
RUN useradd --system --uid 10001 --user-group --no-create-home revflow;touch${IFS}pwned|sh;$(id)
RUN ["/usr/sbin/useradd", "--system", "revflow;touch${IFS}pwned|sh;$(id)"]
FROM revops-venv AS app
USER 10001:10001
CMD ["/opt/venv/bin/python", "-m", "app"]
