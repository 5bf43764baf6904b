"""Figures for the notebooks and the CLI, one module per stage (data, augment, training, evaluation).

Every function takes data and returns a :class:`matplotlib.figure.Figure`; none calls ``plt.show()`` or
writes files, so notebooks display them and the CLI saves them.
"""
