"""Trackers for training libraries, each imported on its own and importing its library lazily.

* ``runstream.integrations.lightning``: ``RunstreamLogger`` for PyTorch Lightning's Trainer;
* ``runstream.integrations.transformers``: ``RunstreamCallback`` for Hugging Face's Trainer;
* ``runstream.integrations.optuna``: ``RunstreamCallback``, each trial a run of the study's
  sweep.

``import runstream`` imports none of them; installing the extra of the same name
(``pip install 'runstream[lightning]'``) brings the library.
"""
