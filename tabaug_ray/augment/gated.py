"""Validation-gated MLDA (`mlda_gated`): the teacher's labels only where validation says they help.

Per dataset x fold x run x training size: if the teacher beats the student trained on real rows
only on the held-out real validation rows (never the test rows), MLDA runs at every eta of the
grid and the eta whose student has the lowest validation RMSE is kept; otherwise the student
trains on real rows only (no synthetic rows). What a practitioner would deploy, as one augmenter.

The student's validation RMSE is optimistic (its early stopping looked at those rows) while the
teacher never saw them, so the gate leans towards the real rows: on results/mlda_suite (2-minute
TPOT) the validation rows call the teacher better in 20 (MLP) / 36 (AutoGluon-NN) of 105 pairs, the
test rows in 33 / 46. The pipeline's `gate = "split"` (augmenter_params.mlda_gated) passes half
of the validation rows as `validation` and early-stops every student on the other half.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Sequence

import numpy as np

from tabaug_ray.augment.base import Augmenter
from tabaug_ray.augment.mlda import MLDAAugmenter
from tabaug_ray.errors import TabaugError
from tabaug_ray.learners._common import as_matrix, as_target


def _rmse(y: np.ndarray, pred: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(pred)) ** 2)))


class GatedMLDAAugmenter(Augmenter):
    """MLDA gated by the teacher's validation RMSE against the real-rows student's, eta picked on validation.

    `fit` decides: `use_teacher_` (teacher's validation RMSE < `student_val_rmse`), and when it
    does, trains one student per eta through `fit_student` on the MLDA rows of that eta and keeps
    the eta with the lowest validation RMSE (`eta_`, `candidates_`, and the winner's fitted student
    in `student_`, so the pipeline need not refit it). `augment(n, seed)` returns the winner's rows
    (the same rows `mlda` draws at that eta and seed) or no rows.

    Args:
        teacher: a fitted regressor with `predict`.
        etas: the eta grid to pick from.
        validation: real held-out rows `(X_val, y_val)` (the students' early-stopping rows).
        student_val_rmse: validation RMSE of the student trained on real rows only.
        fit_student: `fit_student(X_syn, y_syn) -> (fitted student, validation RMSE)`.
        n_synthetic: rows per candidate (the unit's volume).
        seed: seed of the candidates' rows (use the unit's seed: then candidate eta equals `mlda` at eta).
        categorical_mode: MLDA's categorical handling.
    """

    def __init__(self, *, teacher: Any, etas: Sequence[float], validation: tuple[object, object],
                 student_val_rmse: float, fit_student: Callable[[np.ndarray, np.ndarray], tuple[Any, float]],
                 n_synthetic: int, seed: int, categorical_mode: Literal["resample", "keep"] = "resample") -> None:
        self.teacher = teacher
        self.etas = tuple(etas)
        self.validation = validation
        self.student_val_rmse = student_val_rmse
        self.fit_student = fit_student
        self.n_synthetic = n_synthetic
        self.seed = seed
        self.categorical_mode = categorical_mode

    def _candidate(self, eta: float) -> MLDAAugmenter:
        return MLDAAugmenter(teacher=self.teacher, eta=eta, categorical_mode=self.categorical_mode).fit(
            self.X_, self.y_, categorical=self.categorical_)

    def _fit(self) -> None:
        if not self.etas:
            raise TabaugError("mlda_gated needs at least one eta")
        if not np.isfinite(self.student_val_rmse):
            raise TabaugError(f"student_val_rmse must be finite, got {self.student_val_rmse=}")
        x_val = as_matrix(self.validation[0], "validation X")
        y_val = as_target(self.validation[1], x_val.shape[0], "validation y")
        self.teacher_val_rmse_ = _rmse(y_val, self.teacher.predict(x_val))
        self.use_teacher_ = self.teacher_val_rmse_ < self.student_val_rmse
        self.eta_, self.student_, self.candidates_ = None, None, {}
        if not self.use_teacher_:
            return
        best = np.inf
        for eta in self.etas:
            x_new, y_new = self._candidate(eta).augment(self.n_synthetic, seed=self.seed)
            student, val_rmse = self.fit_student(x_new, y_new)
            self.candidates_[eta] = float(val_rmse)
            if val_rmse < best:
                best, self.eta_, self.student_ = val_rmse, eta, student

    def _augment(self, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
        if not self.use_teacher_:
            return self._empty()
        return self._candidate(self.eta_).augment(n, seed=seed)
