import os
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# One compilation cache for the whole run, shared by the xdist workers and the
# subprocesses tests start (and left for the next run), apart from the user's.
os.environ.setdefault(
    "HOPDYN_COMPILATION_CACHE", os.path.join(tempfile.gettempdir(), f"hopdyn-test-cache-{os.getuid()}")
)

import jax  # noqa: E402

# float64 cases need x64; float32 cases pass dtype explicitly and are checked to stay float32.
jax.config.update("jax_enable_x64", True)
