"""The estate's resource types, as declared in manifests.

Each resource is a document with ``kind``, ``name``, optional ``labels`` and a ``spec``. The
spec classes here validate one resource on its own (types, ranges, unknown keys); checks that
span resources (references, residency of replicas, catalog names) live in
:mod:`keel.estate.references`.

Invariants:
    * Unknown keys are errors (``extra="forbid"``); NaN and infinity are rejected.
    * Numbers carry their unit in their name (``size_gb``, ``usd_per_hour``, ``latency_ms``).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    model_validator,
)

MAX_REGO_CHARS = 262_144
"""Longest custom policy text (Rego module or Cedar policies), in characters."""

NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,61}[a-z0-9])?$")
"""Resource names: lowercase letters, digits, ``.``, ``_`` and ``-``; at most 63 characters."""

Classification = Literal["public", "internal", "confidential", "restricted"]
CLASSIFICATION_ORDER: tuple[Classification, ...] = (
    "public",
    "internal",
    "confidential",
    "restricted",
)
"""Classifications from least to most sensitive."""

SiteKind = Literal["on_prem", "private_cloud", "public_cloud", "edge"]
WorkloadKind = Literal["training", "fine_tuning", "batch_inference", "online_inference", "agent"]
RiskTier = Literal["minimal", "limited", "high", "prohibited"]
LifecycleState = Literal["draft", "validated", "approved", "deployed", "retired"]
ObjectivePreset = Literal["cost", "carbon", "latency", "balanced"]
Autonomy = Literal["suggest", "act_with_approval", "autonomous"]
ClusterType = Literal["local", "ray", "slurm", "kubernetes"]

JOB_KINDS: frozenset[str] = frozenset({"training", "fine_tuning", "batch_inference"})
SERVICE_KINDS: frozenset[str] = frozenset({"online_inference", "agent"})


def _check_name(value: str) -> str:
    if not NAME_PATTERN.match(value):
        raise ValueError(
            f"{value!r} is not a valid name: use 1-63 lowercase letters, digits, '.', '_' or '-',"
            " starting and ending with a letter or digit"
        )
    return value


def _check_country(value: str) -> str:
    if not re.fullmatch(r"[A-Z]{2}", value):
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code such as 'DE'")
    return value


Name = Annotated[str, AfterValidator(_check_name)]
CountryCode = Annotated[str, AfterValidator(_check_country)]
Tag = Annotated[str, Field(min_length=1, max_length=63, pattern=r"^[a-z0-9][a-z0-9._-]*$")]


class Spec(BaseModel):
    """Base of every spec: strict types, unknown keys rejected, finite numbers only."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        allow_inf_nan=False,
        frozen=True,
        str_max_length=4096,
    )


