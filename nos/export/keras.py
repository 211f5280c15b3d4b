"""Keras 3 exporter: a `keras.optimizers.Optimizer` subclass in the style of Keras' `lion.py`.

Arguments are validated in ``__init__``, state is created in ``build`` (only the moving averages
the rule reads), ``update_step`` uses `keras.ops` and ``self.assign*``, ``get_config`` carries
the hyperparameters, and the class is registered with
``keras.saving.register_keras_serializable(package="nos_export")`` so that a saved model loads
without ``custom_objects`` once the module is imported. Any Keras back end can run it.
"""

from __future__ import annotations

from nos.export.codegen import Namespace, rule_code
from nos.export.document import args_section, describe, docstring, module_lines
from nos.export.signature import signature, validation_lines

PACKAGE = "nos_export"
NAMESPACE = Namespace(
    "keras",
    "keras",
    {"normal": "self._normal", "uniform": "self._uniform"},
    frozenset(
        {"self", "keras", "ops", "dtype", "lr", "index", "indices", "variable", "gradient", "learning_rate"}
    ),
)
MODULE_NAMES = frozenset({"keras", "ops"})
_I, _II = " " * 4, " " * 8


def render(rule, class_name: str, origin: str) -> str:
    """The source of a module defining `class_name`, a Keras optimizer for `rule`."""
    code = rule_code(rule, NAMESPACE)
    spec = signature(code)
    args = [
        (
            "learning_rate: a float, a `keras.optimizers.schedules.LearningRateSchedule`, or a "
            "callable taking no arguments. Defaults to `0.001`."
        ),
        *(f"{h.name}: {h.doc}" for h in spec.hyperparameters),
        "name: the optimizer's name. Defaults to a name derived from the class name.",
        (
            "**kwargs: the other arguments of `keras.optimizers.Optimizer` (`weight_decay`, "
            "`clipnorm`, `clipvalue`, `global_clipnorm`, `use_ema`, ...)."
        ),
    ]
    doc = describe(rule, code, spec, origin, "Keras 3", "learning_rate")
    if spec.stochastic:
        doc += ["", "Random draws come from a `keras.random.SeedGenerator` seeded by `seed`."]
    doc += args_section(args)

    lines = [
        docstring(module_lines(rule, class_name, origin, "Keras 3")),
        "",
        "import keras",
        "from keras import ops",
        "",
        "",
        f'@keras.saving.register_keras_serializable(package="{PACKAGE}")',
        f"class {class_name}(keras.optimizers.Optimizer):",
        _I + docstring(doc, _I),
        "",
        *_init(spec),
        *_build(spec),
        *_update_step(code, spec),
        *_draws(code),
        *_get_config(spec),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _init(spec) -> list[str]:
    lines = [
        f"{_I}def __init__(",
        f"{_II}self,",
        f"{_II}learning_rate=0.001,",
        *(f"{_II}{h.name}={h.default}," for h in spec.hyperparameters),
        f"{_II}name=None,",
        f"{_II}**kwargs,",
        f"{_I}):",
        f"{_II}super().__init__(learning_rate=learning_rate, name=name, **kwargs)",
        *validation_lines(spec, _II),
        *(f"{_II}self.{h.name} = {h.name}" for h in spec.hyperparameters),
    ]
    if spec.stochastic:
        lines += [
            f'{_II}self._seed_generator = keras.random.SeedGenerator(seed, name="seed_generator")',
            f"{_II}self._track_variable(self._seed_generator.state)",
        ]
    return [*lines, ""]


def _build(spec) -> list[str]:
    if not spec.slots:
        return []
    names = ", ".join(slot.name for slot in spec.slots)
    lines = [
        f"{_I}def build(self, var_list):",
        f'{_II}"""Create the moving averages {names}, one per variable."""',
        f"{_II}if self.built:",
        f"{_II}    return",
        f"{_II}super().build(var_list)",
    ]
    lines += [
        f'{_II}self._{slot.name} = [self.add_variable_from_reference(v, "{slot.name}") for v in var_list]'
        for slot in spec.slots
    ]
    return [*lines, ""]


def _update_step(code, spec) -> list[str]:
    summary = (
        "Update the moving averages, then " if spec.slots else ""
    ) + "variable ← variable − learning_rate·d."
    lines = [
        f"{_I}def update_step(self, gradient, variable, learning_rate):",
        f'{_II}"""{summary}"""',
        f"{_II}dtype = variable.dtype",
        f"{_II}lr = ops.cast(learning_rate, dtype)",
        f'{_II}if type(gradient).__name__ == "IndexedSlices":',
        f"{_II}    # A sparse gradient (TensorFlow, e.g. from an Embedding) is applied densely.",
        f"{_II}    indices = ops.expand_dims(gradient.indices, -1)",
        f"{_II}    gradient = ops.scatter(indices, gradient.values, ops.shape(variable))",
        f"{_II}g = ops.cast(gradient, dtype)",
    ]
    if "w" in code.reads:
        lines.append(f"{_II}w = ops.convert_to_tensor(variable)")
    if spec.uses_step:
        lines.append(f"{_II}t = ops.cast(self.iterations + 1, dtype)")
    lines += [
        f"{_II}{h.name} = ops.convert_to_tensor(self.{h.name}, dtype=dtype)"
        for h in spec.hyperparameters
        if h.name != "seed"
    ]
    if spec.slots:
        lines.append(f"{_II}index = self._get_variable_index(variable)")
    for slot in spec.slots:
        beta, name = slot.beta, slot.name
        update = f"ops.add(ops.multiply({beta}, {name}), ops.multiply(1.0 - {beta}, {slot.statistic}))"
        lines += [f"{_II}{name} = self._{name}[index]", f"{_II}self.assign({name}, {update})"]
    lines += [
        "",
        *code.lines(_II),
        f"{_II}self.assign_sub(variable, ops.multiply(lr, {code.result}))",
        "",
    ]
    return lines


def _draws(code) -> list[str]:
    lines = []
    for draw, function, law in (
        ("normal", "normal", "Standard normal"),
        ("uniform", "uniform", "Uniform [0, 1)"),
    ):
        if draw in code.reads:
            lines += [
                f"{_I}def _{draw}(self, like):",
                f'{_II}"""{law} draws shaped like `like`, from the optimizer\'s seed generator."""',
                f"{_II}dtype = keras.backend.standardize_dtype(like.dtype)",
                f"{_II}return keras.random.{function}(ops.shape(like), dtype=dtype, seed=self._seed_generator)",
                "",
            ]
    return lines


def _get_config(spec) -> list[str]:
    if not spec.hyperparameters:
        return []
    entries = ", ".join(f'"{h.name}": self.{h.name}' for h in spec.hyperparameters)
    return [
        f"{_I}def get_config(self):",
        f"{_II}config = super().get_config()",
        f"{_II}config.update({{{entries}}})",
        f"{_II}return config",
    ]
