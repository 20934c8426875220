"""Experiment configs: TOML files validated by frozen pydantic models.

Errors name the file, the field and the problem on one line; every config has a stable hash.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tabaug_ray.errors import TabaugError
from tabaug_ray.evaluate.divergence import PRESETS  # the presets' one definition (imports numpy only)


class Section(BaseModel):
    """Base of every config section: frozen, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class ExperimentSection(Section):
    name: str = Field(min_length=1)
    kind: Literal["inductive_bias", "mlda"] = "inductive_bias"
    seed: int = 0
    folds: int = Field(5, ge=1, le=100)
    runs: int = Field(1, ge=1, le=1000)
    data_dir: str | None = None


class DatasetEntry(Section):
    """A dataset by registry name, or a local file with its target and task."""

    name: str = Field(min_length=1)
    path: str | None = None
    target: str | None = None
    task: Literal["regression", "binary", "multiclass"] | None = None
    categorical: tuple[str, ...] = ()
    schema_: dict[str, Literal["gaussian", "bernoulli", "categorical"]] = Field(default_factory=dict, alias="schema")
    latent_dim: int | None = Field(None, ge=1)  # VAE latent size for this dataset (reference: King 15, News 20)
    drop: tuple[str, ...] = ()  # columns to leave out (e.g. Adult's education-num, a copy of education)
    # numeric column -> increasing cut points: the column becomes the categorical interval index
    # ("<= t1", "(t1, t2]", ..., "> tk"), e.g. the reference code's binning of Adult's spiky columns
    cuts: dict[str, tuple[float, ...]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _cuts_increase(self) -> "DatasetEntry":
        for column, points in self.cuts.items():
            if not points or any(b <= a for a, b in zip(points, points[1:])):
                raise ValueError(f"cuts.{column}: needs strictly increasing cut points, got {list(points)}")
        return self

    @model_validator(mode="after")
    def _file_needs_target(self) -> "DatasetEntry":
        if self.path is not None and (self.target is None or self.task is None):
            raise ValueError("a dataset given by path needs 'target' and 'task'")
        return self


class ExecutionSection(Section):
    address: str | None = None  # None: local Ray; "auto" or "ray://host:port": a cluster
    max_cpus: int | None = Field(None, ge=1)
    cpus_per_unit: float = Field(1.0, gt=0)
    max_retries: int = Field(2, ge=0)
    seed_tasks: bool = False  # one Ray task per VAE seed (clusters with many cores)
    max_hosts: int | None = Field(None, ge=1)  # live producer-value hosts (None: 2 x cluster CPUs, >= 2)
    max_in_flight: int | None = Field(None, ge=1)  # tasks submitted at once (None: 2 x cluster CPUs + 2)


class VAESection(Section):
    """VAEBGM settings (names as its constructor's); defaults are the reference code's."""

    latent_dim: int = Field(10, ge=1)
    hidden_dim: int = Field(256, ge=1)
    n_seeds: int = Field(10, ge=1)
    lr: float = Field(1e-3, gt=0)
    batch_size: int = Field(256, ge=1)
    max_epochs: int = Field(10_000, ge=0)
    patience: int = Field(15, ge=1)
    min_delta: float = Field(2.0, ge=0)
    val_fraction: float = Field(0.2, gt=0, lt=1)
    restore_best: bool = True
    val_every_batch: bool = True
    dropout: float = Field(0.2, ge=0, lt=1)
    n_components: int | None = Field(None, ge=1)
    reg_covar: float = Field(1e-5, gt=0)
    n_init: int = Field(10, ge=1)
    max_iter: int = Field(5000, ge=1)


class CTGANSection(Section):
    """CTGANGenerator settings (the ctgan package; the paper used SDV's defaults with 1,000 epochs)."""

    epochs: int = Field(300, ge=0)
    batch_size: int = Field(500, ge=10)
    generator_dim: tuple[int, ...] = (256, 256)
    discriminator_dim: tuple[int, ...] = (256, 256)
    pac: int = Field(10, ge=1)
    embedding_dim: int = Field(128, ge=1)
    generator_lr: float = Field(2e-4, gt=0)
    discriminator_lr: float = Field(2e-4, gt=0)
    discriminator_steps: int = Field(1, ge=1)


class MAMLSection(Section):
    """MAML over the Low-data seeds' synthetic sets (reference settings; worth sweeping)."""

    alpha: float = Field(1e-3, gt=0)
    gamma: float = Field(1e-3, gt=0)
    inner_steps: int = Field(50, ge=1)
    n_support: int = Field(300, ge=2)
    n_query: int | None = Field(None, ge=2)
    first_order: bool = False
    max_meta_iters: int = Field(10_000, ge=1)
    patience: int = Field(10, ge=1)
    start: Literal["random", "avg", "best"] = "random"
    inner_max_norm: float | None = Field(None, gt=0)


class BiasSection(Section):
    """The inductive-bias techniques. `synthetic_fit` overrides VAEBGM arguments when an ensemble is
    trained on synthetic rows (Pre-train, DRS), e.g. `{ val_every_batch = false }`."""

    synthetic_fit: dict[str, Any] = Field(default_factory=dict)
    maml: MAMLSection = MAMLSection()


class JudgeSection(Section):
    """The divergence estimator's discriminator: a named judge (`tabaug_ray.evaluate.judges.JUDGES`:
    `default`, `reference` = the reference code's full-batch MLP, `fast` = the default before
    CODE_VERSION 0.3.0) with optional overrides. `judge = "reference"` is short for
    `judge = { name = "reference" }`."""

    name: Literal["default", "reference", "fast", "kl_objective"] = "default"
    lr: float | None = Field(None, gt=0)
    batch_size: int | None = Field(None, ge=2)
    max_epochs: int | None = Field(None, ge=1)
    patience_steps: int | None = Field(None, ge=1)
    dropout: float | None = Field(None, ge=0, lt=1)
    calibrate: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value

    def settings(self, code_version: str | None = None) -> dict[str, Any]:
        """The named judge's settings with this section's overrides applied (as `code_version` ran
        them, if given: `judges.CHANGES`)."""
        from tabaug_ray.evaluate.judges import judge_settings

        return judge_settings(self.name, self.model_dump(exclude={"name"}), code_version=code_version)


class EvaluationSection(Section):
    """How synthetic rows are judged. `discriminator_inputs`: categorical columns enter the divergence
    estimator's classifier one-hot (default) or as the model space's integer codes (the reference code);
    `judge`: how long its classifier trains; `privacy`: distance checks, membership inference and
    anonymeter's risks against the generator's training rows (`evaluate/privacy.py`)."""

    presets: tuple[Literal["reliable", "realistic"], ...] = ("realistic",)
    repeats: int = Field(5, ge=1)
    utility: bool = True
    max_test_rows: int = Field(5_000, ge=1)
    discriminator_inputs: Literal["one_hot", "codes"] = "one_hot"
    judge: JudgeSection = JudgeSection()
    privacy: bool = True

    @property
    def sizes(self) -> list[tuple[str, int, int]]:
        """(preset, M, L) for every preset asked for."""
        return [(p, *PRESETS[p]) for p in self.presets]


class InductiveBiasSection(Section):
    """`models`: generators by name (`tabaug_ray.generators`: vae_bgm, ctgan, tvae, gaussian_copula, arf,
    independent, bootstrap) or plugins ("package.module:ClassName", entry points of
    `tabaug_ray.generators`), checked when the config loads; `model_params`: keyword arguments per
    model (the VAE's and CTGAN's live in [vae] and [ctgan])."""

    models: tuple[str, ...] = Field(("vae_bgm",), min_length=1)
    model_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    scenarios: tuple[Literal["big_data", "low_data", "pretrain", "avg", "maml", "drs"], ...] = (
        "low_data", "big_data")
    n_low: int = Field(300, ge=2)
    n_big: int = Field(10_000, ge=2)
    n_synthetic: int = Field(10_000, ge=1)


AUGMENTER_NAMES = ("none", "noise", "mlda", "mlda_vae", "cmixup", "ada", "mlda_gated", "distill_spunge",
                   "distill_munge")


class MLDASection(Section):
    """Teacher-labelled augmentation for regression: the grid and its learners."""

    train_sizes: tuple[int, ...] = Field((500,), min_length=1)
    max_test_rows: int | None = Field(10_000, ge=1)
    etas: tuple[float, ...] = Field((0.05,), min_length=1)
    volumes: tuple[int | str, ...] = Field((2000,), min_length=1)
    # names: AUGMENTER_NAMES, "mlda_<generator>", the learners' registries, or plugins (`tabaug_ray.plugins`),
    # checked when the config loads
    augmenters: tuple[str, ...] = ("none", "noise", "mlda", "cmixup", "ada")
    students: tuple[str, ...] = ("mlp",)
    teachers: tuple[str, ...] = Field(("lightgbm",), min_length=1)
    teacher_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    student_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    augmenter_params: dict[str, dict[str, Any]] = Field(default_factory=dict)
    categorical_mode: Literal["resample", "keep"] = "resample"
    # "noise": binary (0/1) features get Gaussian noise like every numeric feature (the paper);
    # "discrete": the noise / MLDA samplers treat them like categoricals (`categorical_mode`)
    binary_features: Literal["noise", "discrete"] = "noise"
    val_fraction: float = Field(0.2, gt=0, lt=1)
    # reference points recorded once per dataset x fold x run x training size: LightGBM with its
    # default settings on the real rows (model "reference:lightgbm_default"); the teacher and the
    # student on real rows (`none`) are recorded anyway
    references: bool = True
    # training sizes a dataset has too few rows for are skipped (a warning) instead of refused:
    # one config for a training-size curve over datasets of different sizes
    skip_too_small: bool = False

    @field_validator("train_sizes", "etas")
    @classmethod
    def _positive(cls, value: tuple) -> tuple:
        if any(v <= 0 for v in value):
            raise ValueError(f"values must be > 0, got {list(value)}")
        return value


class ExperimentConfig(Section):
    experiment: ExperimentSection
    datasets: tuple[DatasetEntry, ...] = Field(min_length=1)
    execution: ExecutionSection = ExecutionSection()
    vae: VAESection = VAESection()
    evaluation: EvaluationSection = EvaluationSection()
    inductive_bias: InductiveBiasSection = InductiveBiasSection()
    ctgan: CTGANSection = CTGANSection()
    bias: BiasSection = BiasSection()
    mlda: MLDASection = MLDASection()

    @field_validator("datasets")
    @classmethod
    def _unique_names(cls, value: tuple[DatasetEntry, ...]) -> tuple[DatasetEntry, ...]:
        names = [d.name for d in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"dataset names must be unique; repeated: {dupes}")
        return value

    @model_validator(mode="after")
    def _maml_fits_its_tasks(self) -> "ExperimentConfig":
        # MAML splits each seed's n_synthetic rows into n_support support rows and the query rest:
        # caught here, not inside every MAML unit after the Low-data ensemble has trained
        ib, maml = self.inductive_bias, self.bias.maml
        if self.experiment.kind == "inductive_bias" and "maml" in ib.scenarios and maml.n_support >= ib.n_synthetic:
            raise ValueError(f"bias.maml.n_support = {maml.n_support} must be below inductive_bias.n_synthetic = "
                             f"{ib.n_synthetic} (MAML splits each synthetic set into support and query rows)")
        return self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def _hashable(self) -> dict[str, Any]:
        data = self.to_dict()
        data["experiment"].pop("data_dir", None)  # where the data lives is not what it is
        for section, option, default in LATER_OPTIONS:
            entries = data[section] if isinstance(data[section], list) else [data[section]]
            for entry in entries:
                if entry.get(option) == default:
                    entry.pop(option, None)
        if data["experiment"]["kind"] != "inductive_bias":  # only inductive-bias units judge privacy
            data["evaluation"].pop("privacy", None)
        return data

    @property
    def hash(self) -> str:
        """Stable 16-hex-digit hash of the validated config (defaults included)."""
        return stable_hash(self._hashable())

    @property
    def results_hash(self) -> str:
        """Hash of everything that can change results (all but the execution section)."""
        return self.section_hash(*(k for k in self.to_dict() if k != "execution"))

    def section_hash(self, *names: str) -> str:
        """Hash of only some sections: a unit's key depends on the slice of config it reads."""
        data = self._hashable()
        return stable_hash({n: data[n] for n in names})


# Options added after results were stored: at their default they hash like their absence, so stored
# results directories keep their config hash and unit keys.
LATER_OPTIONS: tuple[tuple[str, str, Any], ...] = (
    ("datasets", "cuts", {}),
    ("evaluation", "discriminator_inputs", "one_hot"),
    ("mlda", "binary_features", "noise"),
    # results stored before privacy existed have no privacy rows: `privacy = false` hashes like them,
    # the new default `true` gives new keys (its units write more rows)
    ("evaluation", "privacy", False),
    ("inductive_bias", "model_params", {}),
    ("mlda", "references", True),
    ("mlda", "skip_too_small", False),
)


def upgrade_stored(data: dict[str, Any]) -> dict[str, Any]:
    """A config stored in OUT/config.json, as this code reads it: what it ran with, not today's defaults.

    Configs stored before CODE_VERSION 0.3.0 dump the judge without a name (or predate the option):
    they ran the judge now called "fast".
    """
    data = json.loads(json.dumps(data))
    evaluation = data.setdefault("evaluation", {})
    evaluation.setdefault("privacy", False)  # stored before privacy metrics existed: none were computed
    judge = evaluation.get("judge")
    if judge is None:
        evaluation["judge"] = {"name": "fast"}
    elif isinstance(judge, dict) and "name" not in judge:
        evaluation["judge"] = {"name": "fast", **judge}
    return data


def stable_hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _format_error(path: Path, exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
    if not loc:  # a check across sections names its fields itself
        return f"{path}: {msg.removeprefix('Value error, ')}{more}"
    return f"{path}: field '{loc}': {msg}{more}"


def parse_config(data: dict[str, Any], *, source: str | Path = "<config>") -> ExperimentConfig:
    return validate(ExperimentConfig, data, source=source)


def read_toml(path: str | Path, *, what: str = "config") -> dict[str, Any]:
    """A TOML file as a dict; a missing file or bad TOML is a one-line TabaugError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise TabaugError(f"{path}: {what} file not found")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[: exc.start].count(b"\n") + 1
        raise TabaugError(f"{path}: not UTF-8 text (byte {exc.start} on line {line} is {exc.object[exc.start]:#04x}); "
                          "save the file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise TabaugError(f"{path}: malformed TOML ({exc})") from None


def validate(model: type[BaseModel], data: dict[str, Any], *, source: str | Path) -> Any:
    """`model` validated from `data`; the first problem becomes a one-line TabaugError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise TabaugError(_format_error(Path(source), exc)) from None


def load_config(path: str | Path) -> ExperimentConfig:
    """Read and validate a TOML experiment config, plugins included (imported and checked against
    their protocols, `tabaug_ray.plugins`); any problem is a one-line TabaugError."""
    from tabaug_ray.plugins import check_config

    config = parse_config(read_toml(path), source=path)
    check_config(config, source=path)
    return config

