# #14.6: WORKDIR lines that are not absolute (lines 3, 4, 5); the last three are fine.
FROM revflow/python-base:bookworm
WORKDIR ~
WORKDIR app/src
WORKDIR ["/opt/app"]
WORKDIR /opt/app
WORKDIR "/opt/app data"
WORKDIR $APP_HOME
USER 10001
CMD ["python3", "-m", "http.server"]
