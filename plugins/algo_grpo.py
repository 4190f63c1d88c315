"""The ``grpo`` algorithm: TRL's ``GRPOTrainer`` with our verifiable step reward.

Advantages are group-normalized, as verl's ``adv_estimator=grpo`` with
``norm_adv_by_std_in_grpo=True``: ``(r - mean_group) / (std_group + 1e-4)``
(``scale_rewards="group"``). Everything else is in :mod:`toolfeedback.plugins.policy_gradient`.
"""

from __future__ import annotations

from toolfeedback import hookimpl
from toolfeedback.plugins.policy_gradient import PolicyGradientAlgorithm


class GrpoAlgorithm(PolicyGradientAlgorithm):
    """GRPO: ``num_generations`` rollouts per step prompt, group-normalized advantages."""

    name = "grpo"
    scale_rewards = "group"


@hookimpl
def register_algorithms(register):
    register(GrpoAlgorithm())
