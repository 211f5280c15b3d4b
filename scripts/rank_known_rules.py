"""Where do PowerSign and AddSign rank among the known rules of the rediscover space, per task?

    python scripts/rank_known_rules.py                 # every built-in task, 3 seeds
    python scripts/rank_known_rules.py --tasks logreg --seeds 1

Each task scores, with the `rediscover` preset's reward (best validation loss over its
learning-rate grid, mean over seeds, normalised against Adam: reward b/(b+s)), every catalog
rule the space can express and the best rules searches found there (`nos.benchmark.rediscover.BEST_FOUND`).
The table answers whether a child task exists on which finding PowerSign or AddSign is what a
search on this CPU should do.
"""

import argparse
import dataclasses

from nos.benchmark.rediscover import BEST_FOUND, expressible, rediscover_space
from nos.engine.tasks import TASKS
from nos.search.config import load_preset
from nos.search.reward import Scorer
from nos.text_tables import markdown_table

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
parser.add_argument("--seeds", type=int, default=3)
args = parser.parse_args()

candidates = expressible(rediscover_space()) + list(BEST_FOUND)

rows = []
for task in args.tasks:
    reward = dataclasses.replace(load_preset("rediscover").reward, task=task, seeds=list(range(args.seeds)))
    scored = Scorer(reward).score(candidates)
    ranking = sorted(zip(candidates, (s.reward for s in scored)), key=lambda item: -item[1])
    rank = {name: i + 1 for i, (name, _) in enumerate(ranking)}
    best, best_reward = ranking[0]
    rows.append([task, f"{best} ({best_reward:.3f})",
                 f"{rank['powersign']} ({dict(ranking)['powersign']:.3f})",
                 f"{rank['addsign']} ({dict(ranking)['addsign']:.3f})", len(candidates)])
    print(f"{task}: " + ", ".join(f"{name} {value:.3f}" for name, value in ranking), flush=True)

print()
print(markdown_table(["task", "best rule (reward)", "PowerSign's rank (reward)", "AddSign's rank (reward)",
                      "rules ranked"], rows))
