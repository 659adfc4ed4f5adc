"""Classification: assets placed on taxonomy concepts by mapping rules (over their own data
and over the records linked to them) or by people, each with its provenance and a history of
why it came, changed or went.

* :func:`classify_run` classifies what a sync run changed (called as the run settles);
* :func:`reclassify` re-classifies what a rule or concept change may affect (the
  ``classification.reclassify`` job, queued by :mod:`syncbridge.classification.triggers`);
* ``/v1/assets/{id}/classifications`` adds, lists and removes manual classifications.
"""

from syncbridge.classification.service import ClassifyReport, classify_run, reclassify

__all__ = ["ClassifyReport", "classify_run", "reclassify"]
