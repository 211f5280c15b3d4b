"""The search: a controller proposes rules, the engine trains them, the store keeps them.

``loop`` runs a search step by step (`nos.search.loop.search`); ``config`` reads and validates
search configs (``presets/``); ``reward`` and ``target_reward`` map an outcome to a reward;
``executors/`` decide where the rules of a step train (this process or Ray);
``store`` is the run's SQLite file with its integrity chain; ``funnel`` re-ranks the best rules
in stages; ``log`` writes TensorBoard.
"""
