"""Test configuration: headless matplotlib, the ci profile, and stderr never compared by nbval."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("DEFECTFINDER_PROFILE", "ci")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
