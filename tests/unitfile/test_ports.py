"""The listening port, from the command line or PORT= of the environment."""

from __future__ import annotations

import pytest

from revops.unitfile.ports import port_of, port_of_argv


@pytest.mark.parametrize("argv,port", [
    (["/v/bin/uvicorn", "app:app", "--host", "0.0.0.0", "--port", "8550"], 8550),
    (["/v/bin/uvicorn", "app:app", "--port=8004"], 8004),
    (["/v/bin/app", "-p", "9000"], 9000),
    (["/v/bin/app", "-p9001"], 9001),
    (["/v/bin/gunicorn", "--bind", "127.0.0.1:8100", "app"], 8100),
    (["/v/bin/gunicorn", "-b", "[::1]:8101"], 8101),
    (["/v/bin/gunicorn", "--bind=0.0.0.0:8102"], 8102),
    (["/v/bin/app", ":8103"], 8103),
    (["/v/bin/app", "--port", "99999"], None),
    (["/v/bin/app", "--workers", "4"], None),
    (["/v/bin/app", "--port", "$PORT"], None),
])
def test_port_from_the_command_line(argv, port):
    assert port_of_argv(argv) == port


def test_environment_port_when_the_command_line_has_none():
    assert port_of([["/v/bin/app"]], {"PORT": "8200"}) == 8200
    assert port_of([["/v/bin/app", "--port", "8300"]], {"PORT": "8200"}) == 8300
    assert port_of([["/v/bin/app"]], {}) is None
