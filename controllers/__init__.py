"""Controllers propose update rules and learn from their rewards.

    from controllers import SearchSpace, make_controller
    space = SearchSpace(GRAMMAR, units=2)
    controller = make_controller("rnn", space, seed=0, algorithm="ppo")
    rules = controller.propose(16)
    stats = controller.update(rules, rewards)

Names: "rnn" (the paper's LSTM policy, REINFORCE or PPO), "random" (uniform baseline),
"evolution" (regularized evolution). TensorFlow loads only when an rnn is made.
"""

from controllers.base import Controller
from controllers.evolution import RegularizedEvolution
from controllers.random_search import RandomSearch
from controllers.registry import CONTROLLERS, controller_class, load_controller, make_controller
from search_space.tokens import SearchSpace

__all__ = [
    "CONTROLLERS",
    "Controller",
    "RandomSearch",
    "RegularizedEvolution",
    "SearchSpace",
    "controller_class",
    "load_controller",
    "make_controller",
]
