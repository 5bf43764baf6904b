"""The keyword options a baseline's feature-set function passes on, resolved to the values that will run.

Each feature-set function (``vae_feature_set``, ``handcrafted_feature_set``, …) takes the options of the
function doing the work as ``**options`` instead of declaring them all again; this module fills in the
defaults so what ran can still be recorded in features.json. Standalone (no torch), so the hand-engineered
baseline's worker processes stay light.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any


def resolved_options(function: Callable[..., Any], given: dict[str, Any]) -> dict[str, Any]:
    """Every keyword-only option of ``function`` with the value it will run with: ``given``, else its default.

    A feature-set function takes the options of the function it calls (``train_vae``, ``encoder_features``, …)
    as ``**options`` — so they are declared, with their defaults, once, there — yet must record in
    features.json the value of each option that ran, defaults included. An option ``function`` does not take
    raises :class:`TypeError` here, as the call itself would.
    """
    defaults = {
        name: parameter.default
        for name, parameter in inspect.signature(function).parameters.items()
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY
    }
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise TypeError(f"{function.__name__}() got unexpected keyword arguments: {', '.join(unknown)}")
    return {**defaults, **given}
