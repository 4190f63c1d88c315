"""Evaluation: the evaluator driver (:mod:`~toolfeedback.evaluate.driver`) and the analysis
of which layers and modules training changed (:mod:`~toolfeedback.evaluate.analysis`)."""
