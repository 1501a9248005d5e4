FROM revflow/python-base:bookworm AS venv
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip --version

FROM venv AS api
WORKDIR /srv/app
COPY app.py /srv/app/app.py
USER root
CMD ["/opt/venv/bin/uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8550"]