class Location(Spec):
    """A point on Earth in decimal degrees (WGS 84)."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)


class PoolSpec(Spec):
    """Accelerators of one type at a site.

    ``memory_gb`` and ``power_w`` default to the catalog's figures for the accelerator; at a
    public-cloud site ``usd_per_hour`` defaults to the catalog's reference price. Owned hardware
    (every other site kind) must state its amortised ``usd_per_hour``: it is never free.
    """

    name: Name
    accelerator: str = Field(min_length=1, max_length=63)
    count: int = Field(ge=1, le=1_000_000)
    memory_gb: float | None = Field(default=None, gt=0, le=10_000)
    usd_per_hour: float | None = Field(default=None, gt=0, le=10_000)
    power_w: float | None = Field(default=None, gt=0, le=100_000)


class SiteSpec(Spec):
    """Where AI work can run.

    A public-cloud site that names a catalog ``provider``/``region`` inherits its country,
    location, grid carbon intensity, grid zone, PUE and egress price; any value stated here
    wins. ``grid_zone`` names the grid whose hourly signals time shifting reads (as the data
    files name it: ``DE-LU``, ``US-CAL-CISO``); without one a site has its annual figure only.
    """

    kind: SiteKind
    provider: str | None = Field(default=None, min_length=1, max_length=63)
    region: str | None = Field(default=None, min_length=1, max_length=63)
    country: CountryCode | None = None
    location: Location | None = None
    max_classification: Classification = "internal"
    certifications: list[Tag] = Field(default_factory=list, max_length=64)
    confidential_computing: bool = False
    pue: float | None = Field(default=None, ge=1.0, le=3.0)
    carbon_intensity_gco2e_per_kwh: float | None = Field(default=None, ge=0, le=2000)
    grid_zone: str | None = Field(
        default=None, min_length=2, max_length=32, pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,8}){0,3}$"
    )
    egress_usd_per_gb: float | None = Field(default=None, ge=0, le=100)
    available: bool = True
    pools: list[PoolSpec] = Field(default_factory=list, max_length=256)


class DatasetSpec(Spec):
    """Data that workloads read, held at one or more sites (``replicas``).

    ``residency`` lists jurisdictions (ISO country codes, ``EU`` or ``EEA``) the data may not
    leave; ``collected_in`` is the country it was collected in, which some regulations (PIPL,
    GDPR) key on.
    """

    classification: Classification
    size_gb: float = Field(ge=0, le=1e9)
    replicas: list[Name] = Field(min_length=1, max_length=256)
    residency: list[str] = Field(default_factory=list, max_length=64)
    collected_in: CountryCode | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=64)
    owner: str | None = Field(default=None, max_length=253)


class ModelVersionSpec(Spec):
    """One version of a model.

    ``memory_gb`` is the serving memory; when absent it is estimated as 2 bytes per parameter
    (bf16 weights). Training memory is estimated at 18 bytes per parameter (weights, gradients
    and Adam states in mixed precision) unless ``training_memory_gb`` says otherwise.

    Applying a version registers it in the model registry. ``state`` is the state it is
    registered in; from then on the registry owns the lifecycle (``keel model ...``) and a later
    ``state`` in the manifest changes nothing. A version of a ``high`` risk model registered as
    ``approved`` or ``deployed`` must name its two approvers in ``approved_by`` (approvals made
    before Keel), and the access policy must let each of them approve it.
    """

    version: str = Field(min_length=1, max_length=63, pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
    parameters_billion: float = Field(gt=0, le=100_000)
    memory_gb: float | None = Field(default=None, gt=0, le=1_000_000)
    training_memory_gb: float | None = Field(default=None, gt=0, le=10_000_000)
    state: LifecycleState = "draft"
    trained_on: list[Name] = Field(default_factory=list, max_length=1024)
    artifact_digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")
    framework: str | None = Field(default=None, max_length=63)
    registered_by: str | None = Field(default=None, min_length=1, max_length=253)
    approved_by: list[Name] = Field(default_factory=list, max_length=16)
    hyperparameters: dict[str, JsonValue] = Field(default_factory=dict, max_length=256)
    metrics: dict[str, float] = Field(default_factory=dict, max_length=256)


class ModelSpec(Spec):
    """A model with its EU AI Act risk tier, governance facts and versions."""

    risk_tier: RiskTier
    purpose: str = Field(min_length=1, max_length=1024)
    owner: str | None = Field(default=None, max_length=253)
    oversight_contact: str | None = Field(default=None, max_length=253)
    risk_assessment: Literal["none", "pending", "approved"] = "none"
    logging_enabled: bool = False
    versions: list[ModelVersionSpec] = Field(min_length=1, max_length=1024)


class ComputeSpec(Spec):
    """What a workload asks for.

    ``count`` is devices per replica; a training or fine-tuning job needs all of them in one pool
    (a gang). ``hours`` is the run length of a job; services (online inference, agents) run
    continuously and are costed per month.
    """

    accelerators: list[str] = Field(min_length=1, max_length=32)
    count: int = Field(default=1, ge=1, le=100_000)
    hours: float | None = Field(default=None, gt=0, le=100_000)
    replicas: int = Field(default=1, ge=1, le=10_000)
    utilisation: float = Field(default=0.8, gt=0, le=1)


class WindowSpec(Spec):
    """When a job may run: not before ``earliest_start``, finished by ``deadline``.

    ``interruptible``: the job checkpoints, so a plan over a horizon may run it in several
    chunks of whole hours (in one pool) instead of at one stretch.
    """

    model_config = ConfigDict(strict=False)

    earliest_start: AwareDatetime
    deadline: AwareDatetime
    interruptible: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> WindowSpec:
        if self.deadline <= self.earliest_start:
            raise ValueError("deadline must be after earliest_start")
        return self


ENV_NAME = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
"""Environment variable names (POSIX portable characters)."""


class RunSpec(Spec):
    """What a workload runs once placed: its command, environment and expected duration.

    The site, pool and device count come from the plan. ``command`` is an argument vector (no
    shell unless you name one). ``image`` is required where the engine runs containers
    (Kubernetes); ``runtime_env`` is passed to Ray as is (``pip``, ``working_dir``...). Jobs
    (training, fine-tuning, batch inference) run to completion and are retried up to
    ``max_retries`` times with exponential backoff; services (online inference, agents) run
    until the plan moves or drops them, one run per replica. ``expected_minutes`` becomes a
    time limit of twice that on engines that enforce one (Slurm's ``--time``). A ``working_dir``
    starting with ``./`` is relative to the manifest's folder (for engines sharing this file
    system); any other path goes to the engine as written.
    """

    command: list[Annotated[str, Field(min_length=1, max_length=4096)]] = Field(
        min_length=1, max_length=256
    )
    image: str | None = Field(
        default=None, min_length=1, max_length=512, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$"
    )
    env: dict[Annotated[str, Field(pattern=ENV_NAME)], str] = Field(
        default_factory=dict, max_length=256
    )
    working_dir: str | None = Field(default=None, min_length=1, max_length=1024)
    runtime_env: dict[str, JsonValue] = Field(default_factory=dict, max_length=64)
    expected_minutes: float | None = Field(default=None, gt=0, le=1_000_000)
    max_retries: int = Field(default=2, ge=0, le=100)


class WorkloadSpec(Spec):
    """AI work to place: a job (training, fine-tuning, batch inference) or a service."""

    kind: WorkloadKind
    model: str = Field(min_length=1, max_length=128)
    inputs: list[Name] = Field(default_factory=list, max_length=1024)
    compute: ComputeSpec
    latency_slo_ms: float | None = Field(default=None, gt=0, le=600_000)
    service_time_ms: float = Field(default=0, ge=0, le=600_000)
    serves: list[Name] = Field(default_factory=list, max_length=256)
    min_sites: int = Field(default=1, ge=1, le=256)
    window: WindowSpec | None = None
    objective: ObjectivePreset | None = None
    agent: Name | None = None
    run: RunSpec | None = None
    decision_retention_days: float | None = Field(default=None, ge=1, le=36_500)
    """Days the decisions this workload records keep their content (the workspace's
    ``decision_retention_days`` when unset); never under 183 for a high-risk model."""

    @model_validator(mode="after")
    def _profile(self) -> WorkloadSpec:
        if self.kind in JOB_KINDS and self.compute.hours is None:
            raise ValueError(f"a {self.kind} job needs compute.hours (its run length)")
        if self.kind == "online_inference":
            if self.latency_slo_ms is None:
                raise ValueError("online_inference needs latency_slo_ms")
            if not self.serves:
                raise ValueError("online_inference needs serves: the user regions it serves")
        if self.latency_slo_ms is not None and not self.serves:
            raise ValueError("latency_slo_ms needs serves: the user regions it is measured from")
        if self.kind == "agent" and self.agent is None:
            raise ValueError("an agent workload needs agent: the Agent resource it runs")
        if self.kind != "agent" and self.agent is not None:
            raise ValueError("agent is only for workloads of kind agent")
        if self.min_sites > self.compute.replicas:
            raise ValueError(
                f"min_sites ({self.min_sites}) exceeds compute.replicas ({self.compute.replicas})"
            )
        return self


class AgentSpec(Spec):
    """An AI agent under governance: its model, the data and tools it may use, its owner."""

    model: str = Field(min_length=1, max_length=128)
    owner: str = Field(min_length=1, max_length=253)
    datasets: list[Name] = Field(default_factory=list, max_length=1024)
    tools: list[Tag] = Field(default_factory=list, max_length=256)
    autonomy: Autonomy = "suggest"
    max_classification: Classification = "internal"
    purpose: str | None = Field(default=None, min_length=1, max_length=1024)


class UserRegionSpec(Spec):
    """Where the users of online services are, for latency."""

    country: CountryCode
    location: Location
    users: int | None = Field(default=None, ge=0)


class LinkSpec(Spec):
    """A measured network path between two sites, or a site and a user region.

    ``latency_ms`` is the round-trip time. Where no link is declared, Keel estimates the RTT
    from the great-circle distance (:mod:`keel.estate.geo`).
    """

    between: list[Name] = Field(min_length=2, max_length=2)
    latency_ms: float = Field(gt=0, le=10_000)
    bandwidth_gbps: float | None = Field(default=None, gt=0, le=100_000)

    @model_validator(mode="after")
    def _distinct(self) -> LinkSpec:
        if self.between[0] == self.between[1]:
            raise ValueError("a link needs two different endpoints")
        return self


class PrincipalSpec(Spec):
    """Someone or something that acts on Keel: a person or a service account, with roles.

    The baseline access policy knows the roles ``viewer``, ``operator``, ``approver`` and
    ``admin``; custom Cedar policies may use others. Agents are principals too: each ``Agent``
    resource is one, under its own name.
    """

    type: Literal["user", "service_account"]
    roles: list[Tag] = Field(min_length=1, max_length=64)


class AccessPolicySpec(Spec):
    """A custom Cedar access policy text (at most 256 KiB); give each policy an ``@id``."""

    model_config = ConfigDict(str_max_length=MAX_REGO_CHARS)

    name: Name
    cedar: str = Field(min_length=1)


DriftMethod = Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "hellinger"]


class ColumnTestSpec(Spec):
    """A per-column override of the drift test or its threshold."""

    method: DriftMethod | None = None
    threshold: float | None = Field(default=None, gt=0, le=1000)


class DriftCheckSpec(Spec):
    """Data drift against the reference: Evidently's defaults unless overridden per column."""

    share: float = Field(default=0.5, gt=0, le=1)
    columns: dict[str, ColumnTestSpec] = Field(default_factory=dict, max_length=10_000)


