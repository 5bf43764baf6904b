"""Metrics of treatment profiles: NSC / NSCB (:mod:`.nsc`) and mean average precision (:mod:`.map`).

Both take profiles already in memory; reading tables is :mod:`cellclr_lib.tables`' job and the pipeline that
joins them is :mod:`cellclr_lib.evaluate`'s.
"""
