"""Learners of the teacher-labelled augmentation benchmark.

Teachers (TPOT, AutoGluon, a fast LightGBM / ExtraTrees model) label synthetic rows; students
(a torch MLP, AutoGluon's NN) train on real + synthetic rows and early-stop on real rows only.
Heavy libraries are imported inside `fit`, so importing this package is cheap.
"""

from tabaug_ray.learners.metrics import regression_metrics
from tabaug_ray.learners.students import STUDENTS, AutoGluonNNStudent, MLPStudent, make_student, split_real
from tabaug_ray.learners.teachers import TEACHERS, AutoGluonTeacher, FastTeacher, TPOTTeacher, make_teacher

__all__ = [
    "STUDENTS", "TEACHERS", "AutoGluonNNStudent", "AutoGluonTeacher", "FastTeacher", "MLPStudent", "TPOTTeacher",
    "make_student", "make_teacher", "regression_metrics", "split_real",
]
