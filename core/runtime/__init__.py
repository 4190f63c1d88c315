"""The environment runtime, below every stage: tools run in the sandbox
(:mod:`~toolfeedback.runtime.sandbox`), answers are matched by the FTRL rule
(:mod:`~toolfeedback.runtime.matching`), and :mod:`~toolfeedback.runtime.step` holds the one
step function every caller (score, rollout, training rewards, benchmarks) goes through."""
