"""Tricky unit files, each meant to exercise one corner of systemd's reading.

Shared by the pure parser tests (with expectations checked against systemd once) and the
oracle test (which asks systemd itself every time). Names get the oracle prefix when loaded.
Each case: file name -> bytes; drop-ins as "NAME.d/FILE.conf" keys; `query` lists the unit
names to compare (instances of templates included).
"""

from __future__ import annotations

SERVICE = b"[Unit]\nDescription=revops tricky case\n\n[Service]\n"

CASES: dict[str, bytes] = {
    "quoting.service": SERVICE + b"""ExecStart=/bin/echo "a b" 'c d' e\\ f "g\\"h" 'i\\'j' x"y z"w "" ''\n""",
    "escapes.service": SERVICE + b"ExecStart=/bin/echo \\x41 \\101 \\u00e9 \\t \\s \\$HOME \\q \\\\ tab\\there\n",
    "semicolons.service": SERVICE + b"Type=oneshot\nExecStart=/bin/echo one ; /bin/echo two \\; \";\" ';' three;\n",
    "prefixes.service": SERVICE + b"Type=oneshot\nExecStart=-@+/bin/sleep mysleep 5\nExecStart=!!/bin/true\n"
                        b"ExecStart=:-/bin/true x\nExecStart=!-/bin/false\n",
    "reset.service": SERVICE + b"Type=oneshot\nExecStart=/bin/echo first\nExecStart=\nExecStart=/bin/echo second\n"
                     b"ExecStart=/bin/echo third\n",
    "specifiers.service": SERVICE + b"ExecStart=/bin/echo %n %N %p %P %i %I %f %j %J %% 100%% %t %h %u %U %g %G "
                          b"%E %S %C %L %T %V %s %o %w %%%% \"%n\" 'x%%y' %-z %\n",
    "dash-name-x.service": SERVICE + b"ExecStart=/bin/echo %p %P %j %J %f %N\n",
    "tpl@.service": SERVICE + b"ExecStart=/bin/echo inst=%i unesc=%I file=%f prefix=%p name=%n %j\n"
                    b"EnvironmentFile=-/etc/tpl/%i.env\n",
    "contin.service": SERVICE + b"ExecStart=/bin/echo one \\\n  two \\\n# a comment inside\n; another\n  three\n"
                      b"Environment=A=1 \\\n  B=2\n",
    "envfiles.service": SERVICE + b"ExecStart=/bin/true\nEnvironmentFile=-/etc/revops-none.env\n"
                        b"EnvironmentFile=/etc//revops/./a.env\nEnvironmentFile=relative.env\n"
                        b"EnvironmentFile=/etc/../b.env\nEnvironmentFile=\nEnvironmentFile=/etc/last.env\n",
    "user.service": SERVICE + b"ExecStart=/bin/true\nUser=nobody\n",
    "user-reset.service": SERVICE + b"ExecStart=/bin/true\nUser=nobody\nUser=\n",
    "noexec.service": SERVICE + b"Restart=always\n",
    "noexec-oneshot.service": SERVICE + b"Type=oneshot\nExecStop=/bin/true\n",
    "noexec-remain.service": SERVICE + b"Type=oneshot\nRemainAfterExit=yes\nExecStop=/bin/true\n",
    "badutf8-comment.service": SERVICE + b"# caf\xe9\nExecStart=/bin/true\n",
    "badspec.service": SERVICE + b"ExecStart=/bin/echo %z\n",
    "badspec-ignored.service": SERVICE + b"Type=oneshot\nExecStart=-/bin/echo %z\nExecStart=/bin/true\n",
    "unbalanced.service": SERVICE + b"ExecStart=/bin/echo \"open\n",
    "badutf8.service": SERVICE + b"ExecStart=/bin/true\nDescription=caf\xe9\n",
    "garbage.service": b"NoSection=1\n[Unit]\nthis line has no equals\n=novalue\n[X-Mine]\nFoo=bar\n[Bogus]\n"
                       b"ExecStart=/bin/false\n[Service]\nExecStart=/bin/true\n",
    "badheader.service": b"[Unit]\nDescription=x\n[Service\nExecStart=/bin/true\n",
    "empty.service": b"",
    "relative.service": SERVICE + b"ExecStart=sleep 5\n",
    "atonly.service": SERVICE + b"ExecStart=@/bin/true\n",
    "slashes.service": SERVICE + b"ExecStart=//bin///echo ./x\n",
    "eof-backslash.service": SERVICE + b"ExecStart=/bin/echo end \\",
    "bom.service": b"\xef\xbb\xbf[Unit]\nDescription=bom\n[Service]\nExecStart=/bin/true\n",
    "spaces.service": SERVICE + b"  ExecStart   =   /bin/echo   spaced   \n",
    "lowercase.service": SERVICE + b"execstart=/bin/true\n",
    "twoexec.service": SERVICE + b"ExecStart=/bin/true\nExecStart=/bin/false\n",
    "dirpath.service": SERVICE + b"ExecStart=/bin/\n",
    "quoted-path.service": SERVICE + b"ExecStart=\"/bin/echo\" \"quoted path\"\n",
    "oneshot-restart.service": SERVICE + b"Type=oneshot\nExecStart=/bin/true\nRestart=always\n",
    # issue #12 kind 1: systemd's relaxed user name rules accept this (with a notice); revops reads the
    # same and flags it, never writes it into an image
    "user-injected.service": SERVICE + b"ExecStart=/bin/true\nUser=revflow;touch${IFS}pwned|sh;$(id)\n",
    "user-numeric.service": SERVICE + b"ExecStart=/bin/true\nUser=1000\n",
    "user-leading-zero.service": SERVICE + b"ExecStart=/bin/true\nUser=0123\n",
    "user-colon.service": SERVICE + b"ExecStart=/bin/true\nUser=a:b\n",
    "user-dash-number.service": SERVICE + b"ExecStart=/bin/true\nUser=-5\n",
    # issue #14 case 6: WorkingDirectory= as systemd records it (resolved only at start)
    "wd-home.service": SERVICE + b"ExecStart=/bin/true\nUser=nobody\nWorkingDirectory=~\n",
    "wd-home-optional.service": SERVICE + b"ExecStart=/bin/true\nWorkingDirectory=-~\n",
    "wd-missing-ok.service": SERVICE + b"ExecStart=/bin/true\nWorkingDirectory=-/nonexistent/revops\n",
    "wd-specifier.service": SERVICE + b"ExecStart=/bin/true\nWorkingDirectory=%h/work\n",
    "wd-relative.service": SERVICE + b"ExecStart=/bin/true\nWorkingDirectory=relative/dir\n",
    "wd-reset.service": SERVICE + b"ExecStart=/bin/true\nWorkingDirectory=~\nWorkingDirectory=\n",
    "dynamic-user.service": SERVICE + b"ExecStart=/bin/true\nDynamicUser=yes\nWorkingDirectory=/tmp\n",
    "dropped.service": SERVICE + b"ExecStart=/bin/echo original\nEnvironmentFile=/etc/base.env\n",
    "dropped.service.d/10-exec.conf": b"[Service]\nExecStart=\nExecStart=/bin/echo from-dropin %n\n",
    "dropped.service.d/20-env.conf": b"[Service]\nEnvironmentFile=-/etc/extra.env\n",
    "dropped.service.d/05-empty.conf": b"",
    "dropped.service.d/30-user.conf": b"[Service]\nUser=daemon\n",
    "dropped.service.d/README": b"[Service]\nUser=root\n",
    "tpl@.service.d/50-tpl.conf": b"[Service]\nEnvironmentFile=/etc/tpl-common.env\n",
    "tpl@special.service.d/60-inst.conf": b"[Service]\nUser=daemon\n",
    "dash-.service.d/10-prefix.conf": b"[Service]\nEnvironmentFile=/etc/prefix.env\n",
    "dash-name-.service.d/10-prefix.conf": b"[Service]\nEnvironmentFile=/etc/prefix-more-specific.env\n",
}

# Unit names to compare; templates by instance (escaped instance names included).
QUERIES = [name for name in CASES if "/" not in name and "@" not in name] + [
    "tpl@plain.service", "tpl@special.service", "tpl@a-b\\x2dc.service", "tpl@-leading.service",
]
