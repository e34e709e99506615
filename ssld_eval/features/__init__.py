"""Frozen-backbone features: the probe's evaluation transform (:mod:`.transforms`), batched extraction
(:mod:`.extract`), the on-disk cache (:mod:`.cache`) and the per-split pipeline the tasks call
(:mod:`.pipeline`)."""
