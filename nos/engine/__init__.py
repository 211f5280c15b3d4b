"""The engine: what trains a rule.

``interpreter/`` runs K lanes (rule × learning rate × seed) of the batched rule interpreter on a
child task, ``tasks/`` holds the child tasks (their reference definitions), ``layouts/`` the
optional fast training paths of task families, used by the interpreter where a task has one, and
`nos.engine.grid.evaluate` trains rules over a grid of learning rates × seeds and picks each
rule's best learning rate and score. `compile_cache` keeps XLA's compiled loops on disk
between processes.
"""
