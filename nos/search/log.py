"""What a user sees of a running search: a progress bar and TensorBoard summaries.

TensorBoard scalars (``tensorboard --logdir RUN_DIR/tb``): ``search/reward_mean``,
``search/reward_max``, ``search/best_reward``, ``search/cache_hit_rate``,
``search/invalid_rate``, ``search/failed_rate``, ``search/rules_per_second``, and every
controller statistic under its own name (``controller/entropy``, ``losses/pg_loss``, …); text
``search/best_rule``. The step is the number of rules sampled so far. Each process writes its
own events file; a step that a killed process logged but never committed is logged again by
the resumed one (TensorBoard shows the later value). A funnel stage k (`nos.search.funnel`) logs
``funnel/best_reward`` and ``funnel/rules`` at step k and its ranking as text ``funnel/stage_k``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path


class SearchLog:
    def __init__(self, run_dir: Path, total: int, done: int, progress: bool, store=None):
        import tensorflow as tf
        from tqdm import tqdm

        self.tf = tf
        self.writer = tf.summary.create_file_writer(str(run_dir / "tb"))
        self.bar = tqdm(total=total, initial=done, unit="rule", disable=not progress, dynamic_ncols=True)
        self.started = time.perf_counter()
        self.done_here = 0
        self.best, self.best_text = -math.inf, ""
        best = store.top(1) if store is not None else []
        if best:  # a resumed run continues its best-so-far curve
            self.best, self.best_text = best[0]["best"], best[0]["text"]

    def batch(self, index: int, samples, stats: dict, store):
        rewards = [s.outcome.reward for s in samples]
        cache_rate = sum(s.source == "cache" for s in samples) / len(samples)
        top = max(samples, key=lambda s: s.outcome.reward)
        if top.outcome.reward > self.best:
            self.best, self.best_text = top.outcome.reward, top.text
        self.done_here += len(samples)
        rate = self.done_here / max(time.perf_counter() - self.started, 1e-9)
        scalars = {
            "search/reward_mean": sum(rewards) / len(rewards),
            "search/reward_max": max(rewards),
            "search/best_reward": self.best,
            "search/cache_hit_rate": cache_rate,
            "search/invalid_rate": sum(s.source == "invalid" for s in samples) / len(samples),
            "search/failed_rate": sum(s.source == "failed" for s in samples) / len(samples),
            "search/rules_per_second": rate,
            **{k: float(v) for k, v in stats.items()},
        }
        with self.writer.as_default(step=store.sample_count()):
            for name, value in scalars.items():
                self.tf.summary.scalar(name, value)
            self.tf.summary.text("search/best_rule", self.best_text)
        self.writer.flush()
        self.bar.set_postfix(best=f"{self.best:.4f}", cache=f"{cache_rate:.0%}", rules_s=f"{rate:.2f}")
        self.bar.update(len(samples))

    def stage(self, result):
        """Log funnel stage `result` (a `nos.search.funnel.StageResult`)."""
        rewards = [rule["reward"] for rule in result.rules]
        table = "\n".join(f"{i}. {rule['reward']:.4f} {rule['text']}" for i, rule in enumerate(result.rules, 1))
        with self.writer.as_default(step=result.stage):
            self.tf.summary.scalar("funnel/best_reward", max(rewards, default=0.0))
            self.tf.summary.scalar("funnel/rules", len(rewards))
            self.tf.summary.text(f"funnel/stage_{result.stage}", table or "(no rule entered)")
        self.writer.flush()

    def close(self):
        self.bar.close()
        self.writer.close()
