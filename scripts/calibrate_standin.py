"""Re-derive the stand-in's calibration table from the shipped Ljosa et al. (2013) profiles.

Usage: ``python scripts/calibrate_standin.py [OUT.csv]`` — without an argument it rewrites the shipped
``cellclr_lib/data/resources/standin_calibration.csv`` (tests/test_calibration.py checks the two agree).
"""

from __future__ import annotations

import sys

from cellclr_lib.data.calibration import shipped_calibration_path, write_calibration

if __name__ == "__main__":
    target = sys.argv[1] if len(sys.argv) > 1 else shipped_calibration_path()
    print(f"wrote {write_calibration(target)}")
