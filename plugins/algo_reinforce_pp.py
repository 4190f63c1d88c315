"""The ``reinforce_pp`` algorithm: REINFORCE++ (no critic, batch-normalized advantages) on TRL.

The paper trains with verl's ``adv_estimator=reinforce_plus_plus`` and
``use_kl_in_reward=False`` (KL as a loss term). With an outcome reward, no KL in the
reward and gamma = 1, every token of a response gets the response's score as its return,
and verl whitens those returns over all response tokens of the batch. We run TRL's
``GRPOTrainer`` (same PPO-clip loss, KL loss, entropy bonus) and replace its group-based
advantages with exactly that whitening: token-weighted batch mean and (unbiased)
variance, ``A = (r - mean) / sqrt(var + 1e-8)``, over the whole generation batch
gathered from every process. TRL's own ``scale_rewards="batch"`` (group mean, batch std)
is REINFORCE++-*baseline*, which ``grpo`` with that setting gives instead.
"""

from __future__ import annotations

from toolfeedback import hookimpl
from toolfeedback.plugins.policy_gradient import PolicyGradientAlgorithm


def whiten(rewards, weights):
    """verl's ``masked_whiten`` of per-sequence returns, each weighted by its token count.

    ``rewards`` and ``weights`` are 1-D tensors of one length; returns the advantages.
    """
    import torch

    weights = weights.to(rewards.dtype)
    total = weights.sum()
    mean = (rewards * weights).sum() / total
    var = ((rewards - mean) ** 2 * weights).sum() / total
    if total > 1:  # unbiased, as verl's masked_var(unbiased=True)
        var = var * total / (total - 1)
    return (rewards - mean) * torch.rsqrt(var + 1e-8)


def _trainer_class():
    import torch
    from trl import GRPOTrainer

    class ReinforcePPTrainer(GRPOTrainer):
        """GRPOTrainer whose advantages are REINFORCE++'s batch whitening of the rewards."""

        #: ``{"rewards", "lengths", "advantages"}`` of the last generation batches (at most 8).
        rpp_log: list

        def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
            rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
            self._rpp_rewards = rewards_per_func  # gathered over processes, in process order
            return rewards_per_func

        def _generate_and_score_completions(self, inputs):
            output = super()._generate_and_score_completions(inputs)
            weights = self.reward_weights.to(self._rpp_rewards.device).unsqueeze(0)
            rewards = torch.nan_to_num((self._rpp_rewards * weights).nansum(dim=1))
            lengths = self.accelerator.gather(output["completion_mask"].sum(dim=1).float())
            advantages = whiten(rewards, lengths.to(rewards.device))
            local = output["advantages"].shape[0]
            start = self.accelerator.process_index * local
            output["advantages"] = advantages[start:start + local].to(output["advantages"].device)
            if not hasattr(self, "rpp_log"):
                self.rpp_log = []
            self.rpp_log.append({"rewards": rewards.tolist(), "lengths": lengths.tolist(),
                                 "advantages": advantages.tolist()})
            del self.rpp_log[:-8]  # the last few batches, for inspection; bounded memory
            return output

    return ReinforcePPTrainer


class ReinforcePPAlgorithm(PolicyGradientAlgorithm):
    """REINFORCE++: rollouts scored by the verifiable reward, advantages whitened over the batch."""

    name = "reinforce_pp"
    scale_rewards = "batch"  # only used for TRL's own logging; advantages are replaced

    def trainer_class(self):
        return _trainer_class()


@hookimpl
def register_algorithms(register):
    register(ReinforcePPAlgorithm())
