import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402

# float64 cases need x64; float32 cases pass dtype explicitly and are checked to stay float32.
jax.config.update("jax_enable_x64", True)
