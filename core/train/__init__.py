"""Training: :class:`~toolfeedback.train.config.TrainConfig`, the job handed to algorithm
plugins (:mod:`~toolfeedback.train.job`), step samples as TRL data and rewards
(:mod:`~toolfeedback.train.data`), checkpoint saving (:mod:`~toolfeedback.train.save`) and
multi-process launches (:mod:`~toolfeedback.train.launch`)."""
