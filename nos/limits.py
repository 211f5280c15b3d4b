"""Size limits every entry point checks before it allocates or loops, each with its reason.

A value past a limit is refused with one line naming the key and the limit (exit 2 from the
CLI), never a MemoryError, an integer overflow inside TensorFlow, or a process killed for memory.
"""

MAX_STEPS = 1_000_000
"""Training steps of one child run: the interpreter counts steps in int32, and a million steps
of the smallest task already take hours on a CPU."""

MAX_PARAMS = 1_000_000
"""Parameters of one lane of a task: a search holds K lanes (up to a few hundred) of parameters
and three optimizer slots in float32, so 10⁶ is about 4 GiB at K = 256."""

MAX_LANES = 1_000_000
"""Lanes (rule × learning rate × seed trainings) one evaluation or one search batch asks for:
they run in chunks, but their tables are allocated at once, and 10⁶ lanes of even the smallest
task take days on a CPU."""

MAX_BATCH_SIZE = 4096
"""Rules a controller proposes in one step (the paper's batches hold tens to hundreds): a step
is one store transaction. A step still in flight when `max_seconds` runs out is cut short (see
`nos.search.loop`)."""

LANES_PER_CHUNK = 256
"""Lanes of one compiled call by default: where a CPU's throughput levels off (`nos bench`)."""

MAX_CHUNK_LANES = 4096
"""Lanes of one compiled call (`lanes_per_chunk`, `nos bench --ks`): each lane holds its own
parameters and optimizer slots in memory at once."""

MAX_SEED = 2**31 - 1
"""Largest seed: seeds are int32 inside the interpreter's stateless random ops."""

MAX_SIZE = 1_000_000
"""Examples, features, units or batch rows a task's config may ask for."""

MAX_DATA_VALUES = 50_000_000
"""float32 values (200 MB) of a task's generated data set."""

MAX_CONFIG_BYTES = 1 << 20
"""Bytes read from a config file (1 MiB; the presets are under 2 kB)."""


def check_lanes(rules: int, learning_rates: int, seeds: int) -> None:
    """Raise a one-line ValueError when rules × learning rates × seeds exceeds `MAX_LANES`."""
    lanes = rules * learning_rates * seeds
    if lanes > MAX_LANES:
        raise ValueError(f"{rules} rules × {learning_rates} learning rates × {seeds} seeds = {lanes:,} lanes, "
                         f"above the limit of {MAX_LANES:,}")
