"""Shared by the unit tests (tests/) and the nbval run of the notebooks (notebooks/).

Kernels started by nbval inherit this environment: every notebook run writes its checkpoints
and samples to a fresh temporary folder, so an earlier run's checkpoint is never resumed.
"""

import os
import tempfile

os.environ["GAN_OUT_ROOT"] = tempfile.mkdtemp(prefix="gan-course-outputs-")


def _image_chapters() -> list[str]:
    """Chapters that train on an image dataset (notebook metadata ``gan_course.dataset``).

    nbval would run them with IMAGE_FOLDER = None, where CI has no data, so it leaves them out;
    tests/test_ch03_dcgan.py (and its like) run them on the stand-in folder and compare their
    checked outputs with the stored ones, as nbval does.
    """
    import glob
    import json

    here = os.path.dirname(os.path.abspath(__file__))
    return [os.path.relpath(path, here) for path in sorted(glob.glob(os.path.join(here, "notebooks", "[0-9][0-9]_*.ipynb")))
            if json.load(open(path)).get("metadata", {}).get("gan_course", {}).get("dataset")]


collect_ignore = _image_chapters()
