"""The supervision rules: pure functions of (state, event | now, calendar, catalog, thresholds).

No Faust, Kafka, database or clock here: ``now`` and the calendar are arguments.
"""

from streams.rules.calendar import WorkCalendar, load_calendar
from streams.rules.clocks import due
from streams.rules.context import Context
from streams.rules.engine import evolve, step
from streams.rules.evaluate import evaluate
from streams.rules.state import CaseState

__all__ = ["CaseState", "Context", "WorkCalendar", "due", "evaluate", "evolve", "load_calendar", "step"]
