"""TF1 exporter: a `tf.compat.v1.train.Optimizer` subclass, as "Custom Optimizer in TensorFlow" teaches.

The learning rate becomes a tensor in ``_prepare`` (it may be a callable); the other
hyperparameters, validated Python numbers, become constants of each variable's dtype (exact in
float64). ``_create_slots`` makes the moving averages the rule reads (``_zeros_slot``) and, when
the rule reads t, a step counter shared by all variables (a non-slot variable, as TF1's Adam
keeps ``beta1_power``); ``_apply_dense`` and ``_resource_apply_dense`` update the slots and the
variable; ``_finish`` advances the step once every variable is updated. Sparse gradients fall
back to the dense update: the rule sees the whole gradient, zero on rows that were not looked up
(so moving averages decay there too, like TF1's non-lazy Adam).
"""

from __future__ import annotations

from nos.export.codegen import Namespace, rule_code
from nos.export.document import args_section, describe, docstring, module_lines
from nos.export.signature import signature, validation_lines

NAMESPACE = Namespace(
    "tf1",
    "tf",
    {"normal": "self._normal", "uniform": "self._uniform"},
    frozenset({"self", "tf", "dtype", "lr", "grad", "var", "handle", "var_update"}),
)
MODULE_NAMES = frozenset({"tf"})
_I, _II = " " * 4, " " * 8


