"""Project tooling around the book, not part of the library: the papermill runner of the notebooks.

``cellclr run-notebooks`` (:mod:`cellclr_book.runner`) executes every notebook under a profile and checks the
recorded metrics against stored expectations. It lives outside :mod:`cellclr_lib` because it is about this
repository (its notebooks, its book, its expectations), not about single-cell images; the notebooks themselves
need only :mod:`cellclr_lib.results`.
"""
