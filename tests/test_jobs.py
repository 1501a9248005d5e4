"""A job's repoint: the drop-in that runs it once in a fresh container (pure parts)."""

from revops import dropins, jobs


def test_the_drop_in_runs_the_job_once_in_a_fresh_container():
    r = jobs.repoint("revflow-backup.service", "revflow-backup",
                     ["/opt/revflow-os/shared-venv/bin/python", "job.py", "--task", "revflow-backup"],
                     ["/usr/bin/docker-compose"], ["/srv/ops/compose/docker-compose.yml"], project="revflow")
    assert r.argv == ("/usr/bin/docker-compose", "-p", "revflow", "-f", "/srv/ops/compose/docker-compose.yml",
                      "--profile", "jobs", "run", "--rm", "--no-deps", "-T", "revflow-backup")
    assert r.restart is False  # its timer starts it
    text = r.dropin.text
    assert text.startswith("# revops: job-container\n")
    assert "ExecStart=\nExecStart=/usr/bin/docker-compose -p revflow -f /srv/ops/compose/docker-compose.yml " \
           "--profile jobs run --rm --no-deps -T revflow-backup\n" in text
    assert dropins.written_by_revops(text, jobs.PURPOSE)
    assert "OnCalendar" not in text and "[Timer]" not in text  # the schedule is not touched


def test_never_while_it_runs():
    assert jobs.between_runs("inactive", "dead") is None
    assert jobs.between_runs("failed", "failed") is None
    assert jobs.between_runs("active", "exited") is None  # RemainAfterExit=yes, done
    assert "running" in jobs.between_runs("activating", "start")
    assert "running" in jobs.between_runs("active", "running")
