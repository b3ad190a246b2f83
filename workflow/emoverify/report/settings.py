"""What the report stage reads besides its files, typed and checked once: the aggregate rule's params."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from emoverify.report import verdict


@dataclass(frozen=True)
class ReportSettings:
    """The report's configuration: the compared methods (``baselines``: method -> its baseline or None,
    ``run_methods``, ``references``; ``starts``: the reference each trained method starts from, see
    study.starting_point), the figures (``pca_methods``, empty for every method in table order;
    ``pca_max_identities``), the evaluation (``exclude_same_session``), ``test_share`` (n_test / n_train of
    the folds, which corrects intervals and tests for overlapping training sets) and ``dataset``, the name
    the verdict's sentence gives the data. Build it from the aggregate rule's params with
    :meth:`from_params`; checked when built."""

    baselines: Mapping[str, str | None]
    run_methods: tuple[str, ...]
    references: tuple[str, ...]
    starts: Mapping[str, str] = field(default_factory=dict)
    pca_methods: tuple[str, ...] = ()
    pca_max_identities: int | None = None
    exclude_same_session: bool = True
    test_share: float = 0.0
    dataset: str = "this study"
    order: tuple[str, ...] = field(init=False, repr=False)  # references, then the run methods

    # the aggregate rule's params: the settings' own names, but the dataset as the config's adapter and root
    PARAMS = (
        "baselines",
        "run_methods",
        "references",
        "starts",
        "pca_methods",
        "pca_max_identities",
        "exclude_same_session",
        "dataset",
        "data_root",
    )

    @classmethod
    def from_params(cls, params: Mapping[str, Any], test_share: float) -> ReportSettings:
        """The settings of the aggregate rule's params (the config's values, see workflow/rules/report.smk) and
        the folds' test share; an unknown or missing key is named."""
        unknown = sorted(set(params) - set(cls.PARAMS))
        if unknown:
            raise ValueError(f"report settings do not know {', '.join(unknown)}; known: {', '.join(cls.PARAMS)}")
        missing = [name for name in cls.PARAMS if name not in params]
        if missing:
            raise ValueError(f"report settings lack {', '.join(missing)}")
        values = {name: params[name] for name in cls.PARAMS if name not in ("dataset", "data_root")}
        dataset = verdict.dataset_name(params["dataset"], params["data_root"])
        return cls(**values, test_share=test_share, dataset=dataset)

    def __post_init__(self):
        if not isinstance(self.baselines, Mapping):
            raise ValueError(f"report baselines must map each method to its baseline, got {self.baselines!r}")
        for name in ("run_methods", "references", "pca_methods"):
            value = getattr(self, name)
            if isinstance(value, str) or not all(isinstance(item, str) for item in value):
                raise ValueError(f"report {name} must be a list of method names, got {value!r}")
            object.__setattr__(self, name, tuple(value))
        object.__setattr__(self, "baselines", dict(self.baselines))
        if not isinstance(self.starts, Mapping) or not all(isinstance(v, str) for v in self.starts.values()):
            raise ValueError(f"report starts must map each method to the reference it starts from, got {self.starts!r}")
        object.__setattr__(self, "starts", dict(self.starts))
        object.__setattr__(self, "order", self.references + self.run_methods)
        value = self.pca_max_identities
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"report pca_max_identities must be a whole number >= 1 or null, got {value!r}")
        if not isinstance(self.exclude_same_session, bool):
            raise ValueError(f"report exclude_same_session must be true or false, got {self.exclude_same_session!r}")
        share = self.test_share
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not math.isfinite(share) or share < 0:
            raise ValueError(f"report test_share must be a finite number >= 0, got {share!r}")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise ValueError(f"report dataset must be a name, got {self.dataset!r}")