class PerformanceCheckSpec(Spec):
    """Model quality on labelled rows.

    Lower bounds (``min``) on accuracy, F1 and ROC AUC for classification; upper bounds
    (``max``) on MAE and RMSE for regression.
    """

    task: Literal["classification", "regression"]
    label: str = Field(min_length=1, max_length=253)
    prediction: str = Field(min_length=1, max_length=253)
    min: dict[Literal["accuracy", "f1", "roc_auc"], float] = Field(default_factory=dict)
    max: dict[Literal["mae", "rmse"], float] = Field(default_factory=dict)


class LatencyCheckSpec(Spec):
    """Serving: a latency percentile against the workload's SLO, and an error-rate bound."""

    column: str = Field(min_length=1, max_length=253)
    percentile: Literal["p50", "p95", "p99"] = "p99"
    error_column: str | None = Field(default=None, min_length=1, max_length=253)
    max_error_rate: float | None = Field(default=None, ge=0, le=1)
    timestamp_column: str | None = Field(default=None, min_length=1, max_length=253)


class AlertRouteSpec(Spec):
    """Where alerts go: ``log`` (the workspace's alert log) or a ``webhook`` (JSON POST)."""

    type: Literal["log", "webhook"]
    url: str | None = Field(default=None, pattern=r"^https?://", max_length=2048)

    @model_validator(mode="after")
    def _url(self) -> AlertRouteSpec:
        if (self.type == "webhook") != (self.url is not None):
            raise ValueError("a webhook route needs url; a log route takes none")
        return self


