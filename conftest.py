"""Settings every test tier shares."""

from hypothesis import HealthCheck, settings

# Property tests judge correctness, not speed: no per-example deadline, and no "too slow"
# health check on a loaded two-core CI machine.
settings.register_profile(
    "lending",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("lending")
