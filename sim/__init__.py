"""A simulated province for the platform: offices, an item catalog, case lifecycles and the ground truth.

Generation is pure (``sim.generator``); writing events to a file or to Kafka lives in ``sim.writers``.
The expected findings are computed here from the working-day calendar with the simulator's own logic
(``sim.clock``, ``sim.case``), never by calling the rules engine, so the two can check each other.
"""
