"""The semantic rules both engines apply, each in one place: a scalar function for one task (the SimPy
engine's) beside its array twin for many tasks at once (the vectorised engine's), made of the same float
operations in the same order so that the twin, applied element by element, equals the scalar to the bit.

* :mod:`~sim.engine.rules.context`: what a call sends, by its history and its model's context window;
* :mod:`~sim.engine.rules.duration`: how long an answer takes;
* :mod:`~sim.engine.rules.budget`: whether a budget cap stops a task, and which;
* :mod:`~sim.engine.rules.odds`: how likely an answer is unusable, and what a validator makes of it;
* :mod:`~sim.engine.rules.choice`: which interval of cumulative shares a uniform falls in (difficulty
  classes, branch arms, a split's or a router's route);
* :mod:`~sim.engine.rules.cost`: what an attempt costs, with or without the prompt cache;
* the prompt cache itself lives in :mod:`sim.engine.caching` (:func:`~sim.engine.caching.use` and
  :class:`~sim.engine.caching.TaskCaches`), in the same pattern.

``tests/test_rules.py`` applies each pair to the same inputs. The engines keep only their control flow:
which tasks reach which step, in which order, and when simulated time passes.
"""
