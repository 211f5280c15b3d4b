"""The Keras side: `RuleOptimizer` (``optimizer``), a rule as a Keras 3 optimizer; the
evaluation context it gives the grammar rows (``context``); and `KerasModelTask`
(``model_task``), a rule scored on a user's own Keras model, one lane at a time."""