CONDITION_PATTERN = r"^(drift|schema|errors|reference|performance|latency|window)(:[a-z0-9_]+)?$"
"""A condition key (``performance:roc_auc``) or a family of them (``performance``)."""


class MonitorActionSpec(Spec):
    """What a monitor does when one of the conditions in ``when`` starts firing.

    ``do``: ``rollback`` (serve the model's previous approved version), ``replan`` (re-plan
    every workload against the committed plan), ``pause`` (dispatch no new runs of the
    workload) or ``notify`` (POST the alert to ``url``, or write it to the alert log).

    ``approval``: ``before`` (the action waits for an approver), ``after`` (it takes effect at
    once, and an approver confirms or reverts it within ``grace_minutes``) or ``none``. Left
    out, a ``rollback`` or ``pause`` of a high-risk model's workload waits for an approver
    (``before``) and anything else needs none; ``none`` is refused for those two on a
    high-risk model.
    """

    do: Literal["rollback", "replan", "pause", "notify"]
    when: list[Annotated[str, Field(pattern=CONDITION_PATTERN, max_length=128)]] = Field(
        min_length=1, max_length=16
    )
    approval: Literal["before", "after", "none"] | None = None
    grace_minutes: int = Field(default=60, ge=1, le=10_080)
    url: str | None = Field(default=None, pattern=r"^https?://", max_length=2048)

    @model_validator(mode="after")
    def _url_for_notify(self) -> MonitorActionSpec:
        if self.url is not None and self.do != "notify":
            raise ValueError("url is for notify actions only")
        return self

    def matches(self, condition: str) -> bool:
        """Whether a condition key is one this action is declared for (in ``when``)."""
        return any(condition == w or condition.startswith(w + ":") for w in self.when)


