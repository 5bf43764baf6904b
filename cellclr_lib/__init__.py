"""cellclr: contrastive learning of single-cell phenotypes on BBBC021.

The package follows the data's path: ``data`` (metadata, download, synthetic stand-in, prep, crop store)
→ ``augment`` → ``models``/``losses`` → ``train`` → ``embed`` → ``profiles``/``normalize`` → ``evaluate``,
with ``baselines`` and ``plots`` beside.
"""

__version__ = "0.1.0"
