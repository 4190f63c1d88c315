"""Environment construction: sources -> the five stages -> golden-replay verification ->
``environments.jsonl`` (:mod:`~toolfeedback.build.pipeline`)."""