def render(rule, class_name: str, origin: str) -> str:
    """The source of a module defining `class_name`, a TF1 optimizer for `rule`."""
    code = rule_code(rule, NAMESPACE)
    spec = signature(code)
    args = [
        "learning_rate: a float, a tensor, or a callable returning one. Defaults to `0.001`.",
        *(f"{h.name}: {h.doc}" for h in spec.hyperparameters),
        "use_locking: if True, use locks for the update operations. Defaults to `False`.",
        f"name: the name of the operations the optimizer creates. Defaults to `{class_name}`.",
    ]
    doc = describe(rule, code, spec, origin, "TensorFlow 1 (tf.compat.v1)", "learning_rate")
    doc += [
        "",
        "Sparse gradients are applied densely: the rule sees the whole gradient, zero on rows",
        "that were not looked up.",
    ]
    if spec.stochastic:
        doc += ["", "Random draws are TensorFlow random ops whose op seeds derive from `seed`."]
    doc += args_section(args)

    arguments = [
        "learning_rate=0.001",
        *(f"{h.name}={h.default}" for h in spec.hyperparameters),
        "use_locking=False",
        f'name="{class_name}"',
    ]
    init = [
        f"{_I}def __init__(",
        f"{_II}self,",
        *(f"{_II}{argument}," for argument in arguments),
        f"{_I}):",
        *validation_lines(spec, _II),
        f"{_II}super().__init__(use_locking, name)",
        f"{_II}self._lr = learning_rate",
        *(f"{_II}self._{h.name} = {h.name}" for h in spec.hyperparameters),
        f"{_II}# Tensor version of the learning rate, created in _prepare().",
        f"{_II}self._lr_t = None",
    ]
    if spec.stochastic:
        init.append(f"{_II}self._draws = 0")
    prepare = [
        f"{_I}def _prepare(self):",
        f'{_II}self._lr_t = tf.convert_to_tensor(self._call_if_callable(self._lr), name="learning_rate")',
    ]
    lines = [
        docstring(module_lines(rule, class_name, origin, "TensorFlow (tf.compat.v1)")),
        "",
        "import tensorflow as tf",
        "",
        "",
        f"class {class_name}(tf.compat.v1.train.Optimizer):",
        _I + docstring(doc, _I),
        "",
        *init,
        "",
        *prepare,
        "",
        *_create_slots(spec),
        *_apply_dense(code, spec),
        *_sparse_and_finish(spec),
        *_draws(code),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _create_slots(spec) -> list[str]:
    if not (spec.slots or spec.uses_step):
        return []
    lines = [f"{_I}def _create_slots(self, var_list):"]
    if spec.uses_step:
        lines += [
            f"{_II}# The step counter t lives beside the first variable, as TF1's Adam keeps beta1_power.",
            f"{_II}first_var = min(var_list, key=lambda x: x.name)",
            f"{_II}self._create_non_slot_variable(",
            f'{_II}    initial_value=tf.constant(0, dtype=tf.int64), name="step", colocate_with=first_var',
            f"{_II})",
        ]
    if spec.slots:
        lines.append(f"{_II}for var in var_list:")
        lines += [f'{_II}    self._zeros_slot(var, "{slot.name}", self._name)' for slot in spec.slots]
    lines.append("")
    if spec.uses_step:
        lines += [
            f"{_I}def _step(self):",
            f'{_II}"""The number of steps taken so far (t − 1 during a step)."""',
            f"{_II}with tf.init_scope():",
            f"{_II}    graph = None if tf.executing_eagerly() else tf.compat.v1.get_default_graph()",
            f'{_II}    return self._get_non_slot_variable("step", graph=graph)',
            "",
        ]
    return lines


def _apply_dense(code, spec) -> list[str]:
    summary = ("Update the moving averages, then " if spec.slots else "") + "var ← var − learning_rate·d."
    lines = [
        f"{_I}def _apply_dense(self, grad, var):",
        f'{_II}"""{summary}"""',
        f"{_II}dtype = var.dtype.base_dtype",
        f"{_II}lr = tf.cast(self._lr_t, dtype)",
        f"{_II}g = grad",
    ]
    if "w" in code.reads:
        lines.append(f"{_II}w = tf.identity(var)")
    if spec.uses_step:
        lines.append(f"{_II}t = tf.cast(self._step(), dtype) + 1.0")
    lines += [
        f"{_II}{h.name} = tf.constant(self._{h.name}, dtype)"
        for h in spec.hyperparameters
        if h.name != "seed"
    ]
    for slot in spec.slots:
        beta, name = slot.beta, slot.name
        lines += [
            f'{_II}{name} = self.get_slot(var, "{name}")',
            f"{_II}{name} = tf.compat.v1.assign(",
            f"{_II}    {name}, {beta} * {name} + (1.0 - {beta}) * {slot.statistic}, use_locking=self._use_locking",
            f"{_II})",
        ]
    group = ", ".join(["var_update", *(slot.name for slot in spec.slots)])
    lines += [
        "",
        *code.lines(_II),
        f"{_II}var_update = tf.compat.v1.assign_sub(var, lr * {code.result}, use_locking=self._use_locking)",
        f"{_II}return tf.group({group})",
        "",
        f"{_I}def _resource_apply_dense(self, grad, handle):",
        f"{_II}return self._apply_dense(grad, handle)",
        "",
    ]
    return lines


def _sparse_and_finish(spec) -> list[str]:
    lines = [
        f"{_I}def _apply_sparse(self, grad, var):",
        f'{_II}"""Dense fallback: the rule sees the whole gradient, zero off the looked-up rows."""',
        f"{_II}return self._apply_dense(tf.convert_to_tensor(grad), var)",
        "",
        f"{_I}def _resource_apply_sparse(self, grad, handle, indices):",
        f'{_II}"""Dense fallback, as `_apply_sparse`: the rows are summed into a zero gradient."""',
        f"{_II}rows = tf.shape(handle, out_type=indices.dtype)[0]",
        f"{_II}return self._resource_apply_dense(tf.math.unsorted_segment_sum(grad, indices, rows), handle)",
        "",
    ]
    if spec.uses_step:
        lines += [
            f"{_I}def _finish(self, update_ops, name_scope):",
            f"{_II}# Advance the step t once every variable has been updated.",
            f"{_II}with tf.control_dependencies(update_ops):",
            f"{_II}    step = self._step()",
            f"{_II}    with tf.compat.v1.colocate_with(step):",
            f"{_II}        step_update = step.assign_add(1, use_locking=self._use_locking)",
            f"{_II}return tf.group(*update_ops, step_update, name=name_scope)",
            "",
        ]
    return lines


def _draws(code) -> list[str]:
    lines = []
    for draw, law in (("normal", "Standard normal"), ("uniform", "Uniform [0, 1)")):
        if draw in code.reads:
            lines += [
                f"{_I}def _{draw}(self, like):",
                f'{_II}"""{law} draws shaped like `like`; op seeds derive from `seed`."""',
                f"{_II}return tf.random.{draw}(tf.shape(like), dtype=like.dtype, seed=self._next_seed())",
                "",
            ]
    if lines:
        lines += [
            f"{_I}def _next_seed(self):",
            f"{_II}if self._seed is None:",
            f"{_II}    return None",
            f"{_II}self._draws += 1",
            f"{_II}return self._seed + self._draws",
            "",
        ]
    return lines