class MonitorSpec(Spec):
    """Checks on a deployed workload's data and behaviour, with alert routes and actions.

    ``reference`` and ``current`` are data files (Parquet, CSV, Arrow) or, for ``reference``,
    a saved sketch (``.sketch.json``); relative paths are relative to the manifest.
    """

    workload: Name
    reference: str = Field(min_length=1, max_length=4096)
    current: str = Field(min_length=1, max_length=4096)
    drift: DriftCheckSpec | None = Field(default_factory=DriftCheckSpec)
    performance: PerformanceCheckSpec | None = None
    latency: LatencyCheckSpec | None = None
    every_minutes: int = Field(default=60, ge=1, le=525_600)
    alerts: list[AlertRouteSpec] = Field(
        default_factory=lambda: [AlertRouteSpec(type="log")], max_length=16
    )
    actions: list[MonitorActionSpec] = Field(default_factory=list, max_length=16)


class AcceleratorSpec(Spec):
    """Adds an accelerator to the catalog, or overrides a catalog entry of the same name."""

    vendor: str = Field(min_length=1, max_length=63)
    memory_gb: float = Field(gt=0, le=10_000)
    power_w: float = Field(gt=0, le=100_000)


class PackSpec(Spec):
    """A regulation pack shipped with Keel, enabled with optional parameter overrides."""

    name: str = Field(min_length=1, max_length=63)
    parameters: dict[str, JsonValue] = Field(default_factory=dict, max_length=64)


class RegoModuleSpec(Spec):
    """A custom Rego v1 module (at most 256 KiB of source).

    Give the text in ``rego``, or a ``file`` relative to the manifest: Keel reads it at validate
    and apply time and stores its text in ``rego`` (the file name stays, for error locations),
    so the policy digest covers what runs.
    """

    model_config = ConfigDict(str_max_length=MAX_REGO_CHARS)

    name: Name
    rego: str | None = Field(default=None, min_length=1)
    file: str | None = Field(default=None, min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _one_source(self) -> RegoModuleSpec:
        if self.rego is None and self.file is None:
            raise ValueError("give the module's text in rego, or a path in file")
        return self


class PolicySetSpec(Spec):
    """Policies: compliance packs shipped with Keel, custom Rego modules, custom Cedar access.

    Every applied policy set is in force at once; their content digest is recorded with every
    decision they take part in.
    """

    packs: list[PackSpec] = Field(default_factory=list, max_length=64)
    modules: list[RegoModuleSpec] = Field(default_factory=list, max_length=256)
    access: list[AccessPolicySpec] = Field(default_factory=list, max_length=256)


class CredentialRef(Spec):
    """Where a cluster's credential is read at dispatch time: never the secret itself.

    ``env`` names an environment variable of the process that dispatches; ``file`` is a path
    on its machine (a kubeconfig, a token file). Keel reads it when it talks to the engine and
    records only the reference, never the value.
    """

    env: str | None = Field(default=None, pattern=ENV_NAME)
    file: str | None = Field(default=None, min_length=1, max_length=1024)

    @model_validator(mode="after")
    def _one(self) -> CredentialRef:
        if (self.env is None) == (self.file is None):
            raise ValueError("give exactly one of env (a variable name) or file (a path)")
        return self


class ClusterSiteSpec(Spec):
    """One site a cluster serves, and where on the engine its pools map.

    ``queue`` is the Slurm partition, the Kueue LocalQueue, or the Ray custom resource that
    pins work to the site's nodes (defaults: the site's name for Slurm, ``keel-<site>`` for
    Kueue, ``site:<site>`` for Ray). ``pools`` overrides it per pool (a partition or a
    ResourceFlavor per accelerator type).
    """

    site: Name
    queue: str | None = Field(
        default=None, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$"
    )
    pools: dict[Name, Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")]] = Field(
        default_factory=dict, max_length=256
    )


class ClusterSpec(Spec):
    """An execution engine that runs placed work for some sites.

    ``type`` is ``local`` (processes on the machine that dispatches: demos and tests),
    ``ray`` (Ray Jobs: ``address`` is the dashboard's URL), ``slurm`` (the ``sbatch`` family of
    the dispatching machine; ``address`` is the ``slurm.conf`` path when not the default) or
    ``kubernetes`` (Jobs and Deployments queued through Kueue; ``context`` is the kubeconfig
    context, ``namespace`` where they go). ``request_devices`` asks the engine for the placed
    accelerators (Slurm ``--gres=gpu:N``, a Kubernetes resource limit, Ray's
    ``entrypoint_num_gpus``); turn it off where the engine has none to give (a test cluster).
    Only admins apply clusters: an address and a credential reference decide where code and
    secrets go.
    """

    type: ClusterType
    address: str | None = Field(default=None, min_length=1, max_length=2048)
    context: str | None = Field(default=None, min_length=1, max_length=253)
    namespace: str = Field(
        default="default", min_length=1, max_length=63, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"
    )
    credentials: CredentialRef | None = None
    request_devices: bool = True
    sites: list[ClusterSiteSpec] = Field(min_length=1, max_length=256)

    @model_validator(mode="after")
    def _engine(self) -> ClusterSpec:
        if self.type == "ray" and (
            self.address is None or not re.match(r"^https?://", self.address)
        ):
            raise ValueError("a ray cluster needs address: its dashboard URL, http(s)://host:port")
        if self.type == "local" and (self.address or self.credentials or self.context):
            raise ValueError("a local cluster takes no address, context or credentials")
        if self.context is not None and self.type != "kubernetes":
            raise ValueError("context is only for kubernetes clusters")
        if self.type == "slurm" and self.credentials is not None:
            raise ValueError(
                "a slurm cluster takes no credentials: Slurm authenticates this machine with munge"
            )
        names = [s.site for s in self.sites]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"sites lists {', '.join(repeated)} more than once")
        return self


