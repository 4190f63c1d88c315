"""Trajectory collection: the batched, refilling agent loop
(:mod:`~toolfeedback.rollout.engine`), the ``rollout`` verb's API
(:mod:`~toolfeedback.rollout.collect`) and its resumable writers (:mod:`~toolfeedback.rollout.io`)."""
