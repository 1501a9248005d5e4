"""The whole example host as one in-memory tree (pure: same arguments, same tree)."""

from __future__ import annotations

from dataclasses import dataclass, field

from revops.example_host import catalog, hostconfig, requirements, sources, unitfiles, venvs
from revops.example_host.catalog import MODULES_DIR, SHARED_VENV, TOOLS_VENV, Service
from revops.example_host.tree import Tree

UNIT_DIR = "/etc/systemd/system"
QUICK_WIN_SET = "fastapi\nuvicorn\nsqlalchemy\npsycopg2-binary\npydantic\npydantic-settings\nrequests\nbeautifulsoup4\n"
# Venvs of units that are not used by their unit's own directory, and their state.
EXTRA_HEALTHY = (SHARED_VENV, TOOLS_VENV, "/srv/revflow/staging/venv", "/srv/revflow/json-store/venv")
NAMED_DAMAGE = {
    f"{MODULES_DIR}/revflow-revwins/venv": "interpreter-missing",  # why revflow-revwins fails
    f"{MODULES_DIR}/revtrinity/venv": "version-drift",
    f"{MODULES_DIR}/revkscore/venv": "home-missing",
    "/opt/revflow-os/experiments/chatbot/venv": "pyvenv-cfg-missing",
}
CORRUPTED_TOTAL = 159
STRAY_SUFFIXES = ("venv.bak", "venv.old.1", "venv.old.2", "venv-rebuild-20240312T0315")


@dataclass
class Plan:
    """What the tree holds, for the command's summary and the tests."""

    units: list[str] = field(default_factory=list)
    healthy_venvs: list[str] = field(default_factory=list)
    corrupted_venvs: dict[str, str] = field(default_factory=dict)  # path -> kind
    modules: list[str] = field(default_factory=list)
    real_venvs: dict[str, str] = field(default_factory=dict)  # live: venv path -> settled requirements


def build(layout: unitfiles.Layout) -> tuple[Tree, Plan]:
    tree, plan = Tree(), Plan()
    services = catalog.services()
    _add_units(tree, plan, services, layout)
    _add_code(tree, services, layout)
    _add_venvs(tree, plan, services, layout)
    tree.file("/opt/shared-api-engine/.env", sources.env_file(), 0o600)
    tree.file("/usr/bin/python3.11", sources.python_placeholder(), 0o755)
    tree.symlink("/usr/bin/python3", "python3.11")
    tree.file("/revops.yaml", hostconfig.revops_yaml(layout.prefix if layout.live else None))
    if layout.live:
        tree.file(unitfiles.LIGHTAPP, sources.lightapp_py())
    plan.modules = [m.name for m in catalog.MODULES]
    return tree, plan


def _add_units(tree: Tree, plan: Plan, services: list[Service], layout: unitfiles.Layout) -> None:
    wants = f"{UNIT_DIR}/{layout.wanted_by}.wants"
    for s in services:
        path = f"{UNIT_DIR}/{s.name}"
        plan.units.append(s.name)
        if s.role == "masked":
            tree.symlink(path, "/dev/null")
            continue
        tree.file(path, unitfiles.render(s, layout))
        if s.name in catalog.DROPINS:
            conf, text = catalog.DROPINS[s.name]
            tree.file(f"{path}.d/{conf}", text)
        if s.timer:
            tree.file(f"{UNIT_DIR}/{s.stem}.timer", unitfiles.timer(s))
            tree.symlink(f"{UNIT_DIR}/timers.target.wants/{s.stem}.timer", layout.at(f"{UNIT_DIR}/{s.stem}.timer"))
        elif s.role == "template":
            for i in catalog.TEMPLATE_INSTANCES:
                tree.symlink(f"{wants}/revflow-worker@{i}.service", layout.at(path))
        elif s.role != "job":
            tree.symlink(f"{wants}/{s.name}", layout.at(path))


def _add_code(tree: Tree, services: list[Service], layout: unitfiles.Layout) -> None:
    for s in services:
        if not s.code_dir or s.role == "duplicate":
            continue
        if s.role == "api":
            tree.file(f"{s.code_dir}/app.py", sources.app_py(s))
        elif s.role == "deprecated":
            tree.file(f"{s.code_dir}/{s.script}", sources.audit_v5_py())
        elif s.role == "job":
            tree.file(f"{s.code_dir}/{s.script}", sources.job_py(s))
        else:
            tree.file(f"{s.code_dir}/{s.script}", sources.loop_py(s))
        if s.role != "template":
            tree.file(f"{s.code_dir}/requirements.txt", requirements.requirements_text(s))


def own_venv(s: Service) -> bool:
    return bool(s.venv and s.code_dir and s.venv == f"{s.code_dir}/venv")


def _add_venvs(tree: Tree, plan: Plan, services: list[Service], layout: unitfiles.Layout) -> None:
    dists_of: dict[str, dict[str, str]] = {}
    for s in services:
        if own_venv(s) and s.role != "duplicate":
            dists_of[s.venv] = requirements.installed(requirements.requirements_text(s))
    quick = requirements.installed(QUICK_WIN_SET)
    for path in EXTRA_HEALTHY:
        dists_of[path] = quick
    by_venv = {s.venv: s for s in services if own_venv(s)}
    for path, dists in sorted(dists_of.items()):
        if path in NAMED_DAMAGE:
            continue
        s = by_venv.get(path)
        if layout.live and s is not None and s.suite == "core":
            overrides = requirements.OVERRIDES.get("core", {})
            plan.real_venvs[path] = requirements.settled(requirements.requirements_text(s), overrides)
            plan.healthy_venvs.append(path)
            continue
        scripts = ("uvicorn",) if s is not None and s.role == "api" else ()
        venvs.add_healthy(tree, path, dists, scripts)
        plan.healthy_venvs.append(path)
    for path, kind in _damage_plan(services).items():
        venvs.add_corrupted(tree, path, kind, dists_of.get(_origin(path)) or quick)
        plan.corrupted_venvs[path] = kind


def _origin(path: str) -> str:
    """The venv a stray copy was copied from."""
    parent, name = path.rsplit("/", 1)
    if parent == "/srv/revflow/venv-rebuild":
        return f"{MODULES_DIR}/{name.rsplit('-', 1)[0]}/venv"
    return f"{parent}/venv"


def _damage_plan(services: list[Service]) -> dict[str, str]:
    """Path -> kind for the 159 corrupted venv directories."""
    used = {s.venv for s in services if s.venv}
    origins = [s for s in services if own_venv(s) and s.role != "duplicate"]
    strays = [f"{s.code_dir}/{suffix}" for s in origins if s.role == "api" for suffix in STRAY_SUFFIXES]
    strays += [f"/srv/revflow/venv-rebuild/{s.stem}-2024{(i % 12) + 1:02d}{(i % 28) + 1:02d}"
               for i, s in enumerate(o for o in origins if o.role != "api")]
    plan = dict(NAMED_DAMAGE)
    runnable = 0
    for i, path in enumerate(strays[: CORRUPTED_TOTAL - len(plan)]):
        if path in used:  # a unit runs from it: keep its interpreter working
            plan[path] = venvs.RUNNABLE_KINDS[runnable % len(venvs.RUNNABLE_KINDS)]
            runnable += 1
        else:
            plan[path] = venvs.KINDS[i % len(venvs.KINDS)]
    return dict(sorted(plan.items()))
