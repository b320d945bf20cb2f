"""Shared by the unit tests (tests/) and the nbval run of the notebooks (notebooks/).

Kernels started by nbval inherit this environment: every notebook run writes its checkpoints
and samples to a fresh temporary folder, so an earlier run's checkpoint is never resumed.
"""

import os
import tempfile

os.environ["GAN_OUT_ROOT"] = tempfile.mkdtemp(prefix="gan-course-outputs-")
