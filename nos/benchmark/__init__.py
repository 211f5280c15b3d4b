"""Measurements of rules and of NOS itself.

``deepobs`` is `nos evaluate`'s protocol (tune the learning rate, rerun over seeds);
``statistics`` its confidence intervals and paired tests; ``report`` a search's transfer report;
``plots`` the figures; ``rediscover`` `nos rediscover`; ``speed`` `nos bench`;
``experiments/`` reproductions of the paper's figures.
"""
