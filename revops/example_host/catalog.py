"""What the example RevFlow OS host is made of, as plain data.

Nothing here touches the disk: `generate.py` turns this catalogue into files. The numbers the
seeds give (149 unit files, 96+ healthy venvs, 159 corrupted venv directories) are properties
of this data, checked by tests/example_host.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MODULES_DIR = "/opt/revflow-os/modules"
SHARED_ENV = "/opt/shared-api-engine/.env"
SHARED_VENV = "/opt/revflow-os/shared-venv"
TOOLS_VENV = "/srv/revflow/tools/venv"
GATEWAY = "revcore-gateway.service"


@dataclass(frozen=True)
class Module:
    name: str  # "revprospect": the API unit's stem and the prefix of its workers
    number: int  # 0 for the phase-1 core services, 1-18 for the suites' modules
    suite: str
    port: int
    title: str  # what the module does, for Description=
    extras: tuple[str, ...] = ()  # extra worker roles beside worker and scheduler
    has_nightly: bool = True


@dataclass(frozen=True)
class Service:
    """One `.service` file of the host, described by what it is rather than by its text."""

    name: str  # unit file name
    role: str  # api, worker, job, template, deprecated, failing, duplicate, leftover, masked, command
    description: str
    suite: str | None = None
    module: Module | None = None
    port: int | None = None
    code_dir: str | None = None  # host path of its own source directory (WorkingDirectory)
    venv: str | None = None  # host path of the venv its ExecStart runs from
    script: str | None = None  # file in code_dir run by the venv's python (workers, jobs)
    args: tuple[str, ...] = ()
    timer: str | None = None  # OnCalendar= of the .timer that triggers this oneshot
    features: frozenset[str] = field(default_factory=frozenset)  # unit-file quirks, see unitfiles.py

    @property
    def stem(self) -> str:
        return self.name[: -len(".service")]


SUITES = ("core", "lead-gen", "buyer-intent", "digital-landlord", "tech-efficiency")

CORE = (
    Module("revcore-gateway", 0, "core", 8004, "API gateway: routing, auth, rate limits, tracing", ("ratelimit-sync",), False),
    Module("revpublish", 0, "core", 8550, "content publishing", ("worker", "scheduler"), False),
    Module("revaudit-v6", 0, "core", 8560, "anti-hallucination audit v6", ("worker",), True),
    Module("revscore-iq", 0, "core", 8570, "scoring", ("worker", "recalc"), True),
)

SUITE_MODULES = (
    Module("revprospect", 1, "lead-gen", 8601, "prospect discovery", ("crawler",)),
    Module("revenrich", 2, "lead-gen", 8602, "firmographic enrichment", ("sync",)),
    Module("revverify", 3, "lead-gen", 8603, "email verification", ("smtp-probe",)),
    Module("revcompete", 4, "lead-gen", 8604, "competitor page analysis", ("embedder",)),
    Module("revcite", 5, "lead-gen", 8605, "citation context search", ("embedder",)),
    Module("revsequence", 6, "lead-gen", 8606, "outreach sequences", ("mailer",)),
    Module("revscrape", 7, "lead-gen", 8607, "web scraping", ("fetcher",)),
    Module("revlist", 8, "lead-gen", 8608, "list building", ()),
    Module("revdedupe", 9, "lead-gen", 8609, "lead de-duplication", ()),
    Module("revroute", 10, "lead-gen", 8610, "lead routing", ("webhook",)),
    Module("revintent", 11, "buyer-intent", 8611, "buyer intent signals", ("ingest",)),
    Module("revsurge", 12, "buyer-intent", 8612, "intent surge detection", ()),
    Module("revtopic", 13, "buyer-intent", 8613, "topic tracking", ("ingest",)),
    Module("revlandlord", 14, "digital-landlord", 8614, "rank-and-rent properties", ("rank-check",)),
    Module("revtenant", 15, "digital-landlord", 8615, "tenant pages and billing", ("embedder",)),
    Module("revspeed", 16, "tech-efficiency", 8616, "page speed audits", ("lighthouse",)),
    Module("revstack", 17, "tech-efficiency", 8617, "tech stack detection", ()),
    Module("revcrawl", 18, "tech-efficiency", 8618, "site crawling", ("fetcher", "parser")),
)

MODULES = CORE + SUITE_MODULES
SUITE_TITLES = {"core": "Core", "lead-gen": "Lead Gen", "buyer-intent": "Buyer Intent",
                "digital-landlord": "Digital Landlord", "tech-efficiency": "Tech Efficiency"}

# Secrets written into a unit itself (a drop-in here), as hosts often have them: a password
# inside a URL and a token. FAKE values; revops keeps them out of everything it writes, and the
# service needs them (its /health says which one is missing).
UNIT_SECRETS = {
    "RELAY_URL": "https://publisher:fake-relay-pw-5d1e@relay.revflow.example/v1",
    "RELAY_TOKEN": "fake-relay-token-9c41b7e2",
}

# Quirks spread over the units so that a parser meets every feature a real host has.
DROPINS = {
    "revpublish.service": ("10-override.conf", "[Service]\nEnvironment=PUBLISH_BATCH=50\nMemoryMax=768M\n"
                           "# the relay's credentials, pasted here during the 2023 outage\n"
                           + "".join(f'Environment="{k}={v}"\n' for k, v in UNIT_SECRETS.items())),
    "revscore-iq.service": ("10-override.conf", "[Service]\n# raised after the Q3 scoring backlog\nEnvironment=\"SCORE_WORKERS=4\"\n"),
    "revcore-gateway.service": ("20-limits.conf", "[Service]\nLimitNOFILE=65536\nCPUQuota=150%\n"),
    "revprospect.service": ("10-override.conf", "[Service]\nRestartSec=15\nMemoryMax=384M\n"),
    "revcrawl-fetcher.service": ("10-override.conf", "[Service]\nEnvironment=CRAWL_CONCURRENCY=8\n"),
    "revflow-worker@.service": ("10-override.conf", "[Service]\nEnvironment=QUEUE_PREFETCH=4\n"),
}

TEMPLATE = "revflow-worker@.service"
TEMPLATE_INSTANCES = ("1", "2", "3")
MASKED = "revflow-legacy-crawler.service"
DEPRECATED = "revaudit.service"
FAILING = "revflow-revwins.service"


def _module_services(m: Module) -> list[Service]:
    title = SUITE_TITLES[m.suite]
    label = f"module {m.number:02d}, {title}" if m.number else "phase 1, Core"
    services = [Service(
        f"{m.name}.service", "api", f"RevFlow {m.name} API ({label}): {m.title}", m.suite, m,
        m.port, f"{MODULES_DIR}/{m.name}", f"{MODULES_DIR}/{m.name}/venv",
        features=_api_features(m),
    )]
    roles = m.extras if m.number == 0 else ("worker", "scheduler") + m.extras
    for role in roles:
        stem = f"{m.name}-{role}"
        script = "scheduler.py" if role in ("scheduler", "recalc") else "worker.py"
        services.append(Service(
            f"{stem}.service", "worker", f"RevFlow {m.name} {role} ({label})", m.suite, m, None,
            f"{MODULES_DIR}/{stem}", f"{MODULES_DIR}/{stem}/venv", script, ("--queue", stem),
            features=_worker_features(m, role),
        ))
    if m.has_nightly:
        stem = f"{m.name}-nightly"
        services.append(Service(
            f"{stem}.service", "job", f"RevFlow {m.name} nightly report ({label})", m.suite, m, None,
            f"{MODULES_DIR}/{stem}", f"{MODULES_DIR}/{stem}/venv", "job.py", ("--report", "nightly"),
            timer=f"*-*-* 0{2 + m.number % 4}:{(m.number * 7) % 60:02d}:00",
        ))
    return services


def _api_features(m: Module) -> frozenset[str]:
    f = {"requires-gateway"} if m.name != "revcore-gateway" else {"exec-start-pre"}
    if m.suite in ("core", "tech-efficiency"):
        f |= {"memory-max", "cpu-quota"}
    if m.name == "revscore-iq":
        f.add("line-continuation")
    if m.number % 3 == 1:
        f.add("quoted-environment")
    if m.number % 4 == 2:
        f.add("semicolon-comment")
    return frozenset(f)


def _worker_features(m: Module, role: str) -> frozenset[str]:
    f = {"optional-env-file"} if (m.number + len(role)) % 2 else set()
    if role in ("embedder", "crawler", "fetcher"):
        f.add("memory-max")
    return frozenset(f)


# Platform jobs triggered by timers: (stem, OnCalendar, what it does, script args).
PLATFORM_JOBS = (
    ("revflow-backup", "*-*-* 01:30:00", "nightly database and config backup"),
    ("revflow-venv-heal", "*:0/15", "auto-healing: rebuild venvs that fail to import"),
    ("revflow-logrotate", "daily", "rotate module logs"),
    ("revflow-cache-warm", "*:0/30", "warm the Redis response cache"),
    ("revflow-dataforseo-refresh", "*-*-* 04:00:00", "refresh DataForSEO keyword data"),
    ("revflow-db-vacuum", "Sun *-*-* 03:00:00", "vacuum and analyze PostgreSQL"),
    ("revflow-metrics-rollup", "hourly", "roll up Prometheus business metrics"),
    ("revflow-chroma-gc", "*-*-* 05:15:00", "drop ChromaDB vectors past 180 days"),
    ("revflow-cert-check", "weekly", "warn about expiring TLS certificates"),
    ("revflow-sitemap-ping", "*-*-* 06:00:00", "ping search engines with fresh sitemaps"),
)

# Units left behind by earlier deployments: (stem, description, venv or None for a plain command).
LEFTOVERS = (
    ("revflow-healthcheck", "old cron-style health poller", TOOLS_VENV),
    ("revflow-dashboard", "pre-Grafana status dashboard", TOOLS_VENV),
    ("revflow-prometheus-exporter", "custom metrics exporter", TOOLS_VENV),
    ("revflow-alert-relay", "AlertManager to Slack relay", TOOLS_VENV),
    ("revflow-supertokens-sync", "SuperTokens user sync", SHARED_VENV),
    ("revflow-redis-warmup", "Redis warm-up after reboot", SHARED_VENV),
    ("revflow-webhook-relay", "inbound webhook relay", SHARED_VENV),
    ("revflow-slack-notifier", "deploy notifications", TOOLS_VENV),
    ("revflow-report-mailer", "weekly client report mailer", SHARED_VENV),
    ("revflow-gsc-import", "Google Search Console import", SHARED_VENV),
    ("revflow-ga4-import", "GA4 import", SHARED_VENV),
    ("revflow-dataforseo-proxy", "DataForSEO request proxy", TOOLS_VENV),
    ("revflow-pdf-render", "PDF report renderer", TOOLS_VENV),
    ("revflow-image-resize", "image resize queue", SHARED_VENV),
    ("revflow-trinity-calc", "Trinity score calculator (pre-v6)", "/opt/revflow-os/modules/revtrinity/venv"),
    ("revflow-kscore-legacy", "K-score legacy batch", "/opt/revflow-os/modules/revkscore/venv"),
    ("revflow-json-store", "legacy JSON file store API", "/srv/revflow/json-store/venv"),
    ("revflow-queue-monitor", "queue depth monitor", TOOLS_VENV),
    ("revflow-tmp-clean", "clean /tmp/revflow", None),
    ("revflow-log-shipper", "ship logs to the old ELK box", None),
    ("revflow-staging-api", "staging copy of the gateway, never removed", "/srv/revflow/staging/venv"),
    ("revflow-chatbot", "site chatbot experiment", "/opt/revflow-os/experiments/chatbot/venv"),
    ("revflow-keyword-cluster", "keyword clustering batch", SHARED_VENV),
    ("revflow-backlink-watch", "backlink watcher", TOOLS_VENV),
)

# Copies of real units under other names, still enabled: (stem, original module, venv it runs from, port).
DUPLICATES = (
    ("revpublish-v2", "revpublish", f"{MODULES_DIR}/revpublish/venv.old.1", 8551),
    ("revflow-gateway", "revcore-gateway", f"{MODULES_DIR}/revcore-gateway/venv.bak", 8005),
    ("revscore-iq-old", "revscore-iq", f"{MODULES_DIR}/revscore-iq/venv.old.2", 8571),
    ("revaudit-v6-test", "revaudit-v6", f"{MODULES_DIR}/revaudit-v6/venv", 8561),
    ("revflow-prospect", "revprospect", f"{MODULES_DIR}/revprospect/venv", 8621),
    ("revflow-enrich", "revenrich", f"{MODULES_DIR}/revenrich/venv.bak", 8622),
    ("revintent2", "revintent", f"{MODULES_DIR}/revintent/venv", 8631),
    ("revflow-speed", "revspeed", f"{MODULES_DIR}/revspeed/venv.old.1", 8636),
    ("revflow-landlord", "revlandlord", f"{MODULES_DIR}/revlandlord/venv", 8634),
    ("revflow-crawl-fetcher", "revcrawl", f"{MODULES_DIR}/revcrawl-fetcher/venv", None),
)


def _platform_services() -> list[Service]:
    services = []
    for stem, calendar, what in PLATFORM_JOBS:
        services.append(Service(f"{stem}.service", "job", f"RevFlow {what}", code_dir=f"/opt/revflow-os/jobs/{stem}",
                                venv=SHARED_VENV, script="job.py", args=("--task", stem), timer=calendar))
    for stem, what, venv in LEFTOVERS:
        role = "leftover" if venv else "command"
        features = {"garbage-line"} if stem == "revflow-dashboard" else set()
        if stem == "revflow-queue-monitor":
            features.add("optional-env-file")
        services.append(Service(f"{stem}.service", role, f"RevFlow {what}", code_dir=f"/opt/revflow-os/legacy/{stem}",
                                venv=venv, script="worker.py", args=("--queue", stem), features=frozenset(features)))
    by_name = {m.name: m for m in MODULES}
    for stem, original, venv, port in DUPLICATES:
        m = by_name[original]
        code = f"{MODULES_DIR}/{original}" if port else f"{MODULES_DIR}/{original}-fetcher"
        services.append(Service(f"{stem}.service", "duplicate", f"RevFlow {original} (copy: {stem})", None, m, port,
                                code, venv, None if port else "worker.py", ("--queue", stem)))
    return services


def _special_services() -> list[Service]:
    return [
        Service(TEMPLATE, "template", "RevFlow generic queue worker %i", code_dir="/opt/revflow-os/workers",
                venv=SHARED_VENV, script="worker.py", args=("--queue", "generic-%i"),
                features=frozenset({"after-db-migrate"})),
        Service(DEPRECATED, "deprecated", "RevFlow revaudit v5 (DEPRECATED: use revaudit-v6)",
                code_dir=f"{MODULES_DIR}/revaudit", venv=f"{MODULES_DIR}/revaudit/venv", script="audit_v5.py",
                args=("--schema", "v5")),
        Service(FAILING, "failing", "RevFlow RevWins deal-win tracker", code_dir=f"{MODULES_DIR}/revflow-revwins",
                venv=f"{MODULES_DIR}/revflow-revwins/venv", script="worker.py", args=("--queue", "revwins")),
        Service("revflow-revwins-digest.service", "job", "RevFlow RevWins weekly digest",
                code_dir=f"{MODULES_DIR}/revflow-revwins-digest", venv=f"{MODULES_DIR}/revflow-revwins-digest/venv",
                script="job.py", args=("--report", "weekly"), timer="Mon *-*-* 07:00:00"),
        Service("revflow-db-migrate.service", "job", "RevFlow database migrations (run once per deploy)",
                code_dir="/opt/revflow-os/jobs/revflow-db-migrate", venv=SHARED_VENV, script="job.py",
                args=("--task", "migrate"), features=frozenset({"two-exec-start"})),
        Service(MASKED, "masked", "RevFlow legacy crawler (masked)"),
    ]


def services() -> list[Service]:
    """Every `.service` file of the host, sorted by name."""
    result = [s for m in MODULES for s in _module_services(m)]
    result += _platform_services() + _special_services()
    return sorted(result, key=lambda s: s.name)


def required_environment(s: Service) -> tuple[str, ...]:
    """What a service's app refuses /health without: values of the shared env file, and a
    unit's own secrets (revpublish's relay credentials)."""
    shared = ("DATABASE_URL", "JWT_SECRET")
    own = tuple(UNIT_SECRETS) if s.name == "revpublish.service" else ()
    return shared + own


def suite_patterns() -> dict[str, list[str]]:
    """The unit names or patterns of each suite, as revops.yaml lists them."""
    patterns: dict[str, list[str]] = {s: [] for s in SUITES}
    for m in CORE:
        patterns["core"] += sorted(s.name for s in _module_services(m))
    for m in SUITE_MODULES:
        patterns[m.suite] += [f"{m.name}.service", f"{m.name}-*.service"]
    return patterns