class TalentAnswers(Spec):
    """What the organisation declares about its AI talent (the report's enabling capability)."""

    trained_share_pct: float = Field(ge=0, le=100)
    roadmap: Literal["none", "hire_only", "build_only", "build_and_hire"]
    infrastructure_engineers: int = Field(ge=0, le=1_000_000)


class CentreOfExcellenceAnswers(Spec):
    """Whether an AI centre of excellence exists and how it works (an accelerating capability)."""

    exists: bool
    cross_functional: bool = False
    shares_practices: bool = False


class PartnershipAnswers(Spec):
    """How AI partners are chosen and managed (a foundational capability)."""

    model: Literal["vendor_pool", "transactional", "integrated", "strategic"]
    judged_on_execution: bool


class QuestionnaireSpec(Spec):
    """What Keel cannot see in the estate, declared by a person.

    Talent, a centre of excellence and partnerships: readiness marks their scores as declared
    and never mixes them with measured ones (docs/readiness.md). The newest ``as_of`` counts;
    older ones stay as a record.
    """

    model_config = ConfigDict(strict=False)

    answered_by: str = Field(min_length=1, max_length=253)
    as_of: date
    talent: TalentAnswers
    centre_of_excellence: CentreOfExcellenceAnswers
    partnerships: PartnershipAnswers


SPEC_TYPES: dict[str, type[Spec]] = {
    "Accelerator": AcceleratorSpec,
    "Site": SiteSpec,
    "UserRegion": UserRegionSpec,
    "Link": LinkSpec,
    "Dataset": DatasetSpec,
    "Model": ModelSpec,
    "Agent": AgentSpec,
    "Workload": WorkloadSpec,
    "PolicySet": PolicySetSpec,
    "Principal": PrincipalSpec,
    "Monitor": MonitorSpec,
    "Cluster": ClusterSpec,
    "Questionnaire": QuestionnaireSpec,
}
"""Every resource kind and its spec class, in dependency order (referenced kinds first)."""

KINDS: tuple[str, ...] = tuple(SPEC_TYPES)


class Resource(BaseModel):
    """One declared resource: the envelope around a spec."""

    model_config = ConfigDict(frozen=True)

    kind: str
    name: str
    labels: dict[str, str] = Field(default_factory=dict)
    spec: Spec

    @property
    def ref(self) -> str:
        """``Kind/name``, the way errors and diffs name a resource."""
        return f"{self.kind}/{self.name}"


def kind_named(text: str) -> str | None:
    """The resource kind a user meant: ``site``, ``Sites`` and ``Site`` all mean ``Site``.

    Args:
        text: What the user typed.

    Returns:
        The canonical kind, or ``None`` when it names none.
    """
    lowered = text.lower()
    for kind in KINDS:
        if lowered in (kind.lower(), kind.lower() + "s"):
            return kind
    return None


def split_model_ref(ref: str) -> tuple[str, str | None]:
    """Split ``name@version`` into its parts.

    Args:
        ref: A model reference, with or without ``@version``.

    Returns:
        The model name and the version, or ``None`` when no version is given.
    """
    name, sep, version = ref.partition("@")
    return name, (version if sep else None)
