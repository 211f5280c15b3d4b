"""PyTorch exporter: a `torch.optim.Optimizer` subclass with per-parameter state.

Hyperparameters are per parameter group (``defaults``); the state of each parameter holds the
moving averages the rule reads and, when it reads t, a float32 ``step`` tensor (as torch's
Adam keeps it). ``step(closure=None)`` runs under ``torch.no_grad()``. Random draws use a
``torch.Generator`` seeded by ``seed`` (on the CPU, moved to the parameter's device), or the
global generator when ``seed`` is None. Sparse gradients are refused, as torch's Adam does.
"""

from __future__ import annotations

from nos.export.codegen import Namespace, rule_code
from nos.export.document import args_section, describe, docstring, module_lines
from nos.export.signature import Hyperparameter, signature, validation_lines

NAMESPACE = Namespace(
    "torch",
    "torch",
    {"normal": "self._normal", "uniform": "self._uniform"},
    frozenset({"self", "torch", "lr", "p", "group", "state", "closure", "loss", "params"}),
)
MODULE_NAMES = frozenset({"torch"})
LR = Hyperparameter("lr", "0.001", "the learning rate. Defaults to `0.001`.", "lr >= 0.0", "must be >= 0")
_I, _II, _III, _IV = (" " * n for n in (4, 8, 12, 16))


def render(rule, class_name: str, origin: str) -> str:
    """The source of a module defining `class_name`, a torch optimizer for `rule`."""
    code = rule_code(rule, NAMESPACE)
    spec = signature(code)
    hypers = [h for h in spec.hyperparameters if h.name != "seed"]
    checked = type(spec)((LR, *spec.hyperparameters), spec.slots, spec.uses_step, spec.stochastic)
    args = [
        "params: an iterable of parameters or of dicts defining parameter groups.",
        *(f"{h.name}: {h.doc}" for h in (LR, *spec.hyperparameters)),
    ]
    doc = describe(rule, code, spec, origin, "PyTorch", "lr")
    doc += ["", "Sparse gradients are not supported."]
    if spec.stochastic:
        doc += ["", "Random draws come from a `torch.Generator` seeded by `seed` (global RNG if None)."]
    doc += args_section(args)

    arguments = ", ".join(["self", "params", *(f"{h.name}={h.default}" for h in (LR, *spec.hyperparameters))])
    defaults = ", ".join(f'"{h.name}": {h.name}' for h in (LR, *hypers))
    init = [
        f"{_I}def __init__({arguments}):",
        *validation_lines(checked, _II),
        f"{_II}super().__init__(params, {{{defaults}}})",
    ]
    if spec.stochastic:
        init.append(f"{_II}self._generator = None if seed is None else torch.Generator().manual_seed(seed)")
    lines = [
        docstring(module_lines(rule, class_name, origin, "PyTorch")),
        "",
        "import torch",
        "",
        "",
        f"class {class_name}(torch.optim.Optimizer):",
        _I + docstring(doc, _I),
        "",
        *init,
        "",
        *_step(code, spec, hypers, class_name),
        *_draws(code),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _step(code, spec, hypers, class_name) -> list[str]:
    lines = [
        f"{_I}@torch.no_grad()",
        f"{_I}def step(self, closure=None):",
        f'{_II}"""One step for every parameter with a gradient; `closure` re-evaluates the loss."""',
        f"{_II}loss = None",
        f"{_II}if closure is not None:",
        f"{_II}    with torch.enable_grad():",
        f"{_II}        loss = closure()",
        f"{_II}for group in self.param_groups:",
        f'{_III}lr = group["lr"]',
        *(f'{_III}{h.name} = group["{h.name}"]' for h in hypers if h.name != "decay_steps"),
        f'{_III}for p in group["params"]:',
        f"{_IV}if p.grad is None:",
        f"{_IV}    continue",
        f"{_IV}if p.grad.is_sparse:",
        f'{_IV}    raise RuntimeError("{class_name} does not support sparse gradients")',
        f"{_IV}g = p.grad",
    ]
    if "w" in code.reads:
        lines.append(f"{_IV}w = p.detach()")
    if spec.slots or spec.uses_step:
        lines += [f"{_IV}state = self.state[p]", f"{_IV}if not state:"]
        if spec.uses_step:
            lines.append(f'{_IV}    state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)')
        lines += [
            f'{_IV}    state["{slot.name}"] = torch.zeros_like(p, memory_format=torch.preserve_format)'
            for slot in spec.slots
        ]
    if spec.uses_step:
        lines += [f'{_IV}state["step"] += 1', f'{_IV}t = state["step"].to(p.dtype)']
    if "decay_steps" in code.reads:
        lines.append(
            f'{_IV}decay_steps = torch.as_tensor(group["decay_steps"], dtype=p.dtype, device=p.device)'
        )
    for slot in spec.slots:
        lines += [
            f'{_IV}{slot.name} = state["{slot.name}"]',
            f"{_IV}{slot.name}.mul_({slot.beta}).add_({slot.statistic}, alpha=1.0 - {slot.beta})",
        ]
    lines += ["", *code.lines(_IV), f"{_IV}p.add_({code.result}, alpha=-lr)", f"{_II}return loss", ""]
    return lines


def _draws(code) -> list[str]:
    lines = []
    for draw, function, law in (
        ("normal", "randn", "Standard normal"),
        ("uniform", "rand", "Uniform [0, 1)"),
    ):
        if draw in code.reads:
            lines += [
                f"{_I}def _{draw}(self, like):",
                f'{_II}"""{law} draws shaped like `like`, from the optimizer\'s generator."""',
                f"{_II}if self._generator is None:",
                f"{_II}    return torch.{function}_like(like)",
                f"{_II}draws = torch.{function}(like.shape, generator=self._generator, dtype=like.dtype)",
                f"{_II}return draws.to(like.device)",
                "",
            ]
    return lines
