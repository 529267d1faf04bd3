"""segbot's segmentation core: data -> features -> k -> KMeans -> named, versioned segments.

No Slack imports here; `model.service.SegmentService` is the entry point for adapters.
"""

import os

# Set before scikit-learn loads its OpenMP runtime: with the default spin-waiting,
# KMeans slows down ~50x whenever another thread or process wants the same cores
# (request threads, a second trainer), which is normal life for a bot on 2 cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
