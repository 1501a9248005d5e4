"""revops.values: what may be written into a Dockerfile or a compose file."""

import pytest

from revops import values


@pytest.mark.parametrize("check, good, bad", [
    (values.user_name, ["revflow", "_svc", "Alice-2", "1000"], ["revflow;id", "a b", "9lives", "", "x" * 32, "root\n"]),
    (values.abs_path, ["/", "/opt/revflow-os/modules/app", "/srv/a.b/c@1"],
     ["opt/x", "/opt/x/", "/opt//x", "/opt/../etc", "/opt/$HOME", "/opt/a b", "/opt/a\nRUN", '/opt/"x"', "~"]),
    (values.name, ["core", "lead-gen", "revflow-worker-3", "a.b_c"], ["Core", "-x", "a/b", "a b", "", "x" * 64]),
    (values.port, [None, 1, 8550, 65535], [0, 65536, "80", True, 8.5]),
    (values.image_reference, ["revflow/python-base:bookworm", "localhost:5000/a/b:1.0", "busybox",
                              "a/b@sha256:" + "0" * 64],
     ["Revflow/x", "x:y AS z", "a\nRUN id", "x::1", "/x", "x:" + "t" * 129]),
    (values.image_repository, ["revflow", "registry.local:5000/revflow/"], ["RevFlow", "a b", "x:tag"]),
    (values.duration, ["30s", "1m30s", "500ms", "1.5h"], ["30", "30 s", "s", "-1s"]),
    (values.ip_address, ["127.0.0.1", "::1", "0.0.0.0"], ["localhost", "127.0.0.1:80", ""]),
    (values.env_key, ["A", "_x1"], ["1A", "A B", "A=B", ""]),
    (values.argv, [["/bin/x", "a b", 'q"uote\n']], [[], ["x", "a\x00"], "cmd"]),
])
def test_each_check_takes_the_good_and_names_what_is_wrong_with_the_bad(check, good, bad):
    assert [v for v in good if check(v) is not None] == []
    assert all(isinstance(check(v), str) for v in bad), [v for v in bad if check(v) is None]
